// Rotating agreement keys in the browser (PROTOCOL.md §23): the device publishes a signed
// prekey when it starts, rotates it when it is due, keeps the new one in IndexedDB, and
// still reads the messages of before and after; the new epoch is wrapped to the new
// prekey, which alone opens it; the wrap is deleted once acknowledged.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { logIn, logInReady, shownMessages } from './lib/flows.mjs';

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

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * The prekeys of this browser's device as IndexedDB holds them, and the serial the
 * server serves to colleagues.
 * @param {import('playwright-core').Page} page
 */
function prekeyState(page) {
  return page.evaluate(async () => {
    const store = await import('/js/store.js');
    const me = await (await fetch('/api/v1/me')).json();
    const device = await store.getDevice(me.id);
    const served = await (await fetch(`/api/v1/keys/users/${me.id}`)).json();
    const mine = served.devices.find((/** @type {any} */ d) => d.certificate.device_id === device?.deviceId);
    return {
      held: (device?.prekeys ?? []).map((/** @type {any} */ p) => ({ serial: p.serial, retired: p.retiredAt !== null, extractable: p.privateKey.extractable })),
      served: mine?.prekey?.serial ?? null,
    };
  });
}

describe('rotating agreement keys in the browser', { timeout: 240_000 }, () => {
  test('the browser rotates its prekey, still reads old and new messages, and the new epoch opens under the new prekey only', async () => {
    tabs.policier = await openTab(browser);
    tabs.social = await openTab(browser);
    const policierCode = await logInReady(tabs.policier.page, demo.url, demo.accounts.policier);
    await logInReady(tabs.social.page, demo.url, demo.accounts['assistante.sociale']);
    // Set up: the first prekey is published and kept, non-extractable.
    assert.deepEqual(await prekeyState(tabs.social.page), { held: [{ serial: 1, retired: false, extractable: false }], served: 1 });

    // A message before the rotation.
    const { page } = tabs.policier;
    await page.getByRole('link', { name: 'Écrire à un collègue' }).first().click();
    await page.getByLabel('Collègue').selectOption({ label: 'Sophie Leroy — Conseil départemental (action sociale, ASE)' });
    await page.getByRole('button', { name: 'Commencer la conversation' }).click();
    await page.waitForURL(/\/canal\//);
    const channelUrl = page.url();
    const channelId = decodeURIComponent(channelUrl.split('/canal/')[1].split(/[?#/]/)[0]);
    await page.getByLabel('Votre message').fill('Avant la rotation.');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByTestId('messages').getByTestId('sent').waitFor();
    const social = tabs.social.page;
    await social.goto(channelUrl);
    await social.getByTestId('messages').getByText('Avant la rotation.').waitFor();

    // A week later, at its start, the browser rotates (the clock is a parameter).
    const rotated = await social.evaluate(async (later) => {
      const { currentKeyring } = await import('/js/session.js');
      const { rotatePrekeyIfDue } = await import('/js/prekeys.js');
      const keyring = currentKeyring();
      if (!keyring) throw new Error('no keyring');
      return rotatePrekeyIfDue(keyring, later);
    }, Date.now() + WEEK_MS + 60_000);
    assert.equal(rotated, true);
    assert.deepEqual(await prekeyState(social), {
      held: [
        { serial: 1, retired: true, extractable: false },
        { serial: 2, retired: false, extractable: false },
      ],
      served: 2,
    });
    // Her browser is closed; the profile stays.
    await social.close();

    // The policier links a second browser: the conversation needs a new epoch, which his
    // first browser makes when it sends, for her new prekey.
    tabs.policierLaptop = await openTab(browser);
    const laptop = tabs.policierLaptop.page;
    await logIn(laptop, demo.url, demo.accounts.policier, Date.now() + 30_000);
    const restore = laptop.locator('form').filter({ has: laptop.getByLabel(/^Code de secours/) });
    await restore.getByLabel('Nom de cet appareil').fill('Ordinateur portable');
    await restore.getByLabel(/^Code de secours/).fill(policierCode);
    await restore.getByRole('button', { name: 'Activer cet appareil' }).click();
    await laptop.getByRole('heading', { level: 1, name: 'Vos échanges' }).waitFor();
    await page.getByLabel('Votre message').fill('Après la rotation.');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByTestId('messages').getByTestId('sent').nth(1).waitFor();

    // She opens her browser again; her acknowledgements are held back a moment so the
    // wrap can be examined.
    const reopened = await tabs.social.context.newPage();
    await reopened.route('**/keys/delivered', (route) => route.abort());
    await reopened.goto(channelUrl);
    await reopened.getByTestId('messages').getByText('Après la rotation.').waitFor();
    assert.deepEqual(await shownMessages(reopened), ['Avant la rotation.', 'Après la rotation.']);

    // The newest wrap opens with prekey 2 and with no other key of hers.
    const opens = await reopened.evaluate(async (channel) => {
      const c = await import('/js/crypto.js');
      const store = await import('/js/store.js');
      const me = await (await fetch('/api/v1/me')).json();
      const device = await store.getDevice(me.id);
      if (!device) throw new Error('no device');
      const page = await (await fetch(`/api/v1/channels/${channel}/keys?device_id=${device.deviceId}`)).json();
      const newest = page.keys.reduce((/** @type {any} */ a, /** @type {any} */ b) => (b.epoch > a.epoch ? b : a));
      const policier = (await (await fetch('/api/v1/channels/' + channel)).json()).members.find((/** @type {any} */ m) => m.user_id !== me.id);
      const keys = await (await fetch(`/api/v1/keys/users/${policier.user_id}`)).json();
      const sender = keys.devices.find((/** @type {any} */ d) => d.certificate.device_id === newest.sender_device);
      const senderSigningKey = c.fromBase64url(sender.certificate.keys.signing);
      const candidates = [
        ...(device.prekeys ?? []).map((/** @type {any} */ p) => ({ name: `prekey ${p.serial}`, privateKey: p.privateKey, publicKey: p.publicKey })),
        { name: 'certificate', privateKey: device.agreementKey, publicKey: device.agreementPublic },
      ];
      const opened = [];
      for (const key of candidates) {
        try {
          await c.unwrapEpochKey({ wrapped: newest, channelId: channel, recipientDevice: device.deviceId, agreementKey: key.privateKey, agreementPublic: key.publicKey, senderSigningKey });
          opened.push(key.name);
        } catch {
          // Not this key.
        }
      }
      return { epochs: page.keys.length, opened };
    }, channelId);
    assert.deepEqual(opens.opened, ['prekey 2'], JSON.stringify(opens));
    // The wrap of the first epoch was acknowledged when she read it: only the new one is left.
    assert.equal(opens.epochs, 1);

    // Acknowledged, the wraps are deleted from the server.
    await reopened.unroute('**/keys/delivered');
    const delivered = reopened.waitForResponse((r) => r.url().endsWith('/keys/delivered') && r.status() === 204);
    await reopened.evaluate(async () => {
      const { currentKeyring } = await import('/js/session.js');
      await currentKeyring()?.flushAcknowledgements();
    });
    await delivered;
    const remaining = await reopened.evaluate(async (channel) => {
      const store = await import('/js/store.js');
      const me = await (await fetch('/api/v1/me')).json();
      const device = await store.getDevice(me.id);
      const page = await (await fetch(`/api/v1/channels/${channel}/keys?device_id=${device?.deviceId}`)).json();
      return page.keys.length;
    }, channelId);
    assert.equal(remaining, 0);
  });
});
