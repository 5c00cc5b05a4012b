// Issue 7: the browser reconnects by itself and catches up without losing a message.
//
// The browser reaches the server through a TCP relay the test cuts, as a network outage
// would: its WebSocket is reset and its reconnection attempts refused, while the Rust SDK,
// connected to the server directly, goes on sending. Once the relay lets connections
// through again, the page (never reloaded) must reconnect by itself and show every message
// sent meanwhile, once each and in order, and its user must be able to write again.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, launchBrowser, openTab, screenshot } from './lib/browser.mjs';
import { startDemo } from './lib/demo.mjs';
import { createWorkingGroup, logInReady, shownMessages } from './lib/flows.mjs';
import { startProxy } from './lib/proxy.mjs';
import { sdkCli, startSdk } from './lib/sdk.mjs';

/** @type {import('./lib/proxy.mjs').Proxy} */
let proxy;
/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab | undefined} */
let tab;
/** @type {ReturnType<typeof startSdk> | undefined} */
let sdk;
let binary = '';

before(async () => {
  binary = sdkCli();
  proxy = await startProxy();
  [demo, browser] = await Promise.all([startDemo({ publicOrigin: proxy.url }), launchBrowser()]);
  proxy.forwardTo(demo.port);
});

after(async () => {
  sdk?.stop();
  await tab?.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
  await proxy?.stop();
});

describe('reconnection', { timeout: 240_000 }, () => {
  test('after losing its connection, the browser reconnects by itself and shows every message sent meanwhile, once and in order', async () => {
    tab = await openTab(browser);
    const { page } = tab;
    await logInReady(page, proxy.url, demo.accounts.coordinatrice);
    const channelId = await createWorkingGroup(page, {
      name: 'Suivi de nuit',
      institution: 'Police nationale (commissariat)',
      member: /^Karim Benali/,
    });
    const status = page.getByTestId('connection-status');
    await status.getByText('Connecté').waitFor();

    // The police officer is the SDK, connected to the server directly (not through the relay).
    const officer = demo.accounts.policier;
    sdk = startSdk(binary, ['exchange', demo.url, officer.login, officer.password, officer.totpSecret, channelId]);
    assert.deepEqual(await sdk.nextAnswer(), { ready: true });
    await sdk.command('send Avant la coupure');
    await page.getByTestId('messages').getByText('Avant la coupure').waitFor();

    // A page that reloaded would lose this mark: the catch-up must happen in this page.
    await page.evaluate(() => {
      /** @type {any} */ (window).samePage = true;
    });

    // The network goes: the WebSocket and every connection of the page are reset.
    assert.ok(proxy.cut() > 0, 'the page had connections open through the relay');
    await status.getByText('Connexion perdue — reconnexion…').waitFor();
    await assertAccessible(page, 'connection lost');
    await screenshot(page, 'reconnect-lost');

    const during = ['Pendant la coupure : message 1', 'Pendant la coupure : message 2', 'Pendant la coupure : message 3'];
    const seqs = [];
    for (const text of during) seqs.push((await sdk.command(`send ${text}`)).sent);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'the server accepted them in order');
    // Committed on the server, and not on the screen: the page is really cut off.
    assert.deepEqual(await shownMessages(page), ['Avant la coupure']);
    // The page keeps trying by itself (its attempts reach the relay and are refused).
    await waitUntil(() => proxy.refused() > 0, 'the page tries to reconnect while cut off');
    // What the user writes meanwhile waits, shown as such.
    await page.getByLabel('Votre message').fill('Écrit pendant la coupure');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByTestId('messages').getByText('Envoi en cours…').waitFor();

    // The network comes back: nobody touches the page.
    proxy.restore();
    await status.getByText('Connecté').waitFor({ timeout: 60_000 });
    await page.getByTestId('messages').getByText(during[2]).waitFor();
    // The message written during the outage left once connected again, and only once.
    assert.deepEqual(await sdk.command('read 1'), { messages: ['Écrit pendant la coupure'] });
    await page.getByTestId('messages').getByText('Envoi en cours…').waitFor({ state: 'detached' });
    assert.deepEqual(await shownMessages(page), ['Avant la coupure', ...during, 'Écrit pendant la coupure'], 'each message once, in order');
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).samePage), true, 'the page was not reloaded');

    // The user writes again, and the officer reads it (and nothing else: no duplicate).
    await page.getByLabel('Votre message').fill('Bien reçu après la coupure');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    assert.deepEqual(await sdk.command('read 1'), { messages: ['Bien reçu après la coupure'] });
    await page.getByTestId('messages').getByText('Envoi en cours…').waitFor({ state: 'detached' });
    assert.deepEqual(await shownMessages(page), ['Avant la coupure', ...during, 'Écrit pendant la coupure', 'Bien reçu après la coupure']);

    await screenshot(page, 'reconnect-caught-up');
    // Chromium logs each refused reconnection attempt: that is the outage, not a fault.
    tab.problems = tab.problems.filter((problem) => !/^console: WebSocket connection to '[^']+' failed/.test(problem));
    assertNoProblems(tab);
  });

  test('after the server crashes and restarts, the page reconnects by itself with its session, and a message committed before the crash arrives', async () => {
    assert.ok(tab && sdk, 'the first test left the conversation open');
    const { page } = tab;
    const status = page.getByTestId('connection-status');
    const before = await shownMessages(page);

    // Cut off first, so that the message is committed while the page cannot receive it.
    proxy.cut();
    await status.getByText('Connexion perdue — reconnexion…').waitFor();
    await sdk.command('send Envoyé juste avant la panne du serveur');
    // The server process dies (SIGKILL: no clean shutdown) and starts again on the same
    // data directory and port.
    sdk.stop();
    await demo.crashAndRestart();
    proxy.restore();

    await status.getByText('Connecté').waitFor({ timeout: 60_000 });
    await page.getByTestId('messages').getByText('Envoyé juste avant la panne du serveur').waitFor();
    assert.deepEqual(await shownMessages(page), [...before, 'Envoyé juste avant la panne du serveur'], 'once, after the others');
    assert.equal(await page.evaluate(() => /** @type {any} */ (window).samePage), true, 'the page was not reloaded');
    assert.equal(await page.getByRole('heading', { level: 1, name: 'Connexion' }).count(), 0, 'the session survived the restart');

    // The restarted server accepts what the user writes.
    await page.getByLabel('Votre message').fill('Écrit après le redémarrage du serveur');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByTestId('messages').getByText('Envoi en cours…').waitFor({ state: 'detached' });
    const last = page.getByTestId('messages').locator('.message').last();
    await last.getByText('Écrit après le redémarrage du serveur').waitFor();
    await last.getByTestId('sent').waitFor();

    tab.problems = tab.problems.filter((problem) => !/^console: WebSocket connection to '[^']+' failed/.test(problem));
    assertNoProblems(tab);
  });
});

/**
 * Polls a condition of the test's own state (not of the page) until it holds.
 * @param {() => boolean} condition
 * @param {string} what
 * @param {number} [timeoutMs]
 */
async function waitUntil(condition, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
