// A malicious server drops, reorders, replays, re-dates and rolls back a colleague's
// messages (issue 17 item 3, docs/PROTOCOL.md §8.8). Each version-2 envelope carries its
// sender's counter, the hash of the sender's previous envelope and the sender's clock
// under the signature: the browser says in the conversation, in a notice line, what the
// server did — also after a reload, from the marks it keeps in IndexedDB.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Record<string, import('./lib/browser.mjs').Tab>} */
const tabs = {};
let conversationUrl = '';

const TEXTS = ['Premier point', 'Deuxième point', 'Troisième point', 'Quatrième point'];

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  for (const tab of Object.values(tabs)) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

/**
 * Serves Sophie's history pages through `rewrite` (the malicious server), then opens
 * the conversation afresh (a reload).
 * @param {(messages: any[]) => any[]} rewrite
 */
async function reloadWith(rewrite) {
  const { page } = tabs.social;
  await page.unroute('**/api/v1/channels/*/messages*');
  await page.route('**/api/v1/channels/*/messages*', async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    body.messages = rewrite(body.messages);
    await route.fulfill({ response, json: body });
  });
  await page.goto(conversationUrl);
  await page.getByTestId('messages').getByText(TEXTS[0]).waitFor();
}

/**
 * Waits until the order check has read `count` messages of the conversation shown.
 * @param {number} count
 */
async function checked(count) {
  await tabs.social.page.locator(`[data-testid="messages"][data-order-checked="${count}"]`).waitFor();
}

/** The order notices the conversation shows, as (code, text). */
async function notices() {
  const list = tabs.social.page.getByTestId('messages').getByTestId('order-notice');
  return Promise.all((await list.all()).map(async (item) => ({ code: await item.getAttribute('data-code'), text: await item.innerText() })));
}

/**
 * @param {string} code
 * @param {string | RegExp} text
 */
async function waitForNotice(code, text) {
  await tabs.social.page.getByTestId('messages').locator(`[data-testid="order-notice"][data-code="${code}"]`).getByText(text).waitFor();
}

describe('authenticated message order in the browser', { timeout: 240_000 }, () => {
  test('an honest history shows no notice', async () => {
    tabs.policier = await openTab(browser);
    tabs.social = await openTab(browser);
    await logInReady(tabs.policier.page, demo.url, demo.accounts.policier);
    await logInReady(tabs.social.page, demo.url, demo.accounts['assistante.sociale']);
    const { page } = tabs.policier;
    await page.getByRole('link', { name: 'Écrire à un collègue' }).first().click();
    await page.getByLabel('Collègue').selectOption({ label: 'Sophie Leroy — Conseil départemental (action sociale, ASE)' });
    await page.getByRole('button', { name: 'Commencer la conversation' }).click();
    await page.waitForURL(/\/canal\//);
    conversationUrl = page.url();
    for (const [i, text] of TEXTS.entries()) {
      await page.getByLabel('Votre message').fill(text);
      await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
      await page.getByTestId('messages').getByTestId('sent').nth(i).waitFor();
    }
    // Karim's envelopes are version 2, counted 1 to 4 (checked through the REST history).
    const counters = await page.evaluate(async (channelId) => {
      const history = await (await fetch(`/api/v1/channels/${channelId}/messages?after_seq=0&limit=50`)).json();
      return history.messages.map((/** @type {any} */ m) => [m.envelope.v, m.envelope.counter]);
    }, conversationUrl.split('/').pop());
    assert.deepEqual(counters, [[2, 1], [2, 2], [2, 3], [2, 4]]);

    await tabs.social.page.goto(conversationUrl);
    await tabs.social.page.getByTestId('messages').getByText(TEXTS[3]).waitFor();
    await checked(4);
    assert.deepEqual(await notices(), []);
    assertNoProblems(tabs.policier);
  });

  test('a message dropped from the middle is said to be missing', async () => {
    await reloadWith((messages) => messages.filter((m) => m.seq !== 2));
    await waitForNotice('missing', 'Un message de Karim Benali est manquant : le serveur ne l’a pas transmis.');
    await checked(3);
    assert.equal((await notices()).length, 1);
  });

  test('two messages swapped are said to be out of order', async () => {
    await reloadWith((messages) => {
      const [one, two, three, ...rest] = messages;
      return [one, { ...three, seq: two.seq }, { ...two, seq: three.seq }, ...rest];
    });
    await waitForNotice('reordered', /Ce message de Karim Benali a été présenté après un message qu’il précède/);
    await waitForNotice('missing', 'Un message de Karim Benali est manquant : le serveur ne l’a pas transmis.');
  });

  test('an old message served again is said to be replayed', async () => {
    await reloadWith((messages) => [...messages, { ...messages[0], seq: messages.length + 1 }]);
    await waitForNotice('replayed', /Le serveur a présenté de nouveau un message de Karim Benali déjà reçu/);
  });

  test('a message re-dated by the server shows the time its sender’s device gave', async () => {
    const hour = 60 * 60 * 1000;
    await reloadWith((messages) => messages.map((m) => (m.seq === 3 ? { ...m, ts: m.ts + 2 * hour } : m)));
    await waitForNotice('clock', /^Selon l’appareil de Karim Benali, ce message a été envoyé le \d{2}\/\d{2}\/\d{4} à \d{2}:\d{2} \(le serveur indique une autre heure\)\.$/);
  });

  test('after a reload, newest messages withheld by the server are said to be missing', async () => {
    // The server now serves the history without Karim's last message, as if it had
    // never been sent: the mark Sophie's browser kept says otherwise.
    await reloadWith((messages) => messages.filter((m) => m.seq !== 4));
    await waitForNotice('missing', 'Un message de Karim Benali est manquant : le serveur ne l’a pas transmis.');
    await checked(3);
    const shown = await notices();
    assert.deepEqual(shown.map((n) => n.code), ['missing']);
    // The notice comes after the last message shown, not before one.
    const last = tabs.social.page.getByTestId('messages').locator('li').last();
    assert.equal(await last.getAttribute('data-testid'), 'order-notice');
  });

  test('the honest history again shows no notice', async () => {
    await tabs.social.page.unroute('**/api/v1/channels/*/messages*');
    await tabs.social.page.goto(conversationUrl);
    await tabs.social.page.getByTestId('messages').getByText(TEXTS[3]).waitFor();
    await checked(4);
    assert.deepEqual(await notices(), []);
    assertNoProblems(tabs.social);
  });

  test('a message the server refuses gives its place to the next one: no false gap', async () => {
    const { page } = tabs.policier;
    // The server refuses Karim's next send (an error frame naming it) and never stores it.
    let refuse = true;
    await page.routeWebSocket(/\/api\/v1\/ws/, (route) => {
      const server = route.connectToServer();
      route.onMessage((message) => {
        const frame = JSON.parse(String(message));
        if (refuse && frame.type === 'send') {
          refuse = false;
          route.send(JSON.stringify({ type: 'error', ref: frame.envelope.client_msg_id, code: 'unavailable', message: 'Service momentanément indisponible.' }));
          return;
        }
        server.send(message);
      });
    });
    await page.goto(conversationUrl);
    await page.getByTestId('messages').getByText(TEXTS[3]).waitFor();
    await page.getByTestId('connection-status').getByText('Connecté').waitFor();
    await page.getByLabel('Votre message').fill('Message refusé');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByRole('button', { name: 'Réessayer' }).waitFor();
    await page.getByLabel('Votre message').fill('Message suivant');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByTestId('messages').getByTestId('sent').nth(4).waitFor();
    // Sent again by hand, the refused message is sealed anew, after the next one.
    await page.getByRole('button', { name: 'Réessayer' }).click();
    await page.getByTestId('messages').getByTestId('sent').nth(5).waitFor();
    const counters = await page.evaluate(async (channelId) => {
      const history = await (await fetch(`/api/v1/channels/${channelId}/messages?after_seq=4&limit=50`)).json();
      return history.messages.map((/** @type {any} */ m) => m.envelope.counter);
    }, conversationUrl.split('/').pop());
    assert.deepEqual(counters, [5, 6]);

    await tabs.social.page.goto(conversationUrl);
    await tabs.social.page.getByTestId('messages').getByText('Message refusé').waitFor();
    await checked(6);
    assert.deepEqual(await notices(), []);
    assertNoProblems(tabs.social);
  });
});
