// Issue 17 item 4, the key log complete and the same for everyone (PROTOCOL.md §25.4,
// §27). Self-monitoring: a device restored elsewhere from the recovery code is named to
// the account's first browser, once, and not to the device that was restored. Split
// views: each message carries its sender's key log head; when the server cannot prove
// that head and the receiver's are one log (a server double answers a proof that does
// not verify), the conversation says so.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logIn, logInReady, openBearerSession } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab[]} */
const tabs = [];

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  for (const tab of tabs) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

/** @returns {Promise<import('./lib/browser.mjs').Tab>} */
async function newTab() {
  const tab = await openTab(browser);
  tabs.push(tab);
  return tab;
}

/**
 * The `keyLog` record this page's IndexedDB holds (one account per browser here).
 * @param {import('playwright-core').Page} page
 * @returns {Promise<{ size: number, audited: number, alerted: number[], deviceId: string } | null>}
 */
function keptLog(page) {
  return page.evaluate(async () => {
    /** @type {IDBDatabase} */
    const database = await new Promise((resolve, reject) => {
      const request = indexedDB.open('passerelle');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    /** @param {string} name @returns {Promise<any[]>} */
    const records = (name) =>
      new Promise((resolve, reject) => {
        const request = database.transaction(name).objectStore(name).getAll();
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    const [record] = await records('keyLog');
    const [device] = await records('devices');
    database.close();
    return record ? { size: record.size, audited: record.audit?.size ?? -1, alerted: record.alerted ?? [], deviceId: device?.deviceId ?? '' } : null;
  });
}

/**
 * Waits until the page audited the key log up to at least `size` entries.
 * @param {import('playwright-core').Page} page
 * @param {number} size
 */
async function auditedUpTo(page, size) {
  for (;;) {
    const record = await keptLog(page);
    if (record && record.audited >= size && record.size >= size) return record;
    await page.waitForTimeout(100);
  }
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
async function sendAndWaitForAck(page, text) {
  await page.getByLabel('Votre message').fill(text);
  await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
  await page.getByTestId('messages').locator('.message').filter({ hasText: text }).getByTestId('sent').waitFor();
}

/** @returns {Promise<number>} the key log's size, as the server says now */
async function logSize() {
  const { size } = await fetch(`${demo.url}/api/v1/keys/log/head`, { headers: { authorization: `Bearer ${await bearer()}` } }).then((r) => r.json());
  return size;
}

let token = '';
async function bearer() {
  if (!token) token = await openBearerSession(demo.url, demo.accounts.admin);
  return token;
}

const UNKNOWN_DEVICE = /Un appareil que vous ne reconnaissez peut-être pas a été ajouté à votre compte le \d/;

describe('the key log, watched', { timeout: 300_000 }, () => {
  test('a device restored elsewhere is named once to the first browser, not to itself', async () => {
    const first = await newTab();
    const code = await logInReady(first.page, demo.url, demo.accounts['assistante.sociale']);
    const mine = await auditedUpTo(first.page, 1);
    assert.deepEqual(mine.alerted, [], 'its own set-up surprises no one');

    const second = await newTab();
    await logIn(second.page, demo.url, demo.accounts['assistante.sociale'], Date.now() + 30_000);
    const restore = second.page.locator('form').filter({ has: second.page.getByLabel(/^Code de secours/) });
    await restore.getByLabel(/^Code de secours/).fill(code);
    await restore.getByRole('button', { name: 'Activer cet appareil' }).click();
    await second.page.waitForURL((url) => !url.pathname.startsWith('/appareil'));
    await second.page.goto(`${demo.url}/`);
    await second.page.getByTestId('connection-status').getByText('Connecté').waitFor();
    const size = await logSize();
    const restored = await auditedUpTo(second.page, size);
    assert.deepEqual(restored.alerted, [], 'the restored device is not surprised by itself');
    assert.equal(await second.page.getByText(UNKNOWN_DEVICE).count(), 0);

    // The first browser, reloaded, names the device restored elsewhere — once.
    await first.page.reload();
    await first.page.getByText(UNKNOWN_DEVICE).waitFor();
    const seen = await auditedUpTo(first.page, size);
    assert.equal(seen.alerted.length, 1, JSON.stringify(seen));
    await first.page.reload();
    await first.page.getByTestId('connection-status').getByText('Connecté').waitFor();
    await auditedUpTo(first.page, size);
    assert.equal(await first.page.getByText(UNKNOWN_DEVICE).count(), 0, 'said once');
    assertNoProblems(first);
    assertNoProblems(second);
  });

  test('a head the server cannot join to the receiver’s is reported in the conversation', async () => {
    const coordinator = await newTab();
    await logInReady(coordinator.page, demo.url, demo.accounts.coordinatrice);
    const colleague = await newTab();
    await logInReady(colleague.page, demo.url, demo.accounts.policier);
    const channelId = await createWorkingGroup(coordinator.page, {
      name: 'Veille journal',
      institution: 'Police nationale (commissariat)',
      member: /^Karim Benali/,
    });
    await colleague.page.getByRole('link', { name: /Veille journal/ }).click();
    await colleague.page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await colleague.page.getByRole('button', { name: /^Accepter le règlement/ }).click();
    await sendAndWaitForAck(colleague.page, 'Premier passage');
    const messages = coordinator.page.getByTestId('messages');
    await messages.getByText('Premier passage').waitFor();

    // The log grows (a colleague sets up her browser); the coordinator reloads and
    // audits it. The message she reads again carries the smaller head its sender had:
    // the server's proof joins the two, nothing is said.
    const other = await newTab();
    await logInReady(other.page, demo.url, demo.accounts.mediateur);
    const size = await logSize();
    const sender = await keptLog(colleague.page);
    assert.ok(sender && sender.size < size, JSON.stringify({ sender, size }));
    await coordinator.page.reload();
    await auditedUpTo(coordinator.page, size);
    const proved = coordinator.page.waitForResponse((r) => r.url().includes('/keys/log/consistency'));
    await coordinator.page.goto(`${demo.url}/canal/${channelId}`);
    await messages.getByText('Premier passage').waitFor();
    assert.equal((await proved).status(), 200);
    const split = /Le serveur ne montre pas le même journal des clés à tous/;
    assert.equal(await coordinator.page.getByText(split).count(), 0, 'a proof joins honest heads');

    // The server now cannot join them (its proof does not verify): reported.
    await coordinator.page.route('**/api/v1/keys/log/consistency**', (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ from: 0, to: 0, proof: [] }) }),
    );
    await coordinator.page.reload();
    await messages.getByText('Premier passage').waitFor();
    await coordinator.page.getByText(split).waitFor();
    assertNoProblems(coordinator);
  });
});
