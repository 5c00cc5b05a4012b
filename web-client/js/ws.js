// The WebSocket to /api/v1/ws: typed frames both ways, a keep-alive ping, reconnection
// by itself with exponential backoff, and per-channel cursors so that a catch-up `sync`
// after a reconnection delivers each message exactly once and in order.

import { urlOf } from './api.js';
import * as routes from './routes.js';

/** @typedef {import('./types.js').StoredMessage} StoredMessage */

/** Clients ping every 25 s; the server closes a connection silent for 75 s. */
const PING_EVERY_MS = 25_000;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/**
 * A connection that has received nothing (not even the answer to a ping) for this long is
 * taken for dead: a network that vanished without closing the TCP connection (a laptop
 * put to sleep, a Wi-Fi switched off) never fires `close` by itself.
 */
const SILENCE_MS = 2 * PING_EVERY_MS + 10_000;
// The close codes by which the server ends this page's right to read (PROTOCOL.md §15):
// reconnecting would only be refused. 4011 (the server cannot verify access rights right
// now) is not one of them: it is retried like any lost connection.
const CLOSE_ACCOUNT_DISABLED = 4003;
const CLOSE_SESSION_ENDED = 4004;
export const CLOSE_DEVICE_REVOKED = 4005;
const FINAL_CLOSE_CODES = new Set([CLOSE_ACCOUNT_DISABLED, CLOSE_SESSION_ENDED, CLOSE_DEVICE_REVOKED]);

/**
 * Whether a close ends this page's access for good.
 * @param {number} code
 */
export function isFinalClose(code) {
  return FINAL_CLOSE_CODES.has(code);
}

/**
 * @typedef {object} Handlers
 * @property {(message: StoredMessage) => void} message In order, once each.
 * @property {(frame: any) => void} frame Every other frame (ack, error, keys, member, …).
 * @property {(state: 'connecting' | 'open' | 'closed', detail?: CloseDetail) => void} status
 *
 * @typedef {object} CloseDetail
 * @property {number} code
 * @property {string} reason
 * @property {boolean} refused The socket never opened: the upgrade was refused, or the
 *   server was out of reach (a browser tells neither apart, code 1006 for both).
 */

export class Connection {
  /**
   * @param {string} deviceId
   * @param {Handlers} handlers
   */
  constructor(deviceId, handlers) {
    this.deviceId = deviceId;
    this.handlers = handlers;
    /** @type {Map<string, number>} The last sequence number delivered, per channel. */
    this.cursors = new Map();
    /** @type {Map<string, Map<number, StoredMessage>>} Received ahead of a gap. */
    this.pending = new Map();
    /** @type {WebSocket | null} */
    this.socket = null;
    this.backoff = BACKOFF_MIN_MS;
    this.stopped = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pingTimer = undefined;
    /** @type {string[]} Frames to send once open. */
    this.outbox = [];
    /** When the open socket last received a frame (ms). */
    this.lastHeard = 0;
    // The system says the network is back, or the tab is shown again: no need to wait
    // for the end of a long backoff.
    this.wake = () => {
      if (this.stopped || this.socket || document.visibilityState === 'hidden' || !navigator.onLine) return;
      this.reconnectNow();
    };
    window.addEventListener('online', this.wake);
    document.addEventListener('visibilitychange', this.wake);
  }

  /**
   * Sets where a channel's delivery starts (its last_seq when first seen), never backwards.
   * @param {string} channelId
   * @param {number} seq
   */
  startAt(channelId, seq) {
    if ((this.cursors.get(channelId) ?? -1) < seq) this.cursors.set(channelId, seq);
    this.flushPending(channelId);
  }

  /** @param {string} channelId */
  forget(channelId) {
    this.cursors.delete(channelId);
    this.pending.delete(channelId);
  }

  open() {
    if (this.stopped) return;
    this.handlers.status('connecting');
    const url = new URL(urlOf(routes.WEBSOCKET, [], { device_id: this.deviceId }), location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    this.socket = socket;
    let opened = false;
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      opened = true;
      this.backoff = BACKOFF_MIN_MS;
      this.lastHeard = Date.now();
      this.handlers.status('open');
      this.sync();
      for (const text of this.outbox.splice(0)) socket.send(text);
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => {
        if (Date.now() - this.lastHeard > SILENCE_MS) this.lost(socket, { code: 4408, reason: 'silence', refused: false });
        else this.send({ type: 'ping' });
      }, PING_EVERY_MS);
    });
    socket.addEventListener('message', (event) => {
      if (this.socket !== socket || this.stopped) return;
      this.lastHeard = Date.now();
      this.receive(String(event.data));
    });
    socket.addEventListener('close', (event) => this.lost(socket, { code: event.code, reason: event.reason, refused: !opened }));
  }

  /**
   * A socket is gone (closed, or silent too long): report it and try again later, with
   * exponential backoff, unless the close is final.
   * @param {WebSocket} socket
   * @param {CloseDetail} detail
   */
  lost(socket, detail) {
    if (this.socket !== socket) return;
    clearInterval(this.pingTimer);
    this.socket = null;
    if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close();
    if (isFinalClose(detail.code)) this.stopped = true;
    this.handlers.status('closed', detail);
    if (this.stopped) return;
    // Full jitter: many clients reconnecting after an outage do not arrive together.
    const delay = Math.round(this.backoff / 2 + Math.random() * (this.backoff / 2));
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** Closes for good (logout, leaving the messaging screens). */
  stop() {
    this.retire();
    this.socket?.close(1000);
    this.socket = null;
  }

  /**
   * Stops delivering, pinging and reconnecting, but leaves an open socket for the server
   * to close: its close is still reported, because only its code may say why the session
   * ended (see Messenger.retire).
   */
  retire() {
    this.stopped = true;
    window.removeEventListener('online', this.wake);
    document.removeEventListener('visibilitychange', this.wake);
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket && this.socket.readyState !== WebSocket.OPEN) {
      this.socket.close(1000);
      this.socket = null;
    }
  }

  /** Reconnects now (the network is back, or the user's « Reconnecter maintenant »). */
  reconnectNow() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.backoff = BACKOFF_MIN_MS;
    const socket = this.socket;
    if (socket) {
      // Replaced at once: waiting for a dead socket's closing handshake could take long.
      this.socket = null;
      clearInterval(this.pingTimer);
      socket.close(1000);
    }
    this.open();
  }

  get isOpen() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a frame, or queues it until the connection is open. Pings and typing notices
   * are never queued: late, they mean nothing. Neither are messages: the messenger sends
   * again, on each opening, every one not acknowledged yet.
   * @param {Record<string, unknown>} frame
   * @returns {boolean} whether it went out now
   */
  send(frame) {
    const text = JSON.stringify(frame);
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(text);
      return true;
    }
    if (frame.type !== 'ping' && frame.type !== 'typing' && frame.type !== 'send') this.outbox.push(text);
    return false;
  }

  /** Asks for everything after the cursors held. */
  sync() {
    this.send({ type: 'sync', cursors: Object.fromEntries(this.cursors) });
  }

  /** @param {string} text */
  receive(text) {
    /** @type {any} */
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame?.type) {
      case 'message':
        this.accept(frame);
        break;
      case 'synced':
        for (const [channelId, seq] of Object.entries(frame.cursors ?? {})) {
          if (typeof seq === 'number') this.startAt(channelId, seq);
        }
        this.handlers.frame(frame);
        break;
      case 'history_purged':
        this.startAt(frame.channel_id, frame.up_to_seq);
        this.handlers.frame(frame);
        break;
      case 'pong':
        break;
      default:
        this.handlers.frame(frame);
    }
  }

  /**
   * Delivers a message once, in order; holds it back if one before it is missing, and
   * asks for a catch-up.
   * @param {StoredMessage} message
   */
  accept(message) {
    const cursor = this.cursors.get(message.channel_id);
    if (cursor === undefined) {
      // A channel not announced yet (a `channel` frame may follow): start from here.
      this.cursors.set(message.channel_id, message.seq);
      this.handlers.message(message);
      return;
    }
    if (message.seq <= cursor) return;
    let held = this.pending.get(message.channel_id);
    if (!held) {
      held = new Map();
      this.pending.set(message.channel_id, held);
    }
    held.set(message.seq, message);
    const before = held.size;
    this.flushPending(message.channel_id);
    if (held.size === before && held.size > 0) this.sync();
  }

  /** @param {string} channelId */
  flushPending(channelId) {
    const held = this.pending.get(channelId);
    if (!held) return;
    let cursor = this.cursors.get(channelId) ?? 0;
    for (const seq of [...held.keys()]) if (seq <= cursor) held.delete(seq);
    for (let next = held.get(cursor + 1); next; next = held.get(cursor + 1)) {
      held.delete(cursor + 1);
      cursor += 1;
      this.cursors.set(channelId, cursor);
      this.handlers.message(next);
    }
  }
}
