// Identity pins and « vérifié » marks travel inside the encrypted key backup (issue 17,
// item 5; docs/PROTOCOL.md §10.3): a browser restored with the recovery code trusts
// the colleagues its owner verified elsewhere, instead of trusting everyone afresh.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, openTab, startDemoAndBrowser } from './lib/browser.mjs';
import { logIn, logInReady } from './lib/flows.mjs';

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

describe('trust in the key backup', { timeout: 240_000 }, () => {
  test('a device restored with the recovery code shows the same verified marks', async () => {
    tabs.policier = await openTab(browser);
    tabs.social = await openTab(browser);
    const recoveryCode = await logInReady(tabs.policier.page, demo.url, demo.accounts.policier);
    await logInReady(tabs.social.page, demo.url, demo.accounts['assistante.sociale']);

    const { page } = tabs.policier;
    await page.getByRole('link', { name: 'Écrire à un collègue' }).first().click();
    await page.getByLabel('Collègue').selectOption({ label: 'Sophie Leroy — Conseil départemental (action sociale, ASE)' });
    await page.getByRole('button', { name: 'Commencer la conversation' }).click();
    await page.waitForURL(/\/canal\//);
    await page.getByText('Membres (2)').click();
    await page.getByRole('button', { name: 'Vérifier l’identité de Sophie Leroy' }).click();
    // The mark is written into the backup: wait for that upload, not for a delay.
    const uploaded = page.waitForResponse((r) => r.url().endsWith('/api/v1/keys/backup/head') && r.request().method() === 'PUT' && r.ok());
    await page.getByRole('dialog').getByRole('button', { name: /marquer comme vérifiée/ }).click();
    await page.getByText('identité vérifiée').first().waitFor();
    await uploaded;

    // A new browser of his, admitted with the recovery code.
    tabs.laptop = await openTab(browser);
    const laptop = tabs.laptop.page;
    await logIn(laptop, demo.url, demo.accounts.policier, Date.now() + 30_000);
    await laptop.getByRole('heading', { level: 1, name: 'Configurer cet appareil' }).waitFor();
    await laptop.getByLabel(/^Code de secours/).fill(recoveryCode);
    await laptop.getByRole('button', { name: 'Activer cet appareil' }).click();
    await laptop.getByRole('heading', { level: 1, name: 'Vos échanges' }).waitFor();
    await laptop.getByRole('navigation', { name: 'Vos canaux' }).getByRole('link', { name: /^Sophie Leroy.*Conversation directe/ }).click();
    await laptop.getByText('Membres (2)').click();
    await laptop.getByText('identité vérifiée').first().waitFor();
    await laptop.getByRole('button', { name: 'Vérifier l’identité de Sophie Leroy' }).click();
    await laptop.getByRole('dialog').getByTestId('verification-status').getByText('Identité vérifiée').waitFor();
    assert.equal(await laptop.getByTestId('identity-warning').count(), 0);
    assertNoProblems(tabs.policier);
    assertNoProblems(tabs.laptop);
  });
});
