// Sealed titles (docs/PROTOCOL.md §24; CHARTER.md C7–C9), in the browsers: the
// coordinator opens a case with a title, which her browser seals for the case's members;
// the anonymity reminder points out a title that names someone; the title is shown after
// a reload and in a colleague's browser; no answer of the server, and no request to it,
// carries the title in clear. The case's note is sealed the same way.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoProblems, openTab, screenshot, startDemoAndBrowser } from './lib/browser.mjs';
import { createWorkingGroup, logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

const GROUP = 'Groupe de suivi Lilas';
const TITLE = 'Suivi Tournesol du quartier';
const NOTE = 'Information Glycine reportée après l’audience';

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/** @param {import('playwright-core').Page} page */
async function noError(page) {
  assert.equal(await page.locator('#notice-error').innerText(), '', 'no error shown');
}

/**
 * Every exchange of `page` with the API, as text: what the server answered and what the
 * browser sent.
 * @param {import('playwright-core').Page} page
 */
function recordApi(page) {
  /** @type {Promise<string>[]} */
  const seen = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/')) seen.push(Promise.resolve(`${request.url()} ${request.postData() ?? ''}`));
  });
  page.on('response', (response) => {
    if (response.url().includes('/api/')) seen.push(response.text().catch(() => ''));
  });
  return () => Promise.all(seen);
}

describe('sealed titles', { timeout: 240_000 }, () => {
  test('a case’s title is sealed in the browser, shown after a reload and to a colleague, and never sent in clear', async () => {
    const coordinatrice = await openTab(browser);
    const policier = await openTab(browser);
    const exchanged = recordApi(coordinatrice.page);
    const exchangedToo = recordApi(policier.page);
    await logInReady(coordinatrice.page, demo.url, demo.accounts.coordinatrice);
    await logInReady(policier.page, demo.url, demo.accounts.policier);
    const page = coordinatrice.page;
    await createWorkingGroup(page, { name: GROUP, institution: 'Police nationale (commissariat)', member: /^Karim Benali/ });
    const groupUrl = page.url();

    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByLabel('Type de canal').selectOption('case');
    await page.getByLabel('Programme').selectOption('public_tranquillity');
    await page.getByLabel('Groupe de travail dont le règlement s’applique').selectOption({ label: GROUP });
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
    await page.getByLabel(/^Karim Benali/).check();
    // The anonymity reminder: the server cannot read a sealed title, the browser warns.
    await page.getByLabel('Nom', { exact: true }).fill('Situation de Kevin DURAND');
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Ce titre semble identifier une personne').waitFor();
    await dialog.getByRole('button', { name: 'Modifier le titre' }).click();
    await page.getByLabel('Nom', { exact: true }).fill(TITLE);
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.waitForURL((url) => url.href !== groupUrl && /\/canal\//.test(url.href));
    await page.getByLabel('Votre message').waitFor();
    await page.locator('#notice-status').getByText(`« ${TITLE} »`, { exact: false }).waitFor();
    await noError(page);
    await page.getByTestId('conversation-title').getByText(TITLE).waitFor();
    await screenshot(page, 'sealed-title-case');

    // After a reload, opened again from this device's keys.
    await page.reload();
    await page.getByTestId('conversation-title').getByText(TITLE).waitFor();

    // The note of the person's information, sealed too.
    await page.getByText('Fiche du dossier', { exact: true }).click();
    await page.getByText('Enregistrer l’information de la personne', { exact: true }).click();
    const record = page.getByRole('form', { name: 'Enregistrer l’information de la personne' });
    await record.getByLabel('La personne a-t-elle été informée ?').selectOption('not_informed');
    await record.getByLabel('Justification courte').fill(NOTE);
    await record.getByRole('button', { name: 'Enregistrer l’information' }).click();
    await page.locator('#notice-status').getByText('Information de la personne enregistrée.').or(page.locator('#notice-error:not(:empty)')).first().waitFor();
    await noError(page);
    await page.getByTestId('case-information-note').getByText(NOTE, { exact: false }).waitFor();

    // The colleague accepts the group's rules, which the case follows: his list then
    // shows the title, opened with the case's key in his browser.
    const other = policier.page;
    await other.getByRole('link', { name: 'Vos échanges' }).first().click().catch(() => {});
    await other.getByRole('link', { name: GROUP }).first().click();
    await other.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await other.getByRole('button', { name: /^Accepter le règlement/ }).click();
    await other.getByLabel('Votre message').waitFor();
    await other.getByRole('link', { name: TITLE }).first().click();
    await other.getByTestId('conversation-title').getByText(TITLE).waitFor();
    await screenshot(other, 'sealed-title-colleague');

    // Nothing the server answered or was sent carries the title or the note in clear.
    for (const text of [...(await exchanged()), ...(await exchangedToo())]) {
      assert.ok(!text.includes('Tournesol'), 'the title never travels in clear');
      assert.ok(!text.includes('Glycine'), 'the note never travels in clear');
    }
    assertNoProblems(coordinatrice);
    assertNoProblems(policier);
  });
});
