// A channel the server made has no signed membership log (docs/PROTOCOL.md §22.4): the
// demo's sample « Cellule de veille » was seeded by the server. The first coordinator who
// opens it in a browser starts its log with a genesis her device signs, and, since a
// change preceded it, the conversation says where the verified history of its members
// starts.

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
  test('a coordinator’s browser starts its signed log as soon as it may', async () => {
    // Before any device could sign its log, a change the log will not hold: an admin makes
    // the social worker an auditor, who may not use channels, and the server takes her
    // out of the group (no log yet: no record).
    const adminToken = await openBearerSession(demo.url, demo.accounts.admin);
    /** @param {string} method @param {string} path @param {unknown} [body] */
    const admin = async (method, path, body) => {
      const response = await fetch(`${demo.url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      assert.ok(response.ok, `${method} ${path}: ${response.status}`);
      return response.json();
    };
    const social = (await admin('GET', '/admin/users')).find((/** @type {any} */ a) => a.login === 'assistante.sociale');
    await admin('PATCH', `/admin/users/${social.id}`, { role: 'auditor' });

    tab = await openTab(browser);
    const { page } = tab;
    await logInReady(page, demo.url, demo.accounts.coordinatrice);
    const group = page.getByRole('link', { name: /Cellule de veille/ }).first();
    await group.waitFor();
    const channelId = ((await group.getAttribute('href')) ?? '').split('/').pop() ?? '';
    assert.ok(channelId, 'the seeded group is listed');
    /** @returns {Promise<{ records: any[] }>} */
    const served = () => page.evaluate(async (id) => (await fetch(`/api/v1/channels/${id}/membership-log`)).json(), channelId);

    // Its rules not accepted yet, the coordinator's browser could not sign when it listed
    // the group; it does once she accepted them, on opening it.
    await group.click();
    await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
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
