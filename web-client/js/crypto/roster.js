// Who this client encrypts for and accepts keys and messages from, in one channel
// (docs/PROTOCOL.md §12.1). The same rules as the Rust `crypto::roster`; both pass
// shared/vectors/rejections.json.
//
// The server lists the devices a new epoch key must reach and relays wraps and
// envelopes: a malicious server could list a "ghost" device of its own and become a
// reader. A roster holds what this client checked itself: the members it shows, and for
// each the devices whose certificate verifies under the identity pinned for them.

import { CryptoError } from './encoding.js';
import { verifyCertificate } from './identity.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */
/** @typedef {import('./identity.js').VerifiedDevice} VerifiedDevice */

/**
 * @typedef {object} EpochPlan
 * @property {VerifiedDevice[]} wrap Verified live devices of members.
 * @property {{ device_id: string, reason: string }[]} withheld Members' devices left out (§7.5).
 * @property {{ device_id: string, user_id: string, code: string }[]} refused Devices no
 *   member has, or of non-members: an honest server never lists one.
 */

export class Roster {
  /**
   * @param {string} channelId
   * @param {Iterable<string>} members The member list this client shows.
   */
  constructor(channelId, members) {
    this.channelId = channelId;
    this.members = new Set(members);
    /** @type {Map<string, VerifiedDevice & { revoked: boolean }>} */
    this.devices = new Map();
    /** @type {Map<string, string>} Devices offered for non-members, by id: their owner. */
    this.outsiders = new Map();
    /** @type {Map<string, string>} Members' devices whose certificate does not verify. */
    this.unverified = new Map();
  }

  /** @param {string} userId */
  isMember(userId) {
    return this.members.has(userId);
  }

  /**
   * Admits a device of `owner` if `owner` is a member and its certificate verifies under
   * `identityKey`, the key pinned for them.
   * @param {string} owner
   * @param {Bytes} identityKey
   * @param {unknown} certificate
   * @param {boolean} revoked
   */
  async admit(owner, identityKey, certificate, revoked) {
    const deviceId = String(/** @type {any} */ (certificate)?.device_id ?? '');
    if (/** @type {any} */ (certificate)?.user_id !== owner) throw new CryptoError('unverified_device', deviceId);
    if (!this.isMember(owner)) {
      this.outsiders.set(deviceId, owner);
      throw new CryptoError('not_member', `${deviceId} of ${owner}`);
    }
    let device;
    try {
      device = await verifyCertificate(certificate, identityKey);
    } catch {
      this.unverified.set(deviceId, owner);
      throw new CryptoError('unverified_device', deviceId);
    }
    this.admitVerified(owner, device, revoked);
  }

  /**
   * Admits a device already verified under its owner's pinned identity (the keyring
   * verifies each colleague's devices once).
   * @param {string} owner
   * @param {VerifiedDevice} device
   * @param {boolean} revoked
   */
  admitVerified(owner, device, revoked) {
    if (device.userId !== owner) return;
    if (!this.isMember(owner)) {
      this.outsiders.set(device.deviceId, owner);
      return;
    }
    this.devices.set(device.deviceId, { ...device, revoked });
  }

  /**
   * A member's device that the server lists but whose certificate did not verify.
   * @param {string} owner
   * @param {string} deviceId
   */
  markUnverified(owner, deviceId) {
    if (this.isMember(owner)) this.unverified.set(deviceId, owner);
  }

  /**
   * For each device the server asks a new epoch key for: wrap, withhold or refuse.
   * @param {{ user_id: string, device_id: string }[]} requested
   * @returns {EpochPlan}
   */
  planEpoch(requested) {
    /** @type {EpochPlan} */
    const plan = { wrap: [], withheld: [], refused: [] };
    const seen = new Set();
    for (const target of requested) {
      const pair = `${target.user_id}\u0000${target.device_id}`;
      if (seen.has(pair)) continue;
      seen.add(pair);
      if (!this.isMember(target.user_id)) {
        plan.refused.push({ device_id: target.device_id, user_id: target.user_id, code: 'not_member' });
        continue;
      }
      if (this.unverified.get(target.device_id) === target.user_id) {
        plan.withheld.push({ device_id: target.device_id, reason: 'unverified_device' });
        continue;
      }
      const device = this.devices.get(target.device_id);
      if (!device || device.userId !== target.user_id) {
        plan.refused.push({ device_id: target.device_id, user_id: target.user_id, code: 'unknown_device' });
      } else if (device.revoked) {
        plan.withheld.push({ device_id: target.device_id, reason: 'revoked_device' });
      } else {
        plan.wrap.push(device);
      }
    }
    return plan;
  }

  /** @param {string} deviceId */
  memberDevice(deviceId) {
    const device = this.devices.get(deviceId);
    if (device) return device;
    const outsider = this.outsiders.get(deviceId);
    if (outsider !== undefined) throw new CryptoError('not_member', `${deviceId} of ${outsider}`);
    throw new CryptoError('unknown_device', deviceId);
  }

  /**
   * The signing key to check a wrap with: for this channel, for `recipient`, from a live
   * verified device of a member.
   * @param {string} deliveredIn
   * @param {string} recipient
   * @param {any} wrapped
   * @returns {Bytes}
   */
  wrapSender(deliveredIn, recipient, wrapped) {
    this.sameChannel(deliveredIn, wrapped?.channel_id);
    if (wrapped?.recipient_device !== recipient) throw new CryptoError('wrong_recipient');
    const device = this.memberDevice(String(wrapped?.sender_device ?? ''));
    if (device.revoked) throw new CryptoError('unknown_device', device.deviceId);
    return device.signing;
  }

  /**
   * The signing key to check an envelope with: for this channel, from a device of
   * `sender` who is a member — or a former member, under an epoch older than
   * `newestEpoch` (the newest key held for the channel): their history stays readable,
   * but nobody outside the members writes in the epoch in use.
   * @param {string} deliveredIn
   * @param {string} sender The account the server says sent it.
   * @param {{ channelId: string, epoch: number, senderDevice: string }} header
   * @param {VerifiedDevice | null} senderCertificate The sender device, verified under
   *   the identity pinned for `sender`, if known.
   * @param {number | null} newestEpoch
   * @returns {Bytes}
   */
  envelopeSender(deliveredIn, sender, header, senderCertificate, newestEpoch) {
    this.sameChannel(deliveredIn, header.channelId);
    const device = this.devices.get(header.senderDevice);
    if (device) {
      if (device.userId !== sender) throw new CryptoError('unknown_device', header.senderDevice);
      return device.signing;
    }
    if (!senderCertificate || senderCertificate.userId !== sender || senderCertificate.deviceId !== header.senderDevice) {
      throw new CryptoError('unknown_device', header.senderDevice);
    }
    if (this.isMember(sender)) throw new CryptoError('unknown_device', header.senderDevice);
    if (newestEpoch === null || header.epoch >= newestEpoch) throw new CryptoError('not_member', `${header.senderDevice} of ${sender}`);
    return senderCertificate.signing;
  }

  /**
   * @param {string} deliveredIn
   * @param {unknown} named
   */
  sameChannel(deliveredIn, named) {
    if (deliveredIn !== named || named !== this.channelId) throw new CryptoError('wrong_channel', `${String(named)} delivered in ${deliveredIn}`);
  }
}
