// The signed membership log (docs/PROTOCOL.md §22) in the browser: a conversation starts
// its log when it is created; a member the server slips into the member list, with her
// device among the recipients, gets no key and the conversation says so; a record the
// server forges makes the log refused, with a warning.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Record<string, import('./lib/browser.mjs').Tab>} */
const tabs = {};

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  for (const tab of Object.values(tabs)) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

const GHOST_WARNING = 'Le serveur a présenté un appareil qui n’appartient à aucun membre vérifié ; il a été écarté.';
const LOG_WARNING = 'Le journal signé des membres de ce canal n’est pas valide : aucune clé n’est envoyée tant qu’il ne l’est pas.';
const ROLLED_BACK_WARNING = 'Le serveur présente un journal des membres de ce canal plus ancien que celui déjà vérifié sur cet appareil : aucune clé n’est envoyée tant qu’il ne présente pas la suite.';
const HIDDEN_WARNING = 'Le serveur cache une partie du journal des membres de ce canal : un membre a vu des changements qui ne vous sont pas présentés. Aucune clé n’est envoyée tant qu’ils ne le sont pas.';

/**
 * The malicious server: the channel's log served cut to its first `count` records.
 * @param {import('playwright-core').Page} page
 * @param {string} channelId
 * @param {number} count
 */
async function serveLogPrefix(page, channelId, count) {
  await page.route(`**/api/v1/channels/${channelId}/membership-log`, async (route) => {
    const response = await route.fetch();
    const log = await response.json();
    await route.fulfill({ response, json: { records: log.records.slice(0, count) } });
  });
}

describe('the signed membership log', { timeout: 240_000 }, () => {
  /** @type {string} */
  let channelId = '';
  /** @type {string} */
  let groupId = '';

  test('a member the server slips in gets no key, and the conversation says so', async () => {
    tabs.policier = await openTab(browser);
    tabs.ghost = await openTab(browser);
    await logInReady(tabs.policier.page, demo.url, demo.accounts.policier);
    await logInReady(tabs.ghost.page, demo.url, demo.accounts.coordinatrice);
    // A genuine account and device, certified by her own identity, not in the conversation.
    const ghost = await tabs.ghost.page.evaluate(async () => {
      const me = await (await fetch('/api/v1/me')).json();
      const keys = await (await fetch(`/api/v1/keys/users/${me.id}`)).json();
      return { user_id: me.id, device_id: keys.devices[0].certificate.device_id };
    });

    const { page } = tabs.policier;
    await page.getByRole('link', { name: 'Écrire à un collègue' }).first().click();
    await page.getByLabel('Collègue').selectOption({ label: 'Sophie Leroy — Conseil départemental (action sociale, ASE)' });
    await page.getByRole('button', { name: 'Commencer la conversation' }).click();
    await page.waitForURL(/\/canal\//);
    channelId = page.url().split('/').pop() ?? '';
    // Creating the conversation started its log: a genesis naming its two members.
    const log = await page.evaluate(async (id) => (await fetch(`/api/v1/channels/${id}/membership-log`)).json(), channelId);
    assert.equal(log.records.length, 1);
    assert.equal(log.records[0].kind, 'genesis');
    assert.equal(log.records[0].subjects.length, 2);
    assert.ok(!log.records[0].subjects.includes(ghost.user_id));

    // The malicious server: the ghost in the member list and among the key's recipients.
    await page.route(`**/api/v1/channels/${channelId}`, async (route) => {
      const response = await route.fetch();
      const detail = await response.json();
      detail.members.push({ ...detail.members[0], user_id: ghost.user_id, display_name: 'Claire Martin' });
      await route.fulfill({ response, json: detail });
    });
    await page.route(`**/api/v1/channels/${channelId}/epoch`, async (route) => {
      const response = await route.fetch();
      const state = await response.json();
      state.rotation_required = true;
      state.devices.push(ghost);
      await route.fulfill({ response, json: state });
    });
    /** @type {any[]} */
    const published = [];
    await page.route(`**/api/v1/channels/${channelId}/epochs`, async (route) => {
      const body = route.request().postDataJSON();
      published.push(body);
      // The real server, which never listed the ghost, gets the publication without her.
      const honest = { ...body, withheld: body.withheld.filter((/** @type {any} */ w) => w.device_id !== ghost.device_id) };
      await route.continue({ postData: JSON.stringify(honest) });
    });
    await page.reload();
    await page.getByLabel('Votre message').fill('Point sur la famille M.');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByTestId('messages').getByTestId('sent').waitFor();
    await page.getByTestId('tamper-warning').getByText(GHOST_WARNING).waitFor();
    assert.equal(published.length, 1);
    const recipients = published[0].keys.map((/** @type {any} */ k) => k.recipient_device);
    assert.ok(!recipients.includes(ghost.device_id), 'no key was wrapped for the ghost');
    assert.equal(recipients.length, 1, 'one wrap, for Karim: Sophie has no device yet');
    assertNoProblems(tabs.policier);
  });

  test('a record the server forges makes the log refused, with a warning', async () => {
    const { page } = tabs.policier;
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await page.route(`**/api/v1/channels/${channelId}/membership-log`, async (route) => {
      const response = await route.fetch();
      const log = await response.json();
      const [genesis] = log.records;
      // « Karim added someone », in Karim's name: a record of the server's own making.
      log.records.push({ ...genesis, seq: 2, kind: 'added', subjects: ['00000000-0000-4000-8000-000000000001'], coordinators: undefined, signature: genesis.signature });
      await route.fulfill({ response, json: log });
    });
    await page.reload();
    await page.getByTestId('tamper-warning').getByText(LOG_WARNING).waitFor();
  });

  test('a coordinator’s changes are signed, and the notes say what the log confirms, after a reload', async () => {
    const { page } = tabs.ghost;
    groupId = await createWorkingGroup(page, {
      name: 'Veille du quartier sud',
      institution: 'Police nationale (commissariat)',
      member: /^Karim Benali/,
    });
    // A signed removal, then a signed addition.
    await page.getByText('Membres (2)').click();
    await page.getByRole('button', { name: 'Retirer Karim Benali' }).click();
    await page.getByRole('dialog').getByLabel('Motif du retrait').fill('Changement de poste');
    await page.getByRole('dialog').getByRole('button', { name: 'Retirer du canal' }).click();
    await page.getByText('Membres (1)').waitFor();
    await page.getByLabel('Ajouter un membre').selectOption({ label: 'Karim Benali — Police nationale (commissariat)' });
    await page.getByRole('button', { name: 'Ajouter', exact: true }).click();
    await page.getByText('Membres (2)').waitFor();
    const log = await page.evaluate(async (id) => (await fetch(`/api/v1/channels/${id}/membership-log`)).json(), groupId);
    assert.deepEqual(log.records.map((/** @type {any} */ r) => r.kind), ['genesis', 'removed', 'added']);
    assert.ok(!JSON.stringify(log).includes('Changement de poste'), 'the motif stays in the access log');

    // The server adds a note of its own making: an addition no record says.
    await page.route(`**/api/v1/channels/${groupId}/membership?*`, async (route) => {
      const response = await route.fetch();
      const history = await response.json();
      const last = history.events.at(-1);
      if (last) history.events.push({ ...last, seq: last.seq + 1, member: { user_id: '00000000-0000-4000-8000-000000000001', display_name: 'Jean Moreau' } });
      await route.fulfill({ response, json: history });
    });
    await page.reload();
    const notes = page.getByTestId('messages').getByTestId('membership-note');
    await notes.getByText('Vous avez ajouté Jean Moreau (non confirmé par le journal signé des membres).').waitFor();
    const shown = await notes.evaluateAll((items) => items.map((li) => `${li.textContent} [${li.getAttribute('data-signed')}]`));
    assert.deepEqual(shown, [
      'Vous avez créé le canal. [signed]',
      'Vous avez ajouté Karim Benali. [signed]',
      'Vous avez retiré Karim Benali. [signed]',
      'Vous avez ajouté Karim Benali. [signed]',
      'Vous avez ajouté Jean Moreau (non confirmé par le journal signé des membres). [unsigned]',
    ]);
    assert.equal(await page.getByTestId('membership-log-start').count(), 0, 'the log covers the group from its creation');
    assertNoProblems(tabs.ghost);
  });

  test('a log served shorter than the one this browser verified is refused, after a reload', async () => {
    const { page } = tabs.ghost;
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    // The page verified the group's three records: the server now hides the last one.
    await serveLogPrefix(page, groupId, 2);
    /** @type {unknown[]} */
    const published = [];
    await page.route(`**/api/v1/channels/${groupId}/epochs`, async (route) => {
      published.push(route.request().postDataJSON());
      await route.continue();
    });
    await page.reload();
    await page.getByTestId('tamper-warning').getByText(ROLLED_BACK_WARNING).waitFor();
    // Still refused after another reload: the head is kept in IndexedDB.
    await page.reload();
    await page.getByTestId('tamper-warning').getByText(ROLLED_BACK_WARNING).waitFor();
    assert.equal(published.length, 0, 'no key was published for the group');
    // The honest log extends what was kept: no warning.
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await page.reload();
    await page.getByLabel('Votre message').waitFor();
    await page.getByTestId('messages').getByTestId('membership-note').first().waitFor();
    assert.equal(await page.getByTestId('tamper-warning').count(), 0);
  });

  test('a head a member’s message names beyond the log served is reported, after a reload', async () => {
    const karim = tabs.policier.page;
    await karim.unrouteAll({ behavior: 'ignoreErrors' });
    // Karim's browser is shown the genesis only, and starts as one that never saw more.
    await serveLogPrefix(karim, groupId, 1);
    await karim.evaluate(() => new Promise((resolve, reject) => {
      const request = indexedDB.open('passerelle');
      request.onsuccess = () => {
        const transaction = request.result.transaction('membershipHeads', 'readwrite');
        transaction.objectStore('membershipHeads').clear();
        transaction.oncomplete = () => { request.result.close(); resolve(undefined); };
        transaction.onerror = () => reject(transaction.error);
      };
      request.onerror = () => reject(request.error);
    }));
    await karim.goto(`${demo.url}/canal/${groupId}`);
    const rules = karim.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter');
    await rules.or(karim.getByLabel('Votre message')).first().waitFor();
    if (await rules.isVisible()) {
      await rules.check();
      await karim.getByRole('button', { name: /^Accepter le règlement/ }).click();
    }
    await karim.getByLabel('Votre message').waitFor();
    assert.equal(await karim.getByTestId('tamper-warning').count(), 0, 'a prefix alone looks whole');

    // The coordinator, who verified all three records, writes: her head travels signed.
    const { page } = tabs.ghost;
    await page.getByLabel('Votre message').fill('Réunion jeudi à 14 h.');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByTestId('messages').getByTestId('sent').last().waitFor();

    await karim.getByTestId('messages').getByText('Réunion jeudi à 14 h.').waitFor();
    await karim.getByTestId('tamper-warning').getByText(HIDDEN_WARNING).waitFor();
    await karim.reload();
    await karim.getByTestId('tamper-warning').getByText(HIDDEN_WARNING).waitFor();
    // Shown the whole log, Karim's browser finds the head and keeps no warning.
    await karim.unrouteAll({ behavior: 'ignoreErrors' });
    await karim.reload();
    await karim.getByTestId('messages').getByText('Réunion jeudi à 14 h.').waitFor();
    assert.equal(await karim.getByTestId('tamper-warning').count(), 0);
  });
});
