// IndexedDB: this browser's device keys (non-extractable CryptoKeys), the epoch keys it
// holds, the colleagues' identity keys it has seen, and each channel's message order
// (this device's place in it, the highest counter seen per sender; PROTOCOL.md §8.7–8.8). Decrypted messages are never
// written here: they live in memory only, for the time of the page.
//
// Everything is keyed by the account id, so two people sharing a workstation profile
// never use each other's keys.

const DB_NAME = 'passerelle';
/**
 * 2: the `order` store (authenticated order, PROTOCOL.md §8.7); 3: `keyLog` (§25);
 * 4: `membershipHeads` (each channel's membership log head, §22.6).
 */
const DB_VERSION = 4;

/**
 * @typedef {object} DeviceRecord This browser's device for one account.
 * @property {string} userId
 * @property {string} deviceId
 * @property {CryptoKey} signingKey Non-extractable ECDSA private key.
 * @property {Uint8Array<ArrayBuffer>} signingPublic
 * @property {CryptoKey | null} agreementKey Non-extractable ECDH private key of the
 *   certificate; null once the prekeys replaced it and nothing needs it (PROTOCOL.md §23.3).
 * @property {number | null} [agreementReplacedAt] When the first prekey replaced it.
 * @property {Uint8Array<ArrayBuffer>} agreementPublic
 * @property {Uint8Array<ArrayBuffer>} identityPublic
 * @property {CryptoKey | null} identityKey Non-extractable identity signing key, when held.
 * @property {CryptoKey | null} backupKey Non-extractable AES key of the backup, when held.
 * @property {CryptoKey} [storageKey] Non-extractable AES key the epoch keys are sealed
 *   under here (absent from records made before it existed, until the next load).
 * @property {number} backupRevision The highest backup revision seen (rollback check).
 * @property {number | null} backupVersion The server's version (ETag) last written or read.
 * @property {any} certificate
 * @property {number} createdAt
 * @property {Map<string, number | null>} [shredded] Tombstones of the channels destroyed
 *   (null) or purged below an epoch: their keys are never taken back (PROTOCOL.md §10.6).
 * @property {PrekeyRecord[]} [prekeys] This device's signed prekeys, oldest first
 *   (PROTOCOL.md §23); each is dropped once its grace period is over.
 * @property {Record<string, number>} [prekeySerials] Per other device of this account,
 *   the highest prekey serial seen (PROTOCOL.md §23.2).
 *
 * @typedef {object} PrekeyRecord One of this device's rotating agreement keys.
 * @property {number} serial
 * @property {number} createdAt
 * @property {CryptoKey} privateKey Non-extractable ECDH private key.
 * @property {Uint8Array<ArrayBuffer>} publicKey
 * @property {unknown} record The signed prekey as published.
 * @property {number | null} retiredAt When a newer prekey replaced it.
 *
 * @typedef {object} EpochKeyRecord
 * @property {string} userId
 * @property {string} channelId
 * @property {number} epoch
 * @property {import('./crypto/local.js').SealedKey} [sealed] The key sealed under the
 *   device's storage key.
 * @property {Uint8Array<ArrayBuffer>} [key] The raw key, in records written before keys
 *   were sealed; sealed and removed at the next load.
 *
 * @typedef {object} IdentityRecord A colleague's identity key as this account has seen it.
 * @property {string} userId This account.
 * @property {string} peerId The colleague.
 * @property {string} key base64url, the key pinned on first use (or accepted since).
 * @property {boolean} verified Fingerprints compared in person.
 * @property {string | null} previousKey Set when the server served another key: the warning stays until acknowledged.
 * @property {number} seenAt
 * @property {Record<string, number>} [prekeySerials] Per device of theirs, the highest
 *   prekey serial seen: an older one served later is refused (PROTOCOL.md §23.2).
 *
 * @typedef {object} OrderRecord One channel's order as this device knows it (§8.7, §8.8).
 * @property {string} userId
 * @property {string} channelId
 * @property {{ clientMsgId: string, counter: number, prev: string, hash: string } | null} tip
 *   The last envelope this device sealed in the channel and did not see refused
 *   (hashes base64url): the next message follows it.
 * @property {Record<string, import('./crypto/order.js').OrderMark>} marks Per sender
 *   device, the highest counter seen verified.
 * @property {import('./rotation.js').RotationWatch} [rotation] What this device has seen
 *   of the current epoch, for the rotation bounds it enforces itself (§23.4).
 *
 * @typedef {object} MembershipHeadRecord One channel's signed membership log as this
 *   device knows it (§22.6): a log served later must contain every head kept here.
 * @property {string} userId
 * @property {string} channelId
 * @property {{ seq: number, hash: string } | null} head The head verified last (hash base64url).
 * @property {{ seq: number, hash: string }[]} claims Heads members' messages named that no
 *   log served here has shown yet.
 */

/** @type {Promise<IDBDatabase> | null} */
let opening = null;

/** @returns {Promise<IDBDatabase>} */
function db() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.addEventListener('upgradeneeded', () => {
        const database = request.result;
        /** @param {string} name @param {string | string[]} keyPath */
        const create = (name, keyPath) => {
          if (!database.objectStoreNames.contains(name)) database.createObjectStore(name, { keyPath });
        };
        create('devices', 'userId');
        create('epochKeys', ['userId', 'channelId', 'epoch']);
        create('identities', ['userId', 'peerId']);
        create('order', ['userId', 'channelId']);
        create('keyLog', 'userId');
        create('membershipHeads', ['userId', 'channelId']);
      });
      request.addEventListener('success', () => resolve(request.result));
      request.addEventListener('error', () => reject(request.error));
    });
  }
  return opening;
}

/**
 * Runs one request in a transaction and resolves when the transaction completes.
 * @template T
 * @param {string} storeName
 * @param {IDBTransactionMode} mode
 * @param {(store: IDBObjectStore) => IDBRequest<T>} operation
 * @returns {Promise<T>}
 */
async function run(storeName, mode, operation) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const transaction = database.transaction(storeName, mode);
    const request = operation(transaction.objectStore(storeName));
    transaction.addEventListener('complete', () => resolve(request.result));
    transaction.addEventListener('error', () => reject(transaction.error));
    transaction.addEventListener('abort', () => reject(transaction.error));
  });
}

/**
 * @param {string} userId
 * @returns {Promise<DeviceRecord | undefined>}
 */
export function getDevice(userId) {
  return run('devices', 'readonly', (store) => store.get(userId));
}

/** @param {DeviceRecord} record */
export function putDevice(record) {
  return run('devices', 'readwrite', (store) => store.put(record));
}

/**
 * Forgets this browser's device of an account (revoked, or unknown to the server): its
 * keys, the epoch keys it holds and the identities it pinned, in one transaction, so that
 * a failure leaves either everything or nothing.
 * @param {string} userId
 */
export async function deleteDevice(userId) {
  const database = await db();
  // The keys of the two other stores start with the account id; an array sorts after
  // every string, so [userId, []] bounds them all.
  const ofAccount = IDBKeyRange.bound([userId], [userId, []]);
  await new Promise((resolve, reject) => {
    const transaction = database.transaction(['devices', 'epochKeys', 'identities', 'order', 'membershipHeads'], 'readwrite');
    transaction.objectStore('devices').delete(userId);
    transaction.objectStore('epochKeys').delete(ofAccount);
    transaction.objectStore('identities').delete(ofAccount);
    transaction.objectStore('order').delete(ofAccount);
    transaction.objectStore('membershipHeads').delete(ofAccount);
    transaction.addEventListener('complete', () => resolve(undefined));
    transaction.addEventListener('error', () => reject(transaction.error));
    transaction.addEventListener('abort', () => reject(transaction.error));
  });
}

/**
 * @param {string} userId
 * @returns {Promise<EpochKeyRecord[]>}
 */
export function allEpochKeys(userId) {
  return run('epochKeys', 'readonly', (store) => store.getAll(IDBKeyRange.bound([userId], [userId, []])));
}

/** @param {EpochKeyRecord} record */
export function putEpochKey(record) {
  return run('epochKeys', 'readwrite', (store) => store.put(record));
}

/**
 * Drops a channel's keys (crypto-shredding, PROTOCOL.md §11), or those below an epoch.
 * @param {string} userId
 * @param {string} channelId
 * @param {number} [belowEpoch] Only the epochs below this one.
 */
export function deleteEpochKeys(userId, channelId, belowEpoch) {
  const upper = belowEpoch === undefined ? [userId, channelId, []] : [userId, channelId, belowEpoch];
  return run('epochKeys', 'readwrite', (store) => store.delete(IDBKeyRange.bound([userId, channelId], upper, false, belowEpoch !== undefined)));
}

/**
 * @param {string} userId
 * @param {string} peerId
 * @returns {Promise<IdentityRecord | undefined>}
 */
export function getIdentity(userId, peerId) {
  return run('identities', 'readonly', (store) => store.get([userId, peerId]));
}

/**
 * Every identity this account pinned (for the key backup, §10.3).
 * @param {string} userId
 * @returns {Promise<IdentityRecord[]>}
 */
export function allIdentities(userId) {
  return run('identities', 'readonly', (store) => store.getAll(IDBKeyRange.bound([userId], [userId, []])));
}

/** @param {IdentityRecord} record */
export function putIdentity(record) {
  return run('identities', 'readwrite', (store) => store.put(record));
}

/**
 * @param {string} userId
 * @param {string} channelId
 * @returns {Promise<OrderRecord | undefined>}
 */
export function getOrder(userId, channelId) {
  return run('order', 'readonly', (store) => store.get([userId, channelId]));
}

/** @param {OrderRecord} record */
export function putOrder(record) {
  return run('order', 'readwrite', (store) => store.put(record));
}

/**
 * Drops a channel's order record (the channel was destroyed or this account left it).
 * @param {string} userId
 * @param {string} channelId
 */
export function deleteOrder(userId, channelId) {
  return run('order', 'readwrite', (store) => store.delete([userId, channelId]));
}

/**
 * @typedef {object} KeyLogRecord What this browser knows of the key log, per account
 *   (§25.4, §27).
 * @property {string} userId
 * @property {string} verifier The log's key, pinned on first use.
 * @property {number} size The head accepted last.
 * @property {string} root Its root, base64.
 * @property {import('./crypto/keylog.js').StoredAudit} [audit] The entries audited up to
 *   that head, summarised (absent in records written before the audit: audited again).
 * @property {string[]} [certified] This account's devices certified in this browser.
 * @property {number[]} [alerted] The indexes of the account's changes already shown.
 */

/**
 * The key transparency log's head this account accepted last (§25) and its audit: a
 * head that does not extend it is refused, after a reload too.
 * @param {string} userId
 * @returns {Promise<KeyLogRecord | undefined>}
 */
export function getKeyLogHead(userId) {
  return run('keyLog', 'readonly', (store) => store.get(userId));
}

/** @param {KeyLogRecord} record */
export function putKeyLogHead(record) {
  return run('keyLog', 'readwrite', (store) => store.put(record));
}

/**
 * @param {string} userId
 * @param {string} channelId
 * @returns {Promise<MembershipHeadRecord | undefined>}
 */
export function getMembershipHead(userId, channelId) {
  return run('membershipHeads', 'readonly', (store) => store.get([userId, channelId]));
}

/** @param {MembershipHeadRecord} record */
export function putMembershipHead(record) {
  return run('membershipHeads', 'readwrite', (store) => store.put(record));
}
