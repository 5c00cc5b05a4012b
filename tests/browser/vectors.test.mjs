// The web client's WebCrypto implementation passes every JSON test vector of
// shared/vectors/ (docs/PROTOCOL.md §13), in Chromium, loaded as the app loads it.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { assertNoProblems, openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { runVectorChecks } from './lib/vector-checks.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VECTORS = path.join(repo, 'shared', 'vectors');

/** @returns {Record<string, any>} */
function loadVectors() {
  /** @type {Record<string, any>} */
  const vectors = {};
  for (const file of readdirSync(VECTORS).filter((name) => name.endsWith('.json'))) {
    vectors[file.replace(/\.json$/, '')] = JSON.parse(readFileSync(path.join(VECTORS, file), 'utf8'));
  }
  return vectors;
}

const EXPECTED_FILES = [
  'attachment', 'device_certificate', 'encoding', 'epoch_wrap', 'fingerprint', 'key_backup', 'key_backup_pages', 'key_log', 'membership_log', 'message_envelope', 'message_order', 'padding', 'rejections', 'sealed_title', 'signed_prekey',
];

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * @param {{ name: string, ok: boolean, detail?: string }[]} results
 */
function assertAllPassed(results) {
  const failed = results.filter((r) => !r.ok);
  assert.ok(results.length > 90, `only ${results.length} checks ran`);
  assert.deepEqual(failed, [], `${failed.length} of ${results.length} vector checks failed`);
}

describe('the WebCrypto implementation of PROTOCOL.md', { timeout: 120_000 }, () => {
  test('every JSON test vector passes in Chromium', async () => {
    const vectors = loadVectors();
    assert.deepEqual(Object.keys(vectors).sort(), EXPECTED_FILES);
    const tab = await openTab(browser);
    await tab.page.goto(demo.url);
    await tab.page.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
    const results = await tab.page.evaluate(runVectorChecks, { vectors, modulePath: '/js/crypto.js' });
    assertAllPassed(results);
    assertNoProblems(tab);
    await tab.context.close();
  });

  test('and in Node.js WebCrypto as well (the same module, outside the page)', async () => {
    const modulePath = pathToFileURL(path.join(repo, 'web-client', 'js', 'crypto.js')).href;
    assertAllPassed(await runVectorChecks({ vectors: loadVectors(), modulePath }));
  });
});
