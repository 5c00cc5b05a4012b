// The wording of membership notes (PROTOCOL.md §21): every change says who made it, the
// server's own removals say why, names are shown as typed.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { membershipNote } = await import(pathToFileURL(path.join(repo, 'web-client', 'js', 'membership-notes.js')).href);

const karim = { user_id: 'karim', display_name: 'Karim Benali' };
const jean = { user_id: 'jean', display_name: 'Jean Moreau' };
const sophie = { user_id: 'sophie', display_name: 'Sophie Leroy' };

/** @param {Record<string, unknown>} fields */
const event = (fields) => ({ channel_id: 'c', seq: 1, after_seq: 0, at: 0, ...fields });

test('each change names who made it', () => {
  assert.equal(membershipNote(event({ change: 'created', member: karim, actor: karim }), 'jean'), 'Karim Benali a créé le canal.');
  assert.equal(membershipNote(event({ change: 'added', member: sophie, actor: karim }), 'jean'), 'Karim Benali a ajouté Sophie Leroy.');
  assert.equal(membershipNote(event({ change: 'removed', member: jean, actor: karim, reason: 'coordinator' }), 'sophie'), 'Karim Benali a retiré Jean Moreau.');
  assert.equal(membershipNote(event({ change: 'left', member: jean, actor: jean }), 'sophie'), 'Jean Moreau a quitté le canal.');
  assert.equal(membershipNote(event({ change: 'role_changed', member: sophie, actor: karim, role: 'coordinator' }), 'jean'), 'Karim Benali a nommé Sophie Leroy parmi les coordinateurs du groupe.');
  assert.equal(membershipNote(event({ change: 'role_changed', member: sophie, actor: karim, role: 'member' }), 'jean'), 'Karim Benali a retiré Sophie Leroy des coordinateurs du groupe.');
  assert.equal(membershipNote(event({ change: 'device_added', member: sophie, actor: sophie, device_id: 'd' }), 'jean'), 'Nouvel appareil de Sophie Leroy.');
});

test('the reader’s own part says « vous »', () => {
  assert.equal(membershipNote(event({ change: 'added', member: sophie, actor: karim }), 'karim'), 'Vous avez ajouté Sophie Leroy.');
  assert.equal(membershipNote(event({ change: 'added', member: sophie, actor: karim }), 'sophie'), 'Karim Benali vous a ajouté(e) au canal.');
  assert.equal(membershipNote(event({ change: 'left', member: jean, actor: jean }), 'jean'), 'Vous avez quitté le canal.');
});

test('a removal by the server says so and why, with French typography', () => {
  assert.equal(
    membershipNote(event({ change: 'removed', member: sophie, reason: 'regime_lost' }), 'jean'),
    'Sophie Leroy a été retiré(e) automatiquement (motif\u202F: son compte ne remplit plus les conditions du régime du canal).',
  );
});

test('a former member the server no longer names stays anonymous; a known name is used', () => {
  assert.equal(membershipNote(event({ change: 'left', member: { user_id: 'x' }, actor: { user_id: 'x' } }), 'jean'), 'Un ancien membre a quitté le canal.');
  const names = new Map([['x', 'Nadia Haddad']]);
  assert.equal(membershipNote(event({ change: 'left', member: { user_id: 'x' }, actor: { user_id: 'x' } }), 'jean', names), 'Nadia Haddad a quitté le canal.');
});
