// This browser's keys for one account, and what they are used for: enrolling the first
// device, restoring one from the recovery code, the key backup, colleagues' identities
// (pinned on first use, PROTOCOL.md §6.1), epoch keys (created, wrapped, unwrapped) and
// sealing and opening messages. The server is trusted with none of it.

import { ApiError, channels as channelsApi, keys as keysApi, messageFor } from './api.js';
import * as c from './crypto.js';
import { acknowledgeKeys, agreementKeys } from './prekeys.js';
import * as rotation from './rotation.js';
import * as store from './store.js';

/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').DeviceRef} DeviceRef */
/** @typedef {import('./types.js').StoredMessage} StoredMessage */
/** @typedef {import('./types.js').MembershipEvent} MembershipEvent */
/** @typedef {import('./store.js').DeviceRecord} DeviceRecord */
/** @typedef {import('./crypto/identity.js').VerifiedDevice} VerifiedDevice */
/** @typedef {import('./crypto/envelope.js').MessageContent} MessageContent */
/** @typedef {import('./crypto/identity.js').CertificateRequest} CertificateRequest */
/** @typedef {import('./types.js').LinkRequest} LinkRequest */
/** @typedef {Uint8Array<ArrayBuffer>} Bytes */

/**
 * @typedef {object} Peer A colleague's identity and devices, as verified here.
 * @property {string} userId
 * @property {Bytes | null} identityKey null until they set up a device.
 * @property {Map<string, VerifiedDevice & { revoked: boolean, name: string }>} devices Only those whose certificate verifies.
 * @property {Set<string>} unverified Devices served for them whose certificate does not verify.
 * @property {boolean} verified Fingerprints compared in person.
 * @property {string | null} previousKey Set while an identity change is not acknowledged.
 */

/**
 * The key of a sealed message's place in `Keyring.places`.
 * @param {string} channelId
 * @param {string} clientMsgId
 */
function orderSlot(channelId, clientMsgId) {
  return `${channelId}\u0000${clientMsgId}`;
}

/** What the user sees when a device name is not given. */
export function defaultDeviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom/.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Navigateur';
  return `${browser} — ${new Intl.DateTimeFormat('fr-FR', { dateStyle: 'medium' }).format(new Date())}`;
}

/**
 * The IndexedDB record of an epoch key: sealed, never raw (§10.7).
 * @param {string} userId
 * @param {CryptoKey} storageKey
 * @param {string} channelId
 * @param {number} epoch
 * @param {Bytes} key
 * @returns {Promise<store.EpochKeyRecord>}
 */
async function sealedRecord(userId, storageKey, channelId, epoch, key) {
  return { userId, channelId, epoch, sealed: await c.sealLocalKey(storageKey, userId, channelId, epoch, key) };
}

/** @param {string} channelId @param {number} epoch */
const slot = (channelId, epoch) => `${channelId}\u0000${epoch}`;

/**
 * The keys of this device as a stored record holds them (the private ones stay
 * non-extractable CryptoKeys).
 * @param {{ id: string }} me
 * @param {{ deviceId: string, signing: import('./crypto/primitives.js').KeyPair, agreement: import('./crypto/primitives.js').KeyPair }} device
 */
function ownKeys(me, device) {
  return {
    userId: me.id,
    deviceId: device.deviceId,
    signingKey: device.signing.privateKey,
    signingPublic: device.signing.publicKey,
    agreementKey: device.agreement.privateKey,
    agreementPublic: device.agreement.publicKey,
  };
}

export class Keyring extends EventTarget {
  /**
   * @param {Me} me
   * @param {DeviceRecord} device
   * @param {{ channelId: string, epoch: number, key: Bytes }[]} epochKeys Opened.
   */
  constructor(me, device, epochKeys) {
    super();
    this.me = me;
    this.device = device;
    /** @type {Map<string, Bytes>} */
    this.epochKeys = new Map(epochKeys.map((k) => [slot(k.channelId, k.epoch), k.key]));
    /** @type {Map<string, Bytes>} Commitments of the keys held, to detect a split (§7.4). */
    this.commitments = new Map();
    /** @type {Map<string, string>} Why an epoch's key was withheld from this device (§7.5). */
    this.withheld = new Map();
    /** @type {Map<string, Promise<Peer>>} */
    this.peers = new Map();
    /** @type {Promise<unknown>} Checks of the key log's head, one after the other (§25). */
    this.keyLogTurn = Promise.resolve();
    /** @type {import('./crypto/keylog.js').Audit | null} The key log as audited here (§25.4). */
    this.audit = null;
    /** @type {string | null} Its root, base64. */
    this.auditRoot = null;
    /** @type {Set<string>} Heads gossiped by others already joined to this browser's log (§27). */
    this.joinedHeads = new Set();
    /** @type {Set<string>} Devices of this account certified here, not yet in the `keyLog` record. */
    this.certifiedPending = new Set();
    /** @type {Map<string, VerifiedDevice & { revoked: boolean }>} Every verified device, by id. */
    this.knownDevices = new Map();
    /** @type {Map<string, number>} The highest prekey serial seen per device (§23): an older one served again is refused. */
    this.prekeySerials = new Map();
    /** @type {Map<string, Set<number>>} Epochs stored here whose acknowledgement failed, by channel (§23.3). */
    this.unacknowledged = new Map();
    /** @type {Map<string, string[]>} Per channel, the member list the conversation shows. */
    this.members = new Map();
    /** @type {Map<string, import('./crypto/membership-log.js').MembershipState | null>} Per channel, its verified membership log (§22). */
    this.logs = new Map();
    /** @type {Map<string, Error>} Per channel, why its last served log was refused: nothing is encrypted for it until one is accepted. */
    this.logRefusals = new Map();
    /** @type {Map<string, Promise<import('./store.js').MembershipHeadRecord>>} Per channel, its remembered heads (§22.6), as in IndexedDB. */
    this.heads = new Map();
    /** @type {Promise<unknown>} Heads named by messages, checked one after the other (§22.6). */
    this.headTurn = Promise.resolve();
    /**
     * The channel's current epoch as the server lists it, if known: with the keys held,
     * what tells a former member's history from the epoch in use (§12.1).
     * @type {(channelId: string) => number | null}
     */
    this.epochHint = () => null;
    /**
     * Tombstones of the channels destroyed or purged (§10.6): belowEpoch by channel id,
     * null for every epoch. Kept in the device record and carried by the backup.
     * @type {Map<string, number | null>}
     */
    this.shredded = new Map(device.shredded ?? []);
    // A key a tombstone covers may have outlived it in IndexedDB (a tab closed between
    // the two writes): it is not used.
    for (const id of [...this.epochKeys.keys()]) {
      const [channel, epoch] = id.split('\u0000');
      if (c.isShredded(this.shredded, channel, Number(epoch))) this.epochKeys.delete(id);
    }
    /** @type {Promise<void>} */
    this.backupQueue = Promise.resolve();
    this.backupPending = false;
    /** Failed backup writes in a row: the next try waits longer; the user is told. */
    this.backupFailures = 0;
    /**
     * The paged backup's pages as last read or written here (§10.8), so that a write
     * fetches only the pages another device changed. In memory only.
     * @type {import('./crypto/backup.js').HeldPage[]}
     */
    this.backupPages = [];
    /** Set by {@link Keyring.forget}: nothing is written any more. */
    this.forgotten = false;
    /** @type {Map<string, Promise<unknown>>} One change of a channel's order at a time. */
    this.orderQueue = new Map();
    /**
     * @type {Map<string, { counter: number, prev: string, hash: string }>} The places of the messages
     *   sealed by this page, by channel and client_msg_id, and the order hash of their
     *   latest sealing: a message sealed again (a new epoch) keeps its place, and the one
     *   after it names its new hash.
     */
    this.places = new Map();
    /**
     * The clock the rotation bounds are read with (§23.4): `Date.now`, replaced by tests
     * that move time forward.
     * @type {() => number}
     */
    this.now = () => Date.now();
  }

  /**
   * This browser's device of the account, if it has one.
   * @param {Me} me
   * @returns {Promise<Keyring | null>}
   */
  static async load(me) {
    let device = await store.getDevice(me.id);
    if (!device) return null;
    // A device record made before epoch keys were sealed gets its storage key now.
    let storageKey = device.storageKey;
    if (!storageKey) {
      storageKey = await c.generateStorageKey();
      device = { ...device, storageKey };
      await store.putDevice(device);
    }
    /** @type {{ channelId: string, epoch: number, key: Bytes }[]} */
    const opened = [];
    for (const record of await store.allEpochKeys(me.id)) {
      if (record.sealed) {
        try {
          opened.push({ channelId: record.channelId, epoch: record.epoch, key: await c.openLocalKey(storageKey, me.id, record.channelId, record.epoch, record.sealed) });
        } catch {
          // A record that does not open (altered, or sealed under another key) is not used.
        }
      } else if (record.key) {
        // Written raw by an earlier release: sealed in place.
        opened.push({ channelId: record.channelId, epoch: record.epoch, key: record.key });
        await store.putEpochKey(await sealedRecord(me.id, storageKey, record.channelId, record.epoch, record.key));
      }
    }
    return new Keyring(me, device, opened);
  }

  /**
   * Keeps an epoch key in IndexedDB, sealed under the device's storage key (§10.7).
   * @param {string} channelId
   * @param {number} epoch
   * @param {Bytes} key
   */
  async storeEpochKey(channelId, epoch, key) {
    const storageKey = this.device.storageKey;
    if (!storageKey) throw new c.CryptoError('no_storage_key');
    const record = await sealedRecord(this.me.id, storageKey, channelId, epoch, key);
    await this.persist(() => store.putEpochKey(record));
  }

  get deviceId() {
    return this.device.deviceId;
  }

  /**
   * Writes to IndexedDB unless the keyring was forgotten: a key being unwrapped or a
   * backup being merged when the device is revoked must not write keys back afterwards.
   * @param {() => Promise<unknown>} write
   */
  async persist(write) {
    if (!this.forgotten) await write();
  }

  /**
   * Erases this device from the browser (PROTOCOL.md §15, close 4005): its own keys, the
   * epoch keys it holds and the colleagues' identities it pinned, in memory and in
   * IndexedDB. A revoked device may be in the wrong hands: it must keep nothing that
   * reads the channels or tells who the account talked with. The account starts afresh
   * with a new device.
   */
  async forget() {
    this.forgotten = true;
    this.epochKeys.clear();
    this.commitments.clear();
    this.withheld.clear();
    this.peers.clear();
    this.knownDevices.clear();
    await store.deleteDevice(this.me.id);
  }

  /** Whether this device holds the backup key (enrolled or restored, not linked). */
  get holdsBackupKey() {
    return this.device.backupKey !== null;
  }

  /** Whether this device holds the identity key, and so can admit other devices (§5.5). */
  get holdsIdentityKey() {
    return this.device.identityKey !== null;
  }

  /**
   * Where this device stands on the server: registered and live, revoked, or unknown.
   * @returns {Promise<'ok' | 'revoked' | 'missing'>}
   */
  async serverStatus() {
    const mine = await keysApi.user(this.me.id);
    const device = mine.devices.find((d) => d.certificate?.device_id === this.deviceId);
    if (!device) return 'missing';
    return device.revoked_at ? 'revoked' : 'ok';
  }

  // ---- Colleagues: identities pinned on first use, devices verified --------------------

  /**
   * A colleague's identity and verified devices; fetched once per page unless `refresh`.
   * @param {string} userId
   * @param {{ refresh?: boolean }} [options]
   * @returns {Promise<Peer>}
   */
  peer(userId, options = {}) {
    let pending = this.peers.get(userId);
    if (!pending || options.refresh) {
      pending = this.fetchPeer(userId);
      this.peers.set(userId, pending);
      pending.catch(() => this.peers.delete(userId));
    }
    return pending;
  }

  /**
   * @param {string} userId
   * @returns {Promise<Peer>}
   */
  async fetchPeer(userId) {
    const served = await keysApi.user(userId);
    /** @type {Peer} */
    const peer = { userId, identityKey: null, devices: new Map(), unverified: new Set(), verified: false, previousKey: null };
    const servedKey = served.identity_key;
    if (!servedKey) return peer;
    // Only keys the transparency log shows (§25): the served identity must be the
    // user's last logged one, before anything is pinned.
    const logged = await this.loggedKeys(userId);
    if (logged.current !== servedKey) throw new c.CryptoError('key_not_logged', userId);
    // Completeness (§25.4): what the log showed before the directory answered must be
    // served as it is — a revoked device as revoked, a live device of the current
    // identity at all.
    const servedRevoked = new Map(served.devices.map((info) => [/** @type {any} */ (info.certificate)?.device_id, info.revoked_at != null]));
    for (const [deviceId, inLog] of logged.devices) {
      const revokedBefore = inLog.revokedAt !== null && inLog.revokedAt < logged.before;
      const seen = servedRevoked.get(deviceId);
      if (seen === false && revokedBefore) throw new c.CryptoError('key_not_logged', deviceId);
      if (seen === undefined && inLog.index < logged.before && inLog.revokedAt === null && inLog.identity === servedKey) {
        throw new c.CryptoError('key_not_logged', deviceId);
      }
    }
    const identityKey = await c.decodePublicKey(servedKey);
    peer.identityKey = identityKey;
    if (userId === this.me.id) {
      peer.verified = true;
      if (!c.bytesEqual(identityKey, this.device.identityPublic)) {
        peer.verified = false;
        peer.previousKey = c.toBase64url(this.device.identityPublic);
        this.dispatchEvent(new CustomEvent('identity-changed', { detail: { userId } }));
      }
    } else {
      const pinned = await store.getIdentity(this.me.id, userId);
      if (!pinned) {
        await this.persist(() => store.putIdentity({ userId: this.me.id, peerId: userId, key: servedKey, verified: false, previousKey: null, seenAt: Date.now() }));
        this.scheduleBackup();
      } else if (pinned.key !== servedKey) {
        // The server serves another key: warn everywhere, drop the verified mark (§6.1).
        await this.persist(() => store.putIdentity({ ...pinned, key: servedKey, verified: false, previousKey: pinned.key, seenAt: Date.now() }));
        peer.previousKey = pinned.key;
        this.dispatchEvent(new CustomEvent('identity-changed', { detail: { userId } }));
      } else {
        peer.verified = pinned.verified;
        peer.previousKey = pinned.previousKey;
      }
    }
    // The highest prekey serial seen for each of their devices, also before this page (§23.2).
    const remembered = await this.rememberedSerials(userId);
    for (const [deviceId, serial] of Object.entries(remembered)) {
      if (serial > (this.prekeySerials.get(deviceId) ?? 0)) this.prekeySerials.set(deviceId, serial);
    }
    for (const info of served.devices) {
      const deviceId = /** @type {any} */ (info.certificate)?.device_id;
      const inLog = typeof deviceId === 'string' ? logged.devices.get(deviceId) : undefined;
      const sameKeys = inLog && inLog.signing === info.certificate?.keys?.signing && inLog.agreement === info.certificate?.keys?.agreement;
      let device;
      try {
        device = await c.verifyCertificate(info.certificate, identityKey);
      } catch {
        device = null;
      }
      if (device && !(sameKeys && inLog?.identity === servedKey)) {
        // Certified by the current identity, yet not in the log: a key slipped in.
        throw new c.CryptoError('key_not_logged', deviceId);
      }
      let oldKey = false;
      if (!device && sameKeys && inLog && logged.identities.includes(inLog.identity)) {
        // A device of a previous identity the log shows: its history stays readable,
        // marked « envoyé avec une ancienne clé »; never wrapped for.
        device = await c.verifyCertificate(info.certificate, c.fromBase64url(inLog.identity)).catch(() => null);
        oldKey = device !== null;
      }
      if (!device || device.userId !== userId) {
        // A certificate that does not verify is left out: its device gets no key.
        if (typeof deviceId === 'string') peer.unverified.add(deviceId);
        continue;
      }
      const prekey = oldKey ? { prekey: null, prekeyRefused: false } : await this.servedPrekey(device, info.prekey);
      const entry = { ...device, ...prekey, revoked: info.revoked_at !== null || oldKey || inLog?.revoked === true, name: info.name, oldKey };
      peer.devices.set(device.deviceId, entry);
      this.knownDevices.set(device.deviceId, entry);
    }
    await this.rememberSerials(userId, remembered, [...peer.devices.keys()]);
    return peer;
  }

  /**
   * The prekey serials kept for `userId`'s devices: in the colleague's identity record, or
   * in this device's record for the account's own devices.
   * @param {string} userId
   * @returns {Promise<Record<string, number>>}
   */
  async rememberedSerials(userId) {
    if (userId === this.me.id) return { ...(this.device.prekeySerials ?? {}) };
    return { ...((await store.getIdentity(this.me.id, userId))?.prekeySerials ?? {}) };
  }

  /**
   * Keeps the highest serial seen for each of these devices, so that a server serving an
   * older prekey after a reload is refused too (§23.2).
   * @param {string} userId
   * @param {Record<string, number>} remembered What was kept before.
   * @param {string[]} deviceIds
   */
  async rememberSerials(userId, remembered, deviceIds) {
    /** @type {Record<string, number>} */
    const serials = { ...remembered };
    for (const deviceId of deviceIds) {
      const seen = this.prekeySerials.get(deviceId) ?? 0;
      if (seen > (serials[deviceId] ?? 0)) serials[deviceId] = seen;
    }
    if (JSON.stringify(serials) === JSON.stringify(remembered)) return;
    if (userId === this.me.id) {
      this.device = { ...this.device, prekeySerials: serials };
      await this.persist(async () => {
        const stored = await store.getDevice(this.me.id);
        if (stored) await store.putDevice({ ...stored, prekeySerials: serials });
      });
      return;
    }
    await this.persist(async () => {
      const pinned = await store.getIdentity(this.me.id, userId);
      if (pinned) await store.putIdentity({ ...pinned, prekeySerials: serials });
    });
  }

  /**
   * A device's served prekey (§23), checked against its verified certificate: its
   * agreement key, or refused when it does not verify or is older than one seen.
   * @param {VerifiedDevice} device
   * @param {unknown} served
   * @returns {Promise<{ prekey: Bytes | null, prekeyRefused: boolean }>}
   */
  async servedPrekey(device, served) {
    const seen = this.prekeySerials.get(device.deviceId) ?? 0;
    if (served === undefined || served === null) return { prekey: null, prekeyRefused: seen > 0 };
    try {
      const prekey = await c.verifyPrekey(served, device);
      if (prekey.serial < seen) return { prekey: null, prekeyRefused: true };
      this.prekeySerials.set(device.deviceId, prekey.serial);
      return { prekey: prekey.agreement, prekeyRefused: false };
    } catch {
      return { prekey: null, prekeyRefused: true };
    }
  }

  /**
   * Whether `deviceId` signs under a previous identity of its owner (§25).
   * @param {string} deviceId
   */
  sentWithOldKey(deviceId) {
    return /** @type {any} */ (this.knownDevices.get(deviceId))?.oldKey === true;
  }

  /**
   * The log's head, accepted only if signed by the log's key seen first and if the
   * entries audited since the head accepted before make its root (§25.4); then what the
   * audited log says about `userId`, with the size audited before this call (entries
   * below it were seen before the directory answered).
   * @param {string} userId
   */
  async loggedKeys(userId) {
    const before = this.audit?.size ?? 0;
    // One check at a time: a head fetched before another call kept a newer one must not
    // be compared with it (it would look like a rollback).
    const turn = this.keyLogTurn.then(() => this.acceptKeyLogHead(userId));
    this.keyLogTurn = turn.catch(() => {});
    await turn;
    const audit = /** @type {import('./crypto/keylog.js').Audit} */ (this.audit);
    return { ...c.auditedKeys(audit, userId), before };
  }

  /**
   * Fetches the log's head and accepts it (see `loggedKeys`): every entry from the size
   * audited last up to the head is fetched, the tree recomputed, and its root must be
   * the signed one — through the head accepted before, which it must extend.
   * @param {string} userId For the warning.
   */
  async acceptKeyLogHead(userId) {
    // The kept head first: any head an honest server serves afterwards extends it (read
    // the other way round, another tab's newer head would pass for a rollback).
    const kept = await store.getKeyLogHead(this.me.id);
    const body = await keysApi.logHead();
    const refuse = () => {
      this.dispatchEvent(new CustomEvent('key-log-refused', { detail: { userId } }));
      return new c.CryptoError('key_log_inconsistent', `${kept?.size} → ${body.size}`);
    };
    if (kept && kept.verifier !== body.verifier_key) throw refuse();
    let head;
    try {
      head = await c.openCheckpoint(body.checkpoint, body.verifier_key);
    } catch {
      throw refuse();
    }
    if (kept && kept.size > head.size) throw refuse();
    // Go on from the audit kept with the accepted head, else audit from the start.
    let audit = c.emptyAudit();
    if (kept?.audit && kept.audit.size === kept.size) {
      audit = this.audit && this.audit.size === kept.size && this.auditRoot === kept.root ? structuredClone(this.audit) : c.loadAudit(kept.audit);
      if (c.toBase64(await c.auditRoot(audit)) !== kept.root) throw refuse();
    }
    try {
      while (audit.size < head.size) {
        const end = Math.min(head.size, audit.size + 1000);
        const page = await keysApi.logEntries(audit.size, end);
        if (page.entries.length === 0) throw refuse();
        for (const record of page.entries) {
          if (record.index >= end) break;
          await c.auditPush(audit, record);
          if (kept && audit.size === kept.size && c.toBase64(await c.auditRoot(audit)) !== kept.root) throw refuse();
        }
      }
    } catch (error) {
      if (error instanceof c.CryptoError) throw refuse();
      throw error;
    }
    const root = c.toBase64(await c.auditRoot(audit));
    if (root !== c.toBase64(head.root)) throw refuse();
    this.audit = audit;
    this.auditRoot = root;
    /** @type {{ index: number, at: number, deviceId: string | null }[]} */
    let news = [];
    await this.persist(async () => {
      const now = await store.getKeyLogHead(this.me.id);
      const certified = new Set([...(now?.certified ?? []), ...this.certifiedPending]);
      certified.add(this.deviceId);
      const alerted = new Set(now?.alerted ?? []);
      news = c.unknownChanges(audit, this.me.id, this.deviceId, certified).filter((change) => !alerted.has(change.index));
      for (const change of news) alerted.add(change.index);
      // Never moved back: another tab may have kept a newer head meanwhile.
      if (!now || now.size < head.size || !now.audit || news.length > 0) {
        const newer = now && now.size > head.size;
        await store.putKeyLogHead({
          ...(newer ? now : { userId: this.me.id, verifier: body.verifier_key, size: head.size, root, audit: c.storeAudit(audit) }),
          certified: [...certified],
          alerted: [...alerted],
        });
      }
    });
    // Self-monitoring (§25.4): a change of this account no one here made or approved.
    for (const change of news) this.dispatchEvent(new CustomEvent('account-change', { detail: change }));
    return head;
  }

  /**
   * Remembers a device of this account certified in this browser (its own, or one it
   * approved while linking), so that its log entry is no surprise (§25.4).
   * @param {string} deviceId
   */
  async certifiedHere(deviceId) {
    this.certifiedPending.add(deviceId);
    await this.persist(async () => {
      const now = await store.getKeyLogHead(this.me.id);
      // No record yet: the first accepted head takes it from `certifiedPending`.
      if (!now) return;
      await store.putKeyLogHead({ ...now, certified: [...new Set([...(now.certified ?? []), deviceId])] });
    });
  }

  /**
   * The head this browser accepted, as a message carries it (§27): `{size, root}`, the
   * root in base64url.
   */
  gossipHead() {
    if (!this.audit || !this.auditRoot) return null;
    return { size: this.audit.size, root: c.toBase64url(c.fromBase64(this.auditRoot)) };
  }

  /**
   * Checks the head another client gossiped in its message (§27) against this browser's:
   * the same size must have the same root; a smaller one must be extended by this one,
   * a larger one reached by accepting a newer head, through the server's consistency
   * proof. A disagreement is reported in the conversation (« Le serveur ne montre pas le
   * même journal des clés à tous … »); a failed connection leaves it for the next message.
   * @param {string} channelId
   * @param {{ size: number, root: string }} theirs
   */
  async checkGossipedHead(channelId, theirs) {
    // This browser's heads only ever extend each other: a head joined once stays joined.
    const slot = `${theirs.size}:${theirs.root}`;
    if (this.joinedHeads.has(slot)) return true;
    let same = false;
    try {
      if (!this.audit || this.audit.size < theirs.size) await this.loggedKeys(this.me.id);
      const mine = /** @type {import('./crypto/keylog.js').Audit} */ (this.audit);
      const root = await c.auditRoot(mine);
      const [from, to] = [Math.min(mine.size, theirs.size), Math.max(mine.size, theirs.size)];
      const proof = from === to ? [] : (await keysApi.logConsistency(from, to)).proof.map(c.fromBase64);
      same = await c.sameLog({ size: mine.size, root }, { size: theirs.size, root: c.fromBase64url(theirs.root) }, proof);
    } catch (error) {
      // A lost connection proves nothing either way: the next message checks again.
      if (/** @type {any} */ (error)?.code === 'network_error') return true;
      same = false;
    }
    if (same) this.joinedHeads.add(slot);
    else this.reportTampering(channelId, 'key_log_split', 'split_view');
    return same;
  }

  /**
   * Marks a colleague's identity verified (fingerprints compared in person), or
   * acknowledges a change without verifying.
   * @param {string} userId
   * @param {boolean} verified
   */
  async setVerified(userId, verified) {
    const peer = await this.peer(userId);
    if (!peer.identityKey) return;
    const key = c.toBase64url(peer.identityKey);
    const pinned = await store.getIdentity(this.me.id, userId);
    await this.persist(() => store.putIdentity({ ...pinned, userId: this.me.id, peerId: userId, key, verified, previousKey: null, seenAt: Date.now() }));
    peer.verified = verified;
    peer.previousKey = null;
    // The mark travels to this account's other devices with the backup (§10.3).
    this.scheduleBackup();
    this.dispatchEvent(new CustomEvent('identity-changed', { detail: { userId } }));
  }

  /**
   * The verified device `deviceId` of `userId`, fetching their keys again once if unknown.
   * @param {string} userId
   * @param {string} deviceId
   */
  async deviceOf(userId, deviceId) {
    let device = (await this.peer(userId)).devices.get(deviceId);
    if (!device) device = (await this.peer(userId, { refresh: true })).devices.get(deviceId);
    if (!device) throw new c.CryptoError('unknown_device', deviceId);
    return device;
  }

  // ---- Members and their devices (§12.1) ----------------------------------------------------

  /**
   * Records the member list a conversation shows: keys go to, and are accepted from, the
   * verified devices of these people only.
   * @param {string} channelId
   * @param {string[]} userIds
   * @param {number} epoch The channel's current epoch in the same answer.
   */
  setMembers(channelId, userIds, epoch) {
    this.members.set(channelId, [...userIds]);
    // The list changed, or was read again: so may the log that vouches for it (§22).
    this.logs.delete(channelId);
    // Someone who left makes this device rotate before it sends again (§23.4).
    this.watchRotation(channelId, (watch) => rotation.noteMembers(watch, userIds, epoch, this.now())).catch((error) =>
      console.warn('the member list could not be recorded', error),
    );
  }

  /**
   * Fetches a channel's member list again and tells the views (`members`), so that the
   * list keys are checked against is the one on screen.
   * @param {string} channelId
   */
  async refreshMembers(channelId) {
    const detail = await channelsApi.detail(channelId);
    this.setMembers(channelId, detail.members.map((m) => m.user_id), detail.channel.epoch);
    this.dispatchEvent(new CustomEvent('members', { detail: { channelId, detail } }));
    return this.members.get(channelId) ?? [];
  }

  /**
   * The members of a channel and their verified devices, as checked here.
   * @param {string} channelId
   * @param {{ refresh?: boolean }} [options] Fetch the members and their devices again.
   */
  async roster(channelId, options = {}) {
    let members = this.members.get(channelId);
    if (!members || options.refresh) members = await this.refreshMembers(channelId);
    members = await this.loggedMembers(channelId, members);
    const roster = new c.Roster(channelId, members);
    const peers = await Promise.all(members.map((userId) => this.peer(userId, { refresh: options.refresh }))).catch((error) => {
      if (error instanceof c.CryptoError && (error.code === 'key_not_logged' || error.code === 'key_log_inconsistent')) {
        this.reportTampering(channelId, 'key_log', error.code);
      }
      throw error;
    });
    for (const peer of peers) {
      for (const device of peer.devices.values()) roster.admitVerified(peer.userId, device, device.revoked);
      for (const deviceId of peer.unverified) roster.markUnverified(peer.userId, deviceId);
    }
    return roster;
  }

  // ---- The signed membership log (§22) ---------------------------------------------------

  /**
   * The channel's membership log verified from its genesis, or null when it has none yet
   * (a channel created before it, §22.4). A log that does not verify is reported in the
   * conversation and refused: nothing is then encrypted for the channel.
   * @param {string} channelId
   * @param {{ refresh?: boolean }} [options]
   */
  async membershipLog(channelId, options = {}) {
    if (!options.refresh) {
      const refusal = this.logRefusals.get(channelId);
      if (refusal) throw refusal;
      if (this.logs.has(channelId)) return this.logs.get(channelId) ?? null;
    }
    const { records } = await channelsApi.membershipLog(channelId);
    /** @param {string} user @param {string} device */
    const signingKey = async (user, device) =>
      ((await this.peer(user)).devices.get(device) ?? (await this.peer(user, { refresh: true })).devices.get(device))?.signing ?? null;
    let state = null;
    try {
      if (records.length > 0) state = await c.verifyLog(channelId, records, signingKey);
      // A valid log may still be a prefix or another branch of one seen before (§22.6).
      await this.acceptHeads(channelId, state);
    } catch (error) {
      const code = /** @type {any} */ (error)?.code ?? 'rejected';
      /** @type {Record<string, string>} */
      const kinds = { log_rolled_back: 'membership_log_rolled_back', log_hidden: 'membership_log_hidden', log_forked: 'membership_log_forked' };
      this.logRefusals.set(channelId, /** @type {Error} */ (error));
      this.reportTampering(channelId, kinds[code] ?? 'membership_log', code);
      throw error;
    }
    this.logRefusals.delete(channelId);
    this.logs.set(channelId, state);
    return state;
  }

  /**
   * The heads of a channel's log this device remembers (§22.6).
   * @param {string} channelId
   */
  headRecord(channelId) {
    let record = this.heads.get(channelId);
    if (!record) {
      record = store.getMembershipHead(this.me.id, channelId).then((r) => r ?? { userId: this.me.id, channelId, head: null, claims: [] });
      this.heads.set(channelId, record);
    }
    return record;
  }

  /**
   * Checks a log just verified (null: none served) against the head verified here before
   * and the heads members' messages named; on success its head is remembered.
   * @param {string} channelId
   * @param {import('./crypto/membership-log.js').MembershipState | null} state
   */
  async acceptHeads(channelId, state) {
    const kept = await this.headRecord(channelId);
    if (kept.head) c.checkContains(state, kept.head, 'log_rolled_back');
    for (const claim of kept.claims) c.checkContains(state, claim, 'log_hidden');
    const head = c.logHead(state);
    if (kept.claims.length === 0 && kept.head?.seq === head?.seq && kept.head?.hash === head?.hash) return;
    const record = { userId: this.me.id, channelId, head: head ?? kept.head, claims: [] };
    this.heads.set(channelId, Promise.resolve(record));
    await this.persist(() => store.putMembershipHead(record));
  }

  /**
   * The membership head a member's message named (its content's `membership_head`, under
   * the sender's signature, §22.6): one the log verified here does not show is kept, and
   * the log read again; a log that still does not contain it is refused, and reported.
   * @param {string} channelId
   * @param {import('./crypto/membership-log.js').LogHead | null | undefined} head
   */
  noteMembershipHead(channelId, head) {
    if (!head) return Promise.resolve();
    const turn = this.headTurn.then(async () => {
      if (!this.logRefusals.has(channelId)) {
        const state = await this.membershipLog(channelId).catch(() => null);
        if (state?.hashes[head.seq - 1] === head.hash) return;
      }
      const kept = await this.headRecord(channelId);
      if (kept.claims.some((claim) => claim.seq === head.seq && claim.hash === head.hash)) {
        if (this.logRefusals.has(channelId)) return;
      } else {
        // At most 16 kept: each is a member's signed word; a member who sends many only blocks the channel.
        const record = { ...kept, claims: [...kept.claims, { seq: head.seq, hash: head.hash }].slice(-16) };
        this.heads.set(channelId, Promise.resolve(record));
        await this.persist(() => store.putMembershipHead(record));
      }
      // Refused and reported by membershipLog itself.
      await this.membershipLog(channelId, { refresh: true }).catch(() => {});
    });
    this.headTurn = turn.catch(() => {});
    return turn;
  }

  /**
   * The head of the channel's log verified here, for the content of a message sealed now.
   * @param {string} channelId
   */
  membershipHead(channelId) {
    return c.logHead(this.logs.get(channelId) ?? null);
  }

  /**
   * The members of `listed` (the server's list) that the verified log names; anyone else
   * is left out and reported. The server's list alone when the channel has no log yet.
   * @param {string} channelId
   * @param {string[]} listed
   */
  async loggedMembers(channelId, listed) {
    const log = await this.membershipLog(channelId);
    if (!log) return listed;
    const kept = listed.filter((userId) => log.members.has(userId));
    if (kept.length < listed.length) this.reportTampering(channelId, 'ghost_member', 'not_member');
    return kept;
  }

  /**
   * The channel's verified membership log, before this device wraps an epoch key for
   * anyone there or seals a message there (§22.4): without one, the member list is only
   * the server's word, and a server that hides the log, or made the channel itself,
   * could list any device. A coordinator's browser (the server lists its account as a
   * coordinator) starts the log first, so that coordinators never notice; anyone else is
   * refused (`membership_log_missing`), and the conversation says so. A log refused here
   * stays refused (thrown by `membershipLog`).
   * @param {string} channelId
   * @returns {Promise<import('./crypto/membership-log.js').MembershipState>}
   */
  async requireLog(channelId) {
    // A channel seen without a log is read again: its coordinator may have started it since.
    let log = await this.membershipLog(channelId, { refresh: this.logs.has(channelId) && !this.logs.get(channelId) });
    if (log) return log;
    const detail = await channelsApi.detail(channelId);
    const me = detail.members.find((m) => m.user_id === this.me.id);
    if (me?.role === 'coordinator' && detail.channel.status !== 'archived') {
      try {
        await this.signMembershipChange(channelId, null);
      } catch (error) {
        // Another coordinator started it meanwhile: read below.
        if (/** @type {any} */ (error)?.code !== 'membership_log_conflict') throw error;
      }
      log = await this.membershipLog(channelId, { refresh: true });
      if (log) return log;
    }
    this.dispatchEvent(new CustomEvent('log-missing', { detail: { channelId } }));
    throw new c.CryptoError('membership_log_missing', channelId);
  }

  /**
   * Signs the record of a membership change this coordinator is about to make, starting
   * the channel's log first (a genesis of its current members) if it has none. With no
   * `change`, only starts the log (right after creating a channel).
   * @param {string} channelId
   * @param {{ kind: string, subjects: string[], reason?: string, role?: string } | null} change
   */
  async signMembershipChange(channelId, change) {
    let state = await this.membershipLog(channelId, { refresh: true });
    const detail = await channelsApi.detail(channelId);
    const base = { epoch: detail.channel.epoch, actor: this.me.id, actorDevice: this.deviceId, at: Date.now() };
    if (!state) {
      // The coordinators: accounts with the role, this signer, and the members the
      // channel's working group names as its coordinators (§20), who coordinate its cases.
      const groupId = detail.channel.group_id;
      const named = groupId ? await channelsApi.coordinators(groupId).then((g) => g.coordinators.map((m) => m.user_id)).catch(() => []) : [];
      const coordinators = detail.members.filter((m) => m.role === 'coordinator' || m.user_id === this.me.id || named.includes(m.user_id)).map((m) => m.user_id);
      const genesis = await c.signRecord(c.emptyState(channelId), { ...base, kind: 'genesis', subjects: detail.members.map((m) => m.user_id), coordinators }, this.device.signingKey);
      await channelsApi.startMembershipLog(channelId, genesis);
      state = await this.membershipLog(channelId, { refresh: true });
    }
    if (!change || !state) return null;
    return c.signRecord(state, { ...base, ...change }, this.device.signingKey);
  }

  /**
   * Signs, when this account coordinates the channel by its verified log, a `removed`
   * record (reason `server`) for each member the log still names whom the server removed
   * by itself (a regime lost, §15.2): not in the server's member list, and their latest
   * membership event is a removal with no actor. The server cannot sign for its own
   * removals (§22.3). Another coordinator who signed first (409) is fine. Returns whether
   * the log changed.
   * @param {string} channelId
   * @param {MembershipEvent[]} events The channel's membership history, in order.
   */
  async ratifyServerRemovals(channelId, events) {
    let state = await this.membershipLog(channelId);
    if (!state || !state.coordinators.has(this.me.id)) return false;
    /** @type {Map<string, MembershipEvent>} */
    const last = new Map();
    for (const event of events) last.set(event.member.user_id, event);
    const removedByServer = (/** @type {string} */ id) => last.get(id)?.change === 'removed' && !last.get(id)?.actor;
    if (![...state.members].some(removedByServer)) return false;
    // The server's member list and epoch now: someone it lists again is not ratified.
    const detail = await channelsApi.detail(channelId);
    const gone = [...state.members].filter((id) => removedByServer(id) && !detail.members.some((m) => m.user_id === id)).sort();
    let changed = false;
    for (const userId of gone) {
      const record = await c.signRecord(state, { epoch: detail.channel.epoch, actor: this.me.id, actorDevice: this.deviceId, at: Date.now(), kind: 'removed', subjects: [userId], reason: 'server' }, this.device.signingKey);
      try {
        await channelsApi.startMembershipLog(channelId, record);
      } catch (error) {
        if (/** @type {any} */ (error)?.code === 'membership_log_conflict') break;
        throw error;
      }
      state = await c.applyRecord(state, record, this.device.signingPublic);
      changed = true;
    }
    return changed;
  }

  /**
   * Signs the `role_changed` records of a change of a group's named coordinators (§20,
   * §22), chained in the order the server expects: each newly named member, then each no
   * longer named one, both by id. A coordinator's browser starts the group's log first
   * if it has none. None when the group has no log this account may start, or this
   * account is not in it (an admin names coordinators on the server's word only).
   * @param {string} channelId
   * @param {string[]} before The coordinators named until now.
   * @param {string[]} after The coordinators to name.
   */
  async signRoleChanges(channelId, before, after) {
    let state = await this.membershipLog(channelId, { refresh: true });
    // No log yet: a coordinator's browser starts it first (§22.4), as for any signed
    // change; one it is starting at this moment (opening the conversation) is read.
    if (!state) state = await this.requireLog(channelId).catch(() => null);
    const changes = [
      ...after.filter((id) => !before.includes(id)).sort().map((id) => ({ id, role: 'coordinator' })),
      ...before.filter((id) => !after.includes(id)).sort().map((id) => ({ id, role: 'member' })),
    ];
    if (!state || changes.length === 0 || !state.members.has(this.me.id)) return [];
    const detail = await channelsApi.detail(channelId);
    const records = [];
    for (const change of changes) {
      const record = await c.signRecord(state, { epoch: detail.channel.epoch, actor: this.me.id, actorDevice: this.deviceId, at: Date.now(), kind: 'role_changed', subjects: [change.id], role: change.role }, this.device.signingKey);
      state = await c.applyRecord(state, record, this.device.signingPublic);
      records.push(record);
    }
    return records;
  }

  /**
   * Tells the views that the server broke a rule checked here (`tampered`).
   * @param {string} channelId
   * @param {string} kind `ghost_device`, `foreign_wrap`
   * @param {string} code
   */
  reportTampering(channelId, kind, code) {
    this.dispatchEvent(new CustomEvent('tampered', { detail: { channelId, kind, code } }));
  }

  /**
   * The newest epoch of a channel this device holds a key for; with `listed`, or the
   * current one the server lists if that is newer.
   * @param {string} channelId
   * @param {{ listed?: boolean }} [options]
   */
  newestEpoch(channelId, options = {}) {
    /** @type {number | null} */
    let newest = options.listed ? this.epochHint(channelId) : null;
    for (const id of this.epochKeys.keys()) {
      const [channel, epoch] = id.split('\u0000');
      if (channel === channelId && (newest === null || Number(epoch) > newest)) newest = Number(epoch);
    }
    return newest;
  }

  // ---- Epoch keys -----------------------------------------------------------------------

  /**
   * Stores an epoch key, refusing a second, different key for the same epoch (§7.4).
   * @param {string} channelId
   * @param {number} epoch
   * @param {Bytes} key
   * @param {Bytes} [keyCommitment]
   */
  async keep(channelId, epoch, key, keyCommitment) {
    const id = slot(channelId, epoch);
    const held = this.epochKeys.get(id);
    if (held) {
      if (!c.bytesEqual(held, key)) throw new c.CryptoError('commitment_conflict', `${channelId} epoch ${epoch}`);
      return;
    }
    if (this.forgotten || c.isShredded(this.shredded, channelId, epoch)) return;
    this.epochKeys.set(id, key);
    if (keyCommitment) this.commitments.set(id, keyCommitment);
    await this.storeEpochKey(channelId, epoch, key);
    this.scheduleBackup();
  }

  /**
   * @param {string} channelId
   * @param {number} epoch
   */
  hasEpochKey(channelId, epoch) {
    return this.epochKeys.has(slot(channelId, epoch));
  }

  /**
   * The signing key of a wrap a member's device made before her identity reset (a
   * device of a previous identity the log shows), for an epoch older than the channel's
   * newest: the keys of the history she wrote (§25). Never for the epoch in use.
   * @param {string} channelId
   * @param {any} wrapped
   * @returns {Promise<import('./crypto/encoding.js').Bytes | null>}
   */
  async oldKeyWrapSender(channelId, wrapped) {
    const old = this.knownDevices.get(wrapped?.sender_device);
    const newest = this.newestEpoch(channelId, { listed: true });
    if (!old || !(/** @type {any} */ (old).oldKey) || typeof wrapped?.epoch !== 'number' || newest === null || wrapped.epoch >= newest) return null;
    if (wrapped.channel_id !== channelId || wrapped.recipient_device !== this.deviceId) return null;
    return (await this.roster(channelId)).isMember(old.userId) ? old.signing : null;
  }

  /**
   * Unwraps a key delivered for this device (a `keys` frame or the keys endpoint).
   * @param {string} channelId
   * @param {any} wrapped
   */
  async acceptWrap(channelId, wrapped) {
    // Only from a verified device of a member, for this channel and this device; a
    // sender not yet known is looked up once with the members (§7.4, §12.1).
    let senderSigningKey;
    try {
      senderSigningKey = (await this.roster(channelId)).wrapSender(channelId, this.deviceId, wrapped);
    } catch (error) {
      if (!(error instanceof c.CryptoError) || (error.code !== 'unknown_device' && error.code !== 'not_member')) throw error;
      try {
        senderSigningKey = (await this.roster(channelId, { refresh: true })).wrapSender(channelId, this.deviceId, wrapped);
      } catch (again) {
        senderSigningKey = await this.oldKeyWrapSender(channelId, wrapped);
        if (!senderSigningKey) {
          // A key for an epoch past every one held, from outside the members: the key
          // the server would have us write with next. An older one is a former
          // member's history, refused quietly.
          const epoch = /** @type {any} */ (wrapped)?.epoch;
          const newest = this.newestEpoch(channelId);
          if (typeof epoch === 'number' && (newest === null || epoch > newest) && again instanceof c.CryptoError) {
            this.reportTampering(channelId, 'foreign_wrap', again.code);
          }
          throw again;
        }
      }
    }
    // Made to the current prekey, an older one in its grace period, or the
    // certificate's key (§23).
    let unwrapped = null;
    let failure = null;
    for (const pair of agreementKeys(this.device)) {
      try {
        unwrapped = await c.unwrapEpochKey({
          wrapped,
          channelId,
          recipientDevice: this.deviceId,
          agreementKey: pair.privateKey,
          agreementPublic: pair.publicKey,
          senderSigningKey,
        });
        break;
      } catch (error) {
        failure = error;
      }
    }
    if (!unwrapped) throw failure;
    await this.keep(channelId, unwrapped.epoch, unwrapped.key, unwrapped.commitment);
    // Stored: the server may delete its wrap (§23.3).
    if (!this.forgotten) {
      const epochs = this.unacknowledged.get(channelId) ?? new Set();
      epochs.add(unwrapped.epoch);
      this.unacknowledged.set(channelId, epochs);
      await this.flushAcknowledgements();
    }
    return unwrapped.epoch;
  }

  /** Acknowledges the stored keys not acknowledged yet; failures stay for the next call. */
  async flushAcknowledgements() {
    for (const [channelId, epochs] of [...this.unacknowledged]) {
      if (await acknowledgeKeys(channelId, this.deviceId, [...epochs])) this.unacknowledged.delete(channelId);
    }
  }

  /**
   * The key of an epoch: held, or fetched from the server and unwrapped.
   * @param {string} channelId
   * @param {number} epoch
   * @returns {Promise<Bytes | null>}
   */
  async epochKey(channelId, epoch) {
    const held = this.epochKeys.get(slot(channelId, epoch));
    if (held) return held;
    const page = await channelsApi.keys(channelId, this.deviceId);
    for (const entry of page.withheld ?? []) this.withheld.set(slot(channelId, entry.epoch), entry.reason);
    for (const wrapped of page.keys) {
      const wrapEpoch = /** @type {any} */ (wrapped)?.epoch;
      if (typeof wrapEpoch === 'number' && this.hasEpochKey(channelId, wrapEpoch)) continue;
      try {
        await this.acceptWrap(channelId, wrapped);
      } catch (error) {
        console.warn('an epoch key could not be unwrapped', error);
      }
    }
    return this.epochKeys.get(slot(channelId, epoch)) ?? null;
  }

  /**
   * Creates epoch `epoch`, wraps its key for exactly `devices` (this one included) and
   * publishes it (§7.3, §7.7). A lost race answers `epoch_conflict` (ApiError).
   * @param {string} channelId
   * @param {number} epoch
   * @param {DeviceRef[]} devices
   */
  async createEpoch(channelId, epoch, devices) {
    // Never for a channel whose members no verified log vouches for (§22.4).
    await this.requireLog(channelId);
    // Only the verified devices of the members the conversation shows get the key,
    // whatever the server lists (§12.1). A device no member has, or a non-member's, gets
    // none, and the conversation says so.
    const plan = (await this.roster(channelId, { refresh: true })).planEpoch(devices);
    // The roster read the log again: one withdrawn since is refused there, never taken
    // for a channel without one (§26).
    if (!this.logs.get(channelId)) throw new c.CryptoError('membership_log_missing', channelId);
    if (!plan.wrap.some((device) => device.deviceId === this.deviceId)) throw new c.CryptoError('unknown_device', this.deviceId);
    const key = c.generateEpochKey();
    const wraps = [];
    /** @type {{ device_id: string, reason: string }[]} */
    const withheld = [...plan.withheld];
    for (const refused of plan.refused) {
      withheld.push({ device_id: refused.device_id, reason: 'unverified_device' });
      this.reportTampering(channelId, 'ghost_device', refused.code);
    }
    for (const device of plan.wrap) {
      // A prekey that does not verify, or older than one seen, withholds the device
      // rather than fall back to a key that may have been stolen since (§23.2).
      if (device.prekeyRefused && device.deviceId !== this.deviceId) {
        withheld.push({ device_id: device.deviceId, reason: 'unverified_device' });
        continue;
      }
      wraps.push(
        await c.wrapEpochKey({
          channelId,
          epoch,
          epochKey: key,
          senderDevice: this.deviceId,
          senderSigningKey: this.device.signingKey,
          recipientDevice: device.deviceId,
          recipientAgreementKey: device.prekey ?? device.agreement,
        }),
      );
    }
    await channelsApi.publishEpoch(channelId, epoch, wraps, withheld);
    await this.keep(channelId, epoch, key, await c.commitment(channelId, epoch, key));
    await this.watchRotation(channelId, (watch) => rotation.openedEpoch(watch, epoch, this.now()));
  }

  // ---- Rotation bounds (§23.4) ---------------------------------------------------------

  /**
   * Changes the channel's rotation watch, kept in its order record (one change at a time,
   * across tabs too).
   * @param {string} channelId
   * @param {(watch: rotation.RotationWatch | null) => rotation.RotationWatch} change
   */
  watchRotation(channelId, change) {
    return this.inOrder(channelId, async (record) => {
      const before = record.rotation ?? null;
      const after = change(before);
      if (JSON.stringify(after) === JSON.stringify(before)) return;
      record.rotation = after;
      await this.persist(() => store.putOrder(record));
    });
  }

  /**
   * Whether this device's own bounds require a new epoch before sending in `epoch`: 100
   * messages of it seen here, its key held for a week, or a member gone since it began —
   * whatever the server says (§23.4).
   * @param {string} channelId
   * @param {number} epoch
   */
  mustRotate(channelId, epoch) {
    return this.inOrder(channelId, async (record) => rotation.requiresRotation(record.rotation, epoch, this.now()));
  }

  /**
   * This device holds the key of `epoch` and is about to use it: its age counts from
   * the first time.
   * @param {string} channelId
   * @param {number} epoch
   */
  holdsEpoch(channelId, epoch) {
    return this.watchRotation(channelId, (watch) => rotation.noteEpoch(watch, epoch, this.now()));
  }

  /**
   * A message of `epoch` with this seq was read here, or acknowledged to this device.
   * @param {string} channelId
   * @param {number} epoch
   * @param {number} seq
   */
  sawMessage(channelId, epoch, seq) {
    return this.watchRotation(channelId, (watch) => rotation.noteEpoch(watch, epoch, this.now(), { seq }));
  }

  // ---- Messages -------------------------------------------------------------------------

  /**
   * @param {string} channelId
   * @param {number} epoch
   * @param {string} clientMsgId
   * @param {MessageContent} content
   */
  async seal(channelId, epoch, clientMsgId, content) {
    // Nothing is sent in a channel whose members no verified log vouches for (§22.4):
    // its key may have been wrapped for whoever the server listed.
    await this.requireLog(channelId);
    return this.inOrder(channelId, async (record) => {
      const key = await this.epochKey(channelId, epoch);
      if (!key) throw new c.CryptoError('no_epoch_key');
      // This device's place in its own order in the channel (§8.7): after the tip, or
      // the place it had when the same message is sealed again (a new epoch), after the
      // latest sealing of the message before it.
      const tip = record.tip;
      const sentAt = Date.now();
      const placed = this.places.get(orderSlot(channelId, clientMsgId));
      /** @param {number} counter @returns {Uint8Array<ArrayBuffer>} */
      const hashBefore = (counter) => {
        if (counter <= 1) return new Uint8Array(32);
        for (const [key, place] of this.places) {
          if (key.startsWith(`${channelId}\u0000`) && place.counter === counter - 1) return c.fromBase64url(place.hash);
        }
        // Sealed before this page: what it named the first time.
        return c.fromBase64url(placed?.prev ?? '');
      };
      const order = placed
        ? { counter: placed.counter, prev: hashBefore(placed.counter), sentAt }
        : tip
          ? { counter: tip.counter + 1, prev: c.fromBase64url(tip.hash), sentAt }
          : { counter: 1, prev: new Uint8Array(32), sentAt };
      // The membership head verified here (§22.6) and the key log head accepted here
      // (§27) travel under the signature.
      const head = this.membershipHead(channelId);
      const gossip = content.key_log_head ? null : this.gossipHead();
      let sealed = head ? { ...content, membership_head: head } : content;
      if (gossip) sealed = { ...sealed, key_log_head: gossip };
      const envelope = await c.sealEnvelope({
        header: { channelId, epoch, senderDevice: this.deviceId, clientMsgId, order },
        content: sealed,
        epochKey: key,
        signingKey: this.device.signingKey,
      });
      const hash = c.toBase64url(await c.orderHash(envelope));
      this.places.set(orderSlot(channelId, clientMsgId), { counter: order.counter, prev: c.toBase64url(order.prev), hash });
      if (!tip || order.counter >= tip.counter) {
        record.tip = { clientMsgId, counter: order.counter, prev: c.toBase64url(order.prev), hash };
      }
      record.rotation = rotation.noteEpoch(record.rotation, epoch, this.now(), { sealed: true });
      await this.persist(() => store.putOrder(record));
      return envelope;
    });
  }

  /**
   * The server refused the message `clientMsgId` for good: when it is this device's tip
   * in the channel, its place goes back to the next message, so that receivers see no
   * gap (§8.7). A message sealed after it keeps its place, and receivers see the refused
   * one as missing.
   * @param {string} channelId
   * @param {string} clientMsgId
   * @returns {Promise<boolean>} Whether the place was given back (the envelope must then
   *   be sealed anew if the message is sent again).
   */
  refused(channelId, clientMsgId) {
    return this.inOrder(channelId, async (record) => {
      const tip = record.tip;
      if (!tip || tip.clientMsgId !== clientMsgId) return false;
      this.places.delete(orderSlot(channelId, clientMsgId));
      record.tip = tip.counter <= 1 ? null : { clientMsgId: '', counter: tip.counter - 1, prev: '', hash: tip.prev };
      await this.persist(() => store.putOrder(record));
      return true;
    });
  }

  /**
   * Checks the order of a contiguous run of verified messages of a channel against the
   * marks kept here, and keeps the new marks (§8.8).
   * @param {string} channelId
   * @param {import('./crypto/order.js').Arrival[]} run In seq order.
   * @param {boolean} reachesEnd The run ends at the channel's newest message.
   * @returns {Promise<import('./crypto/order.js').OrderNotice[]>}
   */
  checkOrder(channelId, run, reachesEnd) {
    return this.inOrder(channelId, async (record) => {
      const report = c.checkOrder(record.marks, run, reachesEnd, false);
      if (JSON.stringify(report.marks) !== JSON.stringify(record.marks)) {
        record.marks = report.marks;
        await this.persist(() => store.putOrder(record));
      }
      return report.notices;
    });
  }

  /**
   * Runs `change` on the channel's order record, one change at a time per channel — also
   * across this browser's tabs, which share the device: the record is read afresh under a
   * Web Lock, so two tabs never seal at the same counter.
   * @template T
   * @param {string} channelId
   * @param {(record: store.OrderRecord) => Promise<T>} change
   * @returns {Promise<T>}
   */
  inOrder(channelId, change) {
    const run = async () => {
      const record = (await store.getOrder(this.me.id, channelId)) ?? { userId: this.me.id, channelId, tip: null, marks: {} };
      return change(record);
    };
    const previous = this.orderQueue.get(channelId) ?? Promise.resolve();
    const locks = globalThis.navigator?.locks;
    const next = previous.then(
      () => /** @type {Promise<T>} */ (locks ? locks.request(`passerelle-order:${this.me.id}:${channelId}`, run) : run()),
    );
    this.orderQueue.set(channelId, next.catch(() => {}));
    return next;
  }

  /**
   * Verifies and decrypts a stored message (§8.6).
   * @param {StoredMessage} message
   */
  async open(message) {
    const envelope = c.parseEnvelope(message.envelope);
    const { header } = envelope;
    if (header.channelId !== message.channel_id) throw new c.CryptoError('wrong_channel');
    /** @param {boolean} refresh */
    const senderKey = async (refresh) => {
      const roster = await this.roster(message.channel_id, { refresh });
      let certificate = this.knownDevices.get(header.senderDevice) ?? null;
      if (!certificate && refresh && !roster.isMember(message.sender)) {
        // A former member's message: their device, verified under their identity.
        certificate = await this.deviceOf(message.sender, header.senderDevice).catch(() => null);
      }
      return roster.envelopeSender(message.channel_id, message.sender, header, certificate, this.newestEpoch(message.channel_id, { listed: true }));
    };
    // The key first: fetching it brings every key this device may hold for the channel.
    const key = await this.epochKey(message.channel_id, header.epoch);
    let senderSigningKey;
    try {
      senderSigningKey = await senderKey(false);
    } catch (error) {
      if (!(error instanceof c.CryptoError) || (error.code !== 'unknown_device' && error.code !== 'not_member')) throw error;
      senderSigningKey = await senderKey(true);
    }
    if (!key) {
      const reason = this.withheld.get(slot(message.channel_id, header.epoch));
      const error = reason ? new c.CryptoError('key_withheld', reason) : new c.CryptoError('no_epoch_key', `epoch ${header.epoch}`);
      // Unreadable but signed by its sender: it still takes its place in the sender's
      // order (§8.8), so that the next message does not look like one after a gap.
      const signed = c.concat(c.messageAdditionalData(header), envelope.nonce, envelope.ciphertext);
      if (await c.verify(senderSigningKey, envelope.signature, signed)) {
        /** @type {any} */ (error).signedOrder = { order: header.order ?? null, hash: await c.sha256(signed) };
      }
      throw error;
    }
    const opened = await c.openEnvelope({ envelope: message.envelope, channelId: message.channel_id, senderSigningKey, epochKey: key });
    // The sender's membership head, under the sender's signature (§22.6).
    await this.noteMembershipHead(message.channel_id, opened.content.membership_head);
    // Counted towards the epoch's bound (§23.4); a failure to record it reads on.
    await this.sawMessage(message.channel_id, header.epoch, message.seq).catch(() => {});
    return opened;
  }

  /**
   * Drops a destroyed channel's keys, or those of the epochs before `belowEpoch` when
   * its old history was purged (§11), and records a tombstone so that no backup merge,
   * here or on another device, brings them back (§10.6).
   * @param {string} channelId
   * @param {number} [belowEpoch]
   */
  async forgetChannel(channelId, belowEpoch) {
    if (belowEpoch === undefined) await this.persist(() => store.deleteOrder(this.me.id, channelId));
    c.addTombstone(this.shredded, channelId, belowEpoch ?? null);
    await this.dropShredded();
    const device = { ...this.device, shredded: new Map(this.shredded) };
    this.device = device;
    await this.persist(() => store.putDevice(device));
    this.scheduleBackup();
  }

  /** Drops every key held here that a tombstone covers, in memory and in IndexedDB. */
  async dropShredded() {
    for (const id of [...this.epochKeys.keys()]) {
      const [channel, epoch] = id.split('\u0000');
      if (c.isShredded(this.shredded, channel, Number(epoch))) {
        this.epochKeys.get(id)?.fill(0);
        this.epochKeys.delete(id);
        this.commitments.delete(id);
      }
    }
    for (const [channelId, below] of this.shredded) await store.deleteEpochKeys(this.me.id, channelId, below ?? undefined);
  }

  /**
   * Asks the server which of the channels this device (or the backup, `more`) holds keys
   * of were destroyed, and shreds those: a destruction this device was offline for, whose
   * `channel_destroyed` frame it never received, reaches its keys too (§10.6).
   * @param {string[]} more
   */
  async shredDestroyed(more) {
    const held = new Set([...this.epochKeys.keys()].map((id) => id.split('\u0000')[0]));
    for (const id of more) held.add(id);
    const ids = [...held].filter((id) => this.shredded.get(id) !== null);
    const destroyed = [];
    for (let start = 0; start < ids.length; start += 1000) {
      destroyed.push(...(await channelsApi.destroyed(ids.slice(start, start + 1000))).destroyed);
    }
    if (destroyed.length > 0) await this.adoptTombstones(destroyed.map((channelId) => ({ channelId, belowEpoch: null })));
  }

  /**
   * Takes the tombstones of a backup: they join this device's, and the keys they cover go.
   * @param {import('./crypto/backup.js').Tombstone[]} tombstones
   */
  async adoptTombstones(tombstones) {
    const before = JSON.stringify([...this.shredded]);
    for (const t of tombstones) c.addTombstone(this.shredded, t.channelId, t.belowEpoch);
    if (JSON.stringify([...this.shredded]) === before) return;
    await this.dropShredded();
    const device = { ...this.device, shredded: new Map(this.shredded) };
    this.device = device;
    await this.persist(() => store.putDevice(device));
  }

  // ---- The key backup -------------------------------------------------------------------

  /**
   * Writes the backup soon, after the keys arriving together. A failed write is told to
   * the user (`backup-failed`, with the refusal's code: `backup_too_large` when the
   * backup is full, §10.5) and tried again, waiting longer each time (up to five
   * minutes); the write that succeeds after it says so (`backup-saved`).
   */
  scheduleBackup() {
    if (!this.holdsBackupKey || this.backupPending || this.forgotten) return;
    this.backupPending = true;
    const wait = this.backupFailures === 0 ? 300 : Math.min(5000 * 2 ** (this.backupFailures - 1), 300000);
    this.backupQueue = this.backupQueue
      .then(() => new Promise((resolve) => setTimeout(resolve, wait)))
      .then(() => {
        this.backupPending = false;
        return this.writeBackup();
      })
      .then(
        () => {
          if (this.backupFailures > 0) this.dispatchEvent(new CustomEvent('backup-saved'));
          this.backupFailures = 0;
        },
        (error) => {
          // Keys erased meanwhile (a revoked device): there is nothing left to save, and
          // nothing to say over the reason the page already shows.
          if (this.forgotten) return;
          this.backupFailures += 1;
          console.warn('the key backup could not be written', error);
          const code = error instanceof ApiError ? error.code : null;
          this.dispatchEvent(new CustomEvent('backup-failed', { detail: { attempts: this.backupFailures, code } }));
          this.scheduleBackup();
        },
      );
  }

  /**
   * Writes the backup now, after any write already queued, and says how it went: the
   * writes of one device never overlap, so each opens the revision the previous one wrote
   * (two at once would take the later revision for a rollback, §10.5).
   * @returns {Promise<void>}
   */
  flushBackup() {
    const written = this.backupQueue.then(() => this.writeBackup());
    this.backupQueue = written.catch(() => {});
    return written;
  }

  /**
   * Merges the server's backup with the keys held here and writes a new revision over
   * the version read (§10.5); retries when another device wrote in between.
   */
  async writeBackup() {
    const backupKey = this.device.backupKey;
    if (!backupKey) return;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const stored = await readStoredBackup(this.me, backupKey, this.device.backupRevision, this.backupPages);
      if (!stored) throw new c.CryptoError('backup_missing');
      const { revision, contents } = stored;
      // Pins and marks made on the account's other devices come here; then this
      // device's go into the new revision.
      if (!this.forgotten) await adoptIdentities(this.me, contents.identities ?? [], { marks: false });
      // Tombstones first: what another device shredded goes here too, and a key either
      // side's tombstones cover goes into neither this device nor the new revision.
      if (!this.forgotten) await this.adoptTombstones(contents.shredded ?? []);
      // And the channels destroyed while this device was away, as the server lists them.
      if (!this.forgotten) await this.shredDestroyed(contents.epochKeys.map((k) => k.channelId));
      for (const entry of contents.epochKeys) {
        if (c.isShredded(this.shredded, entry.channelId, entry.epoch)) continue;
        if (!this.hasEpochKey(entry.channelId, entry.epoch)) {
          this.epochKeys.set(slot(entry.channelId, entry.epoch), entry.key);
          await this.storeEpochKey(entry.channelId, entry.epoch, entry.key);
        }
      }
      // Forgotten meanwhile, this keyring holds only part of the keys: writing it would
      // drop the others from the account's backup.
      if (this.forgotten) {
        contents.identityPrivate.fill(0);
        return;
      }
      const epochKeys = [...this.epochKeys.entries()].map(([id, key]) => {
        const [channelId, epoch] = id.split('\u0000');
        return { channelId, epoch: Number(epoch), key };
      });
      const identities = (await store.allIdentities(this.me.id)).map((pin) => ({ userId: pin.peerId, key: pin.key, verified: pin.verified }));
      const shredded = [...this.shredded].map(([channelId, belowEpoch]) => ({ channelId, belowEpoch }));
      // The keys go into pages (§10.8): a blob of the first format is converted by this
      // write; only the pages changed are uploaded, before the head that names them.
      const pages = c.updatePages(stored.pages, (channelId, epoch) => c.isShredded(this.shredded, channelId, epoch), epochKeys);
      /** @type {import('./crypto/backup.js').PageRef[]} */
      const references = [];
      /** @type {import('./crypto/backup.js').HeldPage[]} */
      const held = [];
      for (const page of pages) {
        let reference = page.reference;
        if (!reference) {
          const sealed = await c.sealPage({ keys: page.keys, backupKey, userId: this.me.id });
          await keysApi.putBackupPage(sealed.reference.hash, sealed.page);
          reference = sealed.reference;
        }
        references.push(reference);
        held.push({ reference, keys: page.keys });
      }
      // The revision follows the server's version (§10.4), as the SDK's does.
      const nextRevision = Math.max(revision, stored.version) + 1;
      const head = await c.sealHead({
        contents: { identityPrivate: contents.identityPrivate, identityPublic: contents.identityPublic, epochKeys: [], identities, shredded },
        pages: references,
        backupKey,
        userId: this.me.id,
        revision: nextRevision,
      });
      contents.identityPrivate.fill(0);
      try {
        const version = await keysApi.putBackupHead(head, stored.version);
        this.backupPages = held;
        this.device = { ...this.device, backupVersion: version, backupRevision: nextRevision };
        const device = this.device;
        await this.persist(() => store.putDevice(device));
        return;
      } catch (error) {
        if (/** @type {any} */ (error)?.code !== 'version_conflict') throw error;
      }
    }
    throw new c.CryptoError('backup_conflict');
  }
}

/**
 * Takes the colleagues' identities pinned and verified on the account's other devices,
 * from the backup (§10.3): a key not pinned here is pinned as it was there, with its
 * verified mark. With `marks` (a device just restored or given the recovery code), a mark
 * on the key pinned here is added too; a device merging before it writes keeps its own
 * marks, so that a mark removed here stays removed. A key that differs from the one
 * pinned here is left alone: this device's own warning about it stands.
 * @param {Me} me
 * @param {import('./crypto/backup.js').BackupIdentity[]} identities
 * @param {{ marks: boolean }} options
 */
async function adoptIdentities(me, identities, options) {
  for (const entry of identities) {
    if (entry.userId === me.id) continue;
    const pinned = await store.getIdentity(me.id, entry.userId);
    if (!pinned) {
      await store.putIdentity({ userId: me.id, peerId: entry.userId, key: entry.key, verified: entry.verified, previousKey: null, seenAt: Date.now() });
    } else if (options.marks && pinned.key === entry.key && entry.verified && !pinned.verified) {
      await store.putIdentity({ ...pinned, verified: true });
    }
  }
}

// ---- Admitting another device from this one (§5.5, linking) ------------------------------

/** Most re-wrapped keys per call (shared `MAX_REWRAPPED_KEYS`). */
export const REWRAP_BATCH = 1000;

/**
 * Certifies a new device's request with the identity key, once the user compared the
 * link codes (the same certification as enrolment's, §5.3), and registers it. Its
 * history is shared next, with {@link shareHistory}.
 * @param {Keyring} keyring
 * @param {LinkRequest} link
 * @returns {Promise<VerifiedDevice>} the device now admitted
 */
export async function approveLink(keyring, link) {
  const identityKey = keyring.device.identityKey;
  if (!identityKey) throw new c.CryptoError('no_identity_key');
  if (link.request.user_id !== keyring.me.id) throw new c.CryptoError('bad_certificate', 'another user');
  const certificate = await c.certify(link.request, identityKey, keyring.device.identityPublic);
  // Approved here: the new device's log entry is no surprise to self-monitoring (§25.4).
  await keyring.certifiedHere(certificate.device_id);
  await keysApi.approveLink(link.id, certificate);
  return c.verifyCertificate(certificate, keyring.device.identityPublic);
}

/**
 * Re-wraps every epoch key held here for a device just linked (§7.6), so that it reads
 * the history at once: the channels the user is still a member of, the epochs up to each
 * one's current, in batches of at most {@link REWRAP_BATCH}. A batch refused as a whole
 * is tried again channel by channel, so that one channel the server will not share (a
 * membership that changed meanwhile) does not hold back the others. Safe to repeat: the
 * server skips the wraps the device already has.
 * @param {Keyring} keyring
 * @param {VerifiedDevice} device
 * @returns {Promise<{ stored: number, channelsSkipped: number }>}
 */
export async function shareHistory(keyring, device) {
  const current = new Map((await channelsApi.list()).map((channel) => [channel.id, channel.epoch]));
  // To its prekey once it published one (§23.2): never to the certificate's key then.
  const served = (await keyring.peer(keyring.me.id, { refresh: true })).devices.get(device.deviceId);
  if (served?.prekeyRefused) throw new c.CryptoError('unverified_device', device.deviceId);
  const recipientAgreementKey = served?.prekey ?? device.agreement;
  /** @type {Map<string, unknown[]>} */
  const byChannel = new Map();
  for (const [id, epochKey] of keyring.epochKeys) {
    const [channelId, epochText] = id.split('\u0000');
    const epoch = Number(epochText);
    const upTo = current.get(channelId);
    if (upTo === undefined || epoch > upTo) continue;
    const wrap = await c.wrapEpochKey({
      channelId,
      epoch,
      epochKey,
      senderDevice: keyring.deviceId,
      senderSigningKey: keyring.device.signingKey,
      recipientDevice: device.deviceId,
      recipientAgreementKey,
    });
    byChannel.set(channelId, [...(byChannel.get(channelId) ?? []), wrap]);
  }
  /** @type {{ channels: string[], wraps: unknown[] }[]} */
  const batches = [];
  for (const [channelId, wraps] of byChannel) {
    for (let start = 0; start < wraps.length; start += REWRAP_BATCH) {
      const part = wraps.slice(start, start + REWRAP_BATCH);
      const last = batches[batches.length - 1];
      if (last && last.wraps.length + part.length <= REWRAP_BATCH) {
        last.wraps.push(...part);
        if (!last.channels.includes(channelId)) last.channels.push(channelId);
      } else {
        batches.push({ channels: [channelId], wraps: [...part] });
      }
    }
  }
  let stored = 0;
  /** @type {Set<string>} */
  const skipped = new Set();
  for (const batch of batches) {
    try {
      stored += (await keysApi.storeRewrapped(device.deviceId, batch.wraps)).stored;
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'invalid_epoch_keys')) throw error;
      if (batch.channels.length === 1) {
        skipped.add(batch.channels[0]);
        continue;
      }
      for (const channelId of batch.channels) {
        const wraps = batch.wraps.filter((w) => /** @type {any} */ (w).channel_id === channelId);
        try {
          stored += (await keysApi.storeRewrapped(device.deviceId, wraps)).stored;
        } catch (inner) {
          if (!(inner instanceof ApiError && inner.code === 'invalid_epoch_keys')) throw inner;
          skipped.add(channelId);
        }
      }
    }
  }
  return { stored, channelsSkipped: skipped.size };
}

/**
 * The stored backup, opened (§10.4, §10.8): a blob of the first format, or a head and each
 * page it names, taken from `cache` when its hash is unchanged, fetched otherwise and
 * checked against that hash. `contents.epochKeys` holds every key, the blob's or the
 * pages' (those the tombstones cover left out); `pages` the pages as stored. A page the
 * server no longer serves (`backup_page_missing`) or serves altered, swapped or rolled
 * back (`backup_page_altered`) fails the whole read: nothing is silently missing.
 * @param {Me} me
 * @param {CryptoKey} backupKey
 * @param {number | undefined} minRevision
 * @param {import('./crypto/backup.js').HeldPage[]} cache
 */
export async function readStoredBackup(me, backupKey, minRevision, cache) {
  const body = await keysApi.backup();
  if (!body) return null;
  const data = /** @type {any} */ (body.data);
  if (data && typeof data === 'object' && 'pages' in data) {
    const { revision, pages, contents } = await c.openHead({ head: data, backupKey, userId: me.id, minRevision });
    const shredded = new Map((contents.shredded ?? []).map((t) => [t.channelId, t.belowEpoch]));
    /** @type {import('./crypto/backup.js').HeldPage[]} */
    const held = [];
    for (const reference of pages) {
      let keys = cache.find((p) => p.reference?.hash === reference.hash)?.keys;
      if (!keys) {
        const page = await keysApi.backupPage(reference.hash);
        if (!page) throw new c.CryptoError('backup_page_missing');
        keys = await c.openPage({ page, backupKey, userId: me.id, reference });
      }
      held.push({ reference, keys });
      for (const k of keys) if (!c.isShredded(shredded, k.channelId, k.epoch)) contents.epochKeys.push(k);
    }
    return { version: body.version, revision, contents, pages: held };
  }
  const { revision, contents } = await c.openBackup({ backup: data, backupKey, userId: me.id, minRevision });
  return { version: body.version, revision, contents, pages: /** @type {import('./crypto/backup.js').HeldPage[]} */ ([]) };
}

/**
 * Gives a linked device (which holds neither) the identity key and the backup key, from
 * the recovery code: it can then admit devices and keep the backup up to date (§5.5).
 * The epoch keys of the backup are kept too.
 * @param {Keyring} keyring
 * @param {string} typedCode
 */
export async function adoptRecoveryCode(keyring, typedCode) {
  const me = keyring.me;
  const code = c.parseRecoveryCode(typedCode);
  const backupKey = await c.deriveBackupKey(code, me.id);
  code.fill(0);
  const body = await readStoredBackup(me, backupKey, undefined, []);
  if (!body) throw new c.CryptoError('backup_missing');
  const { revision, contents } = body;
  keyring.backupPages = body.pages;
  if (!c.bytesEqual(contents.identityPublic, keyring.device.identityPublic)) {
    contents.identityPrivate.fill(0);
    throw new c.CryptoError('identity_mismatch');
  }
  const identityKey = await c.importSigningKey(contents.identityPrivate, contents.identityPublic, false);
  contents.identityPrivate.fill(0);
  keyring.device = { ...keyring.device, identityKey, backupKey, backupRevision: revision, backupVersion: body.version };
  const device = keyring.device;
  await keyring.persist(() => store.putDevice(device));
  await keyring.adoptTombstones(contents.shredded ?? []);
  for (const entry of contents.epochKeys) {
    if (keyring.hasEpochKey(entry.channelId, entry.epoch) || c.isShredded(keyring.shredded, entry.channelId, entry.epoch)) continue;
    keyring.epochKeys.set(slot(entry.channelId, entry.epoch), entry.key);
    await keyring.storeEpochKey(entry.channelId, entry.epoch, entry.key);
  }
  if (!keyring.forgotten) await adoptIdentities(me, contents.identities ?? [], { marks: true });
  keyring.peers.clear();
  // The keys received since linking go into the backup.
  keyring.scheduleBackup();
}

// ---- Admitting this browser as a device (§5.5) --------------------------------------------

/**
 * Generates the device keys and certifies them with the identity key.
 * @param {Me} me
 * @param {CryptoKey} identityKey
 * @param {Bytes} identityPublic
 */
async function newDevice(me, identityKey, identityPublic) {
  const device = await newRequest(me, identityPublic);
  const certificate = await c.certify(device.request, identityKey, identityPublic);
  return { ...device, certificate };
}

/**
 * Generates the device keys (non-extractable) and its self-signed request (§5.2) for the
 * identity `identityPublic`.
 * @param {Me} me
 * @param {Bytes} identityPublic
 */
async function newRequest(me, identityPublic) {
  const signing = await c.generateSigningKey(false);
  const agreement = await c.generateAgreementKey(false);
  const deviceId = c.uuid();
  const request = await c.certificateRequest({
    userId: me.id,
    deviceId,
    identityKey: identityPublic,
    signingKey: signing.privateKey,
    signingPublic: signing.publicKey,
    agreementPublic: agreement.publicKey,
  });
  return { deviceId, signing, agreement, request };
}

/**
 * @typedef {object} PendingLink
 * @property {CertificateRequest} request Posted to the server, relayed to the other devices.
 * @property {string} code The link code's 20 digits (§6.2), for the user to compare.
 * @property {string} qrPayload
 * @property {() => Promise<Keyring>} finish Once the request is `linked`: checks the
 *   certificate the existing device made and keeps this device.
 */

/**
 * Prepares this browser to be linked from an existing device (§5.5, linking): its keys
 * and its request, for the identity key the server serves. The link code binds both: if
 * the server served another identity key, or replaced the request, the codes differ.
 * @param {Me} me
 * @returns {Promise<PendingLink>}
 */
export async function startLink(me) {
  const served = await keysApi.user(me.id);
  if (!served.identity_key) throw new ApiError('identity_missing', messageFor('identity_missing'), 409);
  const identityPublic = await c.decodePublicKey(served.identity_key);
  const device = await newRequest(me, identityPublic);
  const link = await c.linkCode(device.request, identityPublic);
  return {
    request: device.request,
    code: link.digits,
    qrPayload: link.qrPayload,
    finish: async () => {
      const mine = await keysApi.user(me.id);
      const info = mine.devices.find((d) => d.certificate?.device_id === device.deviceId && d.revoked_at === null);
      if (!info) throw new c.CryptoError('unknown_device', device.deviceId);
      // The certificate must be of this identity and of exactly these keys.
      const verified = await c.verifyCertificate(info.certificate, identityPublic);
      if (!c.bytesEqual(verified.signing, device.signing.publicKey) || !c.bytesEqual(verified.agreement, device.agreement.publicKey)) {
        throw new c.CryptoError('bad_certificate', 'keys differ from the request');
      }
      /** @type {DeviceRecord} */
      const record = {
        ...ownKeys(me, device),
        identityPublic,
        // A linked device holds neither: it cannot admit devices nor write the backup
        // until the recovery code is entered (adoptRecoveryCode).
        identityKey: null,
        backupKey: null,
        backupRevision: 0,
        backupVersion: null,
        certificate: info.certificate,
        createdAt: Date.now(),
        storageKey: await c.generateStorageKey(),
      };
      await store.putDevice(record);
      return new Keyring(me, record, []);
    },
  };
}

/**
 * @typedef {object} Enrolment
 * @property {string} recoveryCode Shown once; never stored.
 * @property {(name: string) => Promise<Keyring>} finish Publishes the identity, registers
 *   the device and writes the first backup; call once the user confirmed the code.
 */

/**
 * Prepares the first device of an account (§5.5, enrolment). Nothing is sent before
 * `finish`, so a code that was never confirmed was never used.
 * @param {Me} me
 * @param {{ enrol?: boolean }} [options] `enrol`: the account had no identity when this
 *   began (a first enrolment, not new keys after a lost code), so the server refuses it
 *   if another device published one meanwhile instead of replacing that one.
 * @returns {Promise<Enrolment>}
 */
export async function startEnrolment(me, options = {}) {
  const identity = await c.generateSigningKey(true);
  const identityPrivate = await c.exportScalar(identity.privateKey);
  const identityKey = await c.importSigningKey(identityPrivate, identity.publicKey, false);
  const device = await newDevice(me, identityKey, identity.publicKey);
  const code = c.generateRecoveryCode();
  const backupKey = await c.deriveBackupKey(code, me.id);
  const recoveryCode = c.formatRecoveryCode(code);
  code.fill(0);
  let finished = false;
  return {
    recoveryCode,
    finish: async (name) => {
      if (finished) throw new Error('enrolment already finished');
      const sealed = await c.sealBackup({
        contents: { identityPrivate, identityPublic: identity.publicKey, epochKeys: [] },
        backupKey,
        userId: me.id,
        revision: 1,
      });
      // Identity, device and backup in one request (§5.6): at enrolment, and when the
      // recovery code was lost, where the new backup replaces the old one. A refusal
      // stores nothing, so no device is left registered without a browser holding it.
      const reset = await keysApi.resetKeys({
        identity_key: c.toBase64url(identity.publicKey),
        certificate: device.certificate,
        name,
        backup: sealed,
        ...(options.enrol ? { enrol: true } : {}),
      });
      const version = reset.backup_version;
      identityPrivate.fill(0);
      finished = true;
      /** @type {DeviceRecord} */
      const record = {
        ...ownKeys(me, device),
        identityPublic: identity.publicKey,
        identityKey,
        backupKey,
        backupRevision: 1,
        backupVersion: version,
        certificate: device.certificate,
        createdAt: Date.now(),
        storageKey: await c.generateStorageKey(),
      };
      await store.putDevice(record);
      return new Keyring(me, record, []);
    },
  };
}

/**
 * Admits this browser with the recovery code (§5.5, restoring): opens the backup, takes
 * the identity key and the epoch keys from it, certifies and registers a new device.
 * @param {Me} me
 * @param {string} typedCode
 * @param {string} name
 * @returns {Promise<Keyring>}
 */
export async function restoreWithRecoveryCode(me, typedCode, name) {
  const code = c.parseRecoveryCode(typedCode);
  const backupKey = await c.deriveBackupKey(code, me.id);
  code.fill(0);
  const body = await readStoredBackup(me, backupKey, undefined, []);
  if (!body) throw new c.CryptoError('backup_missing');
  const { revision, contents } = body;
  const served = await keysApi.user(me.id);
  if (!served.identity_key || served.identity_key !== c.toBase64url(contents.identityPublic)) {
    contents.identityPrivate.fill(0);
    throw new c.CryptoError('identity_mismatch');
  }
  const identityKey = await c.importSigningKey(contents.identityPrivate, contents.identityPublic, false);
  contents.identityPrivate.fill(0);
  const device = await newDevice(me, identityKey, contents.identityPublic);
  await keysApi.registerDevice(device.certificate, name);
  const storageKey = await c.generateStorageKey();
  /** @type {DeviceRecord} */
  const record = {
    ...ownKeys(me, device),
    identityPublic: contents.identityPublic,
    identityKey,
    backupKey,
    backupRevision: revision,
    backupVersion: body.version,
    certificate: device.certificate,
    createdAt: Date.now(),
    storageKey,
    // The backup's tombstones: its keys were filtered against them when it was opened.
    shredded: new Map((contents.shredded ?? []).map((t) => [t.channelId, t.belowEpoch])),
  };
  await store.putDevice(record);
  const keys = contents.epochKeys.map((k) => ({ userId: me.id, channelId: k.channelId, epoch: k.epoch, key: k.key }));
  for (const key of keys) await store.putEpochKey(await sealedRecord(me.id, storageKey, key.channelId, key.epoch, key.key));
  await adoptIdentities(me, contents.identities ?? [], { marks: true });
  const keyring = new Keyring(me, record, keys);
  keyring.backupPages = body.pages;
  return keyring;
}
