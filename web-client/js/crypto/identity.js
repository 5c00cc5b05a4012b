// Device certificates (docs/PROTOCOL.md §5), fingerprints and link codes (§6).

import { bytesEqual, canonical, checkId, checkObject, concat, CryptoError, fromBase64urlOf, LABEL, toBase64url, utf8 } from './encoding.js';
import { checkPublicKey, decodePublicKey, requireSignature, sha256, sign } from './primitives.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

/**
 * @typedef {object} CertificateRequest The wire form of §5.2.
 * @property {1} v
 * @property {string} user_id
 * @property {string} device_id
 * @property {{ signing: string, agreement: string }} keys
 * @property {string} self_signature
 *
 * @typedef {CertificateRequest & { identity_signature: string }} DeviceCertificate §5.3
 */

/** Iterations of the fingerprint hash (§6.1). */
export const FINGERPRINT_ITERATIONS = 5200;

/**
 * The certificate body (§5.1).
 * @param {string} userId
 * @param {string} deviceId
 * @param {Bytes} identityKey
 * @param {Bytes} signingKey
 * @param {Bytes} agreementKey
 * @returns {Bytes}
 */
export function certificateBody(userId, deviceId, identityKey, signingKey, agreementKey) {
  return canonical(LABEL.deviceCert, checkId(userId, 'user_id'), checkId(deviceId, 'device_id'), identityKey, signingKey, agreementKey);
}

/**
 * Builds and self-signs a certificate request (§5.2).
 * @param {{ userId: string, deviceId: string, identityKey: Bytes, signingKey: CryptoKey, signingPublic: Bytes, agreementPublic: Bytes }} input
 * @returns {Promise<CertificateRequest>}
 */
export async function certificateRequest(input) {
  const body = certificateBody(input.userId, input.deviceId, input.identityKey, input.signingPublic, input.agreementPublic);
  return {
    v: 1,
    user_id: input.userId,
    device_id: input.deviceId,
    keys: { signing: toBase64url(input.signingPublic), agreement: toBase64url(input.agreementPublic) },
    self_signature: toBase64url(await sign(input.signingKey, body)),
  };
}

/**
 * Parses a request or certificate's fields.
 * @param {unknown} value
 * @param {boolean} certified Whether `identity_signature` is present.
 */
async function parse(value, certified) {
  const fields = ['user_id', 'device_id', 'keys', 'self_signature'];
  if (certified) fields.push('identity_signature');
  const record = checkObject(value, fields, certified ? 'certificate' : 'request');
  const keys = record.keys;
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) throw new CryptoError('bad_object', 'keys');
  const keyRecord = /** @type {Record<string, unknown>} */ (keys);
  if (Object.keys(keyRecord).some((k) => k !== 'signing' && k !== 'agreement')) throw new CryptoError('unknown_field', 'keys');
  return {
    userId: checkId(record.user_id, 'user_id'),
    deviceId: checkId(record.device_id, 'device_id'),
    signing: await decodePublicKey(keyRecord.signing),
    agreement: await decodePublicKey(keyRecord.agreement),
    selfSignature: fromBase64urlOf(record.self_signature, 64, 'self_signature'),
    identitySignature: certified ? fromBase64urlOf(record.identity_signature, 64, 'identity_signature') : null,
  };
}

/**
 * Verifies a request's self-signature against the identity it names, then signs the same
 * body with the identity key (§5.3).
 * @param {CertificateRequest} request
 * @param {CryptoKey} identityPrivate
 * @param {Bytes} identityPublic
 * @returns {Promise<DeviceCertificate>}
 */
export async function certify(request, identityPrivate, identityPublic) {
  const parsed = await parse(request, false);
  if (bytesEqual(parsed.signing, identityPublic)) throw new CryptoError('bad_certificate', 'signing key is the identity key');
  const body = certificateBody(parsed.userId, parsed.deviceId, identityPublic, parsed.signing, parsed.agreement);
  await requireSignature(parsed.signing, parsed.selfSignature, body, 'self_signature');
  return { ...request, identity_signature: toBase64url(await sign(identityPrivate, body)) };
}

/**
 * @typedef {object} VerifiedDevice
 * @property {string} userId
 * @property {string} deviceId
 * @property {Bytes} signing
 * @property {Bytes} agreement The certificate's agreement key.
 * @property {Bytes | null} [prekey] Its current signed prekey's agreement key, once
 *   verified (§23): new epoch keys are wrapped to it.
 * @property {boolean} [prekeyRefused] A prekey was served that does not verify, or older
 *   than one seen: the device gets no new epoch key.
 */

/**
 * Verifies a certificate against a user's identity key (§5.4).
 * @param {unknown} certificate
 * @param {Bytes} identityKey
 * @returns {Promise<VerifiedDevice>}
 */
export async function verifyCertificate(certificate, identityKey) {
  const parsed = await parse(certificate, true);
  if (bytesEqual(parsed.signing, identityKey)) throw new CryptoError('bad_certificate', 'signing key is the identity key');
  const body = certificateBody(parsed.userId, parsed.deviceId, identityKey, parsed.signing, parsed.agreement);
  await requireSignature(parsed.signing, parsed.selfSignature, body, 'self_signature');
  await requireSignature(identityKey, /** @type {Bytes} */ (parsed.identitySignature), body, 'identity_signature');
  return { userId: parsed.userId, deviceId: parsed.deviceId, signing: parsed.signing, agreement: parsed.agreement };
}

/**
 * Each 5-byte chunk as a big-endian 40-bit integer, modulo 100 000, in 5 digits (§6).
 * @param {Bytes} bytes A multiple of 5 bytes.
 * @returns {string}
 */
export function digits(bytes) {
  let out = '';
  for (let i = 0; i + 5 <= bytes.length; i += 5) {
    // 40 bits fit exactly in a double.
    const low = ((bytes[i + 1] << 24) >>> 0) + ((bytes[i + 2] << 16) | (bytes[i + 3] << 8) | bytes[i + 4]);
    out += String((bytes[i] * 2 ** 32 + low) % 100000).padStart(5, '0');
  }
  return out;
}

/**
 * Groups digits by 5, separated by spaces.
 * @param {string} text
 */
export function groupDigits(text) {
  return text.replace(/(\d{5})(?=\d)/g, '$1 ');
}

/**
 * The seed of a fingerprint (§6.1).
 * @param {Bytes} identityKey
 * @param {string} userId
 */
export function fingerprintSeed(identityKey, userId) {
  return canonical(LABEL.fingerprint, identityKey, userId);
}

/**
 * A user's 60-digit fingerprint (§6.1).
 * @param {Bytes} identityKey
 * @param {string} userId
 * @returns {Promise<string>}
 */
export async function fingerprint(identityKey, userId) {
  await checkPublicKey(identityKey);
  let h = await sha256(fingerprintSeed(identityKey, userId));
  for (let i = 0; i < FINGERPRINT_ITERATIONS; i += 1) h = await sha256(concat(h, identityKey));
  const h2 = await sha256(concat(h, identityKey));
  return digits(h.subarray(0, 30)) + digits(h2.subarray(0, 30));
}

/**
 * The text a fingerprint's QR code encodes.
 * @param {string} userId
 * @param {string} fingerprintDigits
 */
export function fingerprintQrPayload(userId, fingerprintDigits) {
  return `passerelle:fp:v1:${toBase64url(utf8(userId))}:${fingerprintDigits}`;
}

/**
 * The link code of a certificate request (§6.2).
 * @param {CertificateRequest} request
 * @param {Bytes} identityKey
 * @returns {Promise<{ digits: string, qrPayload: string, digest: Bytes }>}
 */
export async function linkCode(request, identityKey) {
  const parsed = await parse(request, false);
  const body = certificateBody(parsed.userId, parsed.deviceId, identityKey, parsed.signing, parsed.agreement);
  const digest = await sha256(canonical(LABEL.deviceLink, body));
  return { digits: digits(digest.subarray(0, 20)), qrPayload: `passerelle:link:v1:${toBase64url(digest)}`, digest };
}
