// First sight (issue 17, docs/PROTOCOL.md §22.4): a browser that holds no verified
// membership log for a channel wraps no key and sends nothing there, whatever the server
// lists. The demo's « Médiation et tranquillité publique » group was made by the server:
// until its coordinator signs its log, the police officer's browser disables the composer
// and says why, in French, even with a ghost device listed and once the server hides the
// log; the coordinator's browser signs it when it lists her channels, without her opening
// it, and the officer then writes — for the members' devices only.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, launchBrowser, openTab } from './lib/browser.mjs';
import { startDemo } from './lib/demo.mjs';
import { logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Record<string, import('./lib/browser.mjs').Tab>} */
const tabs = {};

before(async () => {
  [demo, browser] = await Promise.all([startDemo({ sampleWeek: true }), launchBrowser()]);
});

after(async () => {
  for (const tab of Object.values(tabs)) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

// The French text puts a narrow no-break space before the colon: any space matches.
const WAITING = /Ce canal attend qu’un coordinateur signe la liste de ses membres\s: vous pourrez écrire dès qu’il l’aura ouvert\./;
const GHOST = { user_id: '7f1c2a4e-0000-4000-8000-00000000dead', device_id: '7f1c2a4e-0000-4000-8000-00000000beef' };

describe('a channel no signed log vouches for', { timeout: 300_000 }, () => {
  test('a member’s browser writes nothing there and says why; a coordinator’s opens it', async () => {
    tabs.coordinator = await openTab(browser);
    tabs.officer = await openTab(browser);
    const coordinator = tabs.coordinator.page;
    const officer = tabs.officer.page;
    await logInReady(coordinator, demo.url, demo.accounts.coordinatrice);
    await logInReady(officer, demo.url, demo.accounts.policier);

    // The malicious server lists a ghost among the devices a new key must reach.
    await officer.route('**/api/v1/channels/*/epoch', async (route) => {
      const response = await route.fetch();
      const state = await response.json();
      state.rotation_required = true;
      state.devices.push(GHOST);
      await route.fulfill({ response, json: state });
    });
    // A malicious server would take a publication as it is; the real one, which never
    // listed the ghost, is handed it without the ghost's entry.
    await officer.route('**/api/v1/channels/*/epochs', async (route) => {
      const body = route.request().postDataJSON();
      const honest = { ...body, withheld: body.withheld.filter((/** @type {any} */ w) => w.device_id !== GHOST.device_id) };
      await route.continue({ postData: JSON.stringify(honest) });
    });
    /** @type {any[]} */
    const published = [];
    /** @type {string[]} */
    const signed = [];
    officer.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/epochs')) published.push(request.postDataJSON());
      if (request.method() === 'POST' && request.url().endsWith('/membership-log')) signed.push(request.url());
    });

    const group = officer.getByRole('link', { name: /Médiation et tranquillité publique/ }).first();
    await group.waitFor();
    const channelId = ((await group.getAttribute('href')) ?? '').split('/').pop() ?? '';
    await group.click();
    await officer.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await officer.getByRole('button', { name: /^Accepter le règlement/ }).click();

    // No log: the composer is disabled, and the conversation says why.
    const notice = officer.getByTestId('log-missing');
    await notice.getByText(WAITING).waitFor();
    assert.ok(await officer.getByLabel('Votre message').isDisabled(), 'the composer is disabled');
    assert.ok(await officer.getByRole('button', { name: 'Envoyer', exact: true }).isDisabled());
    await assertAccessible(officer, 'conversation waiting for its signed log');

    // Her browser lists the group; once she accepted its rules, reloading signs its log
    // without her opening the conversation.
    const accepted = await coordinator.evaluate(async (id) => {
      const status = await (await fetch(`/api/v1/channels/${id}/rules`)).json();
      const response = await fetch(`/api/v1/channels/${id}/rules/accept`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ version: status.current.version }),
      });
      return response.status;
    }, channelId);
    assert.equal(accepted, 204);
    const genesisPosted = coordinator.waitForResponse((r) => r.url().endsWith(`/channels/${channelId}/membership-log`) && r.request().method() === 'POST');
    await coordinator.reload();
    assert.equal((await genesisPosted).status(), 204);
    const log = await coordinator.evaluate(async (id) => (await fetch(`/api/v1/channels/${id}/membership-log`)).json(), channelId);
    assert.equal(log.records.length, 1);
    assert.equal(log.records[0].kind, 'genesis');

    // The server now hides that log from the officer, who never saw it: still nothing.
    await officer.route(`**/api/v1/channels/${channelId}/membership-log`, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const response = await route.fetch();
      await route.fulfill({ response, json: { records: [] } });
    });
    const hiddenRead = officer.waitForResponse((r) => r.url().endsWith(`/channels/${channelId}/membership-log`));
    await notice.getByRole('button', { name: 'Vérifier à nouveau' }).click();
    await hiddenRead;
    await notice.getByText(WAITING).waitFor();
    assert.ok(await officer.getByLabel('Votre message').isDisabled(), 'a hidden log is no log');
    assert.deepEqual(published, [], 'no key was wrapped for anyone');
    assert.deepEqual(signed, [], 'a member’s browser signs no log');

    // The honest log: the officer writes, and the ghost gets no key.
    await officer.unroute(`**/api/v1/channels/${channelId}/membership-log`);
    await notice.getByRole('button', { name: 'Vérifier à nouveau' }).click();
    await notice.waitFor({ state: 'hidden' });
    await officer.getByLabel('Votre message').fill('Point sur le lampadaire de la rue des Lilas.');
    await officer.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await officer.getByTestId('messages').getByTestId('sent').waitFor();
    await officer.getByTestId('tamper-warning').getByText('Le serveur a proposé un appareil inconnu : message non chiffré pour lui.').waitFor();
    assert.equal(published.length, 1);
    const recipients = published[0].keys.map((/** @type {any} */ k) => k.recipient_device);
    assert.ok(!recipients.includes(GHOST.device_id), 'no key was wrapped for the ghost');
    assert.deepEqual(signed, [], 'a member’s browser signs no log');
    assertNoProblems(tabs.officer);
    assertNoProblems(tabs.coordinator);
  });
});
