// A malicious server lists a "ghost" device — a real, well-certified device of someone
// who is not in the conversation — among those a new epoch key must reach (issue 17,
// docs/PROTOCOL.md §12.1). The browser wraps the key for the members' devices only, tells
// the server it withheld the ghost, and says so in the conversation; the member still
// reads the message.

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
/** @type {{ user_id: string, device_id: string }} */
let ghost;

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  for (const tab of Object.values(tabs)) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

describe('a ghost device listed by the server', { timeout: 240_000 }, () => {
  test('gets no key, and the conversation shows a warning', async () => {
    tabs.policier = await openTab(browser);
    tabs.social = await openTab(browser);
    tabs.ghost = await openTab(browser);
    await logInReady(tabs.policier.page, demo.url, demo.accounts.policier);
    await logInReady(tabs.social.page, demo.url, demo.accounts['assistante.sociale']);
    await logInReady(tabs.ghost.page, demo.url, demo.accounts.coordinatrice);
    // The ghost: the coordinator's genuine device, certified by her own identity — but
    // she is not in the conversation between Karim and Sophie.
    ghost = await tabs.ghost.page.evaluate(async () => {
      const me = await (await fetch('/api/v1/me')).json();
      const keys = await (await fetch(`/api/v1/keys/users/${me.id}`)).json();
      return { user_id: me.id, device_id: keys.devices[0].certificate.device_id };
    });

    const { page } = tabs.policier;
    // The server's list of devices for the next epoch gains the ghost.
    await page.route('**/api/v1/channels/*/epoch', async (route) => {
      const response = await route.fetch();
      const state = await response.json();
      state.rotation_required = true;
      state.devices.push(ghost);
      await route.fulfill({ response, json: state });
    });
    /** @type {any[]} */
    const published = [];
    await page.route('**/api/v1/channels/*/epochs', async (route) => {
      const body = route.request().postDataJSON();
      published.push(body);
      // A malicious server would take the publication as it is; the real one, which
      // never listed the ghost, is handed it without the ghost's entry.
      const honest = { ...body, withheld: body.withheld.filter((/** @type {any} */ w) => w.device_id !== ghost.device_id) };
      await route.continue({ postData: JSON.stringify(honest) });
    });

    await page.getByRole('link', { name: 'Écrire à un collègue' }).first().click();
    await page.getByLabel('Collègue').selectOption({ label: 'Sophie Leroy — Conseil départemental (action sociale, ASE)' });
    await page.getByRole('button', { name: 'Commencer la conversation' }).click();
    await page.waitForURL(/\/canal\//);
    await page.getByLabel('Votre message').fill('Point confidentiel sur la famille M.');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByTestId('messages').getByTestId('sent').waitFor();
    await page.getByTestId('tamper-warning').getByText('Le serveur a proposé un appareil inconnu : message non chiffré pour lui.').waitFor();

    assert.equal(published.length, 1);
    const [publication] = published;
    const recipients = publication.keys.map((/** @type {any} */ k) => k.recipient_device);
    assert.ok(!recipients.includes(ghost.device_id), 'no key was wrapped for the ghost');
    assert.equal(recipients.length, 2, 'one wrap for Karim, one for Sophie');
    assert.deepEqual(publication.withheld, [{ device_id: ghost.device_id, reason: 'unverified_device' }]);

    // Sophie, a member, reads it.
    const social = tabs.social.page;
    await social.getByRole('navigation', { name: 'Vos canaux' }).getByRole('link', { name: /^Karim Benali.*Conversation directe/ }).click();
    await social.getByTestId('messages').getByText('Point confidentiel sur la famille M.').waitFor();
    assert.equal(await social.getByTestId('tamper-warning').count(), 0);
    assertNoProblems(tabs.policier);
    assertNoProblems(tabs.social);
  });

  test('a key passed on from the ghost is refused, and the conversation says so', async () => {
    const social = tabs.social.page;
    const conversationUrl = social.url();
    /** @type {import('playwright-core').WebSocketRoute | null} */
    let socket = null;
    // The server's socket to Sophie's page, with a frame of the server's own making.
    await social.routeWebSocket(/\/api\/v1\/ws/, (route) => {
      route.connectToServer();
      socket = route;
    });
    await social.goto(conversationUrl);
    await social.getByTestId('messages').getByText('Point confidentiel sur la famille M.').waitFor();
    await social.getByTestId('connection-status').getByText('Connecté').waitFor();
    const { channelId, deviceId } = await social.evaluate(async () => {
      const me = await (await fetch('/api/v1/me')).json();
      const keys = await (await fetch(`/api/v1/keys/users/${me.id}`)).json();
      return { channelId: location.pathname.split('/').pop() ?? '', deviceId: keys.devices[0].certificate.device_id };
    });
    assert.ok(socket, 'the page opened its socket');
    /** @type {import('playwright-core').WebSocketRoute} */ (/** @type {unknown} */ (socket)).send(
      JSON.stringify({
        type: 'keys',
        channel_id: channelId,
        epoch: 2,
        keys: [{ v: 1, channel_id: channelId, epoch: 2, sender_device: ghost.device_id, recipient_device: deviceId, commitment: 'AA', ephemeral_key: 'AA', nonce: 'AA', ciphertext: 'AA', signature: 'AA' }],
      }),
    );
    await social.getByTestId('tamper-warning').getByText('Le serveur a transmis une clé de canal qui ne vient d’aucun appareil des membres : elle a été refusée.').waitFor();
    const held = await social.evaluate(
      (id) =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open('passerelle');
          open.onsuccess = () => {
            const request = open.result.transaction('epochKeys').objectStore('epochKeys').getAll();
            request.onsuccess = () => resolve(request.result.filter((/** @type {any} */ k) => k.channelId === id).map((/** @type {any} */ k) => k.epoch));
            request.onerror = () => reject(request.error);
          };
          open.onerror = () => reject(open.error);
        }),
      channelId,
    );
    assert.deepEqual(held, [1], 'no key of epoch 2 was kept');
    assertNoProblems(tabs.social);
  });
});
