// The key transparency log (docs/PROTOCOL.md §25), as the browser checks it: entry bytes
// and leaves, RFC 6962 inclusion and consistency proofs (RFC 9162 §2.1.3), and the signed
// checkpoint (a C2SP note, Ed25519). The same rules as the Rust `crypto::keylog`; both
// pass shared/vectors/key_log.json.

import { bytesEqual, canonical, concat, CryptoError, fromBase64url, utf8 } from './encoding.js';
import { sha256 } from './primitives.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

/**
 * @typedef {object} KeyLogEntry The wire form of an entry.
 * @property {'identity' | 'device_added' | 'device_revoked'} kind
 * @property {string} user_id
 * @property {string} identity_key base64url
 * @property {{ device_id: string, keys: { signing: string, agreement: string } }} [device]
 *
 * @typedef {object} Checkpoint
 * @property {string} origin
 * @property {number} size
 * @property {Bytes} root
 */

export const KEY_LOG_ENTRY_LABEL = 'passerelle/v1/key-log-entry';

/** @param {string} text standard base64 @returns {Bytes} */
export function fromBase64(text) {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
  return out;
}

/** @param {Bytes} bytes @returns {string} standard base64 */
export function toBase64(bytes) {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/**
 * `CB("passerelle/v1/key-log-entry", kind, user_id, identity_key, device_id, signing, agreement)`.
 * @param {KeyLogEntry} entry
 * @returns {Bytes}
 */
export function entryBytes(entry) {
  const device = entry.device;
  const empty = new Uint8Array(0);
  return canonical(
    KEY_LOG_ENTRY_LABEL,
    entry.kind,
    entry.user_id,
    fromBase64url(entry.identity_key),
    device ? device.device_id : empty,
    device ? fromBase64url(device.keys.signing) : empty,
    device ? fromBase64url(device.keys.agreement) : empty,
  );
}

/** @param {Bytes} data @returns {Promise<Bytes>} SHA-256(0x00 ‖ data) */
export function leafHash(data) {
  return sha256(concat(Uint8Array.of(0), data));
}

/** @param {Bytes} left @param {Bytes} right @returns {Promise<Bytes>} */
function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/**
 * Whether `proof` shows `leaf` at `index` in the tree of `size` leaves with root `root`
 * (RFC 9162 §2.1.3.2).
 * @param {number} index @param {number} size @param {Bytes} leaf @param {Bytes[]} proof @param {Bytes} root
 */
export async function verifyInclusion(index, size, leaf, proof, root) {
  if (!(index >= 0 && index < size)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(r, root);
}

/**
 * Whether `proof` shows the tree of `newSize` (root `newRoot`) extends the tree of
 * `oldSize` (root `oldRoot`) (RFC 9162 §2.1.4.2).
 * @param {number} oldSize @param {number} newSize @param {Bytes} oldRoot @param {Bytes} newRoot @param {Bytes[]} proof
 */
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldSize > newSize) return false;
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (oldSize === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  let path = proof;
  // When the old size is a power of two, the old root is the first node of the path.
  if ((oldSize & (oldSize - 1)) === 0) path = [oldRoot, ...proof];
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}

/**
 * Parses a checkpoint body `<origin>\n<size>\n<base64 root>\n`.
 * @param {string} body
 * @returns {Checkpoint}
 */
export function parseCheckpoint(body) {
  const lines = body.split('\n');
  if (!body.endsWith('\n') || lines.length < 4 || !lines[0] || !/^(0|[1-9][0-9]*)$/.test(lines[1])) {
    throw new CryptoError('bad_checkpoint');
  }
  const root = fromBase64(lines[2]);
  if (root.length !== 32) throw new CryptoError('bad_checkpoint');
  return { origin: lines[0], size: Number(lines[1]), root };
}

/**
 * Opens the signed note `note` with the log's verifier key
 * `<origin>+<hex key hash>+<base64(0x01 ‖ Ed25519 key)>`: one signature line must be
 * the key's over the body, and the body's origin the key's name.
 * @param {string} note
 * @param {string} verifierKey
 * @returns {Promise<Checkpoint>}
 */
export async function openCheckpoint(note, verifierKey) {
  // `<name>+<hash>+<key>`: the key's base64 may itself hold '+', so split twice only.
  const text = verifierKey.trim();
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  const [name, hashHex, keyText] = second < 0 ? [] : [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  const split = note.lastIndexOf('\n\n');
  if (!name || !hashHex || !keyText || split < 0) throw new CryptoError('bad_checkpoint');
  let typed;
  try {
    typed = fromBase64(keyText);
  } catch {
    throw new CryptoError('bad_checkpoint');
  }
  if (typed.length !== 33 || typed[0] !== 1) throw new CryptoError('bad_checkpoint');
  const publicKey = typed.slice(1);
  const keyHash = (await sha256(concat(utf8(`${name}\n`), typed))).slice(0, 4);
  if ([...keyHash].map((b) => b.toString(16).padStart(2, '0')).join('') !== hashHex) throw new CryptoError('bad_checkpoint');
  const body = note.slice(0, split + 1);
  const key = await globalThis.crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  let signed = false;
  for (const line of note.slice(split + 2).split('\n')) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    let bytes;
    try {
      bytes = fromBase64(match[2]);
    } catch {
      continue;
    }
    if (bytes.length !== 68 || !bytesEqual(bytes.slice(0, 4), keyHash)) continue;
    if (await globalThis.crypto.subtle.verify({ name: 'Ed25519' }, key, bytes.slice(4), utf8(body))) signed = true;
  }
  if (!signed) throw new CryptoError('bad_checkpoint');
  const checkpoint = parseCheckpoint(body);
  if (checkpoint.origin !== name) throw new CryptoError('bad_checkpoint');
  return checkpoint;
}

/**
 * What the log proves about one user: their identity keys in order (the last is the
 * current one) and their devices, each with the identity that certified it. Every entry
 * must be the user's and lead to the head.
 * @param {string} userId
 * @param {Checkpoint} head
 * @param {{ index: number, entry: KeyLogEntry, proof: string[] }[]} entries
 */
export async function loggedKeys(userId, head, entries) {
  /** @type {string[]} */
  const identities = [];
  /** @type {Map<string, { identity: string, signing: string, agreement: string, revoked: boolean }>} */
  const devices = new Map();
  const sorted = [...entries].sort((a, b) => a.index - b.index);
  for (const { index, entry, proof } of sorted) {
    const leaf = await leafHash(entryBytes(entry));
    const included = await verifyInclusion(index, head.size, leaf, proof.map(fromBase64), head.root);
    if (entry.user_id !== userId || !included) throw new CryptoError('key_not_logged', `entry ${index}`);
    if (entry.kind === 'identity') identities.push(entry.identity_key);
    else if (entry.kind === 'device_added' && entry.device) {
      devices.set(entry.device.device_id, { identity: entry.identity_key, ...entry.device.keys, revoked: false });
    } else if (entry.kind === 'device_revoked' && entry.device) {
      const found = devices.get(entry.device.device_id);
      if (found) found.revoked = true;
    }
  }
  return { identities, devices, current: identities.at(-1) ?? null };
}
