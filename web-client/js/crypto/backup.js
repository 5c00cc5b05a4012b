// The recovery code and the key backup (docs/PROTOCOL.md §10).

import { canonical, checkId, checkObject, checkSafeInt, CryptoError, fromBase64url, fromBase64urlOf, fromUtf8, LABEL, toBase64url, u64be, utf8 } from './encoding.js';
import { aesDecrypt, aesEncrypt, aesKey, checkPublicKey, importSigningKey, keysMatch, pbkdf2, randomBytes } from './primitives.js';

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
 * @typedef {object} BackupContents §10.3, decoded.
 * @property {Bytes} identityPrivate The identity scalar: keep it no longer than needed.
 * @property {Bytes} identityPublic
 * @property {BackupEpochKey[]} epochKeys
 * @property {BackupIdentity[]} [identities] Absent from the JSON when empty.
 */

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const RECOVERY_CODE_BYTES = 15;
const CODE_CHARS = 24;
export const KDF_ITERATIONS = 100000;

/**
 * A new recovery code: 15 random bytes.
 * @returns {Bytes}
 */
export function generateRecoveryCode() {
  return randomBytes(RECOVERY_CODE_BYTES);
}

/**
 * Crockford base32 in six groups of four (§10.1): « 8973-5T7M-V0GZ-1A8C-99VK-HF96 ».
 * @param {Bytes} code 15 bytes
 * @returns {string}
 */
export function formatRecoveryCode(code) {
  if (code.length !== RECOVERY_CODE_BYTES) throw new CryptoError('bad_recovery_code');
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
  return out.replace(/(.{4})(?=.)/g, '$1-');
}

/**
 * Reads what a person typed (§10.1): spaces and hyphens ignored, lower case accepted,
 * O read as 0, I and L as 1; anything else, or another length, is refused. The error
 * never repeats the code.
 * @param {string} typed
 * @returns {Bytes}
 */
export function parseRecoveryCode(typed) {
  const clean = typed.replace(/[\s-]/g, '').toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
  if (clean.length !== CODE_CHARS) throw new CryptoError('bad_recovery_code', 'length');
  const out = new Uint8Array(RECOVERY_CODE_BYTES);
  let bits = 0;
  let value = 0;
  let o = 0;
  for (const char of clean) {
    const index = ALPHABET.indexOf(char);
    if (index < 0) throw new CryptoError('bad_recovery_code', 'character');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
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
 * The backup key's bytes: PBKDF2 over the code bytes (§10.2).
 * @param {Bytes} code
 * @param {string} userId
 * @returns {Promise<Bytes>}
 */
export function deriveBackupKeyBytes(code, userId) {
  return pbkdf2(code, backupSalt(userId), KDF_ITERATIONS);
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
  const epochKeys = value.epoch_keys.map((/** @type {any} */ entry) => ({
    channelId: checkId(entry?.channel_id, 'channel_id'),
    epoch: checkSafeInt(entry.epoch, 'epoch'),
    key: fromBase64urlOf(entry.key, 32, 'epoch key'),
  }));
  if (value.identities !== undefined && !Array.isArray(value.identities)) throw new CryptoError('bad_backup', 'identities');
  /** @type {BackupIdentity[]} */
  const identities = [];
  for (const entry of value.identities ?? []) {
    if (typeof entry?.verified !== 'boolean' || typeof entry.identity_key !== 'string') throw new CryptoError('bad_backup', 'identity');
    await checkPublicKey(fromBase64url(entry.identity_key));
    identities.push({ userId: checkId(entry.user_id, 'user_id'), key: entry.identity_key, verified: entry.verified });
  }
  return { revision, contents: { identityPrivate, identityPublic, epochKeys, identities } };
}
