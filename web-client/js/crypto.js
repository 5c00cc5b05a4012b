// The end-to-end encryption of docs/PROTOCOL.md, in WebCrypto. One module per
// construction under crypto/; this facade is what the rest of the client imports.
//
// Threat model (PROTOCOL.md §12): the server relays and stores ciphertext, public keys,
// signatures and wrapped keys. This code never sends a private or symmetric key to it,
// verifies every signature and certificate it uses, and checks key commitments, so a
// malicious server can withhold or delay but not read, forge or split a conversation.

export {
  bytesEqual,
  canonical,
  concat,
  CryptoError,
  fromBase64url,
  fromHex,
  LABEL,
  toBase64url,
  toHex,
  u64be,
  utf8,
} from './crypto/encoding.js';
export {
  checkPublicKey,
  decodePublicKey,
  ecdh,
  exportScalar,
  generateAgreementKey,
  generateSigningKey,
  hkdf,
  importAgreementKey,
  importSigningKey,
  randomBytes,
  sha256,
  sign,
  verify,
} from './crypto/primitives.js';
export {
  certificateBody,
  certificateRequest,
  certify,
  digits,
  fingerprint,
  fingerprintQrPayload,
  fingerprintSeed,
  groupDigits,
  linkCode,
  verifyCertificate,
} from './crypto/identity.js';
export { commitment, generateEpochKey, unwrapEpochKey, wrapAdditionalData, wrapEpochKey } from './crypto/epoch.js';
export { makePrekey, PREKEY_GRACE_MS, PREKEY_ROTATION_MS, prekeySignedBytes, verifyPrekey } from './crypto/prekey.js';
export { Roster } from './crypto/roster.js';
export { applyRecord, checkContains, emptyState, identityReaders, logHead, parseLogHead, parseRecord, recordSignedBytes, signRecord, verifyLog } from './crypto/membership-log.js';
export {
  decodeContent,
  encodeContent,
  messageAdditionalData,
  messageKey,
  openEnvelope,
  orderHash,
  pad,
  paddedLength,
  parseEnvelope,
  sealEnvelope,
  unpad,
} from './crypto/envelope.js';
export { checkOrder, CLOCK_TOLERANCE_MS } from './crypto/order.js';
export {
  auditedKeys,
  auditPush,
  auditRoot,
  emptyAudit,
  entryBytes as keyLogEntryBytes,
  fromBase64,
  leafHash,
  loadAudit,
  loggedKeys,
  sameLog,
  storeAudit,
  unknownChanges,
  openCheckpoint,
  parseCheckpoint,
  toBase64,
  verifyConsistency,
  verifyInclusion,
} from './crypto/keylog.js';
export { generateStorageKey, openLocalKey, sealLocalKey } from './crypto/local.js';
export { chunkAdditionalData, chunkNonce, decryptAttachment, encryptAttachment } from './crypto/attachment.js';
export {
  addTombstone,
  backupAdditionalData,
  backupSalt,
  deriveBackupKey,
  deriveBackupKeyBytes,
  formatRecoveryCode,
  generateRecoveryCode,
  isShredded,
  headAdditionalData,
  openBackup,
  openHead,
  openPage,
  PAGE_CAPACITY,
  pageAdditionalData,
  pageHash,
  parseRecoveryCode,
  sealBackup,
  sealHead,
  sealPage,
  updatePages,
} from './crypto/backup.js';

/**
 * A random UUID (v4), for device and message ids.
 * @returns {string}
 */
export function uuid() {
  return globalThis.crypto.randomUUID();
}
