// Signed prekeys (docs/PROTOCOL.md §23): a device's rotating agreement key, signed by its
// device signing key. Senders wrap new epoch keys to the current one once its signature
// verifies against the device's verified certificate; an unsigned or badly signed one is
// refused, never replaced by the certificate's older key.

import { canonical, checkId, checkObject, checkSafeInt, CryptoError, fromBase64urlOf, LABEL, toBase64url, u64be, utf8 } from './encoding.js';
import { decodePublicKey, generateAgreementKey, requireSignature, sign } from './primitives.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

/**
 * @typedef {object} SignedPrekey The wire form of §23.1.
 * @property {1} v
 * @property {string} user_id
 * @property {string} device_id
 * @property {number} serial
 * @property {number} created_at
 * @property {string} agreement
 * @property {string} signature
 */

const PREKEY_FIELDS = Object.freeze(['user_id', 'device_id', 'serial', 'created_at', 'agreement', 'signature']);

/** A device publishes a new prekey once its current one is this old (one week). */
export const PREKEY_ROTATION_MS = 7 * 24 * 60 * 60 * 1000;
/** A replaced prekey's private key is deleted this long after (35 days: longer than the
 * server keeps an unfetched wrap). */
export const PREKEY_GRACE_MS = 35 * 24 * 60 * 60 * 1000;

/**
 * The bytes the device signs (§23.1).
 * @param {string} userId
 * @param {string} deviceId
 * @param {number} serial
 * @param {number} createdAt
 * @param {Bytes} agreement
 */
export function prekeySignedBytes(userId, deviceId, serial, createdAt, agreement) {
  return canonical(LABEL.signedPrekey, utf8(userId), utf8(deviceId), u64be(serial), u64be(createdAt), agreement);
}

/**
 * Makes and signs this device's prekey number `serial`; its private key is a
 * non-extractable CryptoKey.
 * @param {{ userId: string, deviceId: string, serial: number, createdAt: number, signingKey: CryptoKey }} input
 * @returns {Promise<{ record: SignedPrekey, privateKey: CryptoKey, publicKey: Bytes }>}
 */
export async function makePrekey(input) {
  if (input.serial < 1) throw new CryptoError('bad_prekey', 'serial');
  const pair = await generateAgreementKey(false);
  const signature = await sign(input.signingKey, prekeySignedBytes(input.userId, input.deviceId, input.serial, input.createdAt, pair.publicKey));
  return {
    record: {
      v: 1,
      user_id: input.userId,
      device_id: input.deviceId,
      serial: input.serial,
      created_at: input.createdAt,
      agreement: toBase64url(pair.publicKey),
      signature: toBase64url(signature),
    },
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
  };
}

/**
 * Verifies a served prekey against its device's verified certificate (§23.2) and returns
 * its serial and agreement key.
 * @param {unknown} value
 * @param {{ userId: string, deviceId: string, signing: Bytes }} device
 * @returns {Promise<{ serial: number, createdAt: number, agreement: Bytes }>}
 */
export async function verifyPrekey(value, device) {
  const record = checkObject(value, PREKEY_FIELDS, 'signed prekey');
  const userId = checkId(record.user_id, 'user_id');
  const deviceId = checkId(record.device_id, 'device_id');
  const serial = checkSafeInt(record.serial, 'serial');
  const createdAt = checkSafeInt(record.created_at, 'created_at');
  if (serial < 1) throw new CryptoError('bad_prekey', 'serial');
  if (userId !== device.userId || deviceId !== device.deviceId) throw new CryptoError('bad_prekey', 'another device');
  const agreement = await decodePublicKey(record.agreement);
  const signature = fromBase64urlOf(record.signature, 64, 'signature');
  await requireSignature(device.signing, signature, prekeySignedBytes(userId, deviceId, serial, createdAt, agreement), 'prekey');
  return { serial, createdAt, agreement };
}
