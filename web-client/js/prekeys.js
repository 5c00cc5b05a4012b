// This browser device's rotating agreement keys (signed prekeys, PROTOCOL.md §23) and
// the acknowledgement of the wraps it stored, so the server deletes them.
//
// At each start the device publishes a new prekey when the current one is a week old
// (or it has none), and drops the private keys of prekeys replaced more than the grace
// period ago. The certificate's own agreement key stays: a case's identity (§19) is
// wrapped to it, and wraps made before the first prekey too.

import { ApiError, channels as channelsApi, keys as keysApi } from './api.js';
import * as c from './crypto.js';
import * as store from './store.js';

/** @typedef {import('./store.js').PrekeyRecord} PrekeyRecord */

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
  const held = (stored.prekeys ?? []).filter((p) => p.retiredAt === null || now - p.retiredAt < c.PREKEY_GRACE_MS);
  const current = held.at(-1);
  const due = !current || now - current.createdAt >= c.PREKEY_ROTATION_MS;
  let published = false;
  if (due) {
    const serial = (current?.serial ?? 0) + 1;
    const made = await c.makePrekey({ userId: keyring.me.id, deviceId: keyring.deviceId, serial, createdAt: now, signingKey: keyring.device.signingKey });
    try {
      await keysApi.publishPrekey(keyring.deviceId, made.record);
      if (current) current.retiredAt = now;
      held.push({ serial, createdAt: now, privateKey: made.privateKey, publicKey: made.publicKey, record: made.record, retiredAt: null });
      published = true;
    } catch (error) {
      // Another tab published this serial first: its record is the one to keep.
      if (!(error instanceof ApiError && error.code === 'prekey_outdated')) throw error;
    }
  }
  keyring.device = { ...keyring.device, prekeys: held };
  await keyring.persist(() => store.putDevice({ ...stored, prekeys: held }));
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
  return [...prekeys, { privateKey: device.agreementKey, publicKey: device.agreementPublic }];
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
