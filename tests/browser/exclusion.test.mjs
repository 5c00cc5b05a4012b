// Issue 14: an exclusion takes effect at once in a tab already open (CHARTER.md C3).
// An admin disables an account while its conversation is open: the tab goes back to the
// login screen and says why, and it receives nothing a colleague sends afterwards. A
// device revoked from another session of its owner: the tab says so, and the device's
// keys are gone from the browser's IndexedDB.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logInReady, openBearerSession } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab} */
let coordinator;
/** @type {import('./lib/browser.mjs').Tab[]} */
const tabs = [];
let adminToken = '';

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
  adminToken = await openBearerSession(demo.url, demo.accounts.admin);
  coordinator = await openTab(browser);
  tabs.push(coordinator);
  await logInReady(coordinator.page, demo.url, demo.accounts.coordinatrice);
});

after(async () => {
  for (const tab of tabs) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

/**
 * A request to the API as a program would make it (bearer session).
 * @param {string} token
 * @param {string} method
 * @param {string} path Under /api/v1.
 * @returns {Promise<any>} the JSON answer, or undefined for 204
 */
async function api(token, method, path) {
  const response = await fetch(`${demo.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? undefined : response.json();
}

/**
 * Types and sends a message, and waits until the server acknowledged it (it is committed).
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
async function sendAndWaitForAck(page, text) {
  await page.getByLabel('Votre message').fill(text);
  await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
  const sent = page.getByTestId('messages').locator('.message').filter({ hasText: text });
  await sent.getByTestId('sent').waitFor();
}

/**
 * A member opens a channel for the first time and accepts its rules.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
async function openNewChannel(page, name) {
  await page.getByRole('link', { name: new RegExp(name) }).click();
  await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
  await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
  await page.getByLabel('Votre message').waitFor();
}

/**
 * What the page's IndexedDB keeps for an account: its device (with the device's id), its
 * epoch keys, the identities it pinned. Read in the page, as the web client stores them.
 * @param {import('playwright-core').Page} page
 * @param {string} userId
 * @returns {Promise<{ devices: string[], epochKeys: number, identities: number }>}
 */
function keptInBrowser(page, userId) {
  return page.evaluate(async (id) => {
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
        request.onsuccess = () => resolve(request.result.filter((record) => record.userId === id));
        request.onerror = () => reject(request.error);
      });
    const kept = {
      devices: (await records('devices')).map((device) => device.deviceId),
      epochKeys: (await records('epochKeys')).length,
      identities: (await records('identities')).length,
    };
    database.close();
    return kept;
  }, userId);
}

describe('exclusion of an open tab', { timeout: 240_000 }, () => {
  test('an account disabled while its conversation is open: the tab says so and receives nothing sent afterwards', async () => {
    const officer = await openTab(browser);
    tabs.push(officer);
    // Every frame the officer's page receives, from its first socket on.
    /** @type {import('playwright-core').WebSocket[]} */
    const sockets = [];
    /** @type {any[]} */
    const frames = [];
    officer.page.on('websocket', (socket) => {
      sockets.push(socket);
      socket.on('framereceived', ({ payload }) => {
        try {
          frames.push(JSON.parse(String(payload)));
        } catch {
          frames.push({ type: 'not_json' });
        }
      });
    });
    await logInReady(officer.page, demo.url, demo.accounts.policier);
    await createWorkingGroup(coordinator.page, {
      name: 'Veille du quartier nord',
      institution: 'Police nationale (commissariat)',
      member: /^Karim Benali/,
    });
    await openNewChannel(officer.page, 'Veille du quartier nord');
    await sendAndWaitForAck(coordinator.page, 'Avant la désactivation');
    await officer.page.getByTestId('messages').getByText('Avant la désactivation').waitFor();

    const accounts = await api(adminToken, 'GET', '/admin/users');
    const account = accounts.find((/** @type {any} */ a) => a.login === 'policier');
    const seenBefore = frames.length;
    await api(adminToken, 'POST', `/admin/users/${account.id}/disable`);

    await officer.page.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
    await officer.page.locator('#notice-error').getByText('Votre compte a été désactivé').waitFor();
    await assertAccessible(officer.page, 'login after the account was disabled');
    await screenshot(officer.page, 'exclusion-account-disabled');

    // The colleague writes; once the server committed the message, the officer's page has
    // had every chance to get it.
    await sendAndWaitForAck(coordinator.page, 'Après la désactivation');
    const delivered = frames.slice(seenBefore).filter((frame) => frame.type === 'message' || frame.type === 'keys');
    assert.deepEqual(delivered, [], 'nothing was delivered after the disable');
    assert.ok(sockets.length > 0 && sockets.every((socket) => socket.isClosed()), 'no socket left open');
    assert.equal(await officer.page.getByText('Après la désactivation').count(), 0);
    assert.equal(await officer.page.getByText('Avant la désactivation').count(), 0, 'the conversation is no longer shown');
    assertNoProblems(officer);
  });

  test('a device revoked from another session: the tab says so and the device’s keys are erased from the browser', async () => {
    const account = demo.accounts['assistante.sociale'];
    // Her other session, a program's; the browser types the next TOTP step's code.
    const token = await openBearerSession(demo.url, account);
    const social = await openTab(browser);
    tabs.push(social);
    await logInReady(social.page, demo.url, account, Date.now() + 30_000);
    await createWorkingGroup(coordinator.page, {
      name: 'Suivi éducatif renforcé',
      institution: 'Conseil départemental (action sociale, ASE)',
      member: /^Sophie Leroy/,
    });
    await openNewChannel(social.page, 'Suivi éducatif renforcé');
    await sendAndWaitForAck(coordinator.page, 'Bonjour, un point sur la famille ?');
    await social.page.getByTestId('messages').getByText('Bonjour, un point sur la famille ?').waitFor();

    const me = await social.page.evaluate(() => fetch('/api/v1/me').then((response) => response.json()));
    const kept = await keptInBrowser(social.page, me.id);
    assert.equal(kept.devices.length, 1, 'the device is stored');
    assert.ok(kept.epochKeys > 0, 'the channel’s key is stored');
    assert.ok(kept.identities > 0, 'the coordinator’s identity is pinned');

    await api(token, 'DELETE', `/keys/devices/${encodeURIComponent(kept.devices[0])}`);

    await social.page.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
    await social.page.locator('#notice-error').getByText('Cet appareil a été révoqué').waitFor();
    assert.deepEqual(await keptInBrowser(social.page, me.id), { devices: [], epochKeys: 0, identities: 0 });
    assert.equal(await social.page.getByText('Bonjour, un point sur la famille ?').count(), 0);
    await assertAccessible(social.page, 'login after the device was revoked');
    await screenshot(social.page, 'exclusion-device-revoked');
    assertNoProblems(social);
  });
});
