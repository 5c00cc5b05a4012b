// The heads of the signed membership log (PROTOCOL.md §26), in the web client's own
// modules under Node's WebCrypto: a log served later must contain every head seen (a
// prefix or no log is `log_rolled_back` / `log_hidden`, another branch `log_forked`), and
// a message's content carries its sender's head, checked when it is read.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** @param {string} file */
const load = (file) => import(pathToFileURL(path.join(repo, 'web-client', 'js', 'crypto', file)).href);
const log = await load('membership-log.js');
const envelope = await load('envelope.js');
const primitives = await load('primitives.js');

const CHANNEL = '3f6b9c2e-1d4a-4e8b-a7c5-9b0d2e4f6a81';
const KARIM = 'a1b2c3d4-0000-4000-8000-00000000000a';
const SOPHIE = 'a1b2c3d4-0000-4000-8000-00000000000b';
const GHOST = 'a1b2c3d4-0000-4000-8000-00000000000d';
const LAPTOP = 'd1d1d1d1-0000-4000-8000-00000000000a';

/** Karim's chain: a genesis, then Sophie added; and a branch adding a ghost instead. */
async function chains() {
  const device = await primitives.generateSigningKey(false);
  const base = { epoch: 1, actor: KARIM, actorDevice: LAPTOP, at: 1_765_100_000_000 };
  const genesis = await log.signRecord(log.emptyState(CHANNEL), { ...base, kind: 'genesis', subjects: [KARIM], coordinators: [KARIM] }, device.privateKey);
  const afterGenesis = await log.verifyLog(CHANNEL, [genesis], () => device.publicKey);
  const added = await log.signRecord(afterGenesis, { ...base, kind: 'added', subjects: [SOPHIE] }, device.privateKey);
  const fork = await log.signRecord(afterGenesis, { ...base, kind: 'added', subjects: [GHOST] }, device.privateKey);
  /** @param {unknown[]} records */
  const verify = (records) => log.verifyLog(CHANNEL, records, () => device.publicKey);
  return { whole: await verify([genesis, added]), prefix: await verify([genesis]), forked: await verify([genesis, fork]) };
}

/** @param {() => void} check @param {string} code */
function refused(check, code) {
  assert.throws(check, (/** @type {any} */ error) => error.code === code);
}

test('a log served later must contain the head verified before', async () => {
  const { whole, prefix, forked } = await chains();
  const head = log.logHead(whole);
  assert.equal(head?.seq, 2);
  assert.equal(log.logHead(log.emptyState(CHANNEL)), null);
  if (!head) return;
  log.checkContains(whole, head, 'log_rolled_back');
  log.checkContains(whole, /** @type {any} */ (log.logHead(prefix)), 'log_hidden');
  refused(() => log.checkContains(prefix, head, 'log_rolled_back'), 'log_rolled_back');
  refused(() => log.checkContains(null, head, 'log_rolled_back'), 'log_rolled_back');
  refused(() => log.checkContains(prefix, head, 'log_hidden'), 'log_hidden');
  refused(() => log.checkContains(forked, head, 'log_hidden'), 'log_forked');
});

test('a message carries its sender’s head, and a malformed one is refused', async () => {
  const { whole } = await chains();
  const head = log.logHead(whole);
  const plain = { text: 'Bonjour', reply_to: null, attachments: [] };
  const bare = new TextDecoder().decode(envelope.encodeContent(plain));
  assert.ok(!bare.includes('membership_head'), 'a message without a head encodes as before');
  const bytes = envelope.encodeContent({ ...plain, membership_head: head });
  assert.deepEqual(envelope.decodeContent(bytes).membership_head, head);
  for (const bad of [{ seq: 0, hash: head?.hash }, { seq: 1, hash: 'AAAA' }, { seq: '1', hash: head?.hash }]) {
    const json = new TextEncoder().encode(JSON.stringify({ ...plain, membership_head: bad }));
    refused(() => envelope.decodeContent(json), 'bad_content');
  }
});
