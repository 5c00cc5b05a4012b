// The cross test of issue 7: a message sent by the Rust SDK is read in the browser, and
// the reverse. The coordinator works in the browser; the police officer is the SDK
// (tests/src/bin/passerelle-sdk-cli.rs), driven line by line on its stdin/stdout.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, openTab, screenshot, startDemoAndBrowser } from './lib/browser.mjs';
import { logInReady } from './lib/flows.mjs';
import { sdkCli, startSdk } from './lib/sdk.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab | undefined} */
let tab;
/** @type {ReturnType<typeof startSdk> | undefined} */
let sdk;
let binary = '';

before(async () => {
  binary = sdkCli();
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  sdk?.stop();
  await tab?.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

describe('the Rust SDK and the browser read each other', { timeout: 240_000 }, () => {
  test('a message sent by the SDK is read in the browser, and the reverse', async () => {
    tab = await openTab(browser);
    const { page } = tab;
    await logInReady(page, demo.url, demo.accounts.coordinatrice);

    // The coordinator creates a working group with the police officer, and accepts its rules.
    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
    await page.getByLabel('Nom', { exact: true }).fill('Échange avec le SDK');
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
    await page.getByLabel(/^Karim Benali/).check();
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.waitForURL(/\/canal\//);
    const channelId = page.url().split('/').pop() ?? '';
    assert.ok(channelId, 'the channel id is in the address');
    await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
    await page.getByLabel('Votre message').waitFor();

    // The police officer is the SDK (an account the browser never logs into).
    const officer = demo.accounts.policier;
    sdk = startSdk(binary, ['exchange', demo.url, officer.login, officer.password, officer.totpSecret, channelId]);
    assert.deepEqual(await sdk.nextAnswer(), { ready: true });

    const sent = await sdk.command('send Bonjour depuis le SDK');
    assert.equal(typeof sent.sent, 'number');
    const messages = page.getByTestId('messages');
    await messages.getByText('Bonjour depuis le SDK').waitFor();

    await page.getByLabel('Votre message').fill('Réponse du navigateur');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    const read = await sdk.command('read 1');
    assert.deepEqual(read, { messages: ['Réponse du navigateur'] });

    await screenshot(page, 'sdk-cross');
    assertNoProblems(tab);
  });
});
