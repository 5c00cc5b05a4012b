// The mediators' field reports (issue 21, item 3): the demo's mediator files « Signaler »
// with a photo to a working group; a member of the group reads it, takes it in charge and
// answers; the mediator sees the status and the answer. The description, the photo and
// the answer are decrypted in the browsers only.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, screenshotSizes, startDemoAndBrowser } from './lib/browser.mjs';
import { logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

const GROUP = 'Veille technique du quartier';
const DESCRIPTION = 'Lampadaire arraché devant l’entrée B, câbles à nu.';
const ANSWER = 'Services techniques prévenus : intervention jeudi matin.';
/** A 1×1 PNG. */
const PHOTO = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * Opens the group from the channel list and accepts its rules.
 * @param {import('playwright-core').Page} page
 */
async function acceptGroupRules(page) {
  await page.getByRole('link', { name: new RegExp(GROUP) }).click();
  await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
  await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
  await page.getByLabel('Votre message').waitFor();
}

describe('field reports', { timeout: 180_000 }, () => {
  test('a mediator files a report with a photo; a member of the group takes it in charge and answers', async () => {
    const coordinatrice = await openTab(browser);
    const mediateur = await openTab(browser);
    const policier = await openTab(browser);
    await logInReady(coordinatrice.page, demo.url, demo.accounts.coordinatrice);
    await logInReady(mediateur.page, demo.url, demo.accounts.mediateur);
    await logInReady(policier.page, demo.url, demo.accounts.policier);

    // The coordinator's group, with the police officer and the mediator.
    {
      const { page } = coordinatrice;
      await page.getByRole('link', { name: 'Créer un canal' }).first().click();
      await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
      await page.getByLabel('Nom', { exact: true }).fill(GROUP);
      await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
      await page.getByLabel('Médiation', { exact: true }).check();
      await page.getByLabel(/^Karim Benali/).check();
      await page.getByLabel(/^Jean Moreau/).check();
      await page.getByRole('button', { name: 'Créer le canal' }).click();
      await page.waitForURL(/\/canal\//);
      await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
      await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
      await page.getByLabel('Votre message').waitFor();
    }
    await acceptGroupRules(mediateur.page);
    await acceptGroupRules(policier.page);

    // « Signaler »: the mediator's form.
    {
      const { page } = mediateur;
      await page.getByRole('link', { name: 'Signalements', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Signalements de terrain' }).waitFor();
      const report = page.getByRole('form', { name: 'Signaler' });
      await report.getByLabel('Groupe destinataire').selectOption({ label: GROUP });
      await report.getByLabel('Catégorie').selectOption({ label: 'Panne technique ou dégradation' });
      // A place longer than allowed cannot be typed.
      await report.getByLabel('Lieu').fill('x'.repeat(200));
      assert.equal((await report.getByLabel('Lieu').inputValue()).length, 120);
      await report.getByLabel('Lieu').fill('Résidence des Tilleuls, entrée B');
      await report.getByLabel('Description').fill(DESCRIPTION);
      await report.getByLabel('Photo (facultatif)').setInputFiles({ name: 'lampadaire.png', mimeType: 'image/png', buffer: PHOTO });
      await assertAccessible(page, 'field report form');
      await screenshot(page, 'field-report-form');
      await screenshotSizes(page, 'field-report-form');
      await report.getByRole('button', { name: 'Envoyer le signalement' }).click();
      await page.locator('#notice-status').getByText('Signalement envoyé au groupe.').or(page.locator('#notice-error:not(:empty)')).first().waitFor();
      assert.equal(await page.locator('#notice-error').innerText(), '', 'the report is filed');
      const card = page.getByTestId('field-report');
      await card.getByTestId('field-report-status').getByText('Nouveau').waitFor();
      await card.getByTestId('field-report-description').getByText(DESCRIPTION).waitFor();
      // The mediator follows the report; taking it in charge is for the group.
      assert.equal(await card.getByRole('button', { name: 'Prendre en charge' }).count(), 0);
    }

    // The police officer, member of the group: reads, sees the photo, takes it in charge.
    {
      const { page } = policier;
      await page.getByRole('link', { name: 'Signalements', exact: true }).click();
      await page.getByRole('heading', { level: 2, name: 'Signalements reçus' }).waitFor();
      const card = page.getByTestId('field-report');
      await card.getByTestId('field-report-description').getByText(DESCRIPTION).waitFor();
      assert.match(await card.innerText(), /Jean Moreau/);
      // The place, sealed by the mediator's device, opened here.
      await card.getByRole('heading', { name: /Résidence des Tilleuls, entrée B/ }).waitFor();
      await card.getByRole('button', { name: /^Voir la photo/ }).click();
      await card.getByRole('img', { name: 'Photo jointe : lampadaire.png' }).waitFor();
      await card.getByRole('button', { name: 'Prendre en charge' }).click();
      await card.getByTestId('field-report-status').getByText('Pris en charge').waitFor();
      await card.getByLabel('Réponse au médiateur').fill(ANSWER);
      await assertAccessible(page, 'field report taken in charge');
      await screenshot(page, 'field-report-in-progress');
      await card.getByRole('button', { name: 'Marquer comme traité' }).click();
      await card.getByTestId('field-report-status').getByText('Traité').waitFor();
      await card.getByTestId('field-report-answer').getByText(ANSWER).waitFor();
    }

    // The mediator sees the answer.
    {
      const { page } = mediateur;
      await page.reload();
      const card = page.getByTestId('field-report');
      await card.getByTestId('field-report-status').getByText('Traité').waitFor();
      await card.getByTestId('field-report-answer').getByText(ANSWER).waitFor();
      await screenshot(page, 'field-report-done');
    }

    // The coordinator's annual report counts it, by category and by step, without a word of it.
    {
      const { page } = coordinatrice;
      await page.getByRole('link', { name: 'Bilan annuel' }).click();
      await page.getByRole('heading', { level: 1, name: 'Bilan annuel' }).waitFor();
      const row = (/** @type {string} */ label) => page.getByRole('row', { name: new RegExp(`^${label}`) }).getByRole('cell');
      await row('Panne technique ou dégradation').getByText('1', { exact: true }).waitFor();
      assert.equal(await row('Incivilité').innerText(), '0');
      assert.equal(await row('Nouveau').innerText(), '1');
      assert.equal(await row('Traité').innerText(), '1');
      // Each breakdown is drawn as bars scaled to its largest line (hidden from screen
      // readers, which read the numbers).
      const share = (/** @type {string} */ label) => page.locator('tr', { hasText: label }).locator('.report-bar-fill').getAttribute('data-share');
      assert.equal(await share('Panne technique ou dégradation'), '1.000');
      assert.equal(await share('Incivilité'), '0.000');
      const width = await page.locator('tr', { hasText: 'Panne technique ou dégradation' }).locator('.report-bar-fill').evaluate((el) => el.getBoundingClientRect().width / (el.parentElement?.getBoundingClientRect().width ?? 1));
      assert.ok(width > 0.99, `the largest line fills its bar (${width})`);
      assert.doesNotMatch(await page.locator('.report').innerText(), /Tilleuls|Jean Moreau|Lampadaire/);
      await assertAccessible(page, 'annual report with field reports');
      await screenshot(page, 'annual-report-field-reports');
    }

    // The server was given ciphertext only: its API never returns the texts in clear.
    const listed = await policier.page.evaluate(async () => (await fetch('/api/v1/field-reports')).text());
    assert.ok(listed.includes('"sealed_place"'), 'the list holds the report, its place sealed');
    for (const secret of [DESCRIPTION, ANSWER, 'lampadaire.png', 'Tilleuls']) assert.ok(!listed.includes(secret), `in clear on the server: ${secret}`);

    for (const tab of [coordinatrice, mediateur, policier]) assertNoProblems(tab);
  });
});
