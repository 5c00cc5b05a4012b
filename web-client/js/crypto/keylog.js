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

// ---- The audited log (§25.4) -----------------------------------------------------------

/**
 * @typedef {object} LoggedDevice A device as the audited log shows it.
 * @property {string} identity base64url, the identity that certified it
 * @property {string} signing base64url
 * @property {string} agreement base64url
 * @property {number} index its `device_added` entry
 * @property {number} at when it was appended (unix ms, the server's word)
 * @property {number | null} revoked its `device_revoked` entry, once revoked
 *
 * @typedef {object} UserSummary What the audited log says about one user.
 * @property {{ key: string, index: number, at: number }[]} identities oldest first
 * @property {Record<string, LoggedDevice>} devices by id
 *
 * @typedef {object} Audit The whole log as this browser audited it: the right edge of
 *   its Merkle tree (perfect subtrees, largest first) and a summary per user.
 * @property {number} size
 * @property {{ height: number, hash: Bytes }[]} nodes
 * @property {Record<string, UserSummary>} users
 *
 * @typedef {object} StoredAudit The same, as the `keyLog` store keeps it.
 * @property {number} size
 * @property {{ height: number, hash: string }[]} nodes hashes in base64
 * @property {Record<string, UserSummary>} users
 */

/** @returns {Audit} */
export function emptyAudit() {
  return { size: 0, nodes: [], users: {} };
}

/** @param {Audit} audit @returns {StoredAudit} */
export function storeAudit(audit) {
  return { size: audit.size, nodes: audit.nodes.map((n) => ({ height: n.height, hash: toBase64(n.hash) })), users: audit.users };
}

/** @param {StoredAudit} stored @returns {Audit} */
export function loadAudit(stored) {
  return {
    size: stored.size,
    nodes: stored.nodes.map((n) => ({ height: n.height, hash: fromBase64(n.hash) })),
    users: structuredClone(stored.users),
  };
}

/** @param {Audit} audit @returns {Promise<Bytes>} the root of the audited entries' tree (MTH) */
export async function auditRoot(audit) {
  if (audit.nodes.length === 0) return sha256(new Uint8Array(0));
  let acc = audit.nodes[audit.nodes.length - 1].hash;
  for (let i = audit.nodes.length - 2; i >= 0; i -= 1) acc = await nodeHash(audit.nodes[i].hash, acc);
  return acc;
}

/**
 * Appends the entry of index `index` (the next one) to the audit, in place.
 * @param {Audit} audit
 * @param {{ index: number, at: number, entry: KeyLogEntry }} record
 */
export async function auditPush(audit, { index, at, entry }) {
  if (index !== audit.size || typeof entry?.user_id !== 'string') throw new CryptoError('key_log_inconsistent', `entry ${index}`);
  const user = (audit.users[entry.user_id] ??= { identities: [], devices: {} });
  const device = entry.device;
  if (entry.kind === 'identity' && !device) user.identities.push({ key: entry.identity_key, index, at });
  else if (entry.kind === 'device_added' && device) {
    user.devices[device.device_id] = { identity: entry.identity_key, signing: device.keys.signing, agreement: device.keys.agreement, index, at, revoked: null };
  } else if (entry.kind === 'device_revoked' && device) {
    const found = user.devices[device.device_id];
    if (found && found.revoked === null) found.revoked = index;
  } else throw new CryptoError('key_log_inconsistent', `entry ${index}`);
  let node = { height: 0, hash: await leafHash(entryBytes(entry)) };
  while (audit.nodes.length > 0 && audit.nodes[audit.nodes.length - 1].height === node.height) {
    const left = /** @type {{ height: number, hash: Bytes }} */ (audit.nodes.pop());
    node = { height: node.height + 1, hash: await nodeHash(left.hash, node.hash) };
  }
  audit.nodes.push(node);
  audit.size += 1;
}

/**
 * What the audited log proves about one user, in the shape `loggedKeys` answers.
 * @param {Audit} audit
 * @param {string} userId
 */
export function auditedKeys(audit, userId) {
  const user = audit.users[userId] ?? { identities: [], devices: {} };
  const identities = user.identities.map((i) => i.key);
  /** @type {Map<string, Omit<LoggedDevice, 'revoked'> & { revoked: boolean, revokedAt: number | null }>} */
  const devices = new Map();
  for (const [id, d] of Object.entries(user.devices)) devices.set(id, { ...d, revoked: d.revoked !== null, revokedAt: d.revoked });
  return { identities, devices, current: identities.at(-1) ?? null };
}

/**
 * The changes of `userId`'s account that the device `deviceId` (this browser's) did not
 * make: every identity entry after its own `device_added` entry, and every device added
 * after it that is not in `known`. Empty while the log does not show the device.
 * @param {Audit} audit
 * @param {string} userId
 * @param {string} deviceId
 * @param {Set<string>} known
 * @returns {{ index: number, at: number, deviceId: string | null }[]}
 */
export function unknownChanges(audit, userId, deviceId, known) {
  const user = audit.users[userId];
  const mine = user?.devices[deviceId];
  if (!user || !mine) return [];
  const changes = [
    ...user.identities.filter((i) => i.index > mine.index).map((i) => ({ index: i.index, at: i.at, deviceId: null })),
    ...Object.entries(user.devices)
      .filter(([id, d]) => d.index > mine.index && id !== deviceId && !known.has(id))
      .map(([id, d]) => ({ index: d.index, at: d.at, deviceId: /** @type {string | null} */ (id) })),
  ];
  return changes.sort((a, b) => a.index - b.index);
}

/**
 * Whether a head another client gossiped (`theirs`, §27) and this browser's (`mine`) are
 * one log: the same size with the same root, or the smaller extended by the larger
 * through `proof`.
 * @param {{ size: number, root: Bytes }} mine
 * @param {{ size: number, root: Bytes }} theirs
 * @param {Bytes[]} proof
 */
export async function sameLog(mine, theirs, proof) {
  if (theirs.size === mine.size) return bytesEqual(theirs.root, mine.root);
  if (theirs.size < mine.size) return verifyConsistency(theirs.size, mine.size, theirs.root, mine.root, proof);
  return verifyConsistency(mine.size, theirs.size, mine.root, theirs.root, proof);
}
