// What a person does on the login screen, step by step, as the tests need it.

import { totp } from './totp.mjs';

// Screens are reached from the application's entry address and its links, as people do.

/**
 * Opens Passerelle logged out: the entry address leads to the login screen.
 * @param {import('playwright-core').Page} page
 * @param {string} url
 */
export async function openLoginScreen(page, url) {
  await page.goto(url);
  await page.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
}

/**
 * Opens the admin console of a logged-in admin, through the menu.
 * @param {import('playwright-core').Page} page
 * @param {string} url
 */
export async function openAdminConsole(page, url) {
  await page.goto(url);
  await page.getByRole('link', { name: 'Administration', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
}

/**
 * Types login and password and waits for the password step's answer.
 * @param {import('playwright-core').Page} page
 * @param {string} login
 * @param {string} password
 */
export async function submitPassword(page, login, password) {
  await page.getByLabel('Identifiant').fill(login);
  await page.getByLabel('Mot de passe', { exact: false }).fill(password);
  const answered = page.waitForResponse((response) => response.url().endsWith('/api/v1/auth/login'));
  await page.getByRole('button', { name: 'Continuer' }).click();
  return answered;
}

/**
 * Types the current TOTP code and waits for the session to open.
 * @param {import('playwright-core').Page} page
 * @param {string} secretBase32
 * @param {string} buttonName
 */
export async function submitCode(page, secretBase32, buttonName = 'Se connecter') {
  await page.getByLabel('Code à 6 chiffres').fill(totp(secretBase32));
  const answered = page.waitForResponse((response) => response.url().endsWith('/api/v1/auth/totp'));
  await page.getByRole('button', { name: buttonName }).click();
  const response = await answered;
  if (!response.ok()) throw new Error(`TOTP step refused: ${response.status()} ${await response.text()}`);
}

/**
 * Logs a demo account in, all the way to the home screen.
 * @param {import('playwright-core').Page} page
 * @param {string} url
 * @param {{ login: string, password: string, totpSecret: string }} account
 */
export async function logIn(page, url, account) {
  await openLoginScreen(page, url);
  await submitPassword(page, account.login, account.password);
  await submitCode(page, account.totpSecret);
  await page.getByRole('heading', { level: 1, name: /^Bonjour/ }).waitFor();
}
