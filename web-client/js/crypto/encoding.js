// The byte-level encodings of docs/PROTOCOL.md §3: strict base64url (§3.1), canonical
// byte strings (§3.4) and their labels (§3.5), big-endian integers.

/** @typedef {Uint8Array<ArrayBuffer>} Bytes Bytes backed by a plain ArrayBuffer (what WebCrypto takes). */

/** A decoding or validation failure; `code` is stable, the message is for developers. */
export class CryptoError extends Error {
  /**
   * @param {string} code e.g. `bad_base64url`, `bad_signature`, `decrypt_failed`.
   * @param {string} [detail]
   */
  constructor(code, detail) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'CryptoError';
    this.code = code;
  }
}

/** The labels of §3.5; each fixes the number and order of its fields. */
export const LABEL = Object.freeze({
  deviceCert: 'passerelle/v1/device-cert',
  deviceLink: 'passerelle/v1/device-link',
  fingerprint: 'passerelle/v1/fingerprint',
  epochKeyCommitment: 'passerelle/v1/epoch-key-commitment',
  epochWrap: 'passerelle/v1/epoch-wrap',
  message: 'passerelle/v1/message',
  messageV2: 'passerelle/v2/message',
  attachmentChunk: 'passerelle/v1/attachment-chunk',
  keyBackupKey: 'passerelle/v1/key-backup-key',
  keyBackup: 'passerelle/v1/key-backup',
  keyBackupPage: 'passerelle/v1/key-backup-page',
  keyBackupHead: 'passerelle/v1/key-backup-head',
  signedPrekey: 'passerelle/v1/signed-prekey',
});

/** The version byte inside canonical byte strings (2 only for the version-2 message, §8.7). */
const VERSION = 1;

/** Largest integer a JSON number carries exactly (§3.6). */
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * @param {string} text
 * @returns {Bytes}
 */
export function utf8(text) {
  return encoder.encode(text);
}

/**
 * Strict UTF-8 decoding (invalid bytes throw).
 * @param {Bytes} bytes
 * @returns {string}
 */
export function fromUtf8(bytes) {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new CryptoError('bad_utf8');
  }
}

/**
 * @param {...Bytes} parts
 * @returns {Bytes}
 */
export function concat(...parts) {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * @param {number} n 0 ≤ n < 2^32
 * @returns {Bytes}
 */
export function u32be(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/**
 * @param {number | bigint} n 0 ≤ n ≤ 2^53 − 1 for numbers
 * @returns {Bytes}
 */
export function u64be(n) {
  if (typeof n === 'number' && (!Number.isSafeInteger(n) || n < 0)) throw new CryptoError('bad_integer', String(n));
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/**
 * A canonical byte string: u32be(len(label)) ‖ label ‖ 0x01 ‖ (u32be(len(f)) ‖ f)*.
 * String fields are their UTF-8 bytes.
 * @param {string} label
 * @param {...(Bytes | string)} fields
 * @returns {Bytes}
 */
export function canonical(label, ...fields) {
  return canonicalOf(VERSION, label, ...fields);
}

/**
 * A canonical byte string of a construction a later protocol version introduced, with
 * its own version byte (the version-2 message, §8.7).
 * @param {number} version
 * @param {string} label
 * @param {...(Bytes | string)} fields
 * @returns {Bytes}
 */
export function canonicalOf(version, label, ...fields) {
  const labelBytes = utf8(label);
  /** @type {Bytes[]} */
  const parts = [u32be(labelBytes.length), labelBytes, Uint8Array.of(version)];
  for (const field of fields) {
    const bytes = typeof field === 'string' ? utf8(field) : field;
    parts.push(u32be(bytes.length), bytes);
  }
  return concat(...parts);
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** @type {Int16Array} */
const B64_INDEX = (() => {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < B64URL.length; i += 1) table[B64URL.charCodeAt(i)] = i;
  return table;
})();

/**
 * Base64url without padding.
 * @param {Bytes} bytes
 * @returns {string}
 */
export function toBase64url(bytes) {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63] + B64URL[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64URL[n >> 18] + B64URL[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63];
  }
  return out;
}

/**
 * Strict base64url decoding (§3.1): no padding, url-safe alphabet only, no length of
 * 1 mod 4, no non-zero unused bits. Each value has exactly one accepted encoding.
 * @param {unknown} text
 * @returns {Bytes}
 */
export function fromBase64url(text) {
  if (typeof text !== 'string') throw new CryptoError('bad_base64url', 'not a string');
  if (text.length % 4 === 1) throw new CryptoError('bad_base64url', 'impossible length');
  const values = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? B64_INDEX[code] : -1;
    if (value < 0) throw new CryptoError('bad_base64url', 'character outside the alphabet');
    values[i] = value;
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 3 < values.length; i += 4) {
    const n = (values[i] << 18) | (values[i + 1] << 12) | (values[i + 2] << 6) | values[i + 3];
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  const rest = values.length - i;
  if (rest === 2) {
    if (values[i + 1] & 15) throw new CryptoError('bad_base64url', 'non-zero unused bits');
    out[o++] = (values[i] << 2) | (values[i + 1] >> 4);
  } else if (rest === 3) {
    if (values[i + 2] & 3) throw new CryptoError('bad_base64url', 'non-zero unused bits');
    const n = (values[i] << 12) | (values[i + 1] << 6) | values[i + 2];
    out[o++] = n >> 10;
    out[o++] = (n >> 2) & 255;
  }
  return out;
}

/**
 * Decodes base64url and checks the length.
 * @param {unknown} text
 * @param {number} length
 * @param {string} what For the error.
 */
export function fromBase64urlOf(text, length, what) {
  const bytes = fromBase64url(text);
  if (bytes.length !== length) throw new CryptoError('bad_length', `${what}: ${bytes.length} bytes, ${length} expected`);
  return bytes;
}

/**
 * @param {Bytes} bytes
 * @returns {string}
 */
export function toHex(bytes) {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/**
 * @param {string} hex
 * @returns {Bytes}
 */
export function fromHex(hex) {
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) throw new CryptoError('bad_hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Byte-for-byte equality (for public values; secrets are never compared in the client).
 * @param {Bytes} a
 * @param {Bytes} b
 */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Checks an identifier of §3.6: a string of 1 to 128 bytes.
 * @param {unknown} id
 * @param {string} what
 * @returns {string}
 */
export function checkId(id, what) {
  if (typeof id !== 'string') throw new CryptoError('bad_id', what);
  const length = utf8(id).length;
  if (length < 1 || length > 128) throw new CryptoError('bad_id', what);
  return id;
}

/**
 * Checks an epoch or revision: an integer in [0, 2^53 − 1].
 * @param {unknown} n
 * @param {string} what
 * @returns {number}
 */
export function checkSafeInt(n, what) {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new CryptoError('bad_integer', what);
  return n;
}

/**
 * Checks that a public object has exactly the expected fields and `"v": 1` (§3.7).
 * @param {unknown} value
 * @param {readonly string[]} fields Besides `v`.
 * @param {string} what
 * @param {number} [version] The `v` required: 1 but for the version-2 envelope (§8.7).
 * @returns {Record<string, unknown>}
 */
export function checkObject(value, fields, what, version = 1) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CryptoError('bad_object', what);
  const record = /** @type {Record<string, unknown>} */ (value);
  if (record.v !== version) throw new CryptoError('bad_version', what);
  for (const key of Object.keys(record)) {
    if (key !== 'v' && !fields.includes(key)) throw new CryptoError('unknown_field', `${what}.${key}`);
  }
  for (const key of fields) {
    if (!(key in record)) throw new CryptoError('missing_field', `${what}.${key}`);
  }
  return record;
}
