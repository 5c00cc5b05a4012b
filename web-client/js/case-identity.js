// The identity of a case's person (CHARTER.md C7; docs/PROTOCOL.md §19): sealed in this
// browser for the case's coordinators and referent only, with the primitives of the epoch
// keys — a fresh random key, the record sealed as a message envelope, the key wrapped for
// each verified device of each reader — and opened here by them.

import { ApiError, cases as casesApi, channels as channelsApi, messageFor } from './api.js';
import * as c from './crypto.js';
import { agreementKeys } from './prekeys.js';

/** @typedef {import('./keyring.js').Keyring} Keyring */

/**
 * @typedef {object} IdentityRecord What the coordinator typed, never sent in clear.
 * @property {string} name
 * @property {string} [birth_month] `AAAA-MM` (youth programme).
 */

/** Longest name, in characters (shared/src/protocol/v1/case_identity.rs). */
export const MAX_IDENTITY_NAME_CHARS = 200;

/** @param {string} caseId The scope the record and its keys are sealed under. */
const scopeOf = (caseId) => `identity:${caseId}`;

/**
 * Seals `record` for the readers the server lists, after checking here that each is a
 * member of the case and each of their devices verifies under their pinned identity:
 * a device the server adds on its own gets nothing, and the sealing fails rather than
 * leave a reader out. When the case has a signed membership log (§22), each reader must
 * also be, by the verified log, a coordinator or the signed referent: a server that lists
 * anyone else is refused (`identity_reader_not_logged`) and nothing is sealed. Without a
 * log, the member list is the server's word (§19). Answers the IdentityStatus.
 * @param {Keyring} keyring
 * @param {string} caseId
 * @param {IdentityRecord} record
 */
export async function sealCaseIdentity(keyring, caseId, record) {
  const readers = await casesApi.identityReaders(caseId);
  const detail = await channelsApi.detail(caseId);
  const members = new Set(detail.members.map((m) => m.user_id));
  // Never for readers no verified log vouches for (§22.4): a coordinator's browser starts
  // the case's log first, anyone else is refused.
  await keyring.requireLog(caseId);
  const log = await keyring.membershipLog(caseId, { refresh: true });
  if (!log) throw new c.CryptoError('membership_log_missing', caseId);
  const logged = c.identityReaders(log);
  const devices = [];
  for (const reader of readers.readers) {
    if (!members.has(reader.user_id)) throw new c.CryptoError('not_member', reader.user_id);
    if (!(logged.has(reader.user_id) && log.members.has(reader.user_id))) {
      keyring.reportTampering(caseId, 'identity_reader', 'not_reader');
      throw new ApiError('identity_reader_not_logged', messageFor('identity_reader_not_logged'), 0, reader.user_id);
    }
    // Their keys as served now: the record is wrapped to each device's current prekey,
    // which its device keeps while the record needs it (§23.3).
    await keyring.peer(reader.user_id, { refresh: true });
    for (const deviceId of reader.devices) devices.push(await keyring.deviceOf(reader.user_id, deviceId));
  }
  const scope = scopeOf(caseId);
  const version = readers.next_version;
  const key = c.generateEpochKey();
  try {
    const clean = { name: record.name, ...(record.birth_month ? { birth_month: record.birth_month } : {}) };
    const envelope = await c.sealEnvelope({
      header: { channelId: scope, epoch: version, senderDevice: keyring.deviceId, clientMsgId: c.uuid() },
      content: { text: JSON.stringify(clean), reply_to: null, attachments: [] },
      epochKey: key,
      signingKey: keyring.device.signingKey,
    });
    const keys = [];
    for (const device of devices) {
      // To the device's current verified prekey, as epoch keys (§7.3, §23): the
      // certificate's key only for a device that never published one. A prekey that does
      // not verify, or older than one seen, stops the sealing: nobody is left out
      // silently, nor wrapped for under a key that may have been stolen since.
      if (device.prekeyRefused) throw new c.CryptoError('unverified_device', device.deviceId);
      keys.push(
        await c.wrapEpochKey({
          channelId: scope,
          epoch: version,
          epochKey: key,
          senderDevice: keyring.deviceId,
          senderSigningKey: keyring.device.signingKey,
          recipientDevice: device.deviceId,
          recipientAgreementKey: device.prekey ?? device.agreement,
        }),
      );
    }
    return await casesApi.sealIdentity(caseId, { version, envelope, keys });
  } finally {
    key.fill(0);
  }
}

/**
 * Opens the record (the server logs every opening): it must be sealed for this case and
 * this device, by a device that verifies under its sealer's pinned identity.
 * @param {Keyring} keyring
 * @param {string} caseId
 * @returns {Promise<IdentityRecord>}
 */
export async function openCaseIdentity(keyring, caseId) {
  const sealed = await casesApi.openIdentity(caseId, keyring.deviceId);
  const scope = scopeOf(caseId);
  const { header } = c.parseEnvelope(sealed.envelope);
  if (header.channelId !== scope) throw new c.CryptoError('wrong_channel', header.channelId);
  const sender = await keyring.deviceOf(sealed.sealed_by, header.senderDevice);
  // Made to the prekey current when it was sealed, or to the certificate's key by an
  // earlier release (§19, §23.3).
  let unwrapped = null;
  let failure = null;
  for (const pair of agreementKeys(keyring.device)) {
    try {
      unwrapped = await c.unwrapEpochKey({
        wrapped: sealed.key,
        channelId: scope,
        recipientDevice: keyring.deviceId,
        agreementKey: pair.privateKey,
        agreementPublic: pair.publicKey,
        senderSigningKey: sender.signing,
      });
      break;
    } catch (error) {
      failure = error;
    }
  }
  if (!unwrapped) throw failure ?? new c.CryptoError('no_agreement_key');
  try {
    if (unwrapped.epoch !== header.epoch || unwrapped.senderDevice !== header.senderDevice) throw new c.CryptoError('wrong_epoch', String(header.epoch));
    const opened = await c.openEnvelope({ envelope: sealed.envelope, channelId: scope, senderSigningKey: sender.signing, epochKey: unwrapped.key });
    const record = JSON.parse(opened.content.text);
    if (typeof record?.name !== 'string') throw new c.CryptoError('malformed', 'identity');
    return { name: record.name, ...(typeof record.birth_month === 'string' ? { birth_month: record.birth_month } : {}) };
  } finally {
    unwrapped.key.fill(0);
  }
}
