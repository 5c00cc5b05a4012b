// The admin console: institutions and accounts, and the first login of an account it
// created, which enrols TOTP with a QR code.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, screenshotSizes, startDemoAndBrowser } from './lib/browser.mjs';
import { logIn, logInReady, openAdminConsole, openLoginScreen, setUpFirstDevice, submitCode, submitPassword } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./lib/browser.mjs').Tab} */
let adminTab;

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
  // One admin session for the whole file: a TOTP code serves once per 30 s step.
  adminTab = await openTab(browser);
  await logIn(adminTab.page, demo.url, demo.accounts.admin);
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * The row of an account in the admin's table.
 * @param {import('playwright-core').Page} page
 * @param {string} login
 */
const accountRow = (page, login) => page.locator(`tr[data-login="${login}"]`);

describe('the admin console', { timeout: 120_000 }, () => {
  test('the admin creates an institution and an account whose first login shows the TOTP enrolment QR code', async () => {
    const { page } = adminTab;
    // The admin's home leads to the console, and promises nothing « à venir ».
    await page.goto(demo.url);
    await page.getByTestId('home-role').getByRole('link', { name: 'Ouvrir la console d’administration' }).waitFor();
    assert.doesNotMatch(await page.locator('main').innerText(), /bientôt|s’affichera ici/);
    await assertAccessible(page, 'admin home');
    await openAdminConsole(page, demo.url);
    await accountRow(page, 'policier').waitFor();
    await assertAccessible(page, 'admin');
    await screenshot(page, 'admin');
    await screenshotSizes(page, 'admin');

    await page.getByLabel('Nom de la nouvelle institution').fill('Association Horizon Jeunesse');
    await page.getByLabel('Type d’institution').selectOption({ label: 'Association habilitée' });
    await page.getByRole('button', { name: 'Créer l’institution' }).click();
    await page.locator('#notice-status').getByText('Institution « Association Horizon Jeunesse » créée.').waitFor();
    await page.getByRole('rowheader', { name: 'Association Horizon Jeunesse' }).waitFor();

    await page.getByText('Créer un compte', { exact: true }).click();
    const form = page.getByRole('form', { name: 'Créer un compte' });
    await form.getByLabel('Identifiant').fill('lea.dupont');
    await form.getByLabel('Nom affiché').fill('Léa Dupont');
    await form.getByLabel('Institution').selectOption({ label: 'Association Horizon Jeunesse' });
    await form.getByLabel('Rôle').selectOption('external');
    await form.getByLabel('Professionnel de l’action sociale').check();
    await form.getByRole('button', { name: 'Créer le compte' }).click();

    const password = (await page.locator('.one-time-password').innerText()).trim();
    assert.ok(password.length >= 12, 'a one-time password is shown');
    await page.getByText('Ce mot de passe ne sera plus jamais affiché.').waitFor();
    const row = accountRow(page, 'lea.dupont');
    await row.getByText('Double authentification à configurer').waitFor();
    assert.match(await row.innerText(), /Intervenant extérieur/);
    assert.match(await row.innerText(), /Professionnel de l’action sociale/);
    await assertAccessible(page, 'admin (account created)');
    await screenshot(page, 'admin-account-created');

    // The new account's first login, in another browser profile.
    const tab = await openTab(browser);
    await openLoginScreen(tab.page, demo.url);
    await submitPassword(tab.page, 'lea.dupont', password);
    await tab.page.getByRole('heading', { level: 1, name: 'Activer la double authentification' }).waitFor();
    const qr = tab.page.getByRole('img', { name: /code QR/i });
    await qr.waitFor();
    assert.match((await qr.getAttribute('src')) ?? '', /^data:image\/svg\+xml/);
    assert.ok(await qr.evaluate((img) => img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0), 'the QR code renders');
    const secret = (await tab.page.locator('.totp-secret').innerText()).replace(/\s/g, '');
    assert.match(secret, /^[A-Z2-7]{16,}$/);
    await assertAccessible(tab.page, 'TOTP enrolment');
    await screenshot(tab.page, 'totp-enrolment');

    await submitCode(tab.page, secret, 'Activer et se connecter');
    // The password the admin saw is provisional: nothing else until she chooses hers.
    const forced = tab.page;
    await forced.getByRole('heading', { level: 1, name: 'Choisissez votre mot de passe' }).waitFor();
    assert.equal(await forced.getByRole('navigation', { name: 'Menu principal' }).count(), 0, 'no menu to go around it');
    await assertAccessible(forced, 'forced password change');
    await screenshot(forced, 'password-change-required');
    await screenshotSizes(forced, 'password-change-required');
    // The server, not only this screen, refuses the rest meanwhile.
    const refused = await forced.evaluate(async () => {
      const response = await fetch('/api/v1/channels');
      return { status: response.status, code: (await response.json()).error?.code };
    });
    assert.deepEqual(refused, { status: 403, code: 'password_change_required' });
    await forced.goto(`${demo.url}/securite`);
    await forced.getByRole('heading', { level: 1, name: 'Choisissez votre mot de passe' }).waitFor();
    await forced.getByLabel('Mot de passe provisoire').fill(password);
    await forced.getByLabel(/^Nouveau mot de passe/).fill(password);
    await forced.getByLabel('Confirmation du nouveau mot de passe').fill(password);
    await forced.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
    await forced.getByText('Le nouveau mot de passe doit être différent du mot de passe provisoire.', { exact: true }).waitFor();
    await forced.getByLabel(/^Nouveau mot de passe/).fill('Une phrase que Léa seule connaît');
    await forced.getByLabel('Confirmation du nouveau mot de passe').fill('Une phrase que Léa seule connaît');
    await forced.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
    // An external participant uses channels: the next screen sets this browser up.
    await tab.page.getByRole('heading', { level: 1, name: 'Configurer cet appareil' }).waitFor();
    assert.equal(await tab.page.locator('#app-user-name').innerText(), 'Léa Dupont');
    assert.match(await tab.page.locator('#app-user-detail').innerText(), /Association Horizon Jeunesse/);
    assertNoProblems(tab);
    await tab.context.close();

    await page.getByRole('button', { name: /J’ai noté le mot de passe/ }).click();
    assert.equal(await page.locator('.one-time-password').count(), 0, 'the password is gone once noted');
    assertNoProblems(adminTab);
  });

  test('an existing login is refused with a French message', async () => {
    const { page } = adminTab;
    await openAdminConsole(page, demo.url);
    await accountRow(page, 'policier').waitFor();
    await page.getByText('Créer un compte', { exact: true }).click();
    const form = page.getByRole('form', { name: 'Créer un compte' });
    await form.getByLabel('Identifiant').fill('policier');
    await form.getByLabel('Nom affiché').fill('Homonyme');
    await form.getByLabel('Institution').selectOption({ label: 'Police municipale' });
    await form.getByRole('button', { name: 'Créer le compte' }).click();
    await page.locator('#notice-error').getByText('Cet identifiant est déjà utilisé par un autre compte.').waitFor();
    assertNoProblems(adminTab);
  });

  test('the admin imports a list: a broken file names its lines and creates nothing, the fixed one creates every account', async () => {
    const { page } = adminTab;
    await openAdminConsole(page, demo.url);
    await accountRow(page, 'policier').waitFor();
    await page.getByText('Importer une liste (CSV)', { exact: true }).click();
    const importForm = page.getByRole('form', { name: 'Importer une liste de comptes' });
    const csv = (/** @type {string} */ text) => ({ name: 'rentree.csv', mimeType: 'text/csv', buffer: Buffer.from(text, 'utf8') });
    const header = 'login,name,institution,role\n';
    await importForm.getByLabel('Fichier CSV (UTF-8)').setInputFiles(csv(`${header}lea.college,Léa Garnier,Éducation nationale (collège),member\nmax.college,Max Perrin,Collège inconnu,member\n`));
    await importForm.getByRole('button', { name: 'Importer la liste' }).click();
    await importForm.getByText(/^Ligne 3 : institution « Collège inconnu » inconnue/).waitFor();
    assert.equal(await accountRow(page, 'lea.college').count(), 0, 'nothing half-created');

    await importForm.getByLabel('Fichier CSV (UTF-8)').setInputFiles(csv(`${header}lea.college,Léa Garnier,Éducation nationale (collège),member\nmax.college,Max Perrin,Éducation nationale (collège),member\n`));
    await importForm.getByRole('button', { name: 'Importer la liste' }).click();
    const created = page.getByRole('table', { name: 'Comptes importés et mots de passe provisoires' });
    await created.getByText('lea.college', { exact: true }).waitFor();
    assert.equal(await created.locator('tbody tr').count(), 2);
    await accountRow(page, 'max.college').waitFor();
    await assertAccessible(page, 'account import');
    await screenshot(page, 'admin-import');
    await page.getByRole('button', { name: 'J’ai noté les mots de passe : les masquer' }).click();
    assert.equal(await created.count(), 0, 'the passwords are hidden for good');
    assertNoProblems(adminTab);
  });

  test('the admin disables, re-enables an account and resets its password', async () => {
    const { page } = adminTab;
    await openAdminConsole(page, demo.url);
    const row = accountRow(page, 'mediateur');
    await row.waitFor();

    await row.getByText('Actions').click();
    await row.getByRole('button', { name: /Désactiver le compte/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Désactiver le compte de Jean Moreau ?').waitFor();
    await screenshot(page, 'admin-confirm');
    await dialog.getByRole('button', { name: 'Désactiver le compte' }).click();
    await accountRow(page, 'mediateur').getByText('Désactivé', { exact: true }).waitFor();

    await accountRow(page, 'mediateur').getByText('Actions').click();
    await accountRow(page, 'mediateur').getByRole('button', { name: /Réactiver le compte/ }).click();
    await accountRow(page, 'mediateur').getByText('Actif', { exact: true }).waitFor();

    await accountRow(page, 'mediateur').getByText('Actions').click();
    await accountRow(page, 'mediateur').getByRole('button', { name: /Réinitialiser le mot de passe/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Réinitialiser le mot de passe' }).click();
    await page.getByRole('heading', { name: 'Nouveau mot de passe de Jean Moreau' }).waitFor();
    assert.ok((await page.locator('.one-time-password').innerText()).trim().length >= 12);

    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'admin-phone');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    await page.setViewportSize({ width: 1280, height: 800 });
    assertNoProblems(adminTab);
  });

  test('the admin revokes a device of an account', async () => {
    // The police officer sets up this browser: one device.
    const user = await openTab(browser);
    await logIn(user.page, demo.url, demo.accounts.policier);
    await setUpFirstDevice(user.page);
    await user.page.getByRole('heading', { level: 1, name: 'Charte d’échange d’informations' }).waitFor();
    await user.context.close();

    const { page } = adminTab;
    await openAdminConsole(page, demo.url);
    const row = accountRow(page, 'policier');
    await row.waitFor();
    await row.getByText('Actions').click();
    await row.getByRole('button', { name: /^Appareils/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: /^Appareils de / }).or(page.locator('#notice-error:not(:empty)')).first().waitFor();
    assert.equal(await page.locator('#notice-error').innerText(), '', 'the devices are listed');
    await dialog.getByRole('table').waitFor();
    assert.equal(await dialog.getByText('Actif', { exact: true }).count(), 1, 'one active device');
    await assertAccessible(page, 'admin devices');
    await screenshot(page, 'admin-devices');
    await dialog.getByRole('button', { name: /^Révoquer/ }).click();

    const confirm = page.getByRole('dialog');
    await confirm.getByText(/perd l’accès immédiatement/).waitFor();
    await assertAccessible(page, 'admin device revocation');
    await screenshot(page, 'admin-device-revoke');
    await confirm.getByRole('button', { name: 'Révoquer l’appareil' }).click();
    await page.locator('#notice-status').getByText(/est révoqué/).waitFor();
    const after = page.getByRole('dialog');
    await after.getByText(/^Révoqué le/).waitFor();
    assert.equal(await after.getByRole('button', { name: /^Révoquer/ }).count(), 0, 'nothing left to revoke');
    await after.getByRole('button', { name: 'Fermer' }).click();
    assertNoProblems(adminTab);
  });

  test('the admin publishes a new charter version, which everyone must accept again', async () => {
    // A social worker with the charter accepted, on the messaging screen.
    const user = await openTab(browser);
    await logInReady(user.page, demo.url, demo.accounts['assistante.sociale']);

    const { page } = adminTab;
    await openAdminConsole(page, demo.url);
    const section = page.getByRole('region', { name: 'Charte d’échange d’informations' });
    const before = await section.getByText(/^Version en vigueur : \d+/).innerText();
    const version = Number(/: (\d+)/.exec(before)?.[1]);
    await section.getByText('Publier une nouvelle version', { exact: true }).click();
    await section.getByLabel('Texte de la nouvelle version').fill('# Charte d’échange d’informations\n\n- Ne partager que le strict nécessaire.\n- Version révisée par le CLSPD.');
    await assertAccessible(page, 'admin charter');
    await screenshot(page, 'admin-charter');
    await section.getByRole('button', { name: 'Publier la nouvelle version' }).click();
    const confirm = page.getByRole('dialog');
    await confirm.getByText(/devront l’accepter à nouveau/).waitFor();
    await confirm.getByRole('button', { name: 'Publier la charte' }).click();
    await page.locator('#notice-status').getByText(`Charte publiée (version ${version + 1}). Chacun devra l’accepter à nouveau.`).waitFor();
    await section.getByText(`Version en vigueur : ${version + 1},`, { exact: false }).waitFor();

    // The social worker is asked to accept it again.
    await user.page.goto(demo.url);
    await user.page.getByRole('heading', { level: 1, name: 'Charte d’échange d’informations' }).waitFor();
    await user.page.getByText(/Révisée par le CLSPD|Version révisée par le CLSPD/).waitFor();
    await user.page.getByRole('button', { name: `Accepter la charte (version ${version + 1})` }).waitFor();
    await screenshot(user.page, 'charter-new-version');
    await screenshotSizes(user.page, 'charter');
    await user.context.close();
    assertNoProblems(adminTab);
  });
});
