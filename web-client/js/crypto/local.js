// Epoch keys at rest in this browser (docs/PROTOCOL.md §10.7): sealed under the device's
// storage key, a non-extractable AES-GCM CryptoKey kept in IndexedDB beside them. Whoever
// copies the profile's files gets ciphertext and a key the browser will use but never
// export; the page itself can still open them, which is what it needs.

import { utf8 } from './encoding.js';
import { aesDecrypt, aesEncrypt, randomBytes } from './primitives.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

/**
 * @typedef {object} SealedKey An epoch key as IndexedDB keeps it.
 * @property {Bytes} nonce 12 random bytes
 * @property {Bytes} ciphertext the 32-byte key and the GCM tag
 */

/**
 * A new storage key for a device: AES-256-GCM, non-extractable.
 * @returns {Promise<CryptoKey>}
 */
export function generateStorageKey() {
  return globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

/**
 * The AD binds a sealed key to its account, channel and epoch, so that records cannot be
 * swapped between slots.
 * @param {string} userId
 * @param {string} channelId
 * @param {number} epoch
 */
function slotAd(userId, channelId, epoch) {
  return utf8(`passerelle/v1/local-epoch-key\u0000${userId}\u0000${channelId}\u0000${epoch}`);
}

/**
 * @param {CryptoKey} storageKey
 * @param {string} userId
 * @param {string} channelId
 * @param {number} epoch
 * @param {Bytes} key
 * @returns {Promise<SealedKey>}
 */
export async function sealLocalKey(storageKey, userId, channelId, epoch, key) {
  const nonce = randomBytes(12);
  return { nonce, ciphertext: await aesEncrypt(storageKey, nonce, slotAd(userId, channelId, epoch), key) };
}

/**
 * @param {CryptoKey} storageKey
 * @param {string} userId
 * @param {string} channelId
 * @param {number} epoch
 * @param {SealedKey} sealed
 * @returns {Promise<Bytes>}
 */
export function openLocalKey(storageKey, userId, channelId, epoch, sealed) {
  return aesDecrypt(storageKey, sealed.nonce, slotAd(userId, channelId, epoch), sealed.ciphertext);
}
