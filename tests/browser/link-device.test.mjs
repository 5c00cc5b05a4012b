// Admitting a new device from a device already connected (PROTOCOL.md §5.5, §5.5.1).
//
// The coordinator uses Passerelle in browser A and has already exchanged messages with the
// police officer (the Rust SDK). She opens a second browser, B, and chooses to link it:
// B shows a link code computed from its own request; A, a dialog with the first group of
// the code computed from the relayed request and the identity key A holds, and a field
// where she types the rest from B's screen (a wrong code certifies nothing). A approves:
// B reaches the messaging screen, reads the earlier messages (A re-wrapped the past epoch
// keys for it) and writes a message that the officer reads.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, screenshotSizes, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logIn, logInReady } from './lib/flows.mjs';
import { sdkCli, startSdk } from './lib/sdk.mjs';
import jsQR from 'jsqr';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab[]} */
const tabs = [];
/** @type {ReturnType<typeof startSdk> | undefined} */
let sdk;
let binary = '';
/** Backup writes made by browser B (linked: none until it is given the recovery code). */
let backupWritesOnB = 0;
/** The coordinator's recovery code, shown once to browser A. */
let recoveryCode = '';
/** The time whose TOTP code the last login typed (a step serves once). */
let lastCodeAt = 0;

before(async () => {
  binary = sdkCli();
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  sdk?.stop();
  for (const tab of tabs) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

/** @param {string} text */
const spaced = (text) => text.replace(/\s+/g, ' ').trim();

describe('linking a new device from one already connected', { timeout: 300_000 }, () => {
  test('both devices show the same link code; once approved, the new one reads the history and writes', async () => {
    const a = await openTab(browser);
    tabs.push(a);
    recoveryCode = await logInReady(a.page, demo.url, demo.accounts.coordinatrice);
    const channelId = await createWorkingGroup(a.page, {
      name: 'Cellule de veille',
      institution: 'Police nationale (commissariat)',
      member: /^Karim Benali/,
    });
    const officer = demo.accounts.policier;
    sdk = startSdk(binary, ['exchange', demo.url, officer.login, officer.password, officer.totpSecret, channelId]);
    assert.deepEqual(await sdk.nextAnswer(), { ready: true });
    await a.page.getByLabel('Votre message').fill('Message écrit avant la liaison');
    await a.page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    assert.deepEqual(await sdk.command('read 1'), { messages: ['Message écrit avant la liaison'] });
    await sdk.command('send Réponse du commissariat avant la liaison');
    await a.page.getByTestId('messages').getByText('Réponse du commissariat avant la liaison').waitFor();

    // Browser B: the same account, a second login (the next TOTP step's code).
    const b = await openTab(browser);
    tabs.push(b);
    b.page.on('request', (request) => {
      if (request.method() === 'PUT' && request.url().endsWith('/api/v1/keys/backup/head')) backupWritesOnB += 1;
    });
    lastCodeAt = Date.now() + 30_000;
    await logIn(b.page, demo.url, demo.accounts.coordinatrice, lastCodeAt);
    await b.page.getByRole('heading', { level: 1, name: 'Configurer cet appareil' }).waitFor();
    await b.page.getByRole('heading', { level: 2, name: 'Relier à un appareil déjà connecté' }).waitFor();
    await assertAccessible(b.page, 'device set-up (three paths)');
    const linkForm = b.page.getByRole('form', { name: 'Relier à un appareil déjà connecté' });
    await linkForm.getByLabel('Nom de cet appareil').fill('Ordinateur portable');
    await linkForm.getByRole('button', { name: 'Relier à un appareil déjà connecté' }).click();
    const codeOnB = spaced(await b.page.getByTestId('link-code').innerText());
    assert.match(codeOnB, /^\d{5} \d{5} \d{5} \d{5}$/, 'four groups of five digits');
    const qr = await b.page.getByRole('img', { name: 'Code QR du code de liaison' }).getAttribute('src');
    const payload = decodeQrImage(qr ?? '');
    assert.match(payload ?? '', /^passerelle:link:v1:[A-Za-z0-9_-]{43}$/, 'the QR code carries the whole digest');
    assert.equal(linkDigits(Buffer.from((payload ?? '').split(':').pop() ?? '', 'base64url')), codeOnB.replace(/ /g, ''), 'the QR code and the digits agree');
    await assertAccessible(b.page, 'link code (new device)');
    await screenshot(b.page, 'link-new-device');

    // Browser A: the dialog, with the code computed there.
    const dialog = a.page.getByRole('dialog', { name: 'Un nouvel appareil demande à rejoindre votre compte' });
    await dialog.waitFor();
    await dialog.getByText('« Ordinateur portable »').waitFor();
    // A shows only the code's first group: the person types the rest from B's screen.
    const startOnA = spaced(await dialog.getByTestId('link-code-start').innerText());
    assert.equal(startOnA, codeOnB.split(' ')[0], 'the request shown is the one B made');
    assert.equal(await dialog.getByText(codeOnB.split(' ').slice(1).join(' ')).count(), 0, 'A never shows the rest of the code');
    await assertAccessible(a.page, 'link request (existing device)');
    await screenshot(a.page, 'link-approval');
    await screenshotSizes(a.page, 'link-approval');
    // A mistyped (or swapped) code certifies nothing.
    const rest = dialog.getByLabel('Suite du code affiché sur le nouvel appareil');
    const wrong = codeOnB.split(' ').slice(1).join('').replace(/\d$/, (d) => String((Number(d) + 1) % 10));
    await rest.fill(wrong);
    await dialog.getByRole('button', { name: 'Autoriser cet appareil' }).click();
    await dialog.getByRole('alert').getByText('Ce code ne correspond pas à la demande reçue ici', { exact: false }).waitFor();
    await rest.fill(codeOnB.split(' ').slice(1).join(' '));
    await dialog.getByRole('button', { name: 'Autoriser cet appareil' }).click();
    await a.page.locator('#notice-status').getByText('L’appareil « Ordinateur portable » est autorisé', { exact: false }).waitFor();
    assert.equal(await dialog.count(), 0, 'the dialog is closed');

    // Browser B goes on by itself: the messaging screen, the history readable.
    await b.page.getByRole('heading', { level: 1, name: 'Vos échanges' }).waitFor();
    await b.page.locator('#notice-status').getByText('Cet appareil est relié à votre compte', { exact: false }).waitFor();
    await b.page.getByTestId('connection-status').getByText('Connecté').waitFor();
    await b.page.getByRole('link', { name: /Cellule de veille/ }).click();
    const messagesOnB = b.page.getByTestId('messages');
    await messagesOnB.getByText('Message écrit avant la liaison').waitFor();
    await messagesOnB.getByText('Réponse du commissariat avant la liaison').waitFor();
    assert.equal(await messagesOnB.locator('.message-unreadable').count(), 0, 'every earlier message is decrypted');

    // B writes; the officer reads it, and so does A (the same account).
    await b.page.getByLabel('Votre message').fill('Écrit depuis l’ordinateur portable');
    await b.page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    assert.deepEqual(await sdk.command('read 1'), { messages: ['Écrit depuis l’ordinateur portable'] });
    await a.page.getByTestId('messages').getByText('Écrit depuis l’ordinateur portable').waitFor();
    await messagesOnB.getByTestId('sent').last().waitFor();
    await screenshot(b.page, 'link-new-device-ready');
    assert.equal(backupWritesOnB, 0, 'a linked device, without the backup key, never writes the backup');

    for (const tab of tabs) assertNoProblems(tab);
  });

  test('a linked device cannot approve until given the recovery code; a refused request says so and can start again', async () => {
    const [a, b] = tabs;
    const c = await openTab(browser);
    tabs.push(c);
    await logIn(c.page, demo.url, demo.accounts.coordinatrice, await freshCodeAt());
    await c.page.getByRole('heading', { level: 1, name: 'Configurer cet appareil' }).waitFor();
    const linkForm = c.page.getByRole('form', { name: 'Relier à un appareil déjà connecté' });
    await linkForm.getByLabel('Nom de cet appareil').fill('Tablette');
    await linkForm.getByRole('button', { name: 'Relier à un appareil déjà connecté' }).click();
    await c.page.getByTestId('link-code').waitFor();

    // B was itself linked: it holds no identity key, says so and offers the recovery code.
    const dialogOnB = b.page.getByRole('dialog', { name: 'Un nouvel appareil demande à rejoindre votre compte' });
    await dialogOnB.getByText('ne peut donc pas autoriser un nouvel appareil', { exact: false }).waitFor();
    await dialogOnB.getByLabel('Code de secours').waitFor();
    assert.equal(await dialogOnB.getByRole('button', { name: 'Autoriser cet appareil' }).count(), 0);
    await assertAccessible(b.page, 'link request on a linked device');
    await screenshot(b.page, 'link-linked-device-cannot-approve');

    // A refuses: B's dialog goes away by itself, and the new device says so.
    const dialogOnA = a.page.getByRole('dialog', { name: 'Un nouvel appareil demande à rejoindre votre compte' });
    await dialogOnA.getByText('« Tablette »').waitFor();
    await dialogOnA.getByRole('button', { name: 'Refuser' }).click();
    await a.page.locator('#notice-status').getByText('Demande refusée', { exact: false }).waitFor();
    await dialogOnB.waitFor({ state: 'detached' });
    await b.page.locator('#notice-status').getByText('a été refusée ou annulée', { exact: false }).waitFor();
    await c.page.getByTestId('link-ended').getByText('La demande a été refusée', { exact: false }).waitFor();
    await assertAccessible(c.page, 'link refused');
    await screenshot(c.page, 'link-refused');

    // C starts again; this time B is given the recovery code and approves it.
    await c.page.getByRole('button', { name: 'Recommencer' }).click();
    await linkForm.getByLabel('Nom de cet appareil').fill('Tablette');
    await linkForm.getByRole('button', { name: 'Relier à un appareil déjà connecté' }).click();
    const codeOnC = spaced(await c.page.getByTestId('link-code').innerText());
    // A page opened after the request was made finds it in the list of pending ones.
    await a.page.reload();
    await dialogOnA.getByText('« Tablette »').waitFor();
    await dialogOnA.getByRole('button', { name: 'Plus tard' }).click();
    await dialogOnB.getByLabel('Code de secours').fill('pas un code');
    await dialogOnB.getByRole('button', { name: 'Utiliser mon code de secours' }).click();
    await dialogOnB.getByRole('alert').getByText('Ce code de secours n’est pas valide', { exact: false }).waitFor();
    await dialogOnB.getByLabel('Code de secours').fill(recoveryCode);
    const backupWritten = b.page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/api/v1/keys/backup/head'));
    await dialogOnB.getByRole('button', { name: 'Utiliser mon code de secours' }).click();
    // With the backup key, B now keeps the backup up to date (the keys it received since linking).
    assert.ok((await backupWritten).ok(), 'the backup write is accepted');
    assert.equal(spaced(await dialogOnB.getByTestId('link-code-start').innerText()), codeOnC.split(' ')[0], 'the request shown is the one C made');
    await dialogOnB.getByLabel('Suite du code affiché sur le nouvel appareil').fill(codeOnC.split(' ').slice(1).join(''));
    await dialogOnB.getByRole('button', { name: 'Autoriser cet appareil' }).click();
    await b.page.locator('#notice-status').getByText('L’appareil « Tablette » est autorisé', { exact: false }).waitFor();

    await c.page.getByRole('heading', { level: 1, name: 'Vos échanges' }).waitFor();
    await c.page.getByRole('link', { name: /Cellule de veille/ }).click();
    const messagesOnC = c.page.getByTestId('messages');
    for (const text of ['Message écrit avant la liaison', 'Réponse du commissariat avant la liaison', 'Écrit depuis l’ordinateur portable']) {
      await messagesOnC.getByText(text).waitFor();
    }
    assert.equal(await messagesOnC.locator('.message-unreadable').count(), 0, 'every earlier message is decrypted');
    for (const tab of tabs) assertNoProblems(tab);
  });

  test('an expired request says so and starts again; a request can be cancelled from the new device', async () => {
    // The police officer's only device is the SDK's; he opens a browser and asks to link it.
    const d = await openTab(browser);
    tabs.push(d);
    await logIn(d.page, demo.url, demo.accounts.policier);
    const linkForm = d.page.getByRole('form', { name: 'Relier à un appareil déjà connecté' });
    await linkForm.getByRole('button', { name: 'Relier à un appareil déjà connecté' }).click();
    await d.page.getByTestId('link-code').waitFor();
    // Ten minutes are long for a test: the server's answer to the poll is replaced by the
    // one it gives once the request expired.
    await d.page.route(/\/api\/v1\/keys\/link-requests\/[^/]+$/, async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, json: { ...(await response.json()), status: 'expired' } });
    });
    await d.page.getByTestId('link-ended').getByText('La demande a expiré', { exact: false }).waitFor();
    await d.page.unrouteAll();

    await d.page.getByRole('button', { name: 'Recommencer' }).click();
    await linkForm.getByRole('button', { name: 'Relier à un appareil déjà connecté' }).click();
    await d.page.getByTestId('link-code').waitFor();
    const cancelled = d.page.waitForResponse((r) => r.request().method() === 'DELETE' && r.url().includes('/api/v1/keys/link-requests/'));
    await d.page.getByRole('button', { name: 'Annuler la demande' }).click();
    assert.equal((await cancelled).status(), 204, 'the request is refused on the server');
    await linkForm.waitFor();
    assertNoProblems(d);
  });
});

/**
 * The time whose TOTP code a new login of the same account may type: a step later than
 * the last one used (the server refuses a step twice) and at most the next one. Waits for
 * the clock to reach such a step when needed (up to 30 s).
 */
async function freshCodeAt() {
  const step = (/** @type {number} */ ms) => Math.floor(ms / 30_000);
  while (step(Date.now() + 30_000) <= step(lastCodeAt)) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  lastCodeAt = Date.now() + 30_000;
  return lastCodeAt;
}

/**
 * Decodes the client's QR code image (an SVG data URL whose path draws one unit square per
 * dark module, after a 4-module quiet zone) with an independent reader.
 * @param {string} src
 * @returns {string | null}
 */
function decodeQrImage(src) {
  const svg = decodeURIComponent(src.replace(/^data:image\/svg\+xml;charset=utf-8,/, ''));
  const side = Number(/viewBox="0 0 (\d+) \d+"/.exec(svg)?.[1]);
  const scale = 4;
  const size = side * scale;
  const pixels = new Uint8ClampedArray(size * size * 4).fill(255);
  for (const [, x, y] of svg.matchAll(/M(\d+) (\d+)h1v1h-1z/g)) {
    for (let dy = 0; dy < scale; dy += 1) {
      for (let dx = 0; dx < scale; dx += 1) {
        const offset = ((Number(y) * scale + dy) * size + Number(x) * scale + dx) * 4;
        pixels[offset] = pixels[offset + 1] = pixels[offset + 2] = 0;
      }
    }
  }
  return jsQR(pixels, size, size)?.data ?? null;
}

/**
 * The link code's digits from its digest (PROTOCOL.md §6, §6.2): each of the first four
 * 5-byte chunks as a big-endian integer, modulo 100 000, in 5 digits.
 * @param {Buffer} digest
 */
function linkDigits(digest) {
  let out = '';
  for (let i = 0; i < 20; i += 5) out += String(digest.readUIntBE(i, 5) % 100000).padStart(5, '0');
  return out;
}
