// Passkeys and security keys in Chromium (issue 23), with a virtual authenticator added
// through the DevTools protocol (`WebAuthn.addVirtualAuthenticator`): the demo keeps its
// default policy, so its admin and auditor must register a key at their first login;
// then they sign in with it, a TOTP code alone is refused, a passkey signs in without
// the password, a second key is added and one removed, and a page on another origin
// cannot use the key at all.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, launchBrowser, openTab, screenshot } from './lib/browser.mjs';
import { startDemo } from './lib/demo.mjs';
import { openLoginScreen, submitCode, submitPassword } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  demo = await startDemo({ requireKeys: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * Gives the page a security key: a CTAP2 authenticator that keeps passkeys, checks its
 * user (PIN or fingerprint) and is touched as soon as it is asked.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<{ cdp: import('playwright-core').CDPSession, authenticatorId: string }>}
 */
async function addAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'usb',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/**
 * Registers a key from « Mes clés de sécurité » and waits for the server's answer.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {boolean} passwordless
 */
async function registerKey(page, name, passwordless) {
  const section = page.getByRole('region', { name: 'Mes clés de sécurité' });
  await section.getByLabel('Nom de la clé').fill(name);
  if (passwordless) await section.getByLabel('Permettre la connexion sans mot de passe (clé d’accès)').check();
  const answered = page.waitForResponse((response) => response.url().endsWith('/me/security-keys/register/finish'));
  await section.getByRole('button', { name: 'Enregistrer une clé' }).click();
  const response = await answered;
  assert.equal(response.status(), 200, await response.text());
}

/**
 * Password, then the key: the home screen.
 * @param {import('playwright-core').Page} page
 * @param {{ login: string, password: string, display: RegExp }} account
 */
async function signInWithKey(page, account) {
  await openLoginScreen(page, demo.url);
  await submitPassword(page, account.login, account.password);
  await page.getByRole('heading', { level: 1, name: 'Clé de sécurité' }).waitFor();
  const answered = page.waitForResponse((response) => response.url().endsWith('/api/v1/auth/webauthn'));
  await page.getByRole('button', { name: 'Utiliser ma clé de sécurité' }).click();
  assert.equal((await answered).status(), 200);
  await page.getByRole('heading', { level: 1, name: account.display }).waitFor();
}

/** @param {import('playwright-core').Page} page */
async function logOut(page) {
  await page.getByRole('button', { name: /Se déconnecter/ }).click();
  await page.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
}

describe('passkeys and security keys', { timeout: 180_000 }, () => {
  test('the admin registers a key at first login, then signs in with it; a code alone is refused', async () => {
    const tab = await openTab(browser);
    const { page } = tab;
    const { cdp, authenticatorId } = await addAuthenticator(page);
    const admin = demo.accounts.admin;

    // First login with password and code: nothing but « Mes clés de sécurité » is open.
    await openLoginScreen(page, demo.url);
    await submitPassword(page, admin.login, admin.password);
    await submitCode(page, admin.totpSecret);
    await page.getByRole('heading', { level: 1, name: 'Sécurité du compte' }).waitFor();
    await page.getByText('Votre rôle exige une clé de sécurité ou une clé d’accès').waitFor();
    await page.goto(`${demo.url}/administration`);
    await page.getByRole('heading', { level: 1, name: 'Sécurité du compte' }).waitFor();
    await assertAccessible(page, 'security keys (required)');
    await screenshot(page, 'security-keys-required');
    await registerKey(page, 'Clé de l’admin', true);
    await page.getByRole('heading', { level: 1, name: /^Bonjour/ }).waitFor();
    await logOut(page);

    // The key is the second step now.
    await signInWithKey(page, { ...admin, display: /^Bonjour/ });
    await logOut(page);

    // A code alone, even the right one, no longer opens a session.
    await openLoginScreen(page, demo.url);
    await submitPassword(page, admin.login, admin.password);
    await page.getByRole('button', { name: 'Utiliser plutôt le code à 6 chiffres' }).click();
    await page.getByLabel('Code à 6 chiffres').fill((await import('./lib/totp.mjs')).totp(admin.totpSecret, Date.now() + 30_000));
    const refused = page.waitForResponse((response) => response.url().endsWith('/api/v1/auth/totp'));
    await page.getByRole('button', { name: 'Se connecter' }).click();
    assert.equal((await refused).status(), 403);
    await page.locator('#notice-error').getByText(/le code à 6 chiffres seul ne suffit plus/).waitFor();

    // The passkey signs in without the password.
    await openLoginScreen(page, demo.url);
    const passwordless = page.waitForResponse((response) => response.url().endsWith('/api/v1/auth/passwordless/finish'));
    await page.getByRole('button', { name: 'Se connecter avec une clé d’accès' }).click();
    assert.equal((await passwordless).status(), 200);
    await page.getByRole('heading', { level: 1, name: /^Bonjour/ }).waitFor();

    // A second key (another authenticator: the first one would be refused as already
    // registered), then the first one is removed: the second signs in.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
    await addAuthenticator(page);
    await page.getByRole('link', { name: 'Sécurité du compte' }).click();
    const section = page.getByRole('region', { name: 'Mes clés de sécurité' });
    await section.getByRole('cell', { name: 'Clé de l’admin', exact: true }).waitFor();
    await registerKey(page, 'Clé de secours', false);
    await section.getByRole('cell', { name: 'Clé de secours', exact: true }).waitFor();
    assert.equal(await section.locator('tbody tr').count(), 2);
    await section.getByRole('button', { name: 'Retirer la clé Clé de l’admin' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Retirer la clé' }).click();
    await page.getByText('La clé « Clé de l’admin » a été retirée.').waitFor();
    await section.getByRole('cell', { name: 'Clé de l’admin', exact: true }).waitFor({ state: 'detached' });
    assert.equal(await section.locator('tbody tr').count(), 1);
    // The last key of a role that requires one stays.
    await section.getByRole('button', { name: 'Retirer la clé Clé de secours' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Retirer la clé' }).click();
    await page.locator('#notice-error').getByText(/Impossible de retirer votre dernière clé/).waitFor();
    await assertAccessible(page, 'security keys');
    await screenshot(page, 'security-keys');
    await logOut(page);
    await signInWithKey(page, { ...admin, display: /^Bonjour/ });
    assertNoProblems(tab);
    await tab.context.close();
  });

  test('the auditor registers a passkey and signs in with it alone', async () => {
    const tab = await openTab(browser);
    const { page } = tab;
    await addAuthenticator(page);
    const auditor = demo.accounts.dpo;
    await openLoginScreen(page, demo.url);
    await submitPassword(page, auditor.login, auditor.password);
    await submitCode(page, auditor.totpSecret);
    await page.getByRole('heading', { level: 1, name: 'Sécurité du compte' }).waitFor();
    await registerKey(page, 'Téléphone du DPO', true);
    await page.getByRole('heading', { level: 1, name: /^Bonjour/ }).waitFor();
    await logOut(page);
    await openLoginScreen(page, demo.url);
    await page.getByRole('button', { name: 'Se connecter avec une clé d’accès' }).click();
    await page.getByRole('heading', { level: 1, name: /^Bonjour/ }).waitFor();
    assertNoProblems(tab);
    await tab.context.close();
  });

  test('a page on another origin cannot use the key: the browser refuses, in French', async () => {
    const tab = await openTab(browser);
    const { page } = tab;
    await addAuthenticator(page);
    // The same server reached under another name than its relying party (as a look-alike
    // address would be): the browser will not let this page ask for a key of `localhost`.
    const elsewhere = demo.url.replace('localhost', '127.0.0.1');
    assert.notEqual(elsewhere, demo.url);
    await page.goto(elsewhere);
    await page.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
    let finished = false;
    page.on('request', (request) => {
      if (request.url().endsWith('/api/v1/auth/passwordless/finish')) finished = true;
    });
    await page.getByRole('button', { name: 'Se connecter avec une clé d’accès' }).click();
    await page
      .locator('#notice-error')
      .getByText(/n’est pas à l’adresse officielle de Passerelle/)
      .waitFor();
    assert.equal(finished, false, 'nothing was sent to sign in');
    await page.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
    assertNoProblems(tab);
    await tab.context.close();
  });
});
