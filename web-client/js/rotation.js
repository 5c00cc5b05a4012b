// The rotation bounds, enforced by this browser whatever the server says (PROTOCOL.md
// §7.7, §23.4), as the Rust SDK does: a new epoch before sending once this device has
// seen 100 messages of the current one, has held its key for a week, or has seen a member
// leave the channel's member list since the epoch began. A server that hides the need to
// rotate no longer keeps a channel on one key.
//
// What it needs is kept in the channel's order record in IndexedDB (`rotation`), so a
// reload does not reset the count, the age or a removal seen.

/** Messages of one epoch before a new one is due (shared/src/crypto: MAX_MESSAGES_PER_EPOCH). */
export const MAX_MESSAGES_PER_EPOCH = 100;
/** Age of an epoch's key, here, before a new one is due (MAX_EPOCH_AGE_SECONDS, one week). */
export const MAX_EPOCH_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * @typedef {object} RotationWatch What this device has seen of a channel's epochs.
 * @property {number} epoch The newest epoch seen here.
 * @property {number} since When this device first held or used its key (its clock, ms).
 * @property {number | null} firstSeq The lowest seq of a message of `epoch` seen here.
 * @property {number | null} lastSeq The highest one. Epochs never go back along the seqs
 *   (the server refuses a message of an epoch that is not current), so every message
 *   between them is of `epoch`: counting the span is idempotent, whatever the order in
 *   which messages are opened again after a reload.
 * @property {number} sealed Messages of `epoch` this device sealed (those not acknowledged yet included).
 * @property {string[] | null} members The member list checked last.
 * @property {number} removalBefore A member left while this epoch or an older one was
 *   current: every epoch up to this one must be replaced before sending (0: none).
 */

/**
 * A fresh watch of `epoch`, first held at `now`.
 * @param {number} epoch
 * @param {number} now
 * @param {RotationWatch | null | undefined} previous Its member list and removal are kept.
 * @returns {RotationWatch}
 */
function fresh(epoch, now, previous) {
  return { epoch, since: now, firstSeq: null, lastSeq: null, sealed: 0, members: previous?.members ?? null, removalBefore: previous?.removalBefore ?? 0 };
}

/**
 * The watch after this device held, sealed or read a message of `epoch`.
 * @param {RotationWatch | null | undefined} watch
 * @param {number} epoch
 * @param {number} now
 * @param {{ seq?: number | null, sealed?: boolean }} [seen] A message's seq, or one sealed here.
 * @returns {RotationWatch}
 */
export function noteEpoch(watch, epoch, now, seen = {}) {
  if (watch && epoch < watch.epoch) return watch;
  const next = watch && watch.epoch === epoch ? { ...watch } : fresh(epoch, now, watch);
  if (typeof seen.seq === 'number') {
    next.firstSeq = next.firstSeq === null ? seen.seq : Math.min(next.firstSeq, seen.seq);
    next.lastSeq = next.lastSeq === null ? seen.seq : Math.max(next.lastSeq, seen.seq);
  }
  if (seen.sealed) next.sealed += 1;
  return next;
}

/**
 * The watch after this device opened `epoch` itself: a new key, no removal pending.
 * @param {RotationWatch | null | undefined} watch
 * @param {number} epoch
 * @param {number} now
 * @returns {RotationWatch}
 */
export function openedEpoch(watch, epoch, now) {
  // A removal seen before stays recorded against the epochs it concerns, all older.
  return fresh(epoch, now, watch);
}

/**
 * The watch after the member list was checked: someone of the list checked before who is
 * no longer in it left, so the epoch current then must go.
 * @param {RotationWatch | null | undefined} watch
 * @param {string[]} members
 * @param {number} currentEpoch The channel's epoch as known here when the list was read.
 * @param {number} now
 * @returns {RotationWatch}
 */
export function noteMembers(watch, members, currentEpoch, now) {
  const next = watch ? { ...watch } : fresh(currentEpoch, now, null);
  const left = (next.members ?? []).some((userId) => !members.includes(userId));
  if (left) next.removalBefore = Math.max(next.removalBefore, currentEpoch, next.epoch);
  next.members = [...members];
  return next;
}

/**
 * How many messages of the watched epoch this device has seen.
 * @param {RotationWatch} watch
 */
export function messagesSeen(watch) {
  const span = watch.firstSeq === null || watch.lastSeq === null ? 0 : watch.lastSeq - watch.firstSeq + 1;
  return Math.max(span, watch.sealed);
}

/**
 * Whether this device must open a new epoch before sending in `epoch` at `now`.
 * @param {RotationWatch | null | undefined} watch
 * @param {number} epoch
 * @param {number} now
 */
export function requiresRotation(watch, epoch, now) {
  if (!watch) return false;
  if (epoch <= watch.removalBefore) return true;
  if (watch.epoch !== epoch) return false;
  return messagesSeen(watch) >= MAX_MESSAGES_PER_EPOCH || now - watch.since >= MAX_EPOCH_AGE_MS;
}
