// The primitives of docs/PROTOCOL.md §2 on WebCrypto, and P-256 keys in the encodings
// of §3.2: ECDSA and ECDH on P-256, HKDF-SHA-256, AES-256-GCM, PBKDF2, SHA-256.
// Nothing here is home-made: every operation is the browser's own.

import { concat, CryptoError, fromBase64url, toBase64url } from './encoding.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

const subtle = globalThis.crypto.subtle;
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' };
const ECDH = { name: 'ECDH', namedCurve: 'P-256' };
const SIGN = { name: 'ECDSA', hash: 'SHA-256' };

/** Length of an uncompressed SEC1 P-256 point. */
export const PUBLIC_KEY_LEN = 65;

/**
 * @param {number} length
 * @returns {Bytes}
 */
export function randomBytes(length) {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

/**
 * @param {Bytes} bytes
 * @returns {Promise<Bytes>}
 */
export async function sha256(bytes) {
  return new Uint8Array(await subtle.digest('SHA-256', bytes));
}

/**
 * HKDF-SHA-256 with 32 bytes of output (an empty salt is 32 zero bytes, RFC 5869).
 * @param {Bytes} ikm
 * @param {Bytes} salt
 * @param {Bytes} info
 * @returns {Promise<Bytes>}
 */
export async function hkdf(ikm, salt, info) {
  const key = await subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, key, 256));
}

/**
 * PBKDF2-HMAC-SHA-256, 32 bytes.
 * @param {Bytes} password
 * @param {Bytes} salt
 * @param {number} iterations
 * @returns {Promise<Bytes>}
 */
export async function pbkdf2(password, salt, iterations) {
  const key = await subtle.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256));
}

/**
 * An AES-256-GCM key from 32 bytes.
 * @param {Bytes} raw
 * @param {boolean} [extractable]
 * @returns {Promise<CryptoKey>}
 */
export function aesKey(raw, extractable = false) {
  if (raw.length !== 32) throw new CryptoError('bad_length', 'AES-256 key');
  return subtle.importKey('raw', raw, 'AES-GCM', extractable, ['encrypt', 'decrypt']);
}

/**
 * AES-256-GCM encryption; the 16-byte tag is appended.
 * @param {CryptoKey | Bytes} key
 * @param {Bytes} nonce 12 bytes
 * @param {Bytes} ad
 * @param {Bytes} plaintext
 * @returns {Promise<Bytes>}
 */
export async function aesEncrypt(key, nonce, ad, plaintext) {
  const cryptoKey = key instanceof CryptoKey ? key : await aesKey(key);
  return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: ad }, cryptoKey, plaintext));
}

/**
 * AES-256-GCM decryption; a wrong key, nonce, AD or a modified ciphertext throws.
 * @param {CryptoKey | Bytes} key
 * @param {Bytes} nonce
 * @param {Bytes} ad
 * @param {Bytes} ciphertext
 * @returns {Promise<Bytes>}
 */
export async function aesDecrypt(key, nonce, ad, ciphertext) {
  const cryptoKey = key instanceof CryptoKey ? key : await aesKey(key);
  try {
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: ad }, cryptoKey, ciphertext));
  } catch {
    throw new CryptoError('decrypt_failed');
  }
}

/**
 * Checks a public key (§3.2): 65 bytes, prefix 0x04, a point on the curve. Compressed
 * and other forms are refused before WebCrypto sees them.
 * @param {Bytes} bytes
 * @returns {Promise<Bytes>} the same bytes
 */
export async function checkPublicKey(bytes) {
  if (bytes.length !== PUBLIC_KEY_LEN || bytes[0] !== 0x04) throw new CryptoError('bad_public_key', 'not an uncompressed P-256 point');
  try {
    await subtle.importKey('raw', bytes, ECDSA, true, ['verify']);
  } catch {
    throw new CryptoError('bad_public_key', 'not on the curve');
  }
  return bytes;
}

/**
 * Decodes and checks a base64url public key.
 * @param {unknown} text
 * @returns {Promise<Bytes>}
 */
export function decodePublicKey(text) {
  return checkPublicKey(fromBase64url(text));
}

/**
 * @param {Bytes} publicKey 65 bytes
 * @returns {Promise<CryptoKey>}
 */
export function importVerifyKey(publicKey) {
  if (publicKey.length !== PUBLIC_KEY_LEN || publicKey[0] !== 0x04) throw new CryptoError('bad_public_key');
  return subtle.importKey('raw', publicKey, ECDSA, true, ['verify']);
}

/**
 * The JWK of a private scalar `d` with its public point.
 * @param {Bytes} d 32 bytes
 * @param {Bytes} publicKey 65 bytes
 */
function privateJwk(d, publicKey) {
  if (d.length !== 32) throw new CryptoError('bad_private_key');
  if (publicKey.length !== PUBLIC_KEY_LEN || publicKey[0] !== 0x04) throw new CryptoError('bad_public_key');
  return {
    kty: 'EC',
    crv: 'P-256',
    d: toBase64url(d),
    x: toBase64url(publicKey.subarray(1, 33)),
    y: toBase64url(publicKey.subarray(33, 65)),
    ext: true,
  };
}

/**
 * Imports an ECDSA private key from its scalar (§3.2: a JWK with the public point).
 * @param {Bytes} d
 * @param {Bytes} publicKey
 * @param {boolean} [extractable]
 * @returns {Promise<CryptoKey>}
 */
export async function importSigningKey(d, publicKey, extractable = false) {
  try {
    return await subtle.importKey('jwk', privateJwk(d, publicKey), ECDSA, extractable, ['sign']);
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    throw new CryptoError('bad_private_key');
  }
}

/**
 * Imports an ECDH private key from its scalar.
 * @param {Bytes} d
 * @param {Bytes} publicKey
 * @param {boolean} [extractable]
 * @returns {Promise<CryptoKey>}
 */
export async function importAgreementKey(d, publicKey, extractable = false) {
  try {
    return await subtle.importKey('jwk', privateJwk(d, publicKey), ECDH, extractable, ['deriveBits']);
  } catch (error) {
    if (error instanceof CryptoError) throw error;
    throw new CryptoError('bad_private_key');
  }
}

/**
 * @typedef {object} KeyPair
 * @property {CryptoKey} privateKey
 * @property {Bytes} publicKey 65-byte uncompressed point
 */

/**
 * A new ECDSA P-256 key pair. The browser draws the scalar from its CSPRNG.
 * @param {boolean} extractable Whether the private key may be exported (only the identity
 *   key, once, into the backup).
 * @returns {Promise<KeyPair>}
 */
export async function generateSigningKey(extractable) {
  const pair = await subtle.generateKey(ECDSA, extractable, ['sign', 'verify']);
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)) };
}

/**
 * A new ECDH P-256 key pair.
 * @param {boolean} extractable
 * @returns {Promise<KeyPair>}
 */
export async function generateAgreementKey(extractable) {
  const pair = await subtle.generateKey(ECDH, extractable, ['deriveBits']);
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)) };
}

/**
 * The scalar of an extractable private key.
 * @param {CryptoKey} privateKey
 * @returns {Promise<Bytes>}
 */
export async function exportScalar(privateKey) {
  const jwk = await subtle.exportKey('jwk', privateKey);
  return fromBase64url(jwk.d);
}

/**
 * ECDSA P-256 / SHA-256; 64 bytes r ‖ s.
 * @param {CryptoKey} privateKey
 * @param {Bytes} message
 * @returns {Promise<Bytes>}
 */
export async function sign(privateKey, message) {
  return new Uint8Array(await subtle.sign(SIGN, privateKey, message));
}

/**
 * Verifies an ECDSA signature.
 * @param {Bytes | CryptoKey} publicKey
 * @param {Bytes} signature 64 bytes
 * @param {Bytes} message
 * @returns {Promise<boolean>}
 */
export async function verify(publicKey, signature, message) {
  if (signature.length !== 64) return false;
  try {
    const key = publicKey instanceof CryptoKey ? publicKey : await importVerifyKey(publicKey);
    return await subtle.verify(SIGN, key, signature, message);
  } catch {
    return false;
  }
}

/**
 * Verifies or throws `bad_signature`.
 * @param {Bytes | CryptoKey} publicKey
 * @param {Bytes} signature
 * @param {Bytes} message
 * @param {string} what
 */
export async function requireSignature(publicKey, signature, message, what) {
  if (!(await verify(publicKey, signature, message))) throw new CryptoError('bad_signature', what);
}

/**
 * ECDH P-256: the 32-byte x-coordinate of d·Q.
 * @param {CryptoKey} privateKey
 * @param {Bytes} publicKey
 * @returns {Promise<Bytes>}
 */
export async function ecdh(privateKey, publicKey) {
  if (publicKey.length !== PUBLIC_KEY_LEN || publicKey[0] !== 0x04) throw new CryptoError('bad_public_key');
  const peer = await subtle.importKey('raw', publicKey, ECDH, true, []);
  return new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: peer }, privateKey, 256));
}

/**
 * Checks that a private signing key belongs to a public key, by signing a random
 * challenge (used when opening a backup, §10.3).
 * @param {CryptoKey} privateKey
 * @param {Bytes} publicKey
 */
export async function keysMatch(privateKey, publicKey) {
  const challenge = concat(randomBytes(32));
  return verify(publicKey, await sign(privateKey, challenge), challenge);
}
