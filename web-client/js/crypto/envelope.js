// Messages (docs/PROTOCOL.md §8): padding, the per-message key, sealing and opening an
// envelope, and the content JSON.
import { canonical, canonicalOf, checkId, checkObject, checkSafeInt, concat, CryptoError, fromBase64url, fromBase64urlOf, fromUtf8, LABEL, toBase64url, u32be, u64be, utf8 } from './encoding.js';
import { aesDecrypt, aesEncrypt, hkdf, randomBytes, requireSignature, sha256, sign } from './primitives.js';
import { parseLogHead } from './membership-log.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

/**
 * @typedef {object} Envelope The wire form of §8.5 (v 1) and §8.7 (v 2).
 * @property {1 | 2} v
 * @property {number} [counter] v 2: the sender device's counter in the channel.
 * @property {string} [prev] v 2: the order hash of its previous envelope there.
 * @property {number} [sent_at] v 2: the sender's clock, ms.
 * @property {string} channel_id
 * @property {number} epoch
 * @property {string} sender_device
 * @property {string} client_msg_id
 * @property {string} nonce
 * @property {string} ciphertext
 * @property {string} signature
 *
 * @typedef {object} AttachmentRef §8.2, as it travels in the content (base64url values).
 * @property {string} id
 * @property {string} key
 * @property {string} sha256
 * @property {number} size
 * @property {string} name
 * @property {string} mime
 *
 * @typedef {object} MessageContent
 * @property {string} text
 * @property {{ sender_device: string, client_msg_id: string } | null} reply_to
 * @property {AttachmentRef[]} attachments
 * @property {{ sender_device: string, client_msg_id: string }} [edits] This message replaces
 *   the text of that earlier message of the same sender (§8.2).
 * @property {{ sender_device: string, client_msg_id: string }} [deletes] This message deletes
 *   that earlier message of the same sender, for everyone (§8.2).
 * @property {{ seq: number, hash: string } | null} [membership_head] The sender's verified
 *   head of the channel's membership log (§8.2, §22.6).
 * @property {{ size: number, root: string }} [key_log_head] The key log head its sender
 *   accepted (root in base64url), for receivers to compare with theirs (§27).
 */

const ENVELOPE_FIELDS = Object.freeze(['channel_id', 'epoch', 'sender_device', 'client_msg_id', 'nonce', 'ciphertext', 'signature']);
const ENVELOPE_V2_FIELDS = Object.freeze([...ENVELOPE_FIELDS, 'counter', 'prev', 'sent_at']);

/** Smallest and largest padded sizes (§8.3). */
export const MIN_BUCKET = 256;
export const MAX_BUCKET = 65536;
/** Largest content JSON. */
export const MAX_CONTENT_BYTES = MAX_BUCKET - 4;

/**
 * The padded length for `n` bytes of content, or null when too long.
 * @param {number} n
 * @returns {number | null}
 */
export function paddedLength(n) {
  let bucket = MIN_BUCKET;
  while (bucket < 4 + n) bucket *= 2;
  return bucket > MAX_BUCKET ? null : bucket;
}

/**
 * u32be(n) ‖ content ‖ zeros, to the bucket's size.
 * @param {Bytes} content
 * @returns {Bytes}
 */
export function pad(content) {
  const length = paddedLength(content.length);
  if (length === null) throw new CryptoError('content_too_long');
  const out = new Uint8Array(length);
  out.set(u32be(content.length), 0);
  out.set(content, 4);
  return out;
}

/**
 * Checks the padding exactly and returns the content.
 * @param {Bytes} padded
 * @returns {Bytes}
 */
export function unpad(padded) {
  if (padded.length < 4) throw new CryptoError('bad_padding', 'too short');
  const n = new DataView(padded.buffer, padded.byteOffset, 4).getUint32(0);
  if (paddedLength(n) !== padded.length) throw new CryptoError('bad_padding', 'wrong bucket');
  for (let i = 4 + n; i < padded.length; i += 1) {
    if (padded[i] !== 0) throw new CryptoError('bad_padding', 'non-zero padding');
  }
  return padded.slice(4, 4 + n);
}

/**
 * @typedef {object} MessageHeader
 * @property {string} channelId
 * @property {number} epoch
 * @property {string} senderDevice
 * @property {string} clientMsgId
 * @property {MessageOrder} [order] Present: a version-2 envelope (§8.7).
 *
 * @typedef {object} MessageOrder The sender's place in its own order in the channel.
 * @property {number} counter 1, 2, 3, … per sending device and channel.
 * @property {Bytes} prev The order hash of its previous envelope there, zeros for the first.
 * @property {number} sentAt The sender's clock, ms since the Unix epoch.
 */

/**
 * The message's additional data, HKDF info and signed prefix (§8.1).
 * @param {MessageHeader} header
 */
export function messageAdditionalData(header) {
  if (header.order) {
    const { counter, prev, sentAt } = header.order;
    if (checkSafeInt(counter, 'counter') < 1) throw new CryptoError('bad_integer', 'counter');
    if (prev.length !== 32) throw new CryptoError('bad_length', 'prev');
    return canonicalOf(
      2,
      LABEL.messageV2,
      checkId(header.channelId, 'channel_id'),
      u64be(checkSafeInt(header.epoch, 'epoch')),
      checkId(header.senderDevice, 'sender_device'),
      checkId(header.clientMsgId, 'client_msg_id'),
      u64be(counter),
      prev,
      u64be(checkSafeInt(sentAt, 'sent_at')),
    );
  }
  return canonical(
    LABEL.message,
    checkId(header.channelId, 'channel_id'),
    u64be(checkSafeInt(header.epoch, 'epoch')),
    checkId(header.senderDevice, 'sender_device'),
    checkId(header.clientMsgId, 'client_msg_id'),
  );
}

/**
 * HKDF(salt = empty, ikm = epoch key, info = ad).
 * @param {Bytes} epochKey
 * @param {Bytes} ad
 */
export function messageKey(epochKey, ad) {
  return hkdf(epochKey, new Uint8Array(0), ad);
}

/**
 * The content JSON, in the order of §8.2.
 * @param {MessageContent} content
 * @returns {Bytes}
 */
export function encodeContent(content) {
  return utf8(
    JSON.stringify({
      text: content.text,
      reply_to: content.reply_to ? { sender_device: content.reply_to.sender_device, client_msg_id: content.reply_to.client_msg_id } : null,
      attachments: content.attachments.map((a) => ({ id: a.id, key: a.key, sha256: a.sha256, size: a.size, name: a.name, mime: a.mime })),
      // Only when present: a plain message encodes exactly as before (test vectors).
      ...(content.edits ? { edits: messageRef(content.edits) } : {}),
      ...(content.deletes ? { deletes: messageRef(content.deletes) } : {}),
      ...(content.membership_head ? { membership_head: { seq: content.membership_head.seq, hash: content.membership_head.hash } } : {}),
      ...(content.key_log_head ? { key_log_head: { size: content.key_log_head.size, root: content.key_log_head.root } } : {}),
    }),
  );
}

/** @param {{ sender_device: string, client_msg_id: string }} ref */
function messageRef(ref) {
  return { sender_device: ref.sender_device, client_msg_id: ref.client_msg_id };
}

/**
 * A reference field of the content, checked.
 * @param {any} value
 * @param {string} field
 */
function refOf(value, field) {
  if (value == null) return undefined;
  if (typeof value.sender_device !== 'string' || typeof value.client_msg_id !== 'string') throw new CryptoError('bad_content', field);
  return messageRef(value);
}

/**
 * The sender's key log head (§27), read leniently: one that does not parse is dropped,
 * and the message stays readable.
 * @param {any} value
 * @returns {{ size: number, root: string } | undefined}
 */
function headOf(value) {
  if (value == null || !Number.isSafeInteger(value.size) || value.size < 0 || typeof value.root !== 'string') return undefined;
  try {
    fromBase64urlOf(value.root, 32, 'key_log_head');
  } catch {
    return undefined;
  }
  return { size: value.size, root: value.root };
}

/**
 * Parses the content JSON; unknown fields are ignored, known ones are checked.
 * @param {Bytes} bytes
 * @returns {MessageContent}
 */
export function decodeContent(bytes) {
  /** @type {any} */
  let value;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new CryptoError('bad_content');
  }
  if (typeof value !== 'object' || value === null || typeof value.text !== 'string') throw new CryptoError('bad_content', 'text');
  /** @type {MessageContent['reply_to']} */
  let replyTo = null;
  if (value.reply_to != null) {
    if (typeof value.reply_to.sender_device !== 'string' || typeof value.reply_to.client_msg_id !== 'string') {
      throw new CryptoError('bad_content', 'reply_to');
    }
    replyTo = { sender_device: value.reply_to.sender_device, client_msg_id: value.reply_to.client_msg_id };
  }
  const attachments = value.attachments ?? [];
  if (!Array.isArray(attachments)) throw new CryptoError('bad_content', 'attachments');
  const edits = refOf(value.edits, 'edits');
  const deletes = refOf(value.deletes, 'deletes');
  const membershipHead = parseLogHead(value.membership_head);
  const keyLogHead = headOf(value.key_log_head);
  return {
    text: value.text,
    reply_to: replyTo,
    ...(edits ? { edits } : {}),
    ...(deletes ? { deletes } : {}),
    ...(membershipHead ? { membership_head: membershipHead } : {}),
    ...(keyLogHead ? { key_log_head: keyLogHead } : {}),
    attachments: attachments.map((/** @type {any} */ a) => {
      fromBase64urlOf(a?.key, 32, 'attachment key');
      fromBase64urlOf(a?.sha256, 32, 'attachment sha256');
      if (typeof a.id !== 'string' || typeof a.name !== 'string' || typeof a.mime !== 'string') {
        throw new CryptoError('bad_content', 'attachment');
      }
      return { id: a.id, key: a.key, sha256: a.sha256, size: checkSafeInt(a.size, 'size'), name: a.name, mime: a.mime };
    }),
  };
}

/**
 * @typedef {object} SealInput
 * @property {MessageHeader} header
 * @property {MessageContent | Bytes} content The content, or its JSON bytes (test vectors).
 * @property {Bytes} epochKey
 * @property {CryptoKey} signingKey The sending device's.
 * @property {Bytes} [nonce] Test vectors only.
 */

/**
 * Pads, encrypts and signs a message (§8.4).
 * @param {SealInput} input
 * @returns {Promise<Envelope>}
 */
export async function sealEnvelope(input) {
  const { header } = input;
  const ad = messageAdditionalData(header);
  const key = await messageKey(input.epochKey, ad);
  const json = input.content instanceof Uint8Array ? input.content : encodeContent(input.content);
  const padded = pad(json);
  const nonce = input.nonce ?? randomBytes(12);
  const ciphertext = await aesEncrypt(key, nonce, ad, padded);
  key.fill(0);
  padded.fill(0);
  const signature = await sign(input.signingKey, concat(ad, nonce, ciphertext));
  const order = header.order ? { counter: header.order.counter, prev: toBase64url(header.order.prev), sent_at: header.order.sentAt } : null;
  return {
    v: order ? 2 : 1,
    channel_id: header.channelId,
    epoch: header.epoch,
    sender_device: header.senderDevice,
    client_msg_id: header.clientMsgId,
    ...(order ?? {}),
    nonce: toBase64url(nonce),
    ciphertext: toBase64url(ciphertext),
    signature: toBase64url(signature),
  };
}

/**
 * @typedef {object} ParsedEnvelope
 * @property {MessageHeader} header
 * @property {Bytes} nonce
 * @property {Bytes} ciphertext
 * @property {Bytes} signature
 */

/**
 * Decodes an envelope; its ciphertext must be a bucket plus 16 bytes (§8.5).
 * @param {unknown} value
 * @returns {ParsedEnvelope}
 */
export function parseEnvelope(value) {
  const v2 = typeof value === 'object' && value !== null && /** @type {any} */ (value).v === 2;
  const record = v2 ? checkObject(value, ENVELOPE_V2_FIELDS, 'envelope', 2) : checkObject(value, ENVELOPE_FIELDS, 'envelope');
  const ciphertext = fromBase64url(record.ciphertext);
  const bucket = ciphertext.length - 16;
  if (bucket < MIN_BUCKET || bucket > MAX_BUCKET || (bucket & (bucket - 1)) !== 0) throw new CryptoError('bad_length', 'ciphertext');
  return {
    header: {
      channelId: checkId(record.channel_id, 'channel_id'),
      epoch: checkSafeInt(record.epoch, 'epoch'),
      senderDevice: checkId(record.sender_device, 'sender_device'),
      clientMsgId: checkId(record.client_msg_id, 'client_msg_id'),
      ...(v2
        ? {
            order: {
              counter: checkCounter(record.counter),
              prev: fromBase64urlOf(record.prev, 32, 'prev'),
              sentAt: checkSafeInt(record.sent_at, 'sent_at'),
            },
          }
        : {}),
    },
    nonce: fromBase64urlOf(record.nonce, 12, 'nonce'),
    ciphertext,
    signature: fromBase64urlOf(record.signature, 64, 'signature'),
  };
}

/**
 * @param {unknown} counter
 * @returns {number}
 */
function checkCounter(counter) {
  if (checkSafeInt(counter, 'counter') < 1) throw new CryptoError('bad_integer', 'counter');
  return /** @type {number} */ (counter);
}

/**
 * What the sender's next envelope names as `prev` (§8.7): SHA-256 of the signed bytes,
 * ad ‖ nonce ‖ ciphertext. The signature is left out: ECDSA signatures are malleable (§3.3).
 * @param {unknown} envelope
 * @returns {Promise<Bytes>}
 */
export async function orderHash(envelope) {
  const parsed = parseEnvelope(envelope);
  return sha256(concat(messageAdditionalData(parsed.header), parsed.nonce, parsed.ciphertext));
}

/**
 * @typedef {object} OpenInput
 * @property {unknown} envelope
 * @property {string} channelId The channel it was delivered in.
 * @property {Bytes} senderSigningKey From the sender device's verified certificate.
 * @property {Bytes} epochKey The key of (channel, envelope epoch).
 */

/**
 * Checks the channel and the signature, decrypts, unpads and parses (§8.6).
 * @param {OpenInput} input
 * @returns {Promise<{ header: MessageHeader, content: MessageContent, json: Bytes, hash: Bytes }>}
 */
export async function openEnvelope(input) {
  const envelope = parseEnvelope(input.envelope);
  if (envelope.header.channelId !== input.channelId) throw new CryptoError('wrong_channel');
  const ad = messageAdditionalData(envelope.header);
  await requireSignature(input.senderSigningKey, envelope.signature, concat(ad, envelope.nonce, envelope.ciphertext), 'envelope');
  const key = await messageKey(input.epochKey, ad);
  const padded = await aesDecrypt(key, envelope.nonce, ad, envelope.ciphertext);
  key.fill(0);
  const json = unpad(padded);
  const hash = await sha256(concat(ad, envelope.nonce, envelope.ciphertext));
  return { header: envelope.header, content: decodeContent(json), json, hash };
}
