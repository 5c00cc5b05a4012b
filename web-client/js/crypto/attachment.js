// Attachments (docs/PROTOCOL.md §9): chunked AES-256-GCM under the file's own key.
// Progress callbacks let the views show a bar while large files are processed.

import { bytesEqual, canonical, concat, CryptoError, LABEL, u64be } from './encoding.js';
import { aesDecrypt, aesEncrypt, aesKey, randomBytes, sha256 } from './primitives.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

/** Plaintext bytes per chunk. */
export const CHUNK = 65536;
/** Ciphertext bytes of a full chunk. */
const SEALED_CHUNK = CHUNK + 16;
/** The blob's format version byte. */
const BLOB_VERSION = 0x01;
const HEADER = 13;

/**
 * nonce_i = base nonce with its last 8 bytes XORed with u64be(i).
 * @param {Bytes} baseNonce
 * @param {number} index
 * @returns {Bytes}
 */
export function chunkNonce(baseNonce, index) {
  const nonce = baseNonce.slice();
  const counter = u64be(index);
  for (let i = 0; i < 8; i += 1) nonce[4 + i] ^= counter[i];
  return nonce;
}

/**
 * @param {number} index
 * @param {boolean} final
 */
export function chunkAdditionalData(index, final) {
  return canonical(LABEL.attachmentChunk, u64be(index), Uint8Array.of(final ? 1 : 0));
}

/**
 * Encrypts a file (§9).
 * @param {Bytes} file
 * @param {{ key?: Bytes, baseNonce?: Bytes, onProgress?: (done: number, total: number) => void }} [options]
 *   `key` and `baseNonce` are for test vectors only.
 * @returns {Promise<{ key: Bytes, blob: Bytes, sha256: Bytes, size: number }>}
 */
export async function encryptAttachment(file, options = {}) {
  const key = options.key ?? randomBytes(32);
  const baseNonce = options.baseNonce ?? randomBytes(12);
  const cryptoKey = await aesKey(key);
  const count = Math.max(1, Math.ceil(file.length / CHUNK));
  /** @type {Bytes[]} */
  const parts = [Uint8Array.of(BLOB_VERSION), baseNonce];
  for (let i = 0; i < count; i += 1) {
    const final = i === count - 1;
    const chunk = file.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, file.length));
    parts.push(await aesEncrypt(cryptoKey, chunkNonce(baseNonce, i), chunkAdditionalData(i, final), chunk));
    options.onProgress?.(i + 1, count);
  }
  const blob = concat(...parts);
  return { key, blob, sha256: await sha256(blob), size: file.length };
}

/**
 * Checks the hash, then decrypts every chunk in order; refuses truncation, reordering,
 * a wrong version and a wrong size (§9).
 * @param {Bytes} blob
 * @param {{ key: Bytes, sha256: Bytes, size: number }} expected From the message content.
 * @param {(done: number, total: number) => void} [onProgress]
 * @returns {Promise<Bytes>}
 */
export async function decryptAttachment(blob, expected, onProgress) {
  if (!bytesEqual(await sha256(blob), expected.sha256)) throw new CryptoError('attachment_hash_mismatch');
  if (blob.length < HEADER + 16 || blob[0] !== BLOB_VERSION) throw new CryptoError('bad_attachment', 'header');
  const baseNonce = blob.slice(1, HEADER);
  const body = blob.subarray(HEADER);
  const count = Math.max(1, Math.ceil(body.length / SEALED_CHUNK));
  const last = body.length - (count - 1) * SEALED_CHUNK;
  if (last < 16) throw new CryptoError('bad_attachment', 'short chunk');
  if (last === 16 && count > 1) throw new CryptoError('bad_attachment', 'empty last chunk');
  const cryptoKey = await aesKey(expected.key);
  const out = new Uint8Array(body.length - 16 * count);
  let offset = 0;
  for (let i = 0; i < count; i += 1) {
    const final = i === count - 1;
    const sealed = body.slice(i * SEALED_CHUNK, final ? body.length : (i + 1) * SEALED_CHUNK);
    const plain = await aesDecrypt(cryptoKey, chunkNonce(baseNonce, i), chunkAdditionalData(i, final), sealed);
    out.set(plain, offset);
    offset += plain.length;
    onProgress?.(i + 1, count);
  }
  if (out.length !== expected.size) throw new CryptoError('bad_attachment', 'size');
  return out;
}
