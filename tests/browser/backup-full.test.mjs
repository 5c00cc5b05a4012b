// A key backup write that fails is said and tried again (PROTOCOL.md §10.5); a backup that
// reached the server's limit is refused (the paged backup's per-account total,
// `backup_total_too_large`, §10.8), the page says the backup is full — not a passing
// network failure — and nothing is lost: the keys stay on this device, the backup on the
// server stays as it was. A small total (`max_backup_total_bytes`, 64 KiB) stands for the
// 1 GiB one.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, openTab } from './lib/browser.mjs';
import { startDemo } from './lib/demo.mjs';
import { logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab | undefined} */
let tab;
/** @type {import('./lib/browser.mjs').Tab | undefined} */
let other;

before(async () => {
  demo = await startDemo({ settings: { PASSERELLE_MAX_BACKUP_TOTAL_BYTES: String(64 * 1024) } });
  browser = await launchBrowser();
});

after(async () => {
  await tab?.context.close().catch(() => {});
  await other?.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

test('a full key backup is told to the user, and the keys stay on the device', { timeout: 180_000 }, async () => {
  tab = await openTab(browser);
  const { page } = tab;
  await logInReady(page, demo.url, demo.accounts.policier);
  const before = await page.evaluate(async () => (await (await fetch('/api/v1/keys/backup')).json()).version);

  // 600 epoch keys arrive (about 90 KB once sealed, one page): past the account's total.
  const refused = page.waitForResponse((r) => r.url().includes('/api/v1/keys/backup/pages/') && r.request().method() === 'PUT' && r.status() === 413);
  const channels = await page.evaluate(async () => {
    const { currentKeyring } = await import('/js/session.js');
    const keyring = currentKeyring();
    if (!keyring) throw new Error('no keyring');
    const ids = [];
    for (let i = 0; i < 600; i += 1) {
      const channelId = `0000${String(i).padStart(4, '0')}-aaaa-4bbb-8ccc-dddddddddddd`;
      const key = crypto.getRandomValues(new Uint8Array(32));
      keyring.epochKeys.set(`${channelId}\u0000${1}`, key);
      await keyring.storeEpochKey(channelId, 1, key);
      ids.push(channelId);
    }
    keyring.scheduleBackup();
    return ids;
  });
  assert.equal(((await (await refused).json()).error ?? {}).code, 'backup_total_too_large');
  await page.getByText('Votre sauvegarde de clés est pleine').waitFor();
  await page.getByText('prévenez l’administrateur').waitFor();

  // Nothing lost silently: the server's backup is the one before, the keys are here.
  const state = await page.evaluate(async (ids) => {
    const { currentKeyring } = await import('/js/session.js');
    const keyring = currentKeyring();
    if (!keyring) throw new Error('no keyring');
    const body = await (await fetch('/api/v1/keys/backup')).json();
    return { version: body.version, held: ids.filter((id) => keyring.hasEpochKey(id, 1)).length };
  }, channels);
  assert.equal(state.version, before, 'the stored backup was not replaced');
  assert.equal(state.held, 600, 'the keys stay on this device');
});

test('a failed key backup write is told to the user and tried again until it succeeds', { timeout: 180_000 }, async () => {
  other = await openTab(browser);
  const { page } = other;
  await logInReady(page, demo.url, demo.accounts['assistante.sociale']);
  const before = await page.evaluate(async () => (await (await fetch('/api/v1/keys/backup')).json()).version);
  // The server fails the next write once.
  let failed = 0;
  await page.route('**/api/v1/keys/backup/head', async (route) => {
    if (route.request().method() !== 'PUT' || failed > 0) return route.continue();
    failed += 1;
    await route.fulfill({ status: 503, json: { error: { code: 'unavailable', message: 'Service indisponible.' } } });
  });
  const saved = page.waitForResponse((r) => r.url().endsWith('/api/v1/keys/backup/head') && r.request().method() === 'PUT' && r.status() === 200);
  await page.evaluate(async () => {
    const { currentKeyring } = await import('/js/session.js');
    const keyring = currentKeyring();
    if (!keyring) throw new Error('no keyring');
    const channelId = '00009999-aaaa-4bbb-8ccc-dddddddddddd';
    const key = crypto.getRandomValues(new Uint8Array(32));
    keyring.epochKeys.set(`${channelId}\u0000${1}`, key);
    await keyring.storeEpochKey(channelId, 1, key);
    keyring.scheduleBackup();
  });
  await page.getByText('La sauvegarde de vos clés n’a pas pu être enregistrée sur le serveur').waitFor();
  await saved;
  await page.getByText('La sauvegarde de vos clés est de nouveau à jour.').waitFor();
  assert.equal(failed, 1);
  const after = await page.evaluate(async () => (await (await fetch('/api/v1/keys/backup')).json()).version);
  assert.ok(after > before, 'the retry wrote a new revision');
});
