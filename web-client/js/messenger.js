// The messaging model of one logged-in device: its channels, the decrypted messages of
// the conversations opened (in memory only), sending with retry, epochs, receipts and
// typing. Views listen to its events and render; they never talk to the socket.

import { ApiError, channels as channelsApi, downloadAttachment, messageFor, uploadAttachment } from './api.js';
import { ChannelTitles } from './channel-titles.js';
import * as c from './crypto.js';
import { CLOSE_DEVICE_REVOKED, Connection, isFinalClose } from './ws.js';

/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').Channel} Channel */
/** @typedef {import('./types.js').ChannelDetail} ChannelDetail */
/** @typedef {import('./types.js').StoredMessage} StoredMessage */
/** @typedef {import('./types.js').MembershipEvent} MembershipEvent */
/** @typedef {import('./types.js').DeviceRef} DeviceRef */
/** @typedef {import('./keyring.js').Keyring} Keyring */
/** @typedef {import('./crypto/envelope.js').MessageContent} MessageContent */
/** @typedef {import('./crypto/envelope.js').AttachmentRef} AttachmentRef */

/** Messages per history page. */
const PAGE = 50;
/** How long a « is typing » lasts without news. */
const TYPING_MS = 6_000;

/**
 * @typedef {object} Message
 * @property {string} key `${senderDevice}/${clientMsgId}`, or `seq:N` until opened.
 * @property {number | null} seq null until acknowledged.
 * @property {number} ts
 * @property {string} sender Account id.
 * @property {string} senderDevice
 * @property {string} clientMsgId
 * @property {MessageContent | null} content null until decrypted, or when it cannot be.
 * @property {string | null} problem Why it cannot be read (French).
 * @property {boolean} [oldKey] Signed by a device of a previous identity of its sender,
 *   which the key transparency log shows (§25): « envoyé avec une ancienne clé ».
 * @property {boolean} mine
 * @property {'sending' | 'sent' | 'failed' | 'received'} state
 * @property {string | null} failure Why sending failed (French).
 * @property {number | null} progress Upload progress of its attachments, 0 to 1.
 * @property {{ text: string, files: File[] } | null} draft What to seal again (own, unsent).
 * @property {any} envelope The sealed envelope while unacknowledged (resent as is).
 * @property {boolean} conflict Another envelope with the same ids was seen (§8.6).
 * @property {boolean} [control] An edit or a deletion of another message: applied to it,
 *   never shown itself (§8.2).
 * @property {boolean} [edited] Its text was replaced by its author.
 * @property {boolean} [deleted] Deleted by its author: its content is dropped.
 * @property {number} [changedAt] The sequence number of the last change applied.
 *
 * @typedef {object} Conversation
 * @property {string} channelId
 * @property {Map<string, Message>} messages
 * @property {boolean} loaded
 * @property {boolean} hasOlder
 * @property {number} oldestSeq
 * @property {ChannelDetail | null} detail
 * @property {string | null} blocked A charter-gate code while closed to this user.
 * @property {Map<string, number>} readers Last seq read, per account.
 * @property {Map<string, number>} typing Account id → expiry (ms).
 * @property {MembershipEvent[]} membership The channel's membership history as far as
 *   this account may read it (PROTOCOL.md §21), by `seq`: shown as notes after the message
 *   each follows (`after_seq`), on every device and after a reload.
 * @property {import('./crypto/membership-log.js').MembershipState | null} [log] The channel's
 *   verified membership log (PROTOCOL.md §22), which vouches for the notes; null without one.
 * @property {Map<string, Message>} pendingChanges Edits and deletions of messages not
 *   loaded yet, by the key of the message they change.
 * @property {number} readAtOpen This account's read cursor when the conversation was last
 *   opened: the messages of others after it are the new ones (« Nouveaux messages »).
 * @property {string[]} alerts What the server tried and this client refused (§12.1), in French.
 * @property {boolean} [logMissing] The channel has no signed membership log and this
 *   account may not start one (§22.4): nothing is sent there until a coordinator does;
 *   the composer is disabled with {@link LOG_MISSING_NOTICE}.
 * @property {Map<number, { arrival: import('./crypto/order.js').Arrival, sender: string }>} arrivals
 *   The messages loaded whose sender's signature verified, by seq: what the order check reads (§8.8).
 * @property {OrderNote[]} orderNotes What that check found, in French.
 * @property {number} orderChecked How many messages the last check read (tests wait on it).
 *
 * @typedef {object} OrderNote An anomaly of a sender's order, shown in the conversation.
 * @property {number} seq The message it goes with.
 * @property {boolean} after Shown after that message (the newest are missing), else before.
 * @property {string} code missing, replayed, reordered, downgraded or clock.
 * @property {string} text
 */

export class Messenger extends EventTarget {
  /**
   * @param {Me} me
   * @param {Keyring} keyring
   */
  constructor(me, keyring) {
    super();
    this.me = me;
    this.keyring = keyring;
    /** @type {Map<string, Channel>} */
    this.channels = new Map();
    /** @type {Map<string, Conversation>} */
    this.conversations = new Map();
    /** @type {Map<string, number>} Unread messages of others, per channel. */
    this.unread = new Map();
    /** @type {Map<string, string>} Unsent text per channel: kept in memory only, like the messages. */
    this.drafts = new Map();
    /** @type {Map<string, number>} The last message's time per channel, as this browser saw it (the list's order). */
    this.activity = loadActivity(me.id);
    /** @type {Map<string, Promise<void>>} One epoch change at a time per channel. */
    this.rotations = new Map();
    /** @type {Map<string, string>} Display names of the accounts seen. */
    this.names = new Map([[me.id, me.display_name]]);
    /** @type {Set<string>} Channels whose order check is scheduled. */
    this.orderChecks = new Set();
    /** @type {Set<string>} Channels with a retry of unreadable messages pending. */
    this.retryScheduled = new Set();
    /** @type {Set<string>} Own messages waiting for the network to be sealed (keys). */
    this.offlineDrafts = new Set();
    /** @type {string | null} The conversation on screen. */
    this.visible = null;
    this.status = /** @type {'connecting' | 'open' | 'closed'} */ ('connecting');
    /** Whether the connection was open once: a later loss is shown as such. */
    this.wasConnected = false;
    /** Set once the server ended this device's or session's access: nothing more happens. */
    this.excluded = false;
    /** Set by {@link Messenger.retire}: only the server's close of the socket still counts. */
    this.retired = false;
    /** Whether a refused connection's cause is being asked over REST. */
    this.checkingAccess = false;
    /** Whether the channel list came: until then, no channel does not mean none. */
    this.listed = false;
    /** The channels' titles, sealed for their members (§24): opened here. */
    this.titles = new ChannelTitles(keyring, this);
    this.connection = new Connection(keyring.deviceId, {
      message: (message) => this.onMessage(message),
      frame: (frame) => this.onFrame(frame),
      status: (state, detail) => this.onStatus(state, detail),
    });
    keyring.epochHint = (channelId) => this.channels.get(channelId)?.epoch ?? null;
        keyring.addEventListener('identity-changed', () => this.emit('identity', {}));
    keyring.addEventListener('members', (event) => {
      const { channelId, detail } = /** @type {CustomEvent} */ (event).detail;
      this.applyDetail(channelId, detail);
      this.emit('conversation', { channelId });
    });
    keyring.addEventListener('tampered', (event) => this.onTampered(/** @type {CustomEvent} */ (event).detail));
    // A channel no verified log vouches for, which this account may not open (§22.4).
    keyring.addEventListener('log-missing', (event) => {
      const { channelId } = /** @type {CustomEvent} */ (event).detail;
      const conversation = this.conversation(channelId);
      if (conversation.logMissing) return;
      conversation.logMissing = true;
      this.emit('conversation', { channelId });
    });
    // A key backup that cannot be written is said, not only logged: the keys received
    // meanwhile are not yet safe from the loss of this device (§10.5).
    keyring.addEventListener('backup-failed', (event) => {
      // After the server ended this page's access, its reason is the one message shown.
      if (this.excluded || this.retired) return;
      // A full backup is not a passing failure: the keys received since are on this
      // device only until the server accepts more (§10.5), which the user must know.
      const code = /** @type {CustomEvent} */ (event).detail?.code;
      // The single blob's cap, or the paged backup's (a page, the account's total, §10.8).
      const full = code === 'backup_too_large' || code === 'backup_total_too_large' || code === 'backup_page_too_large';
      this.emit('problem', {
        code: full ? 'backup_full' : 'backup_failed',
        message: full
          ? 'Votre sauvegarde de clés est pleine : le serveur n’en accepte pas une plus grande. Les clés reçues depuis restent sur cet appareil mais ne sont plus sauvegardées ; n’effacez pas les données de ce navigateur et prévenez l’administrateur. Un nouvel essai a lieu régulièrement.'
          : 'La sauvegarde de vos clés n’a pas pu être enregistrée sur le serveur. Un nouvel essai a lieu automatiquement ; gardez cette page ouverte jusqu’au message de confirmation.',
      });
    });
    keyring.addEventListener('backup-saved', () => this.emit('backup-saved', {}));
    // Self-monitoring (§25.4): a device or an identity key of this account that this
    // browser did not make nor approve.
    keyring.addEventListener('account-change', (event) => {
      const { deviceId, at } = /** @type {CustomEvent} */ (event).detail;
      const when = new Date(at).toLocaleString('fr-FR', { dateStyle: 'long', timeStyle: 'short' });
      this.emit('problem', {
        code: 'account_change',
        message: deviceId
          ? `Un appareil que vous ne reconnaissez peut-être pas a été ajouté à votre compte le ${when}. Si ce n’est pas vous, révoquez-le et prévenez l’administrateur.`
          : `Une nouvelle clé d’identité que vous ne reconnaissez peut-être pas a été publiée pour votre compte le ${when}. Si ce n’est pas vous, prévenez l’administrateur.`,
      });
    });
  }

  /**
   * @param {string} type
   * @param {Record<string, unknown>} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Loads the channels, starts each cursor at its last message, and connects. */
  async start() {
    const list = await channelsApi.list();
    for (const channel of list) {
      this.channels.set(channel.id, channel);
      this.connection.startAt(channel.id, channel.last_seq);
      // What came since this account last read the channel, on any device (an estimate:
      // it counts every message after the cursor).
      const unread = channel.last_seq - (channel.read_seq ?? channel.last_seq);
      if (unread > 0) this.unread.set(channel.id, unread);
    }
    this.listed = true;
    this.emit('channels', {});
    this.connection.open();
    // The key log audited at once: this account's own changes are watched (§25.4).
    this.keyring.loggedKeys(this.me.id).catch((error) => console.warn('key log not audited', error));
    // Direct conversations are named after the other person, unless titled.
    await Promise.all([
      ...list.filter((ch) => ch.kind === 'direct').map((ch) => this.loadDetail(ch.id).catch(() => null)),
      this.titles.openAll(list),
      this.startLogs(list),
    ]);
    this.emit('channels', {});
  }

  /**
   * A coordinator's browser starts the signed membership log of every channel it
   * coordinates that has none as soon as it lists them (§22.4), not only when it opens
   * one: until then the channel's members are the server's word, and its members'
   * browsers refuse to write there. One channel at a time; a channel whose log this
   * device verified before (a head kept) is not read again. A failure is only logged: the
   * conversation tries again when opened.
   * @param {Channel[]} list
   */
  async startLogs(list) {
    if (this.me.role !== 'coordinator') return;
    for (const channel of list) {
      if (channel.status === 'archived') continue;
      const kept = await this.keyring.headRecord(channel.id).catch(() => null);
      if (kept?.head) continue;
      await this.keyring.requireLog(channel.id).catch((error) => console.warn('membership log not started', error));
    }
  }

  stop() {
    this.connection.stop();
    // The decrypted messages live here only: gone with the session.
    this.conversations.clear();
  }

  /**
   * Stops, but leaves the socket for the server to close. For a session that a refused
   * request just found ended: the request says nothing of why, and the server's close,
   * often a moment behind, does — and if this device was revoked, its keys must still be
   * erased (`excluded` follows, with {@link Messenger.retired} set).
   */
  retire() {
    this.retired = true;
    this.connection.retire();
    this.conversations.clear();
  }

  /**
   * @param {'connecting' | 'open' | 'closed'} state
   * @param {import('./ws.js').CloseDetail} [detail]
   */
  onStatus(state, detail) {
    if (detail && isFinalClose(detail.code)) {
      this.exclude(detail.code, detail.reason);
      return;
    }
    if (this.retired) return;
    if (detail?.refused) this.checkAccess();
    this.status = state;
    if (state === 'open') this.wasConnected = true;
    this.emit('status', { state, ...detail });
    if (state === 'open') {
      // The membership changes a closed connection missed (PROTOCOL.md §21).
      for (const conversation of this.conversations.values()) {
        if (!conversation.loaded || conversation.blocked) continue;
        this.loadMembership(conversation)
          .then(() => this.emit('conversation', { channelId: conversation.channelId }))
          .catch((error) => console.warn('membership history not refreshed', error));
      }
      // What was sent but never acknowledged goes again, with the same client_msg_id:
      // the server stores it once (idempotent send). What could not even be sealed for
      // want of the network (the channel's key to fetch) is sealed now.
      for (const conversation of this.conversations.values()) {
        for (const message of conversation.messages.values()) {
          if (!message.mine || message.state !== 'sending') continue;
          if (message.envelope) {
            this.connection.send({ type: 'send', channel_id: conversation.channelId, envelope: message.envelope });
          } else if (this.offlineDrafts.delete(message.key)) {
            this.sealAndSend(conversation.channelId, message);
          }
        }
      }
    }
  }

  /**
   * The server ended this page's access (close 4003, 4004 or 4005): stop, erase this
   * device's keys if it is the device that was revoked, then tell the views (`excluded`).
   * @param {number} code
   * @param {string} reason
   */
  async exclude(code, reason) {
    if (this.excluded) return;
    this.excluded = true;
    this.stop();
    // `device_revoked` under another code: what servers before PROTOCOL.md's 4005 sent.
    if (code === CLOSE_DEVICE_REVOKED || reason === 'device_revoked') {
      await this.keyring.forget().catch((error) => console.warn('the revoked device’s keys could not be erased', error));
    }
    this.emit('excluded', { code, reason });
  }

  /**
   * A refused connection does not say why: the network, or a session, account or device
   * ended while no socket was open to hear it. A REST request tells them apart (a lost
   * session or a disabled account goes through api.js's handler); without it the page
   * would try again forever.
   */
  async checkAccess() {
    if (this.checkingAccess || this.excluded) return;
    this.checkingAccess = true;
    try {
      const device = await this.keyring.serverStatus();
      if (device !== 'ok') await this.exclude(CLOSE_DEVICE_REVOKED, 'device_revoked');
    } catch {
      // Out of reach, or the session is gone (already handled): the retries go on.
    } finally {
      this.checkingAccess = false;
    }
  }

  /** @param {string} channelId */
  conversation(channelId) {
    let conversation = this.conversations.get(channelId);
    if (!conversation) {
      conversation = {
        channelId,
        messages: new Map(),
        loaded: false,
        hasOlder: false,
        oldestSeq: 0,
        detail: null,
        blocked: null,
        readers: new Map(),
        typing: new Map(),
        membership: [],
        alerts: [],
        logMissing: false,
        arrivals: new Map(),
        orderNotes: [],
        orderChecked: 0,
        pendingChanges: new Map(),
        readAtOpen: 0,
      };
      this.conversations.set(channelId, conversation);
    }
    return conversation;
  }

  /**
   * A channel's name for people: a direct conversation is named after the other person.
   * @param {Channel} channel
   */
  channelName(channel) {
    const title = this.titles.shown(channel);
    if (title) return title;
    if (channel.kind !== 'direct') return channel.name;
    const other = this.conversations.get(channel.id)?.detail?.members.find((m) => m.user_id !== this.me.id);
    return other ? other.display_name : 'Conversation directe';
  }

  /**
   * Applies an edit or a deletion (§8.2) to the message it names, when that message is
   * here and was written by the same account; otherwise keeps it for when it comes. Also
   * applies to a message that just came what was waiting for it.
   * @param {Conversation} conversation
   * @param {Message} message
   */
  applyChanges(conversation, message) {
    const ref = message.content?.deletes ?? message.content?.edits;
    if (ref) {
      message.control = true;
      const key = `${ref.sender_device}/${ref.client_msg_id}`;
      const target = conversation.messages.get(key);
      if (target?.content) this.applyChange(target, message);
      else conversation.pendingChanges.set(key, message);
    }
    const waiting = conversation.pendingChanges.get(message.key);
    if (waiting && message.content) {
      conversation.pendingChanges.delete(message.key);
      this.applyChange(message, waiting);
    }
  }

  /**
   * @param {Message} target
   * @param {Message} change
   */
  applyChange(target, change) {
    // Only its author changes a message; a deletion is final; the latest edit wins.
    if (target.sender !== change.sender || target.deleted || !change.content) return;
    const order = change.seq ?? Number.MAX_SAFE_INTEGER;
    if (change.content.deletes) {
      // The text and the attachments' keys are dropped from this page's memory, the only
      // place a decrypted message lives (nothing is written to IndexedDB).
      target.content = { text: '', reply_to: null, attachments: [] };
      target.deleted = true;
      target.edited = false;
    } else if (order >= (target.changedAt ?? 0)) {
      target.content = { ...target.content, text: change.content.text, reply_to: target.content?.reply_to ?? null, attachments: target.content?.attachments ?? [] };
      target.edited = true;
      target.changedAt = order;
    }
  }

  /**
   * When a channel was last active: its last message seen here, else its creation.
   * @param {Channel} channel
   */
  activityOf(channel) {
    return this.activity.get(channel.id) ?? channel.created_at;
  }

  /**
   * Records a message's time as its channel's latest activity (kept in this browser: a
   * time per channel, never a message's content).
   * @param {string} channelId
   * @param {number} ts
   */
  touch(channelId, ts) {
    if (ts <= (this.activity.get(channelId) ?? 0)) return;
    this.activity.set(channelId, ts);
    try {
      localStorage.setItem(activityKey(this.me.id), JSON.stringify(Object.fromEntries(this.activity)));
    } catch {
      // A full or disabled storage only costs the order after a reload.
    }
    this.emit('activity', { channelId });
  }

  /**
   * The latest message of a channel decrypted on this page (the list's preview), if any.
   * @param {string} channelId
   * @returns {Message | null}
   */
  lastMessage(channelId) {
    const conversation = this.conversations.get(channelId);
    if (!conversation) return null;
    /** @type {Message | null} */
    let last = null;
    for (const message of conversation.messages.values()) {
      if (!message.content || message.control || message.deleted) continue;
      if (!last || (message.seq ?? Number.MAX_SAFE_INTEGER) > (last.seq ?? Number.MAX_SAFE_INTEGER) || (message.seq === last.seq && message.ts > last.ts)) last = message;
    }
    return last;
  }

  /** @param {string} channelId */
  async loadDetail(channelId) {
    const conversation = this.conversation(channelId);
    try {
      this.applyDetail(channelId, await channelsApi.detail(channelId));
      conversation.blocked = null;
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) conversation.blocked = error.code;
      else throw error;
    }
    this.emit('conversation', { channelId });
    return conversation;
  }

  /**
   * Shows a channel's members, and makes them the list keys are checked against (§12.1).
   * @param {string} channelId
   * @param {ChannelDetail} detail
   */
  applyDetail(channelId, detail) {
    const conversation = this.conversation(channelId);
    conversation.detail = detail;
    this.channels.set(channelId, detail.channel);
    this.titles.open(detail.channel);
    this.keyring.setMembers(channelId, detail.members.map((m) => m.user_id), detail.channel.epoch);
    for (const member of detail.members) {
      this.names.set(member.user_id, member.display_name);
      // Receipts sent before this conversation was opened (live ones come as frames).
      const read = member.read_seq ?? 0;
      if (read > (conversation.readers.get(member.user_id) ?? 0)) conversation.readers.set(member.user_id, read);
    }
  }

  /**
   * The server listed a device that is no member's, or passed on a key from outside the
   * members: refused by the keyring, shown in the conversation (once each).
   * @param {{ channelId: string, kind: string }} detail
   */
  onTampered(detail) {
    /** @type {Record<string, string>} */
    const texts = {
      ghost_device: 'Le serveur a proposé un appareil inconnu : message non chiffré pour lui.',
      // §22: a member the signed log does not name, or a log that does not verify.
      ghost_member: 'Le serveur a présenté un appareil qui n’appartient à aucun membre vérifié ; il a été écarté.',
      membership_log: 'Le journal signé des membres de ce canal n’est pas valide : aucune clé n’est envoyée tant qu’il ne l’est pas.',
      // §19: a reader of the case's identity the signed log names neither coordinator nor referent.
      identity_reader: 'Le serveur a présenté comme lecteur de l’identité une personne que le journal signé des membres ne désigne ni coordinatrice ni référente : rien n’a été chiffré.',
      // §22.6: a log shorter than, or another branch than, one seen here or by a member.
      membership_log_rolled_back: 'Le serveur présente un journal des membres de ce canal plus ancien que celui déjà vérifié sur cet appareil : aucune clé n’est envoyée tant qu’il ne présente pas la suite.',
      membership_log_hidden: 'Le serveur cache une partie du journal des membres de ce canal : un membre a vu des changements qui ne vous sont pas présentés. Aucune clé n’est envoyée tant qu’ils ne le sont pas.',
      membership_log_forked: 'Le serveur présente des versions différentes du journal des membres de ce canal selon les personnes : aucune clé n’est envoyée pour ce canal. Prévenez l’administrateur.',
      // §25: a key the transparency log does not show, or a rewritten log.
      key_log: 'Le serveur a présenté une clé absente du journal des clés, ou un journal réécrit : elle a été refusée. Prévenez l’administrateur.',
      // §27: a message's sender was shown another log than this browser.
      key_log_split:
        'Le serveur ne montre pas le même journal des clés à tous : un message de cette conversation a été envoyé par un appareil à qui le serveur montre un autre journal que le vôtre. Prévenez l’administrateur.',
    };
    const text = texts[detail.kind] ?? 'Le serveur a transmis une clé de canal qui ne vient d’aucun appareil des membres : elle a été refusée.';
    const conversation = this.conversation(detail.channelId);
    if (!conversation.alerts.includes(text)) conversation.alerts.push(text);
    this.emit('conversation', { channelId: detail.channelId });
  }

  /**
   * Opens a conversation: its members and its latest page of history.
   * @param {string} channelId
   */
  async open(channelId) {
    this.visible = channelId;
    const conversation = this.conversation(channelId);
    await this.loadDetail(channelId);
    if (conversation.blocked) return conversation;
    conversation.readAtOpen = conversation.readers.get(this.me.id) ?? 0;
    // Still without a log when left: read again, its coordinator may have started it.
    if (conversation.loaded && conversation.logMissing) await this.loadLog(conversation);
    if (!conversation.loaded) {
      // Once per page life, like the history: live `member` frames and reconnections
      // bring the rest. The notes are secondary: without them the messages still open.
      await this.loadMembership(conversation).catch((error) => console.warn('membership history not loaded', error));
      await this.loadLog(conversation);
      const channel = this.channels.get(channelId);
      const last = Math.max(channel?.last_seq ?? 0, this.connection.cursors.get(channelId) ?? 0);
      const after = Math.max(0, last - PAGE);
      await this.loadPage(conversation, after, PAGE);
      conversation.loaded = true;
      // The history now reaches the newest message: what the marks say must be there is checked.
      this.scheduleOrderCheck(channelId);
    }
    this.unread.delete(channelId);
    this.emit('channels', {});
    this.markRead(channelId);
    return conversation;
  }

  /**
   * Fetches the membership events this page does not have yet: all of them when the
   * conversation is first opened, then those a closed connection may have missed.
   * @param {Conversation} conversation
   */
  async loadMembership(conversation) {
    for (;;) {
      const after = conversation.membership.at(-1)?.seq ?? 0;
      const page = await channelsApi.membership(conversation.channelId, after);
      for (const event of page.events) this.addMembershipEvent(conversation, event);
      if (!page.has_more || page.events.length === 0) return;
    }
  }

  /**
   * Keeps one copy of each event, in order.
   * @param {Conversation} conversation
   * @param {MembershipEvent} event
   */
  addMembershipEvent(conversation, event) {
    if (conversation.membership.some((known) => known.seq === event.seq)) return;
    conversation.membership.push(event);
    conversation.membership.sort((a, b) => a.seq - b.seq);
  }

  /**
   * Loads older messages (scroll-back).
   * @param {string} channelId
   */
  async loadOlder(channelId) {
    const conversation = this.conversation(channelId);
    if (!conversation.hasOlder) return;
    const before = conversation.oldestSeq;
    const after = Math.max(0, before - 1 - PAGE);
    await this.loadPage(conversation, after, before - 1 - after);
  }

  /**
   * @param {Conversation} conversation
   * @param {number} after
   * @param {number} limit
   */
  async loadPage(conversation, after, limit) {
    const previousOldest = conversation.oldestSeq;
    const page = limit > 0 ? await channelsApi.history(conversation.channelId, after, limit) : { messages: [], has_more: false };
    for (const stored of page.messages) await this.add(stored, false);
    const first = page.messages[0]?.seq;
    if (first !== undefined && (previousOldest === 0 || first < previousOldest)) conversation.oldestSeq = first;
    // The server never serves messages from before one joined: an empty or short page
    // below the oldest means the beginning is reached.
    conversation.hasOlder = after > 0 && page.messages.length > 0 && conversation.oldestSeq > 1;
    this.emit('conversation', { channelId: conversation.channelId });
  }

  // ---- Receiving ----------------------------------------------------------------------

  /** @param {StoredMessage} stored */
  onMessage(stored) {
    const channel = this.channels.get(stored.channel_id);
    if (channel) channel.last_seq = Math.max(channel.last_seq, stored.seq);
    this.add(stored, true).catch((error) => console.warn('a message could not be added', error));
  }

  /**
   * Decrypts and records a message, once per (sender device, client_msg_id).
   * @param {StoredMessage} stored
   * @param {boolean} live
   */
  async add(stored, live) {
    const conversation = this.conversation(stored.channel_id);
    const senderDevice = String(stored.envelope?.sender_device ?? '');
    const clientMsgId = String(stored.envelope?.client_msg_id ?? '');
    const key = `${senderDevice}/${clientMsgId}`;
    const existing = conversation.messages.get(key);
    if (existing) {
      if (existing.mine && existing.seq === null) {
        existing.seq = stored.seq;
        existing.ts = stored.ts;
        existing.state = 'sent';
        this.arriveOwn(stored.channel_id, existing.envelope, stored.seq, stored.ts);
        existing.envelope = null;
      } else if (existing.seq !== stored.seq) {
        existing.conflict = true;
        // Served again at another place: it counts in its sender's order (§8.8), where
        // it shows as a replay.
        this.keyring
          .open(stored)
          .then((opened) => this.arrive(stored, opened.header.order, opened.hash))
          .catch(() => {});
      }
      this.emit('conversation', { channelId: stored.channel_id });
      return;
    }
    /** @type {Message} */
    const message = {
      key,
      seq: stored.seq,
      ts: stored.ts,
      sender: stored.sender,
      senderDevice,
      clientMsgId,
      content: null,
      problem: null,
      mine: stored.sender === this.me.id,
      state: stored.sender === this.me.id ? 'sent' : 'received',
      failure: null,
      progress: null,
      draft: null,
      envelope: null,
      conflict: false,
    };
    conversation.messages.set(key, message);
    if (conversation.oldestSeq === 0 || stored.seq < conversation.oldestSeq) conversation.oldestSeq = stored.seq;
    await this.decrypt(stored, message);
    this.applyChanges(conversation, message);
    if (!message.control) this.touch(stored.channel_id, stored.ts);
    // The channel is at least at this message's epoch: sending can use its key without
    // asking the server first (and so while offline).
    if (message.content && typeof stored.envelope?.epoch === 'number') this.setEpoch(stored.channel_id, stored.envelope.epoch);
    if (live && !message.mine && !message.control) {
      conversation.typing.delete(stored.sender);
      if (this.visible === stored.channel_id && document.visibilityState === 'visible') this.markRead(stored.channel_id);
      else this.unread.set(stored.channel_id, (this.unread.get(stored.channel_id) ?? 0) + 1);
      this.emit('incoming', { channelId: stored.channel_id, message });
      this.emit('channels', {});
    }
    this.emit('conversation', { channelId: stored.channel_id });
  }

  /**
   * @param {StoredMessage} stored
   * @param {Message} message
   */
  async decrypt(stored, message) {
    try {
      const opened = await this.keyring.open(stored);
      message.content = opened.content;
      // Its sender's key log head against this browser's (§27), without holding it up.
      const head = opened.content.key_log_head;
      if (head) this.keyring.checkGossipedHead(stored.channel_id, head).catch(() => {});
      message.problem = null;
      message.oldKey = this.keyring.sentWithOldKey(stored.envelope?.sender_device);
      this.arrive(stored, opened.header.order, opened.hash);
    } catch (error) {
      message.problem = decryptProblem(error);
      const signed = /** @type {any} */ (error)?.signedOrder;
      if (signed) this.arrive(stored, signed.order, signed.hash);
      /** @type {any} */ (message).stored = stored;
      // The key or the sender's certificate may be a moment behind the message (a lost
      // `keys` frame, a device registered just now): look again once, shortly.
      const record = /** @type {any} */ (message);
      if (!record.retried && !this.retryScheduled.has(stored.channel_id)) {
        record.retried = true;
        this.retryScheduled.add(stored.channel_id);
        setTimeout(() => {
          this.retryScheduled.delete(stored.channel_id);
          this.keyring.peers.clear();
          this.retryUnreadable(stored.channel_id).catch(() => {});
        }, 1500);
      }
    }
  }

  /**
   * Records a message whose signature verified for the order check, and checks again.
   * @param {StoredMessage} stored
   * @param {import('./crypto/envelope.js').MessageOrder | null | undefined} order
   * @param {import('./crypto/encoding.js').Bytes} hash
   */
  arrive(stored, order, hash) {
    const conversation = this.conversation(stored.channel_id);
    const senderDevice = String(stored.envelope?.sender_device ?? '');
    const arrival = { seq: stored.seq, ts: stored.ts, senderDevice, order: order ?? null, hash };
    conversation.arrivals.set(stored.seq, { arrival, sender: stored.sender });
    this.scheduleOrderCheck(stored.channel_id);
  }

  /**
   * Records one's own message, acknowledged, for the order check: the envelope sealed
   * here, which needs no verification.
   * @param {string} channelId
   * @param {any} envelope
   * @param {number} seq
   * @param {number} ts
   */
  arriveOwn(channelId, envelope, seq, ts) {
    if (!envelope) return;
    const stored = { channel_id: channelId, seq, ts, sender: this.me.id, envelope };
    // Counted towards the epoch's bound (§23.4), at its place among the others' messages.
    this.keyring.sawMessage(channelId, c.parseEnvelope(envelope).header.epoch, seq).catch(() => {});
    c.orderHash(envelope)
      .then((hash) => this.arrive(stored, c.parseEnvelope(envelope).header.order, hash))
      .catch(() => {});
  }

  /**
   * Checks each sender's order in the loaded history (§8.8), once the current burst of
   * messages is recorded.
   * @param {string} channelId
   */
  scheduleOrderCheck(channelId) {
    if (this.orderChecks.has(channelId)) return;
    this.orderChecks.add(channelId);
    queueMicrotask(() => {
      this.orderChecks.delete(channelId);
      this.checkOrder(channelId).catch((error) => console.warn('the order check failed', error));
    });
  }

  /** @param {string} channelId */
  async checkOrder(channelId) {
    const conversation = this.conversations.get(channelId);
    if (!conversation) return;
    const entries = [...conversation.arrivals.values()].sort((a, b) => a.arrival.seq - b.arrival.seq);
    const notices = await this.keyring.checkOrder(
      channelId,
      entries.map((e) => e.arrival),
      conversation.loaded,
    );
    /** @type {Map<string, string>} */
    const senders = new Map(entries.map((e) => [e.arrival.senderDevice, e.sender]));
    conversation.orderNotes = notices.map((notice) => {
      const sender = senders.get(notice.senderDevice);
      const name = (sender && this.names.get(sender)) ?? 'un membre';
      // What the marks say is missing or replaced goes after the last message.
      return { seq: notice.seq, after: notice.tail === true, code: notice.code, text: orderNoticeText(notice, name) };
    });
    conversation.orderChecked = entries.length;
    this.emit('conversation', { channelId });
  }

  /**
   * Tries again the messages of a channel that could not be read (new keys arrived).
   * @param {string} channelId
   */
  async retryUnreadable(channelId) {
    const conversation = this.conversations.get(channelId);
    if (!conversation) return;
    for (const message of conversation.messages.values()) {
      const stored = /** @type {any} */ (message).stored;
      if (message.content === null && stored) {
        await this.decrypt(stored, message);
        this.applyChanges(conversation, message);
      }
    }
    this.emit('conversation', { channelId });
  }

  /** @param {any} frame */
  onFrame(frame) {
    switch (frame.type) {
      case 'ack':
        this.onAck(frame);
        break;
      case 'error':
        this.onError(frame);
        break;
      case 'epoch_required':
        this.rotate(frame.channel_id, frame.epoch, frame.devices)
          .then(() => this.resendPending(frame.channel_id))
          .catch((error) => this.failPending(frame.channel_id, error));
        break;
      case 'keys':
        this.onKeys(frame).catch((error) => console.warn('epoch keys refused', error));
        break;
      case 'key_withheld':
        this.keyring.withheld.set(`${frame.channel_id}\u0000${frame.epoch}`, frame.reason);
        this.retryUnreadable(frame.channel_id).catch(() => {});
        break;
      case 'member':
        this.onMember(frame);
        break;
      case 'channel':
        this.onChannel(frame);
        break;
      case 'receipt':
        this.conversation(frame.channel_id).readers.set(frame.user_id, frame.seq);
        this.emit('conversation', { channelId: frame.channel_id });
        break;
      case 'typing':
        if (frame.user_id !== this.me.id) {
          this.conversation(frame.channel_id).typing.set(frame.user_id, Date.now() + TYPING_MS);
          this.emit('conversation', { channelId: frame.channel_id });
          setTimeout(() => this.emit('conversation', { channelId: frame.channel_id }), TYPING_MS + 100);
        }
        break;
      case 'channel_destroyed':
        this.drop(frame.channel_id, 'destroyed');
        break;
      case 'history_purged': {
        const conversation = this.conversations.get(frame.channel_id);
        if (conversation) {
          for (const [key, message] of conversation.messages) if (message.seq !== null && message.seq <= frame.up_to_seq) conversation.messages.delete(key);
        }
        this.keyring.forgetChannel(frame.channel_id, frame.below_epoch).catch(() => {});
        this.emit('conversation', { channelId: frame.channel_id });
        break;
      }
      case 'charter_required':
        this.emit('charter-required', { version: frame.version });
        break;
      case 'rules_required':
        this.conversation(frame.channel_id).blocked = 'rules_not_accepted';
        this.emit('conversation', { channelId: frame.channel_id });
        break;
      case 'link_request':
        // A device asks to join this account, or such a request changed (§5.5.1).
        this.emit('link-request', { link: frame });
        break;
      case 'synced':
        break;
      default:
        break;
    }
  }

  /** @param {{ client_msg_id: string, channel_id: string, seq: number, ts: number }} frame */
  onAck(frame) {
    const conversation = this.conversations.get(frame.channel_id);
    const message = conversation?.messages.get(`${this.keyring.deviceId}/${frame.client_msg_id}`);
    if (!message) return;
    message.seq = frame.seq;
    message.ts = frame.ts;
    message.state = 'sent';
    message.failure = null;
    this.arriveOwn(frame.channel_id, message.envelope, frame.seq, frame.ts);
    message.envelope = null;
    message.draft = null;
    const channel = this.channels.get(frame.channel_id);
    if (channel) channel.last_seq = Math.max(channel.last_seq, frame.seq);
    this.emit('conversation', { channelId: frame.channel_id });
  }

  /** @param {{ ref?: string, code: string, message: string }} frame */
  onError(frame) {
    const reference = frame.ref ?? '';
    for (const conversation of this.conversations.values()) {
      const message = conversation.messages.get(`${this.keyring.deviceId}/${reference}`);
      if (message && message.state === 'sending') {
        message.state = 'failed';
        message.failure = messageFor(frame.code, frame.message);
        // Refused: its place in this device's order goes to the next message (§8.7); if
        // sent again, it is sealed anew.
        this.keyring
          .refused(conversation.channelId, message.clientMsgId)
          .then((given) => {
            if (given && message.state === 'failed') message.envelope = null;
          })
          .catch(() => {});
        this.emit('conversation', { channelId: conversation.channelId });
        return;
      }
    }
    if (this.channels.has(reference)) {
      const conversation = this.conversation(reference);
      if (frame.code !== 'not_member') conversation.blocked = frame.code;
      this.emit('conversation', { channelId: reference });
      return;
    }
    this.emit('problem', { code: frame.code, message: messageFor(frame.code, frame.message) });
  }

  /** @param {{ channel_id: string, keys: unknown[] }} frame */
  async onKeys(frame) {
    for (const wrapped of frame.keys) await this.keyring.acceptWrap(frame.channel_id, wrapped);
    await this.retryUnreadable(frame.channel_id);
  }

  /** @param {{ channel_id: string, user_id: string, change: string, event?: MembershipEvent }} frame */
  onMember(frame) {
    if (frame.user_id === this.me.id && frame.change === 'removed') {
      this.drop(frame.channel_id, 'removed');
      return;
    }
    const conversation = this.conversations.get(frame.channel_id);
    if (!conversation) return;
    // The stored event is what the note shows; the history fetched on the next opening
    // fills any gap a closed connection left.
    if (frame.event) this.addMembershipEvent(conversation, frame.event);
    this.loadDetail(frame.channel_id)
      .then(() => this.loadLog(conversation))
      .catch(() => {});
  }

  /**
   * Reads and verifies the channel's signed membership log (§22), which vouches for the
   * notes; a log that does not verify is reported by the keyring and vouches for nothing.
   * @param {Conversation} conversation
   */
  async loadLog(conversation) {
    const { channelId } = conversation;
    conversation.log = await this.keyring.membershipLog(channelId, { refresh: conversation.logMissing === true }).catch(() => null);
    // A channel the server made (a referral accepted, a meeting's group, the demo) has no
    // log: the first coordinator who opens it starts one, so that its members stop being
    // the server's word (§22.4). Not over a refused log: that one is the server hiding it.
    const me = conversation.detail?.members.find((m) => m.user_id === this.me.id);
    if (!conversation.log && me?.role === 'coordinator' && !this.keyring.logRefusals.has(channelId) && conversation.detail?.channel.status !== 'archived') {
      await this.keyring.signMembershipChange(channelId, null).catch((error) => console.warn('membership log not started', error));
      conversation.log = await this.keyring.membershipLog(channelId, { refresh: true }).catch(() => null);
    }
    // A member the server removed by itself (a regime lost) is still in the log until a
    // coordinator signs it (§22.3): this one does, if the log says it coordinates.
    if (conversation.log) {
      const ratified = await this.keyring.ratifyServerRemovals(channelId, conversation.membership).catch((error) => {
        console.warn('server removal not ratified', error);
        return false;
      });
      if (ratified) conversation.log = await this.keyring.membershipLog(channelId, { refresh: true }).catch(() => null);
    }
    // No log, and this account may not start one: nothing can be sent here (§22.4). A
    // refused log is said by its own warning.
    conversation.logMissing = !conversation.log && !this.keyring.logRefusals.has(channelId);
    this.emit('conversation', { channelId });
  }

  /** @param {Channel & { type: string }} frame */
  onChannel(frame) {
    const { type: _type, ...channel } = frame;
    const known = this.channels.has(channel.id);
    this.channels.set(channel.id, channel);
    this.titles.open(channel);
    if (known) {
      const conversation = this.conversations.get(channel.id);
      if (conversation?.blocked) {
        conversation.blocked = null;
        if (this.visible === channel.id) this.open(channel.id).catch(() => {});
      }
      this.connection.sync();
    } else {
      this.connection.startAt(channel.id, channel.last_seq);
      if (channel.kind === 'direct') this.loadDetail(channel.id).catch(() => {});
    }
    this.emit('channels', {});
  }

  /**
   * A channel this user can no longer see.
   * @param {string} channelId
   * @param {'removed' | 'destroyed'} why
   */
  drop(channelId, why) {
    const channel = this.channels.get(channelId);
    this.channels.delete(channelId);
    this.conversations.delete(channelId);
    this.unread.delete(channelId);
    this.connection.forget(channelId);
    if (why === 'destroyed') this.keyring.forgetChannel(channelId).catch(() => {});
    this.emit('channels', {});
    this.emit('dropped', { channelId, why, name: channel ? this.channelName(channel) : '' });
  }

  // ---- Sending ------------------------------------------------------------------------

  /**
   * Sends a message: shown at once as « envoi en cours », sealed, sent, acknowledged.
   * @param {string} channelId
   * @param {string} text
   * @param {File[]} [files]
   * @param {MessageContent['reply_to']} [replyTo] The message this one answers (quoted).
   * @param {Pick<MessageContent, 'edits' | 'deletes'>} [change] An edit or a deletion of
   *   one's own earlier message (§8.2), applied here at once.
   */
  async send(channelId, text, files = [], replyTo = null, change = {}) {
    const clientMsgId = c.uuid();
    /** @type {Message} */
    const message = {
      key: `${this.keyring.deviceId}/${clientMsgId}`,
      seq: null,
      ts: Date.now(),
      sender: this.me.id,
      senderDevice: this.keyring.deviceId,
      clientMsgId,
      content: { text, reply_to: replyTo, attachments: [], ...change },
      problem: null,
      mine: true,
      state: 'sending',
      failure: null,
      progress: files.length > 0 ? 0 : null,
      draft: { text, files },
      envelope: null,
      conflict: false,
    };
    this.conversation(channelId).messages.set(message.key, message);
    this.applyChanges(this.conversation(channelId), message);
    if (!message.control) this.touch(channelId, message.ts);
    this.emit('conversation', { channelId });
    await this.sealAndSend(channelId, message);
  }

  /**
   * Sends again a message that failed: the same envelope when it was sealed (the server
   * stores it once), sealed anew when it never left.
   * @param {string} channelId
   * @param {string} key
   */
  async retry(channelId, key) {
    const message = this.conversations.get(channelId)?.messages.get(key);
    if (!message || message.state !== 'failed') return;
    message.state = 'sending';
    message.failure = null;
    this.emit('conversation', { channelId });
    if (message.envelope && message.envelope.epoch === this.channels.get(channelId)?.epoch) {
      this.connection.send({ type: 'send', channel_id: channelId, envelope: message.envelope });
      return;
    }
    await this.sealAndSend(channelId, message);
  }

  /**
   * @param {string} channelId
   * @param {Message} message
   */
  async sealAndSend(channelId, message) {
    try {
      const draft = message.draft;
      if (!draft) return;
      if (message.content && message.content.attachments.length < draft.files.length) {
        message.content.attachments = await this.uploadFiles(channelId, draft.files, (fraction) => {
          message.progress = fraction;
          this.emit('conversation', { channelId });
        });
        message.progress = null;
      }
      const epoch = await this.ensureEpoch(channelId);
      message.envelope = await this.keyring.seal(channelId, epoch, message.clientMsgId, /** @type {MessageContent} */ (message.content));
      this.connection.send({ type: 'send', channel_id: channelId, envelope: message.envelope });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'network_error' && !this.connection.isOpen && message.progress === null) {
        // Offline: it stays « envoi en cours » and is sealed once the connection is back.
        this.offlineDrafts.add(message.key);
        return;
      }
      message.state = 'failed';
      message.failure = sendProblem(error);
      this.emit('conversation', { channelId });
    }
  }

  /** @param {string} channelId */
  resendPending(channelId) {
    const conversation = this.conversations.get(channelId);
    if (!conversation) return;
    for (const message of conversation.messages.values()) {
      if (message.mine && message.state === 'sending' && message.draft) this.sealAndSend(channelId, message);
    }
  }

  /**
   * @param {string} channelId
   * @param {unknown} error
   */
  failPending(channelId, error) {
    const conversation = this.conversations.get(channelId);
    if (!conversation) return;
    for (const message of conversation.messages.values()) {
      if (message.mine && message.state === 'sending') {
        message.state = 'failed';
        message.failure = sendProblem(error);
      }
    }
    this.emit('conversation', { channelId });
  }

  /**
   * The epoch to seal with: the current one when its key is held and no rotation is due;
   * otherwise a new one is created for exactly the devices the server lists, or the
   * winner's key is used after a race (§7.4).
   * @param {string} channelId
   * @returns {Promise<number>}
   */
  async ensureEpoch(channelId) {
    // Nothing is sealed for a channel whose members no verified log vouches for (§22.4).
    await this.keyring.requireLog(channelId);
    await this.rotations.get(channelId);
    const known = this.channels.get(channelId);
    // The server's word, and this device's own bounds (§23.4).
    if (known && known.epoch > 0 && this.keyring.hasEpochKey(channelId, known.epoch) && !(await this.keyring.mustRotate(channelId, known.epoch))) {
      await this.keyring.holdsEpoch(channelId, known.epoch);
      return known.epoch;
    }
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const state = await channelsApi.epoch(channelId);
      const due = state.rotation_required || (state.epoch > 0 && (await this.keyring.mustRotate(channelId, state.epoch)));
      if (!due && state.epoch > 0 && (await this.keyring.epochKey(channelId, state.epoch))) {
        this.setEpoch(channelId, state.epoch);
        await this.keyring.holdsEpoch(channelId, state.epoch);
        return state.epoch;
      }
      try {
        await this.rotate(channelId, state.epoch + 1, state.devices);
        return state.epoch + 1;
      } catch (error) {
        if (!(error instanceof ApiError && (error.code === 'epoch_conflict' || error.code === 'invalid_epoch_keys'))) throw error;
      }
    }
    throw new ApiError('epoch_conflict', messageFor('epoch_conflict'), 409);
  }

  /**
   * Creates and publishes epoch `epoch` (one rotation at a time per channel). On a lost
   * race the winner's key is fetched instead.
   * @param {string} channelId
   * @param {number} epoch
   * @param {DeviceRef[]} devices
   */
  rotate(channelId, epoch, devices) {
    const previous = this.rotations.get(channelId) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(async () => {
      if (this.keyring.hasEpochKey(channelId, epoch)) {
        this.setEpoch(channelId, epoch);
        return;
      }
      let created = false;
      try {
        await this.keyring.createEpoch(channelId, epoch, devices);
        created = true;
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 'epoch_conflict')) throw error;
        if (!(await this.keyring.epochKey(channelId, epoch))) throw error;
      }
      this.setEpoch(channelId, epoch);
      // The title, for the members this epoch lets in (§24); not awaited: it needs the
      // rotation done.
      if (created) this.titles.rotated(channelId);
    });
    this.rotations.set(channelId, next);
    return next;
  }

  /**
   * @param {string} channelId
   * @param {number} epoch
   */
  setEpoch(channelId, epoch) {
    const channel = this.channels.get(channelId);
    if (channel && channel.epoch < epoch) channel.epoch = epoch;
  }

  /**
   * Encrypts and uploads files; returns their references for the message content.
   * @param {string} channelId
   * @param {File[]} files
   * @param {(fraction: number) => void} onProgress
   * @returns {Promise<AttachmentRef[]>}
   */
  async uploadFiles(channelId, files, onProgress) {
    const total = files.reduce((sum, file) => sum + file.size, 0) || 1;
    let done = 0;
    /** @type {AttachmentRef[]} */
    const refs = [];
    for (const file of files) {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const sealed = await c.encryptAttachment(bytes, {
        onProgress: (chunk, count) => onProgress((done + (file.size * chunk) / count / 2) / total),
      });
      const uploaded = await uploadAttachment(channelId, sealed.blob, (fraction) => onProgress((done + file.size / 2 + (file.size * fraction) / 2) / total));
      done += file.size;
      refs.push({
        id: uploaded.id,
        key: c.toBase64url(sealed.key),
        sha256: c.toBase64url(sealed.sha256),
        size: sealed.size,
        name: file.name,
        mime: file.type || 'application/octet-stream',
      });
      sealed.key.fill(0);
    }
    onProgress(1);
    return refs;
  }

  /**
   * Downloads and decrypts an attachment.
   * @param {AttachmentRef} attachment
   * @param {(fraction: number) => void} onProgress
   * @returns {Promise<Blob>}
   */
  async fetchAttachment(attachment, onProgress) {
    const blob = await downloadAttachment(attachment.id, attachment.size + 16, (f) => onProgress(f * 0.8));
    const plain = await c.decryptAttachment(
      blob,
      { key: c.fromBase64url(attachment.key), sha256: c.fromBase64url(attachment.sha256), size: attachment.size },
      (chunk, count) => onProgress(0.8 + (0.2 * chunk) / count),
    );
    return new Blob([plain], { type: attachment.mime || 'application/octet-stream' });
  }

  // ---- Receipts and typing ------------------------------------------------------------

  /** @param {string} channelId */
  markRead(channelId) {
    const conversation = this.conversations.get(channelId);
    if (!conversation) return;
    let last = 0;
    for (const message of conversation.messages.values()) if (message.seq !== null && message.seq > last) last = message.seq;
    const mine = conversation.readers.get(this.me.id) ?? 0;
    if (last > mine) {
      conversation.readers.set(this.me.id, last);
      this.connection.send({ type: 'read', channel_id: channelId, seq: last });
    }
  }

  /** @param {string} channelId */
  typing(channelId) {
    this.connection.send({ type: 'typing', channel_id: channelId });
  }
}

/** @param {string} userId */
function activityKey(userId) {
  return `passerelle.activite.${userId}`;
}

/**
 * @param {string} userId
 * @returns {Map<string, number>}
 */
function loadActivity(userId) {
  try {
    const saved = JSON.parse(localStorage.getItem(activityKey(userId)) ?? '{}');
    return new Map(Object.entries(saved).filter(([, ts]) => typeof ts === 'number'));
  } catch {
    return new Map();
  }
}

/**
 * What the conversation says, in place of the composer, of a channel that has no signed
 * membership log this account may start (§22.4).
 */
export const LOG_MISSING_NOTICE = 'Ce canal attend qu’un coordinateur signe la liste de ses membres : vous pourrez écrire dès qu’il l’aura ouvert.';

/**
 * What the conversation says of an anomaly of a sender's order (§8.8): a notice line,
 * plain words, no alarm.
 * @param {import('./crypto/order.js').OrderNotice} notice
 * @param {string} name The sender's display name.
 * @returns {string}
 */
export function orderNoticeText(notice, name) {
  switch (notice.code) {
    case 'missing':
      return (notice.count ?? 1) > 1
        ? `${notice.count} messages de ${name} sont manquants : le serveur ne les a pas transmis.`
        : `Un message de ${name} est manquant : le serveur ne l’a pas transmis.`;
    case 'replayed':
      return `Le serveur a présenté de nouveau un message de ${name} déjà reçu, ou un autre message à sa place.`;
    case 'reordered':
      return `Ce message de ${name} a été présenté après un message qu’il précède : l’ordre d’envoi n’est pas respecté.`;
    case 'downgraded':
      return `Ce message de ${name} est présenté dans l’ancien format, sans ordre vérifiable, alors que son appareil utilise le nouveau.`;
    case 'clock': {
      const at = new Date(notice.sentAt ?? 0);
      const date = at.toLocaleDateString('fr-FR');
      const time = at.toLocaleTimeString('fr-FR', { hour: '2-digit', minute: '2-digit' });
      return `Selon l’appareil de ${name}, ce message a été envoyé le ${date} à ${time} (le serveur indique une autre heure).`;
    }
    default:
      return `L’ordre des messages de ${name} présente une anomalie.`;
  }
}

/**
 * Why a message cannot be read, in French (PROTOCOL.md §7.5: never an unexplained
 * « unable to decrypt »).
 * @param {unknown} error
 */
function decryptProblem(error) {
  const code = error instanceof c.CryptoError || error instanceof ApiError ? error.code : '';
  switch (code) {
    case 'key_withheld':
      return error instanceof c.CryptoError && error.message.endsWith('revoked_device')
        ? 'Message illisible sur cet appareil : il a été révoqué et ne reçoit plus les clés du canal.'
        : 'Message illisible sur cet appareil : l’expéditeur n’a pas pu vérifier cet appareil (votre identité a peut-être changé). Demandez-lui de comparer vos codes de sécurité.';
    case 'no_epoch_key':
      return 'Message illisible sur cet appareil : sa clé ne lui a pas été transmise (message antérieur à votre arrivée dans le canal, ou à la configuration de cet appareil).';
    case 'unknown_device':
      return 'Message illisible : l’appareil qui l’a envoyé n’est pas certifié par l’identité de son auteur.';
    case 'not_member':
      return 'Message refusé : son expéditeur n’est pas membre de ce canal.';
    case 'bad_signature':
    case 'decrypt_failed':
    case 'wrong_channel':
      return 'Message refusé : sa signature ou son chiffrement ne sont pas valides. Il a pu être altéré.';
    default:
      return 'Message illisible sur cet appareil.';
  }
}

/** @param {unknown} error */
function sendProblem(error) {
  if (error instanceof ApiError) return error.message;
  if (error instanceof c.CryptoError && error.code === 'membership_log_missing') return LOG_MISSING_NOTICE;
  if (error instanceof c.CryptoError && error.code === 'unknown_device') {
    return 'Un appareil d’un membre n’a pas de certificat valide : la clé du canal ne peut pas lui être transmise.';
  }
  console.warn('sending failed', error);
  return 'Le message n’a pas pu être chiffré. Réessayez.';
}
