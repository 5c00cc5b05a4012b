// The recovery code and the key backup (docs/PROTOCOL.md §10).

import { canonical, checkId, checkObject, checkSafeInt, concat, CryptoError, fromBase64url, fromBase64urlOf, fromHex, fromUtf8, LABEL, toBase64url, toHex, u64be, utf8 } from './encoding.js';
import { aesDecrypt, aesEncrypt, aesKey, checkPublicKey, importSigningKey, keysMatch, pbkdf2, randomBytes, sha256 } from './primitives.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

/**
 * @typedef {object} KeyBackup The wire form of §10.4.
 * @property {1} v
 * @property {string} user_id
 * @property {number} revision
 * @property {string} nonce
 * @property {string} ciphertext
 *
 * @typedef {object} BackupEpochKey
 * @property {string} channelId
 * @property {number} epoch
 * @property {Bytes} key
 *
 * @typedef {object} BackupIdentity A colleague's identity key as pinned, and whether it
 *   was verified in person (§10.3): trust travels with the backup.
 * @property {string} userId
 * @property {string} key base64url, 65 bytes
 * @property {boolean} verified
 *
 * @typedef {object} Tombstone A channel destroyed (`belowEpoch` null: every epoch) or
 *   whose history before `belowEpoch` was purged (§10.6): its keys never come back.
 * @property {string} channelId
 * @property {number | null} belowEpoch
 *
 * @typedef {object} BackupContents §10.3, decoded.
 * @property {Bytes} identityPrivate The identity scalar: keep it no longer than needed.
 * @property {Bytes} identityPublic
 * @property {BackupEpochKey[]} epochKeys
 * @property {BackupIdentity[]} [identities] Absent from the JSON when empty.
 * @property {Tombstone[]} [shredded] Absent from the JSON when empty.
 */

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** 128 bits, in 26 characters (§10.1). */
export const RECOVERY_CODE_BYTES = 16;
const CODE_CHARS = 26;
/** A code of the first format: 120 bits in 24 characters, still accepted. */
const LEGACY_CODE_BYTES = 15;
const LEGACY_CODE_CHARS = 24;
/** PBKDF2-HMAC-SHA-256 iterations for a 26-character code (OWASP's current figure). */
export const KDF_ITERATIONS = 600000;
/** Iterations of the first format's codes, which their backups were sealed with. */
export const LEGACY_KDF_ITERATIONS = 100000;

/**
 * A new recovery code: 16 random bytes.
 * @returns {Bytes}
 */
export function generateRecoveryCode() {
  return randomBytes(RECOVERY_CODE_BYTES);
}

/**
 * Crockford base32 in groups of four (§10.1): « 8973-5T7M-V0GZ-1A8C-99VK-HF96-M0 » (or
 * six groups for a 15-byte code of the first format).
 * @param {Bytes} code 16 bytes (15 for the first format)
 * @returns {string}
 */
export function formatRecoveryCode(code) {
  if (code.length !== RECOVERY_CODE_BYTES && code.length !== LEGACY_CODE_BYTES) throw new CryptoError('bad_recovery_code');
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of code) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  // The last bits, padded with zeros to a whole character.
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out.replace(/(.{4})(?=.)/g, '$1-');
}

/**
 * Reads what a person typed (§10.1): spaces and hyphens ignored, lower case accepted,
 * O read as 0, I and L as 1; 26 characters give 16 bytes (the two bits left over are
 * ignored), 24 give the 15 bytes of a code of the first format; anything else is
 * refused. The error never repeats the code.
 * @param {string} typed
 * @returns {Bytes}
 */
export function parseRecoveryCode(typed) {
  const clean = typed.replace(/[\s-]/g, '').toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
  if (clean.length !== CODE_CHARS && clean.length !== LEGACY_CODE_CHARS) throw new CryptoError('bad_recovery_code', 'length');
  const out = new Uint8Array(clean.length === CODE_CHARS ? RECOVERY_CODE_BYTES : LEGACY_CODE_BYTES);
  let bits = 0;
  let value = 0;
  let o = 0;
  for (const char of clean) {
    const index = ALPHABET.indexOf(char);
    if (index < 0) throw new CryptoError('bad_recovery_code', 'character');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8 && o < out.length) {
      out[o++] = (value >> (bits - 8)) & 255;
      bits -= 8;
      value &= (1 << bits) - 1;
    }
  }
  return out;
}

/**
 * @param {string} userId
 */
export function backupSalt(userId) {
  return canonical(LABEL.keyBackupKey, checkId(userId, 'user_id'));
}

/**
 * The backup key's bytes: PBKDF2 over the code bytes (§10.2), with the iterations of the
 * code's format.
 * @param {Bytes} code
 * @param {string} userId
 * @returns {Promise<Bytes>}
 */
export function deriveBackupKeyBytes(code, userId) {
  return pbkdf2(code, backupSalt(userId), code.length === LEGACY_CODE_BYTES ? LEGACY_KDF_ITERATIONS : KDF_ITERATIONS);
}

/**
 * Whether a tombstone covers this channel epoch.
 * @param {Map<string, number | null>} shredded belowEpoch by channel id (null: all)
 * @param {string} channelId
 * @param {number} epoch
 */
export function isShredded(shredded, channelId, epoch) {
  if (!shredded.has(channelId)) return false;
  const below = shredded.get(channelId);
  return below === null || below === undefined || epoch < below;
}

/**
 * Adds a tombstone to `shredded`, widening what is there: a destruction covers any purge,
 * of two purges the later epoch wins.
 * @param {Map<string, number | null>} shredded
 * @param {string} channelId
 * @param {number | null} belowEpoch
 */
export function addTombstone(shredded, channelId, belowEpoch) {
  const held = shredded.get(channelId);
  if (held === undefined) shredded.set(channelId, belowEpoch);
  else if (held === null || belowEpoch === null) shredded.set(channelId, null);
  else shredded.set(channelId, Math.max(held, belowEpoch));
}

/**
 * The backup key as a non-extractable AES-GCM key, fit for IndexedDB.
 * @param {Bytes} code
 * @param {string} userId
 * @returns {Promise<CryptoKey>}
 */
export async function deriveBackupKey(code, userId) {
  const bytes = await deriveBackupKeyBytes(code, userId);
  try {
    return await aesKey(bytes, false);
  } finally {
    bytes.fill(0);
  }
}

/**
 * @param {string} userId
 * @param {number} revision
 */
export function backupAdditionalData(userId, revision) {
  return canonical(LABEL.keyBackup, userId, u64be(revision));
}

/**
 * The contents JSON, in the order of §10.3.
 * @param {BackupContents} contents
 * @returns {Bytes}
 */
export function encodeBackupContents(contents) {
  return utf8(
    JSON.stringify({
      v: 1,
      identity_private_key: toBase64url(contents.identityPrivate),
      identity_public_key: toBase64url(contents.identityPublic),
      epoch_keys: contents.epochKeys.map((k) => ({ channel_id: k.channelId, epoch: k.epoch, key: toBase64url(k.key) })),
      ...(contents.identities?.length
        ? { identities: contents.identities.map((i) => ({ user_id: i.userId, identity_key: i.key, verified: i.verified })) }
        : {}),
      ...(contents.shredded?.length
        ? { shredded: contents.shredded.map((t) => (t.belowEpoch === null ? { channel_id: t.channelId } : { channel_id: t.channelId, below_epoch: t.belowEpoch })) }
        : {}),
    }),
  );
}

/**
 * Seals the backup (§10.4).
 * @param {{ contents: BackupContents | Bytes, backupKey: CryptoKey | Bytes, userId: string, revision: number, nonce?: Bytes }} input
 *   `contents` may be the JSON bytes and `nonce` fixed, for test vectors.
 * @returns {Promise<KeyBackup>}
 */
export async function sealBackup(input) {
  const revision = checkSafeInt(input.revision, 'revision');
  const json = input.contents instanceof Uint8Array ? input.contents : encodeBackupContents(input.contents);
  const nonce = input.nonce ?? randomBytes(12);
  const ciphertext = await aesEncrypt(input.backupKey, nonce, backupAdditionalData(input.userId, revision), json);
  if (!(input.contents instanceof Uint8Array)) json.fill(0);
  return { v: 1, user_id: input.userId, revision, nonce: toBase64url(nonce), ciphertext: toBase64url(ciphertext) };
}

/**
 * Opens a backup: it must be this user's, not older than the newest revision seen, and
 * its identity scalar must match its public key (§10.3, §10.4).
 * @param {{ backup: unknown, backupKey: CryptoKey | Bytes, userId: string, minRevision?: number }} input
 * @returns {Promise<{ revision: number, contents: BackupContents }>}
 */
export async function openBackup(input) {
  const record = checkObject(input.backup, ['user_id', 'revision', 'nonce', 'ciphertext'], 'key backup');
  const userId = checkId(record.user_id, 'user_id');
  const revision = checkSafeInt(record.revision, 'revision');
  if (userId !== input.userId) throw new CryptoError('backup_of_another_user');
  if (revision < (input.minRevision ?? 0)) throw new CryptoError('backup_rolled_back');
  const nonce = fromBase64urlOf(record.nonce, 12, 'nonce');
  const plain = await aesDecrypt(input.backupKey, nonce, backupAdditionalData(userId, revision), fromBase64url(record.ciphertext));
  return { revision, contents: await parseContents(plain) };
}

/**
 * The contents JSON of a backup or a head (§10.3), decoded and checked; `plain` is wiped.
 * @param {Bytes} plain
 * @returns {Promise<BackupContents>}
 */
async function parseContents(plain) {
  /** @type {any} */
  let value;
  try {
    value = JSON.parse(fromUtf8(plain));
  } catch {
    throw new CryptoError('bad_backup');
  } finally {
    plain.fill(0);
  }
  if (value?.v !== 1 || !Array.isArray(value.epoch_keys)) throw new CryptoError('bad_backup');
  const identityPrivate = fromBase64urlOf(value.identity_private_key, 32, 'identity_private_key');
  const identityPublic = await checkPublicKey(fromBase64url(value.identity_public_key));
  const signingKey = await importSigningKey(identityPrivate, identityPublic, false);
  if (!(await keysMatch(signingKey, identityPublic))) throw new CryptoError('bad_backup', 'identity keys do not match');
  if (value.shredded !== undefined && !Array.isArray(value.shredded)) throw new CryptoError('bad_backup', 'shredded');
  /** @type {Map<string, number | null>} */
  const tombstones = new Map();
  for (const entry of value.shredded ?? []) {
    if (typeof entry !== 'object' || entry === null || Object.keys(entry).some((k) => k !== 'channel_id' && k !== 'below_epoch')) throw new CryptoError('bad_backup', 'tombstone');
    const below = entry.below_epoch === undefined ? null : checkSafeInt(entry.below_epoch, 'below_epoch');
    addTombstone(tombstones, checkId(entry.channel_id, 'channel_id'), below);
  }
  /** @type {BackupEpochKey[]} */
  const epochKeys = [];
  for (const entry of value.epoch_keys) {
    const channelId = checkId(entry?.channel_id, 'channel_id');
    const epoch = checkSafeInt(entry.epoch, 'epoch');
    const key = fromBase64urlOf(entry.key, 32, 'epoch key');
    // A key its own tombstones cover (an older writer did not filter) is dropped.
    if (isShredded(tombstones, channelId, epoch)) key.fill(0);
    else epochKeys.push({ channelId, epoch, key });
  }
  const shredded = [...tombstones].map(([channelId, belowEpoch]) => ({ channelId, belowEpoch }));
  if (value.identities !== undefined && !Array.isArray(value.identities)) throw new CryptoError('bad_backup', 'identities');
  /** @type {BackupIdentity[]} */
  const identities = [];
  for (const entry of value.identities ?? []) {
    if (typeof entry?.verified !== 'boolean' || typeof entry.identity_key !== 'string') throw new CryptoError('bad_backup', 'identity');
    await checkPublicKey(fromBase64url(entry.identity_key));
    identities.push({ userId: checkId(entry.user_id, 'user_id'), key: entry.identity_key, verified: entry.verified });
  }
  return { identityPrivate, identityPublic, epochKeys, identities, shredded };
}

// ---- The paged backup (§10.8) ----------------------------------------------------------

/** Most epoch keys in one page. */
export const PAGE_CAPACITY = 2000;

/**
 * @typedef {object} PageRef A page as the head names it.
 * @property {string} id base64url, 16 bytes
 * @property {string} hash 64 lowercase hex digits: SHA-256(nonce ‖ ciphertext)
 *
 * @typedef {object} KeyBackupPage The wire form of a page.
 * @property {1} v
 * @property {string} user_id
 * @property {string} nonce
 * @property {string} ciphertext
 *
 * @typedef {object} KeyBackupHead The wire form of a head.
 * @property {1} v
 * @property {string} user_id
 * @property {number} revision
 * @property {PageRef[]} pages
 * @property {string} nonce
 * @property {string} ciphertext
 */

/**
 * @param {string} userId
 * @param {Bytes} pageId 16 bytes
 */
export function pageAdditionalData(userId, pageId) {
  return canonical(LABEL.keyBackupPage, checkId(userId, 'user_id'), pageId);
}

/**
 * The head's associated data: user, revision, number of pages, then each page's id and hash.
 * @param {string} userId
 * @param {number} revision
 * @param {PageRef[]} pages
 */
export function headAdditionalData(userId, revision, pages) {
  const fields = [checkId(userId, 'user_id'), u64be(revision), u64be(pages.length)];
  for (const page of pages) fields.push(fromBase64urlOf(page.id, 16, 'page id'), fromHex(page.hash));
  return canonical(LABEL.keyBackupHead, ...fields);
}

/**
 * The name a page is stored under: SHA-256 of its nonce and ciphertext, in hex.
 * @param {KeyBackupPage} page
 * @returns {Promise<string>}
 */
export async function pageHash(page) {
  return toHex(await sha256(concat(fromBase64urlOf(page.nonce, 12, 'nonce'), fromBase64url(page.ciphertext))));
}

/**
 * Seals one page of keys (at most PAGE_CAPACITY) under a fresh page id.
 * @param {{ keys: BackupEpochKey[] | Bytes, backupKey: CryptoKey | Bytes, userId: string, pageId?: Bytes, nonce?: Bytes }} input
 *   `keys` may be the JSON bytes, and `pageId` and `nonce` fixed, for test vectors.
 * @returns {Promise<{ page: KeyBackupPage, reference: PageRef }>}
 */
export async function sealPage(input) {
  const json =
    input.keys instanceof Uint8Array
      ? input.keys
      : utf8(JSON.stringify({ v: 1, epoch_keys: input.keys.map((k) => ({ channel_id: k.channelId, epoch: k.epoch, key: toBase64url(k.key) })) }));
  const pageId = input.pageId ?? randomBytes(16);
  const nonce = input.nonce ?? randomBytes(12);
  const ciphertext = await aesEncrypt(input.backupKey, nonce, pageAdditionalData(input.userId, pageId), json);
  if (!(input.keys instanceof Uint8Array)) json.fill(0);
  /** @type {KeyBackupPage} */
  const page = { v: 1, user_id: input.userId, nonce: toBase64url(nonce), ciphertext: toBase64url(ciphertext) };
  return { page, reference: { id: toBase64url(pageId), hash: await pageHash(page) } };
}

/**
 * Opens the page the head names `reference`: refused unless its hash is the one named
 * (a page the server swapped or rolled back), then decrypted under that page id.
 * @param {{ page: unknown, backupKey: CryptoKey | Bytes, userId: string, reference: PageRef }} input
 * @returns {Promise<BackupEpochKey[]>}
 */
export async function openPage(input) {
  const record = checkObject(input.page, ['user_id', 'nonce', 'ciphertext'], 'key backup page');
  if (record.user_id !== input.userId) throw new CryptoError('backup_page_altered');
  if ((await pageHash(/** @type {KeyBackupPage} */ (record))) !== input.reference.hash) throw new CryptoError('backup_page_altered');
  const plain = await aesDecrypt(
    input.backupKey,
    fromBase64urlOf(record.nonce, 12, 'nonce'),
    pageAdditionalData(input.userId, fromBase64urlOf(input.reference.id, 16, 'page id')),
    fromBase64url(record.ciphertext),
  );
  /** @type {any} */
  let value;
  try {
    value = JSON.parse(fromUtf8(plain));
  } catch {
    throw new CryptoError('bad_backup');
  } finally {
    plain.fill(0);
  }
  if (value?.v !== 1 || !Array.isArray(value.epoch_keys)) throw new CryptoError('bad_backup');
  return value.epoch_keys.map((/** @type {any} */ entry) => ({
    channelId: checkId(entry?.channel_id, 'channel_id'),
    epoch: checkSafeInt(entry.epoch, 'epoch'),
    key: fromBase64urlOf(entry.key, 32, 'epoch key'),
  }));
}

/**
 * Seals a head: the contents without their epoch keys, naming `pages`.
 * @param {{ contents: BackupContents | Bytes, pages: PageRef[], backupKey: CryptoKey | Bytes, userId: string, revision: number, nonce?: Bytes }} input
 * @returns {Promise<KeyBackupHead>}
 */
export async function sealHead(input) {
  const revision = checkSafeInt(input.revision, 'revision');
  const json = input.contents instanceof Uint8Array ? input.contents : encodeBackupContents({ ...input.contents, epochKeys: [] });
  const nonce = input.nonce ?? randomBytes(12);
  const pages = input.pages.map((p) => ({ id: p.id, hash: p.hash }));
  const ciphertext = await aesEncrypt(input.backupKey, nonce, headAdditionalData(input.userId, revision, pages), json);
  if (!(input.contents instanceof Uint8Array)) json.fill(0);
  return { v: 1, user_id: input.userId, revision, pages, nonce: toBase64url(nonce), ciphertext: toBase64url(ciphertext) };
}

/**
 * Opens a head: this user's, not older than the newest revision seen, listing no key.
 * @param {{ head: unknown, backupKey: CryptoKey | Bytes, userId: string, minRevision?: number }} input
 * @returns {Promise<{ revision: number, pages: PageRef[], contents: BackupContents }>}
 */
export async function openHead(input) {
  const record = checkObject(input.head, ['user_id', 'revision', 'pages', 'nonce', 'ciphertext'], 'key backup head');
  const userId = checkId(record.user_id, 'user_id');
  const revision = checkSafeInt(record.revision, 'revision');
  if (userId !== input.userId) throw new CryptoError('backup_of_another_user');
  if (revision < (input.minRevision ?? 0)) throw new CryptoError('backup_rolled_back');
  if (!Array.isArray(record.pages)) throw new CryptoError('bad_backup', 'pages');
  /** @type {PageRef[]} */
  const pages = record.pages.map((/** @type {any} */ p) => {
    if (typeof p?.hash !== 'string' || !/^[0-9a-f]{64}$/.test(p.hash)) throw new CryptoError('bad_backup', 'page hash');
    fromBase64urlOf(p.id, 16, 'page id');
    return { id: p.id, hash: p.hash };
  });
  const plain = await aesDecrypt(input.backupKey, fromBase64urlOf(record.nonce, 12, 'nonce'), headAdditionalData(userId, revision, pages), fromBase64url(record.ciphertext));
  const contents = await parseContents(plain);
  if (contents.epochKeys.length > 0) throw new CryptoError('bad_backup', 'a head lists no key');
  return { revision, pages, contents };
}

/**
 * @typedef {object} HeldPage A page as a writer holds it.
 * @property {PageRef | null} reference null once changed here, until sealed again
 * @property {BackupEpochKey[]} keys
 */

/**
 * Brings the pages up to date (§10.8, compaction): drops the keys `covered` says a
 * tombstone covers (a page left empty goes, a page left with keys is rewritten), then
 * places the keys of `keys` no page holds. Those keys, the rewritten pages, the last page
 * not yet full and the pages under half full are pooled and cut again into full pages and
 * a last one: a new key rewrites one page, a mostly shredded page is merged.
 * @param {HeldPage[]} pages
 * @param {(channelId: string, epoch: number) => boolean} covered
 * @param {BackupEpochKey[]} keys
 * @returns {HeldPage[]}
 */
export function updatePages(pages, covered, keys) {
  const slotOf = (/** @type {BackupEpochKey} */ k) => `${k.channelId}\u0000${k.epoch}`;
  const inPages = new Set(pages.flatMap((p) => p.keys.map(slotOf)));
  /** @type {Map<string, BackupEpochKey>} */
  const pool = new Map();
  for (const k of keys) if (!covered(k.channelId, k.epoch) && !inPages.has(slotOf(k))) pool.set(slotOf(k), k);
  /** @type {HeldPage[]} */
  const kept = [];
  for (const page of pages) {
    const left = page.keys.filter((k) => !covered(k.channelId, k.epoch));
    if (left.length !== page.keys.length) for (const k of left) pool.set(slotOf(k), k);
    else if (left.length > 0) kept.push(page);
  }
  /** @type {HeldPage[]} */
  let result = kept;
  if (pool.size > 0) {
    let lastOpen = -1;
    kept.forEach((p, i) => {
      if (p.keys.length < PAGE_CAPACITY) lastOpen = i;
    });
    result = [];
    kept.forEach((p, i) => {
      if (i === lastOpen || p.keys.length < PAGE_CAPACITY / 2) for (const k of p.keys) pool.set(slotOf(k), k);
      else result.push(p);
    });
  }
  const sorted = [...pool.values()].sort((a, b) => (a.channelId < b.channelId ? -1 : a.channelId > b.channelId ? 1 : a.epoch - b.epoch));
  for (let i = 0; i < sorted.length; i += PAGE_CAPACITY) result.push({ reference: null, keys: sorted.slice(i, i + PAGE_CAPACITY) });
  return result;
}
