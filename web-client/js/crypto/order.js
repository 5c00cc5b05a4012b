// Each sender's order, checked by the receiver (docs/PROTOCOL.md §8.8): the same rules as
// the Rust SDK's `crypto::check_order`, fixed by shared/vectors/message_order.json.
//
// The server numbers (seq) and dates (ts) the messages; neither is signed. A version-2
// envelope carries under its sender's signature the device's counter in the channel, the
// hash of its previous envelope there and its clock. `checkOrder` reads a contiguous run
// of verified messages in the server's order and says where a sender's messages were
// dropped, replayed, reordered, downgraded to version 1 or re-dated, using the marks kept
// from earlier runs (persisted, so a server that rolls history back is seen after a reload).

import { toBase64url } from './encoding.js';

/** @typedef {import('./encoding.js').Bytes} Bytes */

/** How far (ms) a sender's clock may be from the server's date before its time is shown. */
export const CLOCK_TOLERANCE_MS = 5 * 60 * 1000;

/** How many missing counters a mark remembers per sender device. */
export const MAX_MISSING_KEPT = 64;

/**
 * @typedef {object} OrderMark What a receiver keeps per (channel, sender device).
 * @property {number} counter The highest counter seen verified.
 * @property {string} hash Its envelope's order hash, base64url.
 * @property {number} seq Where the server placed it.
 * @property {number[]} [missing] For a reader of every message in order, the counters it
 *   found missing (one served later is out of order, not a replay); at most
 *   MAX_MISSING_KEPT, the highest. Absent when empty.
 *
 * @typedef {object} Arrival A verified message as the check sees it.
 * @property {number} seq
 * @property {number} ts The server's date (ms).
 * @property {string} senderDevice
 * @property {{ counter: number, prev: Bytes, sentAt: number } | null | undefined} order Absent: version 1.
 * @property {Bytes} hash The envelope's order hash.
 *
 * @typedef {object} OrderNotice
 * @property {number} seq The message it concerns (for a missing tail, the run's last).
 * @property {string} senderDevice
 * @property {'missing' | 'replayed' | 'reordered' | 'downgraded' | 'clock'} code
 * @property {number} [count] missing: how many at least.
 * @property {number} [sentAt] clock: the sender's time.
 * @property {boolean} [tail] Found from a mark at the end of the run (shown after its
 *   last message), not at a message.
 */

/**
 * Checks a contiguous run of verified messages of one channel, in seq order.
 * @param {Record<string, OrderMark>} marks Kept from earlier runs, per sender device.
 * @param {Arrival[]} run
 * @param {boolean} reachesEnd The run ends at the channel's newest message.
 * @param {boolean} followsMarks The run comes right after the messages the marks were made
 *   from (a reader of every message in order); a page of history passes false.
 * @returns {{ notices: OrderNotice[], marks: Record<string, OrderMark> }}
 */
export function checkOrder(marks, run, reachesEnd, followsMarks) {
  /** @type {OrderNotice[]} */
  const notices = [];
  /** @type {Map<string, { last: { counter: number, hash: string } | null, counters: Map<number, string>, firstV2Seq: number | null, lastSeq: number, skipped: number[], filled: number[] }>} */
  const seen = new Map();
  const firstSeq = run.length > 0 ? run[0].seq : 0;
  const lastSeq = run.length > 0 ? run[run.length - 1].seq : 0;
  /** @param {number} seq @param {string} senderDevice @param {OrderNotice['code']} code @param {{ count?: number, sentAt?: number, tail?: boolean }} [extra] */
  const note = (seq, senderDevice, code, extra = {}) => notices.push({ seq, senderDevice, code, ...extra });

  for (const arrival of run) {
    const device = arrival.senderDevice;
    const mark = Object.hasOwn(marks, device) ? marks[device] : undefined;
    let state = seen.get(device);
    if (!state) {
      state = { last: null, counters: new Map(), firstV2Seq: null, lastSeq: 0, skipped: [], filled: [] };
      seen.set(device, state);
    }
    const order = arrival.order;
    if (!order) {
      const afterV2 = (state.firstV2Seq !== null && state.firstV2Seq < arrival.seq) || (mark !== undefined && mark.seq < arrival.seq);
      if (afterV2) note(arrival.seq, device, 'downgraded');
      continue;
    }
    if (state.firstV2Seq === null) state.firstV2Seq = arrival.seq;
    const counter = order.counter;
    const hash = toBase64url(arrival.hash);
    if (Math.abs(order.sentAt - arrival.ts) > CLOCK_TOLERANCE_MS) note(arrival.seq, device, 'clock', { sentAt: order.sentAt });
    if (state.counters.has(counter)) {
      note(arrival.seq, device, 'replayed');
      continue;
    }
    state.counters.set(counter, hash);
    const previous = state.last ?? (mark !== undefined && mark.seq < firstSeq ? { counter: mark.counter, hash: mark.hash } : null);
    if (previous && counter <= previous.counter) {
      const wasMissing = mark?.missing?.includes(counter) ?? false;
      if (wasMissing) state.filled.push(counter);
      state.skipped = state.skipped.filter((c) => c !== counter);
      // Below the run's highest, or found missing before: served late. Below a mark from
      // before the run, never missing: an old envelope served again.
      note(arrival.seq, device, state.last || (followsMarks && wasMissing) ? 'reordered' : 'replayed');
      continue;
    }
    if (previous && counter === previous.counter + 1) {
      if (toBase64url(order.prev) !== previous.hash) note(arrival.seq, device, 'replayed');
    } else if (previous && (state.last || followsMarks)) {
      note(arrival.seq, device, 'missing', { count: counter - previous.counter - 1 });
      if (followsMarks) {
        for (let c = counter - 1; c > previous.counter && counter - c <= MAX_MISSING_KEPT; c -= 1) state.skipped.push(c);
      }
    }
    if (!state.last || counter > state.last.counter) {
      state.last = { counter, hash };
      state.lastSeq = arrival.seq;
    }
  }

  // What the marks say must still be there.
  for (const [device, mark] of Object.entries(marks)) {
    const state = seen.get(device);
    const inside = run.length > 0 && firstSeq <= mark.seq && mark.seq <= lastSeq;
    const beyond = reachesEnd && mark.seq > lastSeq;
    if (!inside && !beyond) continue;
    const highest = state?.last?.counter ?? 0;
    const found = state?.counters.get(mark.counter);
    if (found !== undefined) {
      if (found !== mark.hash) note(lastSeq, device, 'replayed', { tail: true });
    } else if (inside || highest < mark.counter) {
      const count = highest === 0 || highest >= mark.counter ? 1 : mark.counter - highest;
      note(lastSeq, device, 'missing', { count, tail: true });
    }
  }

  /** @type {Record<string, OrderMark>} */
  const kept = { ...marks };
  for (const [device, state] of seen) {
    const before = Object.hasOwn(marks, device) ? marks[device] : undefined;
    const missing = [...new Set([...(before?.missing ?? []).filter((c) => !state.filled.includes(c)), ...state.skipped])]
      .sort((a, b) => a - b)
      .slice(-MAX_MISSING_KEPT);
    /** @type {OrderMark | null} */
    let mark = null;
    if (state.last && (!before || state.last.counter > before.counter)) {
      mark = { counter: state.last.counter, hash: state.last.hash, seq: state.lastSeq };
    } else if (before) {
      mark = { counter: before.counter, hash: before.hash, seq: before.seq };
    }
    // Only version-1 envelopes from this device: nothing to keep.
    if (!mark) continue;
    kept[device] = missing.length > 0 ? { ...mark, missing } : mark;
  }
  return { notices, marks: kept };
}
