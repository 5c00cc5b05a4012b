// Issue 18: the lost recovery code, and crypto-shredding that holds through the backup.
// A member whose only device is revoked and who lost the recovery code creates new keys
// from the set-up screen: the new backup replaces the old one, no orphan device is left,
// colleagues see the identity change, and the new device sends and reads. A destroyed
// channel's keys, dropped on one device, do not come back through another device's
// backup write, nor on a device restored from the recovery code.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertNoProblems, openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logIn, logInReady, openBearerSession, setUpFirstDevice, shownMessages } from './lib/flows.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

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

/**
 * A request to the API as a program would make it (bearer session).
 * @param {string} token
 * @param {string} method
 * @param {string} apiPath Under /api/v1.
 * @returns {Promise<any>}
 */
async function api(token, method, apiPath) {
  const response = await fetch(`${demo.url}/api/v1${apiPath}`, { method, headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`${method} ${apiPath}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? undefined : response.json();
}

/** @returns {Promise<import('./lib/browser.mjs').Tab>} */
async function newTab() {
  const tab = await openTab(browser);
  tabs.push(tab);
  return tab;
}

/**
 * What the page's IndexedDB keeps for its account: the device and the epoch keys by channel.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<{ userId: string, deviceId: string, epochKeys: { channelId: string, epoch: number }[], rawKeys: number, storageKeyExtractable: boolean | null }>}
 */
function keptInBrowser(page) {
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
    const all = await records('epochKeys');
    const epochKeys = all.map((k) => ({ channelId: k.channelId, epoch: k.epoch }));
    const rawKeys = all.filter((k) => k.key !== undefined || !(k.sealed?.ciphertext instanceof Uint8Array)).length;
    database.close();
    return { userId: device?.userId ?? '', deviceId: device?.deviceId ?? '', epochKeys, rawKeys, storageKeyExtractable: device?.storageKey?.extractable ?? null };
  });
}

/**
 * Types and sends a message, and waits until the server acknowledged it.
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
 * Runs the real keyring of the page: `forgetChannel` (what the page does on
 * `channel_destroyed`) when `forget` is given, then a backup write, awaited (after the
 * writes the page queued itself, as every write of a device).
 * @param {import('playwright-core').Page} page
 * @param {string | null} forget
 */
function keyringWrite(page, forget) {
  return page.evaluate(async (channelId) => {
    const session = await import('/js/session.js');
    const keyring = session.currentKeyring();
    if (!keyring) throw new Error('no keyring');
    if (channelId) await keyring.forgetChannel(channelId);
    await keyring.flushBackup();
  }, forget);
}

/**
 * The channels whose keys the server's current backup holds (its pages), and its
 * tombstones, opened in the page with the recovery code.
 * @param {import('playwright-core').Page} page
 * @param {string} code
 * @returns {Promise<{ channels: string[], shredded: string[] }>}
 */
function backupChannels(page, code) {
  return page.evaluate(async (typed) => {
    const c = await import('/js/crypto.js');
    const { readStoredBackup } = await import('/js/keyring.js');
    const me = await (await fetch('/api/v1/me')).json();
    const backupKey = await c.deriveBackupKey(c.parseRecoveryCode(typed), me.id);
    // The head and every page it names (§10.8), each checked against its hash.
    const stored = await readStoredBackup(me, backupKey, undefined, []);
    if (!stored) throw new Error('no backup');
    const { contents } = stored;
    return { channels: [...new Set(contents.epochKeys.map((k) => k.channelId))], shredded: (contents.shredded ?? []).map((t) => t.channelId) };
  }, code);
}

describe('recovery and shredding', { timeout: 300_000 }, () => {
  test('the lost-recovery-code path ends with one working device that sends and reads', async () => {
    const coordinator = await newTab();
    await logInReady(coordinator.page, demo.url, demo.accounts.coordinatrice);
    const lost = await newTab();
    await logInReady(lost.page, demo.url, demo.accounts.policier);
    const channelId = await createWorkingGroup(coordinator.page, {
      name: 'Cellule de veille',
      institution: 'Police nationale (commissariat)',
      member: /^Karim Benali/,
    });
    await openNewChannel(lost.page, 'Cellule de veille');
    await sendAndWaitForAck(lost.page, 'Avant la perte');
    const old = await keptInBrowser(lost.page);

    // The computer is lost with the code: the admin revokes its device.
    await api(adminToken, 'DELETE', `/keys/devices/${old.deviceId}`);
    await lost.context.close();

    const fresh = await newTab();
    await logIn(fresh.page, demo.url, demo.accounts.policier, Date.now() + 30_000);
    await fresh.page.getByText('J’ai perdu mon code de secours').click();
    await fresh.page.getByRole('button', { name: 'Créer de nouvelles clés' }).click();
    const code = await setUpFirstDevice(fresh.page);
    assert.equal(code.replace(/-/g, '').length, 26, 'a new recovery code carries 128 bits');
    await fresh.page.waitForURL((url) => !url.pathname.startsWith('/appareil'));
    assert.equal(await fresh.page.getByText('Un autre appareil a modifié cet élément').count(), 0);

    // One live device, the one this browser holds: no orphan.
    const now = await keptInBrowser(fresh.page);
    const keys = await api(adminToken, 'GET', `/keys/users/${now.userId}`);
    const live = keys.devices.filter((/** @type {any} */ d) => d.revoked_at === null).map((/** @type {any} */ d) => d.certificate.device_id);
    assert.deepEqual(live, [now.deviceId]);

    // The new device writes; the colleague reads it and is warned of the identity change.
    await fresh.page.goto(`${demo.url}/canal/${channelId}`);
    await fresh.page.getByLabel('Votre message').waitFor();
    await sendAndWaitForAck(fresh.page, 'Après la réinitialisation');
    await coordinator.page.getByTestId('messages').getByText('Après la réinitialisation').waitFor();
    await coordinator.page.getByTestId('identity-warning').first().waitFor();

    // The colleague answers (once told of the change); the new device reads it.
    await coordinator.page.getByLabel('Votre message').fill('Bien reçu');
    await coordinator.page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await coordinator.page.getByRole('button', { name: 'J’ai compris, envoyer' }).click();
    await coordinator.page.getByTestId('messages').locator('.message').filter({ hasText: 'Bien reçu' }).getByTestId('sent').waitFor();
    await fresh.page.getByTestId('messages').getByText('Bien reçu').waitFor();
    assert.ok((await shownMessages(fresh.page)).includes('Bien reçu'));
    assertNoProblems(fresh);
  });

  test('a destroyed channel’s keys are nowhere after another device’s backup write and a restore', async () => {
    const coordinator = tabs[0];
    const first = await newTab();
    const code = await logInReady(first.page, demo.url, demo.accounts['assistante.sociale']);
    const destroyed = await createWorkingGroup(coordinator.page, {
      name: 'Dossier clos',
      institution: 'Conseil départemental (action sociale, ASE)',
      member: /^Sophie Leroy/,
    });
    await sendAndWaitForAck(coordinator.page, 'Dans le dossier clos');
    const kept = await createWorkingGroup(coordinator.page, {
      name: 'Suivi en cours',
      institution: 'Conseil départemental (action sociale, ASE)',
      member: /^Sophie Leroy/,
    });
    await sendAndWaitForAck(coordinator.page, 'Dans le suivi');
    for (const [name, text] of [['Dossier clos', 'Dans le dossier clos'], ['Suivi en cours', 'Dans le suivi']]) {
      await openNewChannel(first.page, name);
      await first.page.getByTestId('messages').getByText(text).waitFor();
    }
    await keyringWrite(first.page, null);
    assert.deepEqual((await backupChannels(first.page, code)).channels.sort(), [destroyed, kept].sort());

    // At rest, the epoch keys are sealed under a storage key the browser never exports,
    // and they open again after a reload.
    const atRest = await keptInBrowser(first.page);
    assert.ok(atRest.epochKeys.length >= 2);
    assert.equal(atRest.rawKeys, 0, 'no epoch key is stored raw');
    assert.equal(atRest.storageKeyExtractable, false);
    await first.page.reload();
    await first.page.getByTestId('connection-status').getByText('Connecté').waitFor();
    await first.page.getByRole('link', { name: /Suivi en cours/ }).click();
    await first.page.getByTestId('messages').getByText('Dans le suivi').waitFor();

    // A second device, restored from the code, holds both channels' keys.
    const second = await newTab();
    await logIn(second.page, demo.url, demo.accounts['assistante.sociale'], Date.now() + 30_000);
    const restore = second.page.locator('form').filter({ has: second.page.getByLabel(/^Code de secours/) });
    await restore.getByLabel(/^Code de secours/).fill(code);
    await restore.getByRole('button', { name: 'Activer cet appareil' }).click();
    await second.page.waitForURL((url) => !url.pathname.startsWith('/appareil'));
    assert.ok((await keptInBrowser(second.page)).epochKeys.some((k) => k.channelId === destroyed));

    // The channel is destroyed: the first device drops its keys and writes the backup.
    await keyringWrite(first.page, destroyed);
    assert.ok(!(await keptInBrowser(first.page)).epochKeys.some((k) => k.channelId === destroyed));
    let backup = await backupChannels(first.page, code);
    assert.deepEqual(backup.channels, [kept]);
    assert.deepEqual(backup.shredded, [destroyed]);

    // The second device never saw the destruction; it writes the backup with its keys.
    await keyringWrite(second.page, null);
    const onSecond = await keptInBrowser(second.page);
    assert.ok(!onSecond.epochKeys.some((k) => k.channelId === destroyed), 'the merge shredded it on the second device');
    assert.ok(onSecond.epochKeys.some((k) => k.channelId === kept));
    backup = await backupChannels(second.page, code);
    assert.deepEqual(backup.channels, [kept], 'the new revision does not carry it back');

    // A third browser (the same session, an empty profile) restored from the code.
    const context = await browser.newContext({ storageState: await first.context.storageState(), locale: 'fr-FR' });
    tabs.push({ page: await context.newPage(), context, problems: [] });
    const third = tabs[tabs.length - 1].page;
    await third.goto(demo.url);
    const again = third.locator('form').filter({ has: third.getByLabel(/^Code de secours/) });
    await again.getByLabel(/^Code de secours/).fill(code);
    await again.getByRole('button', { name: 'Activer cet appareil' }).click();
    await third.waitForURL((url) => !url.pathname.startsWith('/appareil'));
    const onThird = await keptInBrowser(third);
    assert.ok(!onThird.epochKeys.some((k) => k.channelId === destroyed));
    assert.ok(onThird.epochKeys.some((k) => k.channelId === kept));
    assertNoProblems(first);
    assertNoProblems(second);
  });
});

