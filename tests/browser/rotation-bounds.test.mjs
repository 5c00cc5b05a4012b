// What the browser enforces itself, whatever the server says (PROTOCOL.md §23.2–23.4):
// it opens a new epoch after a week of holding the key or 100 messages of it, even from
// a server that never asks (a double in front of GET …/epoch), across a reload; it keeps
// the highest prekey serial seen per colleague device in IndexedDB, so that an older
// prekey served after a reload is refused; and it deletes its certificate's agreement key
// once nothing needs it, and still reads everything. It also rotates after a removal it
// saw in the member list, before a reload or after one, without being asked.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logInReady, shownMessages } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Record<string, import('./lib/browser.mjs').Tab>} */
const tabs = {};

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;
const GRACE_MS = 35 * 24 * 60 * 60 * 1000;

/** @type {string} */
let channelUrl;
/** @type {string} */
let channelId;
/** @type {{ type: string }[]} Frames the policier's page received (all its connections). */
const frames = [];
/** @type {(() => void)[]} */
const waiting = [];

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
  tabs.policier = await openTab(browser);
  tabs.social = await openTab(browser);
  const { page } = tabs.policier;
  page.on('websocket', (socket) =>
    socket.on('framereceived', ({ payload }) => {
      try {
        frames.push(JSON.parse(String(payload)));
      } catch {
        return;
      }
      for (const wake of waiting.splice(0)) wake();
    }),
  );
  // A server that never asks for a rotation when asked before sending.
  await page.route(/\/api\/v1\/channels\/[^/]+\/epoch$/, async (route) => {
    if (route.request().method() !== 'GET') return route.continue();
    const response = await route.fetch();
    const body = await response.json();
    await route.fulfill({ response, json: { ...body, rotation_required: false } });
  });
  await logInReady(page, demo.url, demo.accounts.policier);
  await logInReady(tabs.social.page, demo.url, demo.accounts['assistante.sociale']);
  await page.getByRole('link', { name: 'Écrire à un collègue' }).first().click();
  await page.getByLabel('Collègue').selectOption({ label: 'Sophie Leroy — Conseil départemental (action sociale, ASE)' });
  await page.getByRole('button', { name: 'Commencer la conversation' }).click();
  await page.waitForURL(/\/canal\//);
  channelUrl = page.url();
  channelId = decodeURIComponent(channelUrl.split('/canal/')[1].split(/[?#/]/)[0]);
});

after(async () => {
  for (const tab of Object.values(tabs)) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

/** @param {string} type */
const count = (type) => frames.filter((f) => f.type === type).length;

/**
 * Resolves once the policier's page has received `n` frames of `type`.
 * @param {string} type
 * @param {number} n
 */
async function framesOf(type, n) {
  while (count(type) < n) await new Promise((resolve) => waiting.push(() => resolve(undefined)));
}

/**
 * Sends a text from the policier's page and waits for its acknowledgement.
 * @param {string} text
 */
async function send(text) {
  const { page } = tabs.policier;
  const acks = count('ack');
  await page.getByLabel('Votre message').fill(text);
  await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
  await framesOf('ack', acks + 1);
}

/**
 * The channel's current epoch on the server (the channel's detail: the double answers
 * only …/epoch).
 * @param {import('playwright-core').Page} page
 */
function serverEpoch(page) {
  return page.evaluate(async (id) => (await (await fetch(`/api/v1/channels/${id}`)).json()).channel.epoch, channelId);
}

/**
 * Moves the clock the page's keyring reads the rotation bounds with.
 * @param {import('playwright-core').Page} page
 * @param {number} offset ms added to the real clock
 */
async function shiftClock(page, offset) {
  await page.evaluate(async (by) => {
    const { currentKeyring } = await import('/js/session.js');
    const keyring = currentKeyring();
    if (!keyring) throw new Error('no keyring');
    keyring.now = () => Date.now() + by;
  }, offset);
}

/**
 * Opens the conversation again in a fresh page state (a reload), and waits for `text`.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
async function reload(page, text) {
  await page.goto(channelUrl);
  await page.getByTestId('connection-status').getByText('Connecté').waitFor();
  await page.getByTestId('messages').getByText(text).first().waitFor();
}

describe('rotation enforced by the browser, serials remembered, the static key retired', { timeout: 600_000 }, () => {
  test('the browser opens a new epoch after a week or 100 messages even when the server never asks, across a reload', async () => {
    const { page } = tabs.policier;
    await send('Premier.');
    assert.equal(await serverEpoch(page), 1);

    // A week later by the page's clock, after a reload: the browser rotates before it
    // sends, without an `epoch_required` from the server.
    await reload(page, 'Premier.');
    await shiftClock(page, WEEK_MS + 60_000);
    await send('Une semaine plus tard.');
    assert.equal(await serverEpoch(page), 2);
    assert.equal(count('epoch_required'), 0);

    // 100 messages of epoch 2, a reload in the middle: the count is kept in IndexedDB.
    await shiftClock(page, 0);
    for (let i = 2; i <= 50; i += 1) await send(`Message ${i}`);
    await reload(page, 'Message 50');
    for (let i = 51; i <= 100; i += 1) await send(`Message ${i}`);
    assert.equal(await serverEpoch(page), 2);
    assert.equal(count('epoch_required'), 0);
    await send('Le cent-unième.');
    assert.equal(await serverEpoch(page), 3, 'the 101st message opened a new epoch');
    assert.equal(count('epoch_required'), 0, 'the browser rotated before the server asked');
    const social = tabs.social.page;
    await social.goto(channelUrl);
    await social.getByTestId('messages').getByText('Le cent-unième.').waitFor();
  });

  test('an older prekey served after a reload is refused: the device is withheld', async () => {
    const { page } = tabs.policier;
    const social = tabs.social.page;
    const sophie = await social.evaluate(async () => {
      const store = await import('/js/store.js');
      const me = await (await fetch('/api/v1/me')).json();
      return { id: me.id, deviceId: (await store.getDevice(me.id))?.deviceId };
    });
    const served = () =>
      page.evaluate(async (id) => (await (await fetch(`/api/v1/keys/users/${id}`)).json()).devices[0].prekey, sophie.id);
    const old = await served();
    // She rotates; the policier's browser sees her new prekey and keeps its serial.
    await social.evaluate(async (later) => {
      const { currentKeyring } = await import('/js/session.js');
      const { rotatePrekeyIfDue } = await import('/js/prekeys.js');
      const keyring = currentKeyring();
      if (!keyring) throw new Error('no keyring');
      return rotatePrekeyIfDue(keyring, later);
    }, Date.now() + WEEK_MS + 60_000);
    assert.equal((await served()).serial, old.serial + 1);
    const kept = await page.evaluate(async (id) => {
      const { currentKeyring } = await import('/js/session.js');
      const store = await import('/js/store.js');
      const keyring = currentKeyring();
      if (!keyring) throw new Error('no keyring');
      await keyring.peer(id, { refresh: true });
      return (await store.getIdentity(keyring.me.id, id))?.prekeySerials;
    }, sophie.id);
    assert.deepEqual(kept, { [sophie.deviceId]: old.serial + 1 });

    // The server serves her old prekey again; the policier's page is reloaded (nothing
    // in memory) and a new epoch is due.
    const users = `**/api/v1/keys/users/${sophie.id}`;
    await page.route(users, async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      body.devices = body.devices.map((/** @type {any} */ d) => (d.certificate.device_id === sophie.deviceId ? { ...d, prekey: old } : d));
      await route.fulfill({ response, json: body });
    });
    await reload(page, 'Le cent-unième.');
    await shiftClock(page, 2 * WEEK_MS);
    const published = page.waitForRequest((r) => r.url().endsWith(`/channels/${channelId}/epochs`) && r.method() === 'POST');
    await send('Après le rechargement.');
    const body = (await published).postDataJSON();
    assert.deepEqual(body.withheld, [{ device_id: sophie.deviceId, reason: 'unverified_device' }]);
    assert.ok(body.keys.every((/** @type {any} */ k) => k.recipient_device !== sophie.deviceId));
    await page.unroute(users);
  });

  test('the certificate’s agreement key is deleted once nothing needs it, and everything still opens', async () => {
    const { page } = tabs.policier;
    const social = tabs.social.page;
    await social.goto(channelUrl);
    await social.getByTestId('messages').getByText('Le cent-unième.').waitFor();
    // Past the grace period after her first prekey replaced it, and she reads no case
    // identity: the device drops it, in memory and in IndexedDB.
    const state = await social.evaluate(async (later) => {
      const { currentKeyring } = await import('/js/session.js');
      const { rotatePrekeyIfDue } = await import('/js/prekeys.js');
      const store = await import('/js/store.js');
      const keyring = currentKeyring();
      if (!keyring) throw new Error('no keyring');
      await rotatePrekeyIfDue(keyring, later);
      const stored = await store.getDevice(keyring.me.id);
      return {
        stored: stored?.agreementKey ?? null,
        inMemory: keyring.device.agreementKey ?? null,
        serials: (stored?.prekeys ?? []).map((/** @type {any} */ p) => p.serial),
      };
    }, Date.now() + GRACE_MS + 2 * WEEK_MS);
    assert.equal(state.stored, null);
    assert.equal(state.inMemory, null);
    assert.deepEqual(state.serials, [2, 3], 'prekey 1 gone after its grace period');

    // After a reload she reads the history (epoch keys kept here) and a new epoch,
    // wrapped to her current prekey.
    await reload(social, 'Le cent-unième.');
    await shiftClock(page, 4 * WEEK_MS);
    await send('Sans la clé du certificat.');
    await social.getByTestId('messages').getByText('Sans la clé du certificat.').waitFor();
    const shown = await shownMessages(social);
    for (const text of ['Message 100', 'Le cent-unième.', 'Sans la clé du certificat.']) assert.ok(shown.includes(text), `${text} is not shown`);
  });

  test('after a removal it saw, the browser opens a new epoch without the removed member even when the server never asks, across a reload', async () => {
    tabs.coordinatrice = await openTab(browser);
    const { page } = tabs.coordinatrice;
    /** @type {{ type: string }[]} */
    const seen = [];
    /** @type {(() => void)[]} */
    const woken = [];
    page.on('websocket', (socket) =>
      socket.on('framereceived', ({ payload }) => {
        try {
          seen.push(JSON.parse(String(payload)));
        } catch {
          return;
        }
        for (const wake of woken.splice(0)) wake();
      }),
    );
    /** @param {string} type */
    const seenOf = (type) => seen.filter((f) => f.type === type).length;
    // A server that never asks for a rotation, the removal's included.
    await page.route(/\/api\/v1\/channels\/[^/]+\/epoch$/, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const response = await route.fetch();
      const body = await response.json();
      await route.fulfill({ response, json: { ...body, rotation_required: false } });
    });
    await logInReady(page, demo.url, demo.accounts.coordinatrice);
    const karimDevice = await tabs.policier.page.evaluate(async () => {
      const store = await import('/js/store.js');
      const me = await (await fetch('/api/v1/me')).json();
      return (await store.getDevice(me.id))?.deviceId;
    });
    assert.ok(karimDevice);
    const groupId = await createWorkingGroup(page, { name: 'Cellule de veille', institution: 'Police nationale (commissariat)', member: /^Karim Benali/ });
    const groupEpoch = () => page.evaluate(async (id) => (await (await fetch(`/api/v1/channels/${id}`)).json()).channel.epoch, groupId);

    /**
     * Sends `text` in the group; the wraps of the epoch it opened, if it opened one.
     * @param {string} text
     */
    const sendInGroup = async (text) => {
      /** @type {any[] | null} */
      let wraps = null;
      /** @param {import('playwright-core').Request} request */
      const onRequest = (request) => {
        if (request.method() === 'POST' && request.url().endsWith(`/channels/${groupId}/epochs`)) wraps = request.postDataJSON().keys;
      };
      page.on('request', onRequest);
      const acks = seenOf('ack');
      await page.getByLabel('Votre message').fill(text);
      await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
      await page.getByTestId('messages').getByText(text).waitFor();
      while (seenOf('ack') <= acks) await new Promise((resolve) => woken.push(() => resolve(undefined)));
      page.off('request', onRequest);
      return /** @type {any[] | null} */ (wraps);
    };
    /**
     * Removes Karim from the group with the coordinator's button.
     * @param {boolean} unfold Whether the member list must be unfolded first.
     */
    const removeKarim = async (unfold) => {
      if (unfold) await page.getByText('Membres (2)').click();
      await page.getByRole('button', { name: 'Retirer Karim Benali' }).click();
      await page.getByRole('dialog').getByLabel('Motif du retrait').fill('Changement de poste');
      await page.getByRole('dialog').getByRole('button', { name: 'Retirer du canal' }).click();
      await page.getByText('Membres (1)').waitFor();
    };

    const first = await sendInGroup('Avant le retrait.');
    assert.ok(first?.some((k) => k.recipient_device === karimDevice), 'Karim holds the first epoch');
    const before = await groupEpoch();

    // Removed, then the next message: a new epoch, not wrapped to his device.
    await removeKarim(true);
    const wraps = await sendInGroup('Après le retrait.');
    assert.equal(await groupEpoch(), before + 1, 'the message after the removal opened a new epoch');
    assert.ok(wraps && wraps.length > 0, 'the new epoch was published by this browser');
    assert.ok(wraps.every((k) => k.recipient_device !== karimDevice), 'the removed member’s device got no wrap');
    assert.equal(seenOf('epoch_required'), 0, 'the browser rotated before the server refused anything');

    // Back in, an epoch he holds; removed again, then a reload before the next message.
    await page.getByLabel('Ajouter un membre').selectOption({ label: 'Karim Benali — Police nationale (commissariat)' });
    await page.getByRole('button', { name: 'Ajouter', exact: true }).click();
    await page.getByText('Membres (2)').waitFor();
    // (The server refuses this one in the old epoch: the double hides that an addition
    // needs a new epoch, which is the server's rule, not a bound of §23.4.)
    await sendInGroup('De retour.');
    const back = await groupEpoch();
    const held = await page.evaluate(async ({ id, epoch }) => {
      const { currentKeyring } = await import('/js/session.js');
      const keyring = currentKeyring();
      if (!keyring) throw new Error('no keyring');
      return (await keyring.epochKey(id, epoch)) !== null && !(await keyring.mustRotate(id, epoch));
    }, { id: groupId, epoch: back });
    assert.ok(held, 'the epoch after his return is current and not due');
    // The list is still unfolded from the addition.
    await removeKarim(false);
    // The removal is recorded here (IndexedDB) before the page goes away.
    await page.waitForFunction(async ({ id, epoch }) => {
      const { currentKeyring } = await import('/js/session.js');
      return (await currentKeyring()?.mustRotate(id, epoch)) === true;
    }, { id: groupId, epoch: back });
    await page.goto(`${demo.url}/canal/${groupId}`);
    await page.getByTestId('connection-status').getByText('Connecté').waitFor();
    await page.getByTestId('messages').getByText('De retour.').waitFor();
    const asked = seenOf('epoch_required');
    const afterReload = await sendInGroup('Après le rechargement.');
    assert.equal(await groupEpoch(), back + 1, 'the message after the reload opened a new epoch');
    assert.ok(afterReload && afterReload.length > 0 && afterReload.every((k) => k.recipient_device !== karimDevice), 'no wrap for the removed member after the reload');
    assert.equal(seenOf('epoch_required'), asked, 'the browser rotated after the reload before the server refused anything');
  });
});
