// Which membership notes the signed membership log vouches for (PROTOCOL.md §22): the
// first members by the genesis, each later change by its record; a change the log does
// not have is marked, and on a channel whose log started late the notes before it are the
// server's word, after one line that says so.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { vouch } = await import(pathToFileURL(path.join(repo, 'web-client', 'js', 'membership-log-notes.js')).href);

const karim = { user_id: 'karim', display_name: 'Karim Benali' };
const jean = { user_id: 'jean', display_name: 'Jean Moreau' };
const sophie = { user_id: 'sophie', display_name: 'Sophie Leroy' };
const ghost = { user_id: 'ghost', display_name: 'Inconnu' };

/** @param {number} seq @param {number} at @param {Record<string, unknown>} fields */
const event = (seq, at, fields) => ({ channel_id: 'c', seq, after_seq: 0, at, ...fields });
/** @param {any[]} records */
const log = (records) => ({ channelId: 'c', seq: records.length, records });

test('a log started at creation vouches for the first members and each signed change', () => {
  const events = [
    event(1, 1000, { change: 'created', member: karim, actor: karim }),
    event(2, 1000, { change: 'added', member: jean, actor: karim }),
    event(3, 5000, { change: 'added', member: sophie, actor: karim }),
    event(4, 6000, { change: 'removed', member: jean, actor: karim, reason: 'coordinator' }),
    event(5, 7000, { change: 'added', member: ghost, actor: karim }),
  ];
  const { marks, startsAt } = vouch(
    events,
    log([
      { seq: 1, kind: 'genesis', actor: 'karim', subjects: ['karim', 'jean'], at: 1200 },
      { seq: 2, kind: 'added', actor: 'karim', subjects: ['sophie'], at: 4990 },
      { seq: 3, kind: 'removed', actor: 'karim', subjects: ['jean'], at: 5990 },
    ]),
  );
  assert.deepEqual(marks, ['signed', 'signed', 'signed', 'signed', 'unsigned']);
  assert.equal(startsAt, -1);
});

test('on an older channel the notes before the genesis are the server’s word, after a line', () => {
  const events = [
    event(1, 1000, { change: 'created', member: karim, actor: karim }),
    event(2, 3000, { change: 'added', member: jean, actor: karim }),
    event(3, 9000, { change: 'added', member: sophie, actor: karim }),
  ];
  const records = [
    { seq: 1, kind: 'genesis', actor: 'karim', subjects: ['karim', 'jean'], at: 8000 },
    { seq: 2, kind: 'added', actor: 'karim', subjects: ['sophie'], at: 8990 },
  ];
  assert.deepEqual(vouch(events, log(records)), { marks: [null, null, 'signed'], startsAt: 2 });
  // The log just started: the line comes after the last note.
  assert.deepEqual(vouch(events.slice(0, 2), log(records.slice(0, 1))), { marks: [null, null], startsAt: 2 });
});

test('without a log nothing is marked', () => {
  const events = [event(1, 1000, { change: 'created', member: karim, actor: karim })];
  assert.deepEqual(vouch(events, null), { marks: [null], startsAt: -1 });
});
