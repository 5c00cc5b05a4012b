// This browser device's rotating agreement keys (signed prekeys, PROTOCOL.md §23) and
// the acknowledgement of the wraps it stored, so the server deletes them.
//
// At each start the device publishes a new prekey when the current one is a week old
// (or it has none), and drops the private keys nothing needs any more — the prekeys
// replaced and the certificate's own agreement key, once the first prekey replaced it.
//
// What "nothing needs it" means (§23.3): a key was current from its publication to its
// replacement (the certificate's: until the first prekey). Its private key goes once (1)
// it was replaced more than the grace period ago — every epoch wrap made to it is then
// past the server's retention and deleted — and (2) no case identity this user reads
// (§19) has its current version sealed while the key was current, give or take
// IDENTITY_SEAL_MARGIN_MS: that record is wrapped to it until a reader seals it again.
// The sealing times are asked of the server only when a key is otherwise due; if they
// cannot be read, nothing is deleted. Same rule as the SDK (client/prekeys.rs).

import { ApiError, cases as casesApi, channels as channelsApi, keys as keysApi } from './api.js';
import * as c from './crypto.js';
import * as store from './store.js';

/** @typedef {import('./store.js').PrekeyRecord} PrekeyRecord */

/** A day: how far a case identity's sealing (server clock) and a key's time as current (this device's clock) may be apart. */
export const IDENTITY_SEAL_MARGIN_MS = 24 * 60 * 60 * 1000;

/**
 * Whether a case identity sealed at one of `sealed` may be wrapped to a key current
 * from `from` to `until`.
 * @param {number[]} sealed
 * @param {number} from
 * @param {number} until
 */
function neededByIdentity(sealed, from, until) {
  return sealed.some((at) => at + IDENTITY_SEAL_MARGIN_MS >= from && at <= until + IDENTITY_SEAL_MARGIN_MS);
}

/**
 * When the current version of each case identity this user reads was sealed.
 * @returns {Promise<number[]>}
 */
async function identitySealTimes() {
  const sealed = [];
  for (const channel of await channelsApi.list()) {
    if (channel.kind !== 'case') continue;
    const view = await casesApi.get(channel.id);
    if (view.caller_reads_identity && view.identity) sealed.push(view.identity.sealed_at);
  }
  return sealed;
}

/**
 * Rotates when due at `now`, drops the expired private keys, and stores the device.
 * `now` is a parameter so that tests can move the clock. Returns whether a new prekey
 * was published.
 * @param {import('./keyring.js').Keyring} keyring
 * @param {number} [now]
 */
export async function rotatePrekeyIfDue(keyring, now = Date.now()) {
  // The stored record, not this page's copy: another tab may have rotated already.
  const stored = (await store.getDevice(keyring.me.id)) ?? keyring.device;
  /** @param {number | null | undefined} at */
  const over = (at) => typeof at === 'number' && now - at >= c.PREKEY_GRACE_MS;
  // Records made before it was kept: the oldest prekey held (later, so kept longer).
  const replacedAt = stored.agreementReplacedAt ?? stored.prekeys?.[0]?.createdAt ?? null;
  let held = stored.prekeys ?? [];
  let agreementKey = stored.agreementKey ?? null;
  if ((agreementKey && over(replacedAt)) || held.some((p) => over(p.retiredAt))) {
    const sealed = await identitySealTimes().catch(() => null);
    if (sealed) {
      held = held.filter((p) => !over(p.retiredAt) || neededByIdentity(sealed, p.createdAt, /** @type {number} */ (p.retiredAt)));
      if (agreementKey && replacedAt !== null && over(replacedAt) && !neededByIdentity(sealed, 0, replacedAt)) agreementKey = null;
    }
  }
  const current = held.at(-1);
  const due = !current || now - current.createdAt >= c.PREKEY_ROTATION_MS;
  let published = false;
  if (due) {
    const serial = (current?.serial ?? 0) + 1;
    const made = await c.makePrekey({ userId: keyring.me.id, deviceId: keyring.deviceId, serial, createdAt: now, signingKey: keyring.device.signingKey });
    try {
      await keysApi.publishPrekey(keyring.deviceId, made.record);
      if (current) current.retiredAt = now;
      held = [...held];
      held.push({ serial, createdAt: now, privateKey: made.privateKey, publicKey: made.publicKey, record: made.record, retiredAt: null });
      published = true;
    } catch (error) {
      // Another tab published this serial first: its record is the one to keep.
      if (!(error instanceof ApiError && error.code === 'prekey_outdated')) throw error;
    }
  }
  const agreementReplacedAt = replacedAt ?? (held.length > 0 ? held[0].createdAt : null);
  const changes = { prekeys: held, agreementKey, agreementReplacedAt };
  keyring.device = { ...keyring.device, ...changes };
  await keyring.persist(() => store.putDevice({ ...stored, ...changes }));
  return published;
}

/**
 * This device's agreement key pairs, newest prekey first, the certificate's last: a
 * wrap opens under whichever it was made to.
 * @param {import('./store.js').DeviceRecord} device
 * @returns {{ privateKey: CryptoKey, publicKey: Uint8Array<ArrayBuffer> }[]}
 */
export function agreementKeys(device) {
  const prekeys = [...(device.prekeys ?? [])].reverse().map((p) => ({ privateKey: p.privateKey, publicKey: p.publicKey }));
  // The certificate's, until it is deleted (§23.3).
  return device.agreementKey ? [...prekeys, { privateKey: device.agreementKey, publicKey: device.agreementPublic }] : prekeys;
}

/**
 * Tells the server these epochs' keys are stored here (§23.3). Returns whether it was
 * told; a failure is not the user's concern: the caller retries while the page lives,
 * and the server deletes unfetched wraps after its own bound anyway.
 * @param {string} channelId
 * @param {string} deviceId
 * @param {number[]} epochs
 */
export async function acknowledgeKeys(channelId, deviceId, epochs) {
  if (epochs.length === 0) return true;
  try {
    await channelsApi.keysDelivered(channelId, deviceId, epochs);
    return true;
  } catch (error) {
    // A channel destroyed since: nothing left to delete.
    if (error instanceof ApiError && error.status >= 400 && error.status < 500) return true;
    console.warn('the keys received could not be acknowledged', error);
    return false;
  }
}
