// Issue 7: desktop notifications for a message arriving in a background tab, without its
// text unless the user allowed it; and the conversation used with the keyboard alone.
// The police officer is the Rust SDK; the coordinator works in the browser.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logInReady } from './lib/flows.mjs';
import { sdkCli, startSdk } from './lib/sdk.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab} */
let tab;
/** @type {ReturnType<typeof startSdk> | undefined} */
let sdk;

before(async () => {
  const binary = sdkCli();
  ({ demo, browser } = await startDemoAndBrowser());
  tab = await openTab(browser);
  // Chromium's notifications, granted as a user would, observed by a spy that still
  // calls the real constructor; and a switch for "this tab is in the background".
  await tab.context.grantPermissions(['notifications'], { origin: demo.url });
  await tab.context.addInitScript(() => {
    const w = /** @type {any} */ (window);
    w.shownNotifications = [];
    w.tabHidden = false;
    const Real = window.Notification;
    class Spy extends Real {
      /** @param {string} title @param {NotificationOptions} [options] */
      constructor(title, options) {
        super(title, options);
        w.shownNotifications.push({ title, body: options?.body ?? '' });
      }
    }
    window.Notification = Spy;
    Object.defineProperty(document, 'visibilityState', { get: () => (w.tabHidden ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { get: () => w.tabHidden });
  });
  await logInReady(tab.page, demo.url, demo.accounts.coordinatrice);
  const channelId = await createWorkingGroup(tab.page, {
    name: 'Notifications',
    institution: 'Police nationale (commissariat)',
    member: /^Karim Benali/,
  });
  const officer = demo.accounts.policier;
  sdk = startSdk(binary, ['exchange', demo.url, officer.login, officer.password, officer.totpSecret, channelId]);
  assert.deepEqual(await sdk.nextAnswer(), { ready: true });
});

after(async () => {
  sdk?.stop();
  await tab?.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

/** @param {boolean} hidden */
async function setHidden(hidden) {
  await tab.page.evaluate((value) => {
    /** @type {any} */ (window).tabHidden = value;
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/** @returns {Promise<{ title: string, body: string }[]>} */
function notifications() {
  return tab.page.evaluate(() => /** @type {any} */ (window).shownNotifications);
}

/** @param {number} count */
async function waitForNotifications(count) {
  await tab.page.waitForFunction((n) => /** @type {any} */ (window).shownNotifications.length >= n, count);
}

describe('notifications and the keyboard', { timeout: 240_000 }, () => {
  test('a message in a background tab is announced, its text shown only if allowed', async () => {
    const messages = tab.page.getByTestId('messages');

    // In the foreground, a message is shown, not notified.
    await sdk?.command('send Premier message, onglet au premier plan');
    await messages.getByText('Premier message, onglet au premier plan').waitFor();
    assert.deepEqual(await notifications(), []);

    // In the background: a notification that says nothing of the content.
    await setHidden(true);
    await sdk?.command('send Rendez-vous confidentiel jeudi à 14 h');
    await waitForNotifications(1);
    const [first] = await notifications();
    assert.equal(first.title, 'Passerelle');
    assert.equal(first.body, 'Nouveau message dans un de vos canaux.');

    // The user allows the text in notifications; the next one carries it.
    await setHidden(false);
    // The setting is on a page of its own, reached from the channel list.
    await tab.page.getByRole('link', { name: 'Réglages des notifications' }).click();
    await tab.page.getByLabel('Afficher le texte des messages dans les notifications').check();
    await assertAccessible(tab.page, 'settings');
    await screenshot(tab.page, 'notification-settings');
    await tab.page.goBack();
    await messages.getByText('Premier message, onglet au premier plan').waitFor();
    await setHidden(true);
    await sdk?.command('send Deuxième point : la famille est prévenue');
    await waitForNotifications(2);
    const second = (await notifications())[1];
    assert.match(second.body, /la famille est prévenue/);
    await setHidden(false);
    assertNoProblems(tab);
  });

  test('the conversation works with the keyboard alone', async () => {
    const { page } = tab;
    // From the top of the page, Tab reaches the composer through labelled controls only.
    await page.locator('body').focus();
    /** @type {string[]} */
    const unnamed = [];
    let reached = false;
    for (let presses = 0; presses < 80 && !reached; presses += 1) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => {
        const el = /** @type {HTMLElement | null} */ (document.activeElement);
        if (!el || el === document.body) return { name: 'body', tag: 'BODY' };
        const label = el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : '';
        const name = el.getAttribute('aria-label') || label || el.textContent || el.getAttribute('title') || '';
        return { name: name.trim(), tag: el.tagName };
      });
      if (!focused.name) unnamed.push(focused.tag);
      reached = await page.getByLabel('Votre message').evaluate((el) => el === document.activeElement);
    }
    assert.ok(reached, 'Tab reaches the message field');
    assert.deepEqual(unnamed, [], 'every control reached has a name');
    await page.keyboard.type('Envoyé au clavier');
    await page.keyboard.press('Enter');
    await page.getByTestId('messages').getByText('Envoyé au clavier').waitFor();
    assert.deepEqual(await sdk?.command('read 1'), { messages: ['Envoyé au clavier'] });
    assertNoProblems(tab);
  });
});
