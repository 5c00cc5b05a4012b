// Invitations by one-time link (issue 21, item 6): the admin creates an account and a link
// in the console; the invited person opens the link, chooses their password, signs in and
// is asked to set up their second factor; the link then works no more. A coordinator
// hands a link to a new member of their working group from the group's member list.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logIn, logInReady, openAdminConsole, openLoginScreen, submitPassword } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

const CHOSEN = 'une phrase de passe bien à moi';

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * The admin creates a member account (with a provisional password nobody will use).
 * @param {import('playwright-core').Page} adminPage
 * @param {string} login
 * @param {string} name
 * @param {{ index: number } | { label: string }} institution
 * @param {number} [codeAt] when to compute the admin's code: a second login of the run
 *   needs the next one (a code serves once)
 */
async function createAccount(adminPage, login, name, institution, codeAt) {
  await logIn(adminPage, demo.url, demo.accounts.admin, codeAt);
  await openAdminConsole(adminPage, demo.url);
  await adminPage.getByText('Créer un compte', { exact: true }).click();
  const create = adminPage.getByRole('form', { name: 'Créer un compte' });
  await create.getByLabel('Identifiant').fill(login);
  await create.getByLabel('Nom affiché').fill(name);
  await create.getByLabel('Institution').selectOption(institution);
  await create.getByLabel('Rôle').selectOption('member');
  await create.getByRole('button', { name: 'Créer le compte' }).click();
  await adminPage.getByText('Ce mot de passe ne sera plus jamais affiché.').waitFor();
}

describe('invitations by one-time link', { timeout: 120_000 }, () => {
  test('the invited person chooses their password with the link, once, then sets up their second factor', async () => {
    const adminTab = await openTab(browser);
    const { page: adminPage } = adminTab;
    await createAccount(adminPage, 'nina.invitee', 'Nina Invitée', { index: 1 });

    const row = adminPage.locator('tr[data-login="nina.invitee"]');
    await row.getByText('Actions').click();
    await row.getByRole('button', { name: /^Créer un lien d’invitation/ }).click();
    const dialog = adminPage.getByRole('dialog');
    const link = await dialog.getByLabel('Lien à transmettre à la personne').inputValue();
    // On the server's public origin (here its loopback address), the token in the fragment.
    assert.match(link, /^http:\/\/[^/]+\/invitation#[A-Za-z0-9_-]{43}$/);
    await assertAccessible(adminPage, 'invitation link');
    await screenshot(adminPage, 'admin-invitation-link');
    await dialog.getByRole('button', { name: 'J’ai transmis le lien' }).click();
    assertNoProblems(adminTab);
    await adminTab.context.close();

    const tab = await openTab(browser);
    const { page } = tab;
    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: 'Bienvenue sur Passerelle' }).waitFor();
    await assertAccessible(page, 'invitation');
    await screenshot(page, 'invitation');
    await page.getByLabel(/^Mot de passe/).fill(CHOSEN);
    await page.getByLabel(/^Confirmation du mot de passe/).fill(CHOSEN);
    await page.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
    await page.getByRole('heading', { level: 1, name: 'Mot de passe enregistré' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the used link leaves the address bar');

    // The link served once: opened again (a fresh page load), it is refused in French.
    await page.goto('about:blank');
    await page.goto(link);
    await page.getByLabel(/^Mot de passe/).fill('une autre phrase de passe');
    await page.getByLabel(/^Confirmation du mot de passe/).fill('une autre phrase de passe');
    await page.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
    await page.locator('#notice-error').getByText(/n’est plus valable/).waitFor();

    // Her password opens the login, which asks for the second factor first.
    await openLoginScreen(page, demo.url);
    await submitPassword(page, 'nina.invitee', CHOSEN);
    await page.getByRole('heading', { level: 1, name: 'Activer la double authentification' }).waitFor();
    assertNoProblems(tab);
    await tab.context.close();
  });

  test('a coordinator hands a link, with its QR code, to a new member of their working group', async () => {
    const adminTab = await openTab(browser);
    await createAccount(adminTab.page, 'lea.nouvelle', 'Léa Nouvelle', { label: 'Police municipale' }, Date.now() + 30_000);
    assertNoProblems(adminTab);
    await adminTab.context.close();

    const tab = await openTab(browser);
    const { page } = tab;
    await logInReady(page, demo.url, demo.accounts.coordinatrice);
    await createWorkingGroup(page, { name: 'Accueil des nouveaux partenaires', institution: 'Police municipale', member: /Léa Nouvelle/ });
    await page.getByText('Membres (2)').click();
    // Only the member who has never logged in gets a link; not the coordinator herself.
    const invite = page.getByRole('button', { name: 'Lien d’invitation pour Léa Nouvelle' });
    await invite.click();
    const dialog = page.getByRole('dialog');
    const link = await dialog.getByLabel('Lien à transmettre à la personne').inputValue();
    assert.match(link, /^http:\/\/[^/]+\/invitation#[A-Za-z0-9_-]{43}$/);
    await dialog.getByRole('img', { name: /Code QR du lien d’invitation de Léa Nouvelle/ }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Lien d’invitation/ }).count(), 1);
    await assertAccessible(page, 'coordinator invitation link');
    await screenshot(page, 'coordinator-invitation-link');
    await dialog.getByRole('button', { name: 'J’ai transmis le lien' }).click();
    assertNoProblems(tab);
    await tab.context.close();

    // The link the coordinator handed over opens Léa's account.
    const lea = await openTab(browser);
    await lea.page.goto(link);
    await lea.page.getByLabel(/^Mot de passe/).fill(CHOSEN);
    await lea.page.getByLabel(/^Confirmation du mot de passe/).fill(CHOSEN);
    await lea.page.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
    await lea.page.getByRole('heading', { level: 1, name: 'Mot de passe enregistré' }).waitFor();
    assertNoProblems(lea);
    await lea.context.close();
  });
});
