// Issue 17 item 4: the key transparency log. A colleague loses her computer and her
// recovery code and resets her keys; the messages she sent before stay readable for the
// others, after a reload too, and are marked « Envoyé avec une ancienne clé », while
// those she sends after are not. The head the browser accepted is kept in IndexedDB.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logIn, logInReady, openBearerSession, setUpFirstDevice } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab[]} */
const tabs = [];
let adminToken = '';

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
  adminToken = await openBearerSession(demo.url, demo.accounts.admin);
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
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
async function sendAndWaitForAck(page, text) {
  await page.getByLabel('Votre message').fill(text);
  await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
  await page.getByTestId('messages').locator('.message').filter({ hasText: text }).getByTestId('sent').waitFor();
}

/**
 * The device id this page's IndexedDB holds, and the key log head it kept.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<{ deviceId: string, head: { size: number, root: string } | null }>}
 */
function kept(page) {
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
    const [device] = await records('devices');
    const [head] = await records('keyLog');
    database.close();
    return { deviceId: device?.deviceId ?? '', head: head ? { size: head.size, root: head.root } : null };
  });
}

describe('key transparency log', { timeout: 300_000 }, () => {
  test('a colleague resets her keys: her earlier messages stay readable and are marked', async () => {
    const coordinator = await newTab();
    await logInReady(coordinator.page, demo.url, demo.accounts.coordinatrice);
    const colleague = await newTab();
    await logInReady(colleague.page, demo.url, demo.accounts.policier);
    const channelId = await createWorkingGroup(coordinator.page, {
      name: 'Veille tranquillité',
      institution: 'Police nationale (commissariat)',
      member: /^Karim Benali/,
    });
    await colleague.page.getByRole('link', { name: /Veille tranquillité/ }).click();
    await colleague.page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await colleague.page.getByRole('button', { name: /^Accepter le règlement/ }).click();
    await sendAndWaitForAck(colleague.page, 'Signalement avant la réinitialisation');
    await coordinator.page.getByTestId('messages').getByText('Signalement avant la réinitialisation').waitFor();
    const lost = await kept(colleague.page);
    const before = await kept(coordinator.page);
    assert.ok(before.head && before.head.size > 0, 'the coordinator kept the key log head');

    // Her computer is lost with the code: revoked, then new keys from a fresh browser.
    const response = await fetch(`${demo.url}/api/v1/keys/devices/${lost.deviceId}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(response.status, 204);
    await colleague.context.close();
    const fresh = await newTab();
    await logIn(fresh.page, demo.url, demo.accounts.policier, Date.now() + 30_000);
    await fresh.page.getByText('J’ai perdu mon code de secours').click();
    await fresh.page.getByRole('button', { name: 'Créer de nouvelles clés' }).click();
    await setUpFirstDevice(fresh.page);
    await fresh.page.waitForURL((url) => !url.pathname.startsWith('/appareil'));
    await fresh.page.goto(`${demo.url}/canal/${channelId}`);
    await fresh.page.getByLabel('Votre message').waitFor();
    await sendAndWaitForAck(fresh.page, 'Message après la réinitialisation');

    // The coordinator reloads: both messages read, only the earlier one marked.
    await coordinator.page.reload();
    const messages = coordinator.page.getByTestId('messages');
    await messages.getByText('Message après la réinitialisation').waitFor();
    const earlier = messages.locator('.message').filter({ hasText: 'Signalement avant la réinitialisation' });
    await earlier.getByTestId('old-key').waitFor();
    assert.match(await earlier.getByTestId('old-key').innerText(), /Envoyé avec une ancienne clé/);
    const later = messages.locator('.message').filter({ hasText: 'Message après la réinitialisation' });
    assert.equal(await later.getByTestId('old-key').count(), 0);
    assert.equal(await messages.getByText(/Message illisible/).count(), 0);

    // The head she kept grew through a consistency proof.
    const after = await kept(coordinator.page);
    assert.ok(after.head && before.head && after.head.size > before.head.size, JSON.stringify({ before, after }));
    assertNoProblems(fresh);
  });
});
