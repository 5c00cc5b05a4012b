// Epoch keys (docs/PROTOCOL.md §7): the key commitment, and wrapping a key for one
// device — ephemeral ECDH → HKDF → AES-GCM, signed by the sending device — and back.

import { bytesEqual, canonical, checkId, checkObject, checkSafeInt, concat, CryptoError, fromBase64urlOf, LABEL, toBase64url, u64be } from './encoding.js';
import { aesDecrypt, aesEncrypt, decodePublicKey, ecdh, generateAgreementKey, hkdf, randomBytes, requireSignature, sha256, sign } from './primitives.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */
/** @typedef {import('./primitives.js').KeyPair} KeyPair */

/**
 * @typedef {object} WrappedEpochKey The wire form of §7.3.
 * @property {1} v
 * @property {string} channel_id
 * @property {number} epoch
 * @property {string} sender_device
 * @property {string} recipient_device
 * @property {string} commitment
 * @property {string} ephemeral_key
 * @property {string} nonce
 * @property {string} ciphertext
 * @property {string} signature
 */

const WRAP_FIELDS = Object.freeze([
  'channel_id', 'epoch', 'sender_device', 'recipient_device', 'commitment', 'ephemeral_key', 'nonce', 'ciphertext', 'signature',
]);

/** Epoch key length. */
export const EPOCH_KEY_LEN = 32;

/** A new random epoch key. */
export function generateEpochKey() {
  return randomBytes(EPOCH_KEY_LEN);
}

/**
 * SHA-256 of CB(epoch-key-commitment, channel_id, u64be(epoch), key) (§7.2).
 * @param {string} channelId
 * @param {number} epoch
 * @param {Bytes} epochKey
 * @returns {Promise<Bytes>}
 */
export function commitment(channelId, epoch, epochKey) {
  return sha256(canonical(LABEL.epochKeyCommitment, channelId, u64be(epoch), epochKey));
}

/**
 * The wrap's additional data, also its HKDF info and signed prefix.
 * @param {string} channelId
 * @param {number} epoch
 * @param {string} senderDevice
 * @param {string} recipientDevice
 * @param {Bytes} keyCommitment
 */
export function wrapAdditionalData(channelId, epoch, senderDevice, recipientDevice, keyCommitment) {
  return canonical(LABEL.epochWrap, channelId, u64be(epoch), senderDevice, recipientDevice, keyCommitment);
}

/**
 * @typedef {object} WrapInput
 * @property {string} channelId
 * @property {number} epoch
 * @property {Bytes} epochKey
 * @property {string} senderDevice
 * @property {CryptoKey} senderSigningKey
 * @property {string} recipientDevice
 * @property {Bytes} recipientAgreementKey A verified device's agreement key (§5.4).
 * @property {KeyPair} [ephemeral] Test vectors only: a fixed ephemeral key pair.
 * @property {Bytes} [nonce] Test vectors only.
 */

/**
 * Wraps an epoch key for one device (§7.3).
 * @param {WrapInput} input
 * @returns {Promise<WrappedEpochKey>}
 */
export async function wrapEpochKey(input) {
  const epoch = checkSafeInt(input.epoch, 'epoch');
  const keyCommitment = await commitment(input.channelId, epoch, input.epochKey);
  const ad = wrapAdditionalData(input.channelId, epoch, input.senderDevice, input.recipientDevice, keyCommitment);
  const ephemeral = input.ephemeral ?? (await generateAgreementKey(false));
  const shared = await ecdh(ephemeral.privateKey, input.recipientAgreementKey);
  const wrapKey = await hkdf(shared, concat(ephemeral.publicKey, input.recipientAgreementKey), ad);
  const nonce = input.nonce ?? randomBytes(12);
  const ciphertext = await aesEncrypt(wrapKey, nonce, ad, input.epochKey);
  wrapKey.fill(0);
  shared.fill(0);
  const signature = await sign(input.senderSigningKey, concat(ad, ephemeral.publicKey, nonce, ciphertext));
  return {
    v: 1,
    channel_id: input.channelId,
    epoch,
    sender_device: input.senderDevice,
    recipient_device: input.recipientDevice,
    commitment: toBase64url(keyCommitment),
    ephemeral_key: toBase64url(ephemeral.publicKey),
    nonce: toBase64url(nonce),
    ciphertext: toBase64url(ciphertext),
    signature: toBase64url(signature),
  };
}

/**
 * @typedef {object} ParsedWrap
 * @property {string} channelId
 * @property {number} epoch
 * @property {string} senderDevice
 * @property {string} recipientDevice
 * @property {Bytes} commitment
 * @property {Bytes} ephemeralKey
 * @property {Bytes} nonce
 * @property {Bytes} ciphertext
 * @property {Bytes} signature
 */

/**
 * Decodes a wrapped key, refusing unknown fields and malformed values (§3.7).
 * @param {unknown} value
 * @returns {Promise<ParsedWrap>}
 */
export async function parseWrap(value) {
  const record = checkObject(value, WRAP_FIELDS, 'wrapped epoch key');
  return {
    channelId: checkId(record.channel_id, 'channel_id'),
    epoch: checkSafeInt(record.epoch, 'epoch'),
    senderDevice: checkId(record.sender_device, 'sender_device'),
    recipientDevice: checkId(record.recipient_device, 'recipient_device'),
    commitment: fromBase64urlOf(record.commitment, 32, 'commitment'),
    ephemeralKey: await decodePublicKey(record.ephemeral_key),
    nonce: fromBase64urlOf(record.nonce, 12, 'nonce'),
    ciphertext: fromBase64urlOf(record.ciphertext, 48, 'ciphertext'),
    signature: fromBase64urlOf(record.signature, 64, 'signature'),
  };
}

/**
 * @typedef {object} UnwrapInput
 * @property {unknown} wrapped
 * @property {string} channelId The channel the wrap was delivered for.
 * @property {string} recipientDevice This device.
 * @property {CryptoKey} agreementKey This device's ECDH private key.
 * @property {Bytes} agreementPublic This device's ECDH public key.
 * @property {Bytes} senderSigningKey The sender device's signing key, from a verified certificate.
 */

/**
 * Checks and unwraps an epoch key (§7.4): addressed to this device, in this channel,
 * signed by the sender, decrypts, and matches its commitment.
 * @param {UnwrapInput} input
 * @returns {Promise<{ epoch: number, key: Bytes, commitment: Bytes, senderDevice: string }>}
 */
export async function unwrapEpochKey(input) {
  const wrap = await parseWrap(input.wrapped);
  if (wrap.recipientDevice !== input.recipientDevice) throw new CryptoError('wrong_recipient');
  if (wrap.channelId !== input.channelId) throw new CryptoError('wrong_channel');
  const ad = wrapAdditionalData(wrap.channelId, wrap.epoch, wrap.senderDevice, wrap.recipientDevice, wrap.commitment);
  await requireSignature(input.senderSigningKey, wrap.signature, concat(ad, wrap.ephemeralKey, wrap.nonce, wrap.ciphertext), 'wrap');
  const shared = await ecdh(input.agreementKey, wrap.ephemeralKey);
  const wrapKey = await hkdf(shared, concat(wrap.ephemeralKey, input.agreementPublic), ad);
  const key = await aesDecrypt(wrapKey, wrap.nonce, ad, wrap.ciphertext);
  wrapKey.fill(0);
  shared.fill(0);
  if (!bytesEqual(await commitment(wrap.channelId, wrap.epoch, key), wrap.commitment)) {
    key.fill(0);
    throw new CryptoError('commitment_mismatch');
  }
  return { epoch: wrap.epoch, key, commitment: wrap.commitment, senderDevice: wrap.senderDevice };
}
