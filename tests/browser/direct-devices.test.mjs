// A member with no exchange yet is told what to do and starts a direct conversation with a
// colleague herself (issue 20, item 3); « Mes appareils » in « Sécurité du compte » lists
// her devices and revokes a lost one, after a confirmation whose default is the safe answer
// (items 4 and 5).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, openTab, screenshot, screenshotSizes, startDemoAndBrowser } from './lib/browser.mjs';
import { logIn, logInReady, shownMessages } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Record<string, import('./lib/browser.mjs').Tab>} */
const tabs = {};
let socialRecoveryCode = '';
let directUrl = '';

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  for (const tab of Object.values(tabs)) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

describe('direct conversations and « Mes appareils »', { timeout: 240_000 }, () => {
  test('a member with no exchange yet is told what to do', async () => {
    tabs.policier = await openTab(browser);
    tabs.social = await openTab(browser);
    await logInReady(tabs.policier.page, demo.url, demo.accounts.policier);
    socialRecoveryCode = await logInReady(tabs.social.page, demo.url, demo.accounts['assistante.sociale']);
    const { page } = tabs.policier;
    const empty = page.getByTestId('empty-state');
    await empty.getByRole('heading', { level: 2, name: 'Vous n’avez encore aucun échange.' }).waitFor();
    await empty.getByText('Un coordinateur du CLSPD vous ajoutera', { exact: false }).waitFor();
    assert.equal(await page.getByText('Choisissez un canal').count(), 0);
    await assertAccessible(page, 'messaging (no exchange yet)');
    await screenshot(page, 'messaging-first-steps');
    await screenshotSizes(page, 'messaging-first-steps');
  });

  test('a member starts a direct conversation with a colleague, who reads it', async () => {
    const { page } = tabs.policier;
    await page.getByTestId('empty-state').getByRole('link', { name: 'Écrire à un collègue' }).click();
    await page.getByRole('heading', { level: 1, name: 'Écrire à un collègue' }).waitFor();
    await page.getByLabel('Collègue').selectOption({ label: 'Sophie Leroy — Conseil départemental (action sociale, ASE)' });
    await assertAccessible(page, 'new direct conversation');
    await screenshot(page, 'direct-new');
    await screenshotSizes(page, 'direct-new');
    await page.getByRole('button', { name: 'Commencer la conversation' }).click();
    await page.waitForURL(/\/canal\//);
    directUrl = page.url();
    await page.getByTestId('conversation-title').getByText('Sophie Leroy').waitFor();
    // Outside any working group, it carries its own label, not a group regime's (C1).
    assert.equal(await page.locator('.conversation-meta').innerText(), 'Conversation directe · entre deux professionnels, hors groupe de travail');
    await page.getByLabel('Votre message').fill('Bonjour, pouvons-nous faire le point demain matin ?');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await page.getByTestId('messages').getByTestId('sent').waitFor();

    const social = tabs.social.page;
    // Listed among her channels by the other person's name, as a direct conversation.
    const directs = social.getByRole('navigation', { name: 'Vos canaux' });
    await directs.getByRole('link', { name: /^Karim Benali.*Conversation directe/ }).click();
    await social.getByTestId('messages').getByText('Bonjour, pouvons-nous faire le point demain matin ?').waitFor();
    await assertAccessible(social, 'direct conversation');
    await screenshot(social, 'direct-conversation');
    await screenshotSizes(social, 'direct-conversation');

    // The same colleague again leads back to the same conversation, not a second one.
    await page.getByRole('link', { name: 'Écrire à un collègue' }).first().click();
    await page.getByLabel('Collègue').selectOption({ label: 'Sophie Leroy — Conseil départemental (action sociale, ASE)' });
    await page.getByRole('button', { name: 'Commencer la conversation' }).click();
    await page.waitForURL(directUrl);
    await page.getByTestId('messages').getByTestId('sent').waitFor();
    assert.deepEqual(await shownMessages(page), ['Bonjour, pouvons-nous faire le point demain matin ?']);
  });

  test('« Mes appareils » lists the devices and revokes another one, Enter answering « Annuler »', async () => {
    // A second browser of hers, admitted with the recovery code.
    tabs.socialLaptop = await openTab(browser);
    const laptop = tabs.socialLaptop.page;
    await logIn(laptop, demo.url, demo.accounts['assistante.sociale'], Date.now() + 30_000);
    const restore = laptop.locator('form').filter({ has: laptop.getByLabel(/^Code de secours/) });
    await restore.getByLabel('Nom de cet appareil').fill('Ordinateur portable');
    await restore.getByLabel(/^Code de secours/).fill(socialRecoveryCode);
    await restore.getByRole('button', { name: 'Activer cet appareil' }).click();
    await laptop.getByRole('heading', { level: 1, name: 'Vos échanges' }).waitFor();

    const { page } = tabs.social;
    await page.getByRole('link', { name: 'Sécurité du compte' }).click();
    await page.getByRole('heading', { level: 2, name: 'Mes appareils' }).waitFor();
    const devices = page.getByTestId('devices');
    await devices.getByRole('row').nth(2).waitFor();
    assert.equal(await devices.getByRole('row').count(), 3, 'a header and two devices');
    const current = devices.getByRole('row').filter({ hasText: 'Cet appareil' });
    assert.equal(await current.count(), 1, 'this browser is marked');
    const other = devices.getByRole('row').filter({ hasText: 'Ordinateur portable' });
    await other.getByText('Actif').waitFor();
    await assertAccessible(page, 'account security with devices');
    await screenshot(page, 'devices');
    await screenshotSizes(page, 'account-security');

    // The confirmation opens on « Annuler »: Enter revokes nothing.
    const revoke = other.getByRole('button', { name: 'Révoquer l’appareil « Ordinateur portable »' });
    await revoke.click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: /^Révoquer l’appareil « Ordinateur portable »/ }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Annuler');
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached' });
    await other.getByText('Actif').waitFor();

    await revoke.click();
    await dialog.getByRole('button', { name: 'Révoquer l’appareil' }).click();
    await page.locator('#notice-status').getByText('L’appareil « Ordinateur portable » est révoqué.').waitFor();
    await devices.getByRole('row').filter({ hasText: 'Ordinateur portable' }).getByText(/^Révoqué le /).waitFor();
    assert.equal(await devices.getByRole('button', { name: /^Révoquer/ }).count(), 0);
    // Its session ended with it: only this one is left to close.
    await page.getByRole('table', { name: 'Vos sessions ouvertes' }).getByRole('button', { name: /^Fermer/ }).waitFor({ state: 'detached' });
    await screenshot(page, 'devices-revoked');

    // The revoked browser is sent back to the login screen, and told why.
    await laptop.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
    await laptop.locator('#notice-error').getByText('Cet appareil a été révoqué').waitFor();
  });

  test('no page logged an error', () => {
    for (const [name, tab] of Object.entries(tabs)) assert.deepEqual(tab.problems, [], `${name}'s page logged errors`);
  });
});
