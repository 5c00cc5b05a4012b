// The signed membership log of a channel (docs/PROTOCOL.md §22). The same rules as the
// Rust `crypto::membership_log`; both pass shared/vectors/membership_log.json.
//
// Each membership change is a record signed by the device of who made it, chained to the
// previous record by its hash and bound to the channel and its epoch. A client verifies
// the chain from its genesis under device certificates it verified itself and derives the
// member set from it: that set, not the server's member list, decides whom it encrypts for.
// On a case it also names the referent (`role_changed`, role `referent`): with the
// coordinators, the only readers of the person's identity (§19).

import { CryptoError, canonical, checkId, checkObject, checkSafeInt, concat, fromBase64url, toBase64url, u32be, u64be, utf8, bytesEqual } from './encoding.js';
import { requireSignature, sha256, sign } from './primitives.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

export const MEMBERSHIP_LABEL = 'passerelle/v1/membership';
const KINDS = ['genesis', 'added', 'removed', 'left', 'role_changed'];
// `server`: a coordinator ratifies a removal the server made by itself (a regime lost, §22.3).
const REASONS = ['coordinator', 'server'];
const ROLES = ['coordinator', 'member'];
/** The role a `role_changed` record gives to name a case's referent (one subject). */
const REFERENT = 'referent';
const FIELDS = ['channel_id', 'seq', 'prev', 'epoch', 'actor', 'actor_device', 'kind', 'subjects', 'coordinators', 'reason', 'role', 'at', 'signature'];
const MAX_SUBJECTS = 1000;

/**
 * @typedef {object} MembershipRecord The JSON form (optional fields may be absent).
 * @property {1} v
 * @property {string} channel_id
 * @property {number} seq
 * @property {string} prev base64url, 32 bytes
 * @property {number} epoch
 * @property {string} actor
 * @property {string} actor_device
 * @property {string} kind
 * @property {string[]} subjects
 * @property {string[]} [coordinators]
 * @property {string} [reason]
 * @property {string} [role]
 * @property {number} at
 * @property {string} signature
 */

/**
 * @typedef {object} MembershipState
 * @property {string} channelId
 * @property {number} seq The last record's position (0: empty log).
 * @property {Bytes} head The last record's hash.
 * @property {number} epoch
 * @property {Set<string>} members
 * @property {Set<string>} coordinators
 * @property {string | null} referent The case's referent named by a signed record, while a member.
 * @property {{ seq: number, kind: string, actor: string, subjects: string[], at: number }[]} records
 *   What each verified record says, in order (for the conversation's notes).
 * @property {string[]} hashes Each verified record's hash (base64url), in order: what a
 *   head seen before is checked against (§22.6).
 *
 * @typedef {{ seq: number, hash: string }} LogHead Where a verified log ends (hash base64url).
 */

/** @param {string[]} ids */
function idList(ids) {
  return concat(...ids.flatMap((id) => {
    const bytes = utf8(id);
    return [u32be(bytes.length), bytes];
  }));
}

/**
 * Parses and checks the shape of a record (§22.1); throws `malformed` or `not_coordinator`.
 * @param {unknown} value
 */
export function parseRecord(value) {
  const present = /** @type {Record<string, unknown>} */ (value && typeof value === 'object' ? value : {});
  const fields = FIELDS.filter((f) => f in present || !['coordinators', 'reason', 'role'].includes(f));
  let r;
  try {
    r = checkObject(value, fields, 'membership record');
  } catch (error) {
    throw new CryptoError('malformed', String(/** @type {any} */ (error)?.message));
  }
  const fail = (/** @type {string} */ what) => { throw new CryptoError('malformed', what); };
  const list = (/** @type {unknown} */ l) => {
    if (l === undefined) return [];
    if (!Array.isArray(l) || l.length > MAX_SUBJECTS) return fail('list');
    const ids = l.map((id) => checkId(id, 'subject'));
    if (new Set(ids).size !== ids.length) fail('subject listed twice');
    return ids;
  };
  const record = {
    channelId: checkId(r.channel_id, 'channel_id'),
    seq: checkSafeInt(r.seq, 'seq'),
    prev: fromBase64url(/** @type {string} */ (r.prev)),
    epoch: checkSafeInt(r.epoch, 'epoch'),
    actor: checkId(r.actor, 'actor'),
    actorDevice: checkId(r.actor_device, 'actor_device'),
    kind: String(r.kind),
    subjects: list(r.subjects),
    coordinators: list(r.coordinators),
    reason: r.reason === undefined ? '' : String(r.reason),
    role: r.role === undefined ? '' : String(r.role),
    at: checkSafeInt(r.at, 'at'),
    signature: fromBase64url(/** @type {string} */ (r.signature)),
  };
  checkShape(record);
  return record;
}

/** @param {ReturnType<typeof bodyOf>} b */
function checkShape(b) {
  const fail = (/** @type {string} */ what) => { throw new CryptoError('malformed', what); };
  if (b.prev.length !== 32) fail('prev');
  if (b.seq === 0) fail('seq');
  if (!KINDS.includes(b.kind)) fail('kind');
  if (b.subjects.length === 0) fail('no subject');
  const genesis = b.kind === 'genesis';
  if (!genesis && b.coordinators.length > 0) fail('coordinators outside the genesis');
  if (genesis !== (b.seq === 1)) fail('genesis position');
  if (b.kind === 'removed' ? !REASONS.includes(b.reason) : b.reason !== '') fail('reason');
  const roleOk = b.kind === 'role_changed' ? ROLES.includes(b.role) || (b.role === REFERENT && b.subjects.length === 1) : b.kind === 'added' ? b.role === '' || ROLES.includes(b.role) : b.role === '';
  if (!roleOk) fail('role');
  if (b.kind === 'left' && (b.subjects.length !== 1 || b.subjects[0] !== b.actor)) throw new CryptoError('not_coordinator', 'a departure signed by another');
}

/**
 * @param {{ channelId: string, seq: number, prev: Bytes, epoch: number, actor: string, actorDevice: string, kind: string, subjects: string[], coordinators: string[], reason: string, role: string, at: number }} b
 */
function bodyOf(b) {
  return b;
}

/**
 * The canonical bytes a record's actor signs, and whose SHA-256 is its hash.
 * @param {ReturnType<typeof bodyOf>} b
 * @returns {Bytes}
 */
export function recordSignedBytes(b) {
  return canonical(MEMBERSHIP_LABEL, b.channelId, u64be(b.seq), b.prev, u64be(b.epoch), b.actor, b.actorDevice, b.kind, idList(b.subjects), idList(b.coordinators), b.reason, b.role, u64be(b.at));
}

/** @param {string} channelId @returns {MembershipState} */
export function emptyState(channelId) {
  return { channelId, seq: 0, head: new Uint8Array(32), epoch: 0, members: new Set(), coordinators: new Set(), referent: null, records: [], hashes: [] };
}

/**
 * Checks that `value` extends `state` and is allowed, checks its signature with
 * `signingKey` (the verified signing key of the actor's device), and returns the next state.
 * @param {MembershipState} state
 * @param {unknown} value
 * @param {Bytes | null} signingKey
 * @returns {Promise<MembershipState>}
 */
export async function applyRecord(state, value, signingKey) {
  const r = parseRecord(value);
  if (r.channelId !== state.channelId || r.seq !== state.seq + 1 || !bytesEqual(r.prev, state.head) || r.epoch < state.epoch) {
    throw new CryptoError('broken_chain', `record ${r.seq}`);
  }
  let members = new Set(state.members);
  let coordinators = new Set(state.coordinators);
  let referent = state.referent;
  if (r.kind === 'genesis') {
    members = new Set(r.subjects);
    coordinators = new Set(r.coordinators);
    if (![...coordinators].every((c) => members.has(c))) throw new CryptoError('inconsistent', 'coordinator outside the members');
    if (!members.has(r.actor)) throw new CryptoError('not_coordinator', 'genesis signed by an outsider');
  } else {
    const allowed = r.kind === 'left' ? state.members.has(r.actor) : state.coordinators.has(r.actor);
    if (!allowed) throw new CryptoError('not_coordinator', `record ${r.seq}`);
    for (const subject of r.subjects) {
      const present = members.has(subject);
      if (r.kind === 'added' && !present) {
        members.add(subject);
        if (r.role === 'coordinator') coordinators.add(subject);
      } else if ((r.kind === 'removed' || r.kind === 'left') && present) {
        members.delete(subject);
        coordinators.delete(subject);
        if (referent === subject) referent = null;
      } else if (r.kind === 'role_changed' && present && r.role === REFERENT) {
        referent = subject;
      } else if (r.kind === 'role_changed' && present) {
        if (r.role === 'coordinator') coordinators.add(subject);
        else coordinators.delete(subject);
      } else {
        throw new CryptoError('inconsistent', `record ${r.seq}`);
      }
    }
  }
  const bytes = recordSignedBytes(r);
  if (!signingKey) throw new CryptoError('bad_signature', 'no verified device for the actor');
  await requireSignature(signingKey, r.signature, bytes, 'membership record');
  const said = { seq: r.seq, kind: r.kind, actor: r.actor, subjects: r.subjects, at: r.at };
  const head = await sha256(bytes);
  return { channelId: state.channelId, seq: r.seq, head, epoch: r.epoch, members, coordinators, referent, records: [...state.records, said], hashes: [...state.hashes, toBase64url(head)] };
}

/**
 * Where a verified log ends, null while it is empty.
 * @param {MembershipState | null} state
 * @returns {LogHead | null}
 */
export function logHead(state) {
  return state && state.seq > 0 ? { seq: state.seq, hash: toBase64url(state.head) } : null;
}

/**
 * Checks that a verified log (null: none served) contains `seen`, a head verified here
 * before or named by a member's message (§22.6): a log that ends before it is refused with
 * `short` (`log_rolled_back` for this device's own head, `log_hidden` for a member's);
 * another record at its position is `log_forked`.
 * @param {MembershipState | null} state
 * @param {LogHead} seen
 * @param {'log_rolled_back' | 'log_hidden'} short
 */
export function checkContains(state, seen, short) {
  if (seen.seq === 0) return;
  const hash = state?.hashes[seen.seq - 1];
  if (hash === undefined) throw new CryptoError(short, `head ${seen.seq}`);
  if (hash !== seen.hash) throw new CryptoError('log_forked', `head ${seen.seq}`);
}

/**
 * A `membership_head` field of a message's content (§8.2), checked; null if absent.
 * @param {unknown} value
 * @returns {LogHead | null}
 */
export function parseLogHead(value) {
  if (value == null) return null;
  const v = /** @type {any} */ (value);
  try {
    const seq = checkSafeInt(v.seq, 'membership_head.seq');
    if (seq >= 1 && typeof v.hash === 'string' && fromBase64url(v.hash).length === 32) return { seq, hash: v.hash };
  } catch {
    // Reported below, as the content's.
  }
  throw new CryptoError('bad_content', 'membership_head');
}

/**
 * Verifies a whole log from its genesis. `signingKey(user, device)` gives the signing key
 * of a device whose certificate the client verified under the identity it holds for that
 * user, or null (the record is then refused, `bad_signature`).
 * @param {string} channelId
 * @param {unknown[]} records
 * @param {(user: string, device: string) => Promise<Bytes | null> | Bytes | null} signingKey
 * @returns {Promise<MembershipState>}
 */
export async function verifyLog(channelId, records, signingKey) {
  let state = emptyState(channelId);
  for (const record of records) {
    const r = /** @type {any} */ (record);
    state = await applyRecord(state, record, await signingKey(String(r?.actor), String(r?.actor_device)));
  }
  return state;
}

/**
 * Who may read a case's identity by the verified log (§19): its coordinators and its
 * signed referent.
 * @param {MembershipState} state
 */
export function identityReaders(state) {
  const readers = new Set(state.coordinators);
  if (state.referent) readers.add(state.referent);
  return readers;
}

/**
 * Builds and signs the record that extends `state`.
 * @param {MembershipState} state
 * @param {{ epoch: number, actor: string, actorDevice: string, kind: string, subjects: string[], coordinators?: string[], reason?: string, role?: string, at: number }} change
 * @param {CryptoKey} signingPrivate The actor device's signing key.
 * @returns {Promise<MembershipRecord>}
 */
export async function signRecord(state, change, signingPrivate) {
  const body = {
    channelId: state.channelId,
    seq: state.seq + 1,
    prev: state.head,
    epoch: change.epoch,
    actor: change.actor,
    actorDevice: change.actorDevice,
    kind: change.kind,
    subjects: change.subjects,
    coordinators: change.coordinators ?? [],
    reason: change.reason ?? '',
    role: change.role ?? '',
    at: change.at,
  };
  checkShape(body);
  const signature = await sign(signingPrivate, recordSignedBytes(body));
  /** @type {MembershipRecord} */
  const record = {
    v: 1,
    channel_id: body.channelId,
    seq: body.seq,
    prev: toBase64url(body.prev),
    epoch: body.epoch,
    actor: body.actor,
    actor_device: body.actorDevice,
    kind: body.kind,
    subjects: body.subjects,
    at: body.at,
    signature: toBase64url(signature),
  };
  if (body.coordinators.length > 0) record.coordinators = body.coordinators;
  if (body.reason) record.reason = body.reason;
  if (body.role) record.role = body.role;
  return record;
}
