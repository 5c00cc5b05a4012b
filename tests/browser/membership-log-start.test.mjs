// A channel the server made has no signed membership log (docs/PROTOCOL.md §22.4): the
// demo's sample « Cellule de veille » was seeded by the server. A coordinator's browser
// starts its log with a genesis her device signs as soon as the gate lets her (when it
// lists her channels, or here when she opens it), and, since a change preceded it, the
// conversation says where the verified history of its members starts.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, launchBrowser, openTab } from './lib/browser.mjs';
import { startDemo } from './lib/demo.mjs';
import { logInReady, openBearerSession } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab} */
let tab;

before(async () => {
  [demo, browser] = await Promise.all([startDemo({ sampleWeek: true }), launchBrowser()]);
});

after(async () => {
  await tab?.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

// The French text puts a narrow no-break space before the colon: any space matches.
const UNVERIFIED_BEFORE = /Historique des membres non vérifié avant cette date\s: la suite est signée par les coordinateurs\./;

describe('a channel the server made', { timeout: 180_000 }, () => {
  test('a coordinator’s browser that opens it starts its signed log', async () => {
    tab = await openTab(browser);
    const { page } = tab;
    // The status of each channel's first reading of its log by this page.
    /** @type {Map<string, number>} */
    const firstReads = new Map();
    let onRead = () => {};
    page.on('response', (response) => {
      const match = /\/api\/v1\/channels\/([^/]+)\/membership-log$/.exec(new URL(response.url()).pathname);
      if (!match || response.request().method() !== 'GET' || firstReads.has(match[1])) return;
      firstReads.set(match[1], response.status());
      onRead();
    });
    /** @param {string} id @returns {Promise<number | undefined>} */
    const firstRead = (id) =>
      new Promise((resolve) => {
        onRead = () => firstReads.has(id) && resolve(firstReads.get(id));
        onRead();
      });
    await logInReady(page, demo.url, demo.accounts.coordinatrice);
    const group = page.getByRole('link', { name: /Cellule de veille/ }).first();
    await group.waitFor();
    const channelId = ((await group.getAttribute('href')) ?? '').split('/').pop() ?? '';
    assert.ok(channelId, 'the seeded group is listed');
    // Listing her channels, her browser tried to start their logs (§22.4): not this
    // group's, whose rules she has not accepted yet (the gate refuses her).
    assert.equal(await firstRead(channelId), 403);
    /** @returns {Promise<{ records: any[] }>} */
    const served = () => page.evaluate(async (id) => (await fetch(`/api/v1/channels/${id}/membership-log`)).json(), channelId);
    // Before any device opens it, a change the log will not hold: the coordinator, through
    // the API, accepts the rules and takes the social worker out (no log yet: no record).
    const removed = await page.evaluate(async (id) => {
      const json = { 'Content-Type': 'application/json' };
      const status = await (await fetch(`/api/v1/channels/${id}/rules`)).json();
      await fetch(`/api/v1/channels/${id}/rules/accept`, { method: 'POST', headers: json, body: JSON.stringify({ version: status.current.version }) });
      const detail = await (await fetch(`/api/v1/channels/${id}`)).json();
      const me = await (await fetch('/api/v1/me')).json();
      const other = detail.members.find((/** @type {any} */ m) => m.user_id !== me.id);
      const response = await fetch(`/api/v1/channels/${id}/members/${other.user_id}`, { method: 'DELETE', headers: json, body: JSON.stringify({ reason: 'Essai' }) });
      return response.status;
    }, channelId);
    assert.equal(removed, 204);
    assert.equal((await served()).records.length, 0, 'the server seeded it without a log');

    await group.click();
    await page.getByLabel('Votre message').waitFor();
    await page.getByText(UNVERIFIED_BEFORE).waitFor();

    const log = await served();
    assert.equal(log.records.length, 1);
    const [genesis] = log.records;
    assert.equal(genesis.kind, 'genesis');
    const mine = await page.evaluate(async () => {
      const me = await (await fetch('/api/v1/me')).json();
      const keys = await (await fetch(`/api/v1/keys/users/${me.id}`)).json();
      return { userId: me.id, devices: keys.devices.filter((/** @type {any} */ d) => !d.revoked_at).map((/** @type {any} */ d) => d.certificate.device_id) };
    });
    assert.equal(genesis.actor, mine.userId, 'signed by the coordinator');
    assert.deepEqual([genesis.actor_device], mine.devices, 'by this browser’s device');
    assert.ok(genesis.coordinators.includes(mine.userId));
    assert.deepEqual(genesis.subjects, [mine.userId], 'the members when it was opened');

    // Opening it again signs nothing more.
    await page.reload();
    await page.getByText(UNVERIFIED_BEFORE).waitFor();
    assert.equal((await served()).records.length, 1);
    assertNoProblems(tab);
  });

  test('a removal the server made is signed into the log by a coordinator’s browser', async () => {
    const { page } = tab;
    await page.getByRole('link', { name: 'Écrire à un collègue' }).first().click();
    const colleague = page.getByLabel('Collègue');
    const label = await colleague.locator('option', { hasText: 'Jean Moreau' }).first().innerText();
    await colleague.selectOption({ label });
    await page.getByRole('button', { name: 'Commencer la conversation' }).click();
    await page.waitForURL(/\/canal\//);
    const channelId = page.url().split('/').pop() ?? '';
    await page.getByLabel('Votre message').waitFor();
    /** @returns {Promise<{ records: any[] }>} */
    const served = () => page.evaluate(async (id) => (await fetch(`/api/v1/channels/${id}/membership-log`)).json(), channelId);
    /** Waits until the server holds `count` records of the log (the browser posts them in the background). @param {number} count */
    const logHas = async (count) => {
      const deadline = Date.now() + 30_000;
      while ((await served()).records.length !== count) {
        assert.ok(Date.now() < deadline, `the log never had ${count} record(s)`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    // Creating the conversation starts its log.
    await logHas(1);
    const [genesis] = (await served()).records;
    assert.equal(genesis.kind, 'genesis');
    const jean = genesis.subjects.find((/** @type {string} */ id) => id !== genesis.actor);

    // An admin makes Jean an auditor, who may not use channels: the server removes him.
    const token = await openBearerSession(demo.url, demo.accounts.admin);
    const response = await fetch(`${demo.url}/api/v1/admin/users/${jean}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'auditor' }),
    });
    assert.equal(response.status, 200, await response.text());

    // The coordinator's browser, told by the `member` frame, signs his removal.
    await logHas(2);
    const removal = (await served()).records[1];
    assert.equal(removal.kind, 'removed');
    assert.equal(removal.reason, 'server');
    assert.deepEqual(removal.subjects, [jean]);
    assert.equal(removal.actor, genesis.actor);
    assertNoProblems(tab);
  });
});
