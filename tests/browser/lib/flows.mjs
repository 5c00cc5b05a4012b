// What a person does on the login screen, step by step, as the tests need it.

import { totp } from './totp.mjs';

/**
 * Opens a session as a program would (the SDK's bearer token), outside the browser.
 * @param {string} url
 * @param {{ login: string, password: string, totpSecret: string }} account
 * @returns {Promise<string>} the bearer token
 */
export async function openBearerSession(url, account) {
  const post = async (/** @type {string} */ path, /** @type {unknown} */ body) => {
    const response = await fetch(`${url}/api/v1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'passerelle-sdk-test' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const { challenge } = await post('/auth/login', { login: account.login, password: account.password });
  const { token } = await post('/auth/totp', { challenge, code: totp(account.totpSecret), bearer: true });
  return token;
}

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
 * Types the TOTP code and waits for the session to open.
 * @param {import('playwright-core').Page} page
 * @param {string} secretBase32
 * @param {string} [buttonName]
 * @param {number} [codeAt] The time whose code to type (default: now). A code serves once
 *   per 30-second step and the server accepts the next step's code too: a second login of
 *   the same account within a step types the code of now + 30 s rather than waiting.
 */
export async function submitCode(page, secretBase32, buttonName = 'Se connecter', codeAt = Date.now()) {
  await page.getByLabel('Code à 6 chiffres').fill(totp(secretBase32, codeAt));
  const answered = page.waitForResponse((response) => response.url().endsWith('/api/v1/auth/totp'));
  await page.getByRole('button', { name: buttonName }).click();
  const response = await answered;
  if (!response.ok()) throw new Error(`TOTP step refused: ${response.status()} ${await response.text()}`);
}

/**
 * Logs a demo account in, all the way to its first screen: the home screen of an admin
 * or an auditor, the device set-up, charter or messaging screen of the others.
 * @param {import('playwright-core').Page} page
 * @param {string} url
 * @param {{ login: string, password: string, totpSecret: string }} account
 * @param {number} [codeAt] See {@link submitCode}.
 */
export async function logIn(page, url, account, codeAt = Date.now()) {
  await openLoginScreen(page, url);
  await submitPassword(page, account.login, account.password);
  await submitCode(page, account.totpSecret, 'Se connecter', codeAt);
  await page.getByRole('heading', { level: 1, name: /^(Bonjour|Configurer cet appareil|Charte|Vos échanges)/ }).waitFor();
}

/**
 * Sets this browser up as the account's first device: creates the keys, reads the
 * recovery code shown once, confirms two of its groups.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string>} the recovery code
 */
export async function setUpFirstDevice(page) {
  await page.getByRole('heading', { level: 1, name: 'Configurer cet appareil' }).waitFor();
  await page.getByRole('button', { name: 'Créer mes clés' }).click();
  const code = (await page.getByTestId('recovery-code').innerText()).trim();
  await page.getByLabel('J’ai noté ce code en lieu sûr').check();
  await page.getByRole('button', { name: 'Continuer' }).click();
  const groups = code.split('-');
  for (const label of await page.getByLabel(/^Groupe \d du code/).all()) {
    const id = await label.getAttribute('id');
    const text = await page.locator(`label[for="${id}"]`).innerText();
    const index = Number(/Groupe (\d)/.exec(text)?.[1]) - 1;
    await label.fill(groups[index]);
  }
  await page.getByRole('button', { name: 'Confirmer et activer cet appareil' }).click();
  return code;
}

/**
 * Accepts the charter in force (the gate leads there after the device set-up).
 * @param {import('playwright-core').Page} page
 */
export async function acceptCharter(page) {
  await page.getByRole('heading', { level: 1, name: 'Charte d’échange d’informations' }).waitFor();
  await page.getByLabel('J’ai lu la charte et je m’engage à la respecter').check();
  await page.getByRole('button', { name: /^Accepter la charte/ }).click();
  await page.getByRole('heading', { level: 2, name: /^Charte acceptée/ }).waitFor();
}

/**
 * Logs in, sets up the device and accepts the charter: the messaging screen.
 * @param {import('playwright-core').Page} page
 * @param {string} url
 * @param {{ login: string, password: string, totpSecret: string }} account
 * @param {number} [codeAt]
 * @returns {Promise<string>} the recovery code
 */
export async function logInReady(page, url, account, codeAt) {
  await logIn(page, url, account, codeAt);
  const code = await setUpFirstDevice(page);
  await acceptCharter(page);
  await page.getByRole('link', { name: 'Aller à vos échanges' }).click();
  await page.getByRole('heading', { level: 1, name: 'Vos échanges' }).waitFor();
  await page.getByTestId('connection-status').getByText('Connecté').waitFor();
  return code;
}

/**
 * A coordinator creates a working group with one colleague and accepts its rules: the
 * conversation is open, ready to write in.
 * @param {import('playwright-core').Page} page
 * @param {{ name: string, institution: string, member: RegExp }} group The institution's
 *   label and the colleague's checkbox label in the creation form.
 * @returns {Promise<string>} the channel id
 */
export async function createWorkingGroup(page, group) {
  await page.getByRole('link', { name: 'Créer un canal' }).first().click();
  await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
  await page.getByLabel('Nom', { exact: true }).fill(group.name);
  await page.getByLabel(group.institution, { exact: true }).check();
  await page.getByLabel(group.member).check();
  await page.getByRole('button', { name: 'Créer le canal' }).click();
  await page.waitForURL(/\/canal\//);
  const channelId = page.url().split('/').pop() ?? '';
  await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
  await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
  await page.getByLabel('Votre message').waitFor();
  return channelId;
}

/**
 * The texts of the messages shown in the open conversation, top to bottom.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string[]>}
 */
export function shownMessages(page) {
  return page.getByTestId('messages').locator('.message-text').allInnerTexts();
}
