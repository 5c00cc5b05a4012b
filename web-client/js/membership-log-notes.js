// Which membership notes of a conversation the verified membership log vouches for
// (PROTOCOL.md §22). The notes are placed by the server's history (§21); once a channel
// has a signed log, each note of an addition or a coordinator's removal is matched with the
// record that says the same (same kind, member and actor, in order), and a note the log
// does not confirm says so. Before the genesis of a log started on an older channel, the
// membership history is the server's word: one line marks where verification starts.

/** @typedef {import('./types.js').MembershipEvent} MembershipEvent */
/** @typedef {import('./crypto/membership-log.js').MembershipState} MembershipState */

/** The line that marks where a log started on an older channel begins. */
export const UNVERIFIED_BEFORE = 'Historique des membres non vérifié avant cette date : la suite est signée par les coordinateurs.';
/** Added to a note the signed log does not confirm. */
export const NOT_CONFIRMED = ' (non confirmé par le journal signé des membres)';

/** @param {MembershipEvent} event @returns {string | null} the record kind that vouches for it */
function kindOf(event) {
  switch (event.change) {
    case 'created':
    case 'added':
      return 'added';
    case 'removed':
      return event.actor ? 'removed' : null;
    // Departures carry no record yet (PROTOCOL.md §22.6): the server's word, unmarked.
    default:
      return null;
  }
}

/**
 * For each event, in order: `signed` (a record says it), `unsigned` (the log has no such
 * record), or `null` (not a change the log records, or from before the log). `startsAt`
 * is the index of the first event after the genesis of a log started on an older channel
 * (`events.length` when none followed yet), or -1 when the log covers the channel from its
 * creation or there is no log. The genesis is placed by its time (the signer's clock).
 * @param {MembershipEvent[]} events
 * @param {MembershipState | null} log
 * @returns {{ marks: ('signed' | 'unsigned' | null)[], startsAt: number }}
 */
export function vouch(events, log) {
  if (!log || log.records.length === 0) return { marks: events.map(() => null), startsAt: -1 };
  const [genesis, ...rest] = log.records;
  const creation = events.find((e) => e.change === 'created');
  const ofCreation = (/** @type {MembershipEvent} */ e) => creation !== undefined && e.at === creation.at && (e.change === 'created' || e.change === 'added');
  const before = (/** @type {MembershipEvent} */ e) => e.at <= genesis.at;
  const late = events.some((e) => before(e) && !ofCreation(e) && kindOf(e) !== null);
  /** @type {{ kind: string, subject: string, actor: string }[]} */
  const said = [];
  for (const record of rest) for (const subject of record.subjects) said.push({ kind: record.kind, subject, actor: record.actor });
  /** @type {('signed' | 'unsigned' | null)[]} */
  const marks = events.map((event) => {
    const kind = kindOf(event);
    if (!kind) return null;
    if (before(event)) {
      if (late) return null;
      // The channel's first members: the genesis names them.
      return ofCreation(event) && genesis.subjects.includes(event.member.user_id) ? 'signed' : 'unsigned';
    }
    const at = said.findIndex((s) => s.kind === kind && s.subject === event.member.user_id && s.actor === (event.actor?.user_id ?? event.member.user_id));
    if (at < 0) return 'unsigned';
    said.splice(at, 1);
    return 'signed';
  });
  const after = events.findIndex((e) => !before(e));
  return { marks, startsAt: late ? (after < 0 ? events.length : after) : -1 };
}
