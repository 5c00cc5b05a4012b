// A case's record for its coordinator: the information of the person (CHARTER.md C13)
// and « Mettre fin au suivi » (archiving, destruction three years later at the latest).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, screenshotSizes, startDemoAndBrowser } from './lib/browser.mjs';
import { logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

describe('a case record', { timeout: 120_000 }, () => {
  test('the coordinator records how the person was informed, then ends the follow-up', async () => {
    const tab = await openTab(browser);
    const { page } = tab;
    await logInReady(page, demo.url, demo.accounts.coordinatrice);

    // A working group, whose rules the case follows.
    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
    await page.getByLabel('Nom', { exact: true }).fill('Groupe jeunesse');
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
    await page.getByLabel(/^Karim Benali/).check();
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.waitForURL(/\/canal\//);
    await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
    await page.getByLabel('Votre message').waitFor();
    const groupUrl = page.url();

    // The case.
    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByLabel('Type de canal').selectOption('case');
    await page.getByLabel('Programme').selectOption('youth_exposed_to_delinquency');
    // The youth programme asks for the birth month (C11): refused without it, then the
    // 25th birthday is the case's destruction limit.
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.getByText(/Indiquez le mois de naissance de la personne/).first().waitFor();
    await page.getByLabel('Mois de naissance de la personne').fill('2012-03');
    await page.getByLabel('Groupe de travail dont le règlement s’applique').selectOption({ label: 'Groupe jeunesse' });
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
    await page.getByLabel(/^Karim Benali/).check();
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.getByLabel('Votre message').or(page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter')).first().waitFor();
    await page.waitForURL((url) => url.href !== groupUrl);
    const rules = page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter');
    await rules.or(page.getByLabel('Votre message')).first().waitFor();
    if (await rules.isVisible()) {
      await rules.check();
      await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
    }
    await page.getByLabel('Votre message').waitFor();

    // The record.
    await page.getByText('Fiche du dossier', { exact: true }).click();
    await page.getByTestId('case-information').getByText('Non renseignée').waitFor();
    await page.getByText('Destruction au plus tard le', { exact: true }).waitFor();
    assert.match(await page.locator('dd', { hasText: '2037' }).first().innerText(), /mars 2037/, 'destroyed at the 25th birthday at the latest');
    await page.getByTestId('case-next-review').waitFor();
    await page.getByRole('button', { name: 'Situation revue' }).click();
    await page.locator('#notice-status').getByText(/Revue enregistrée.*prochaine revue le/).or(page.locator('#notice-error:not(:empty)')).first().waitFor();
    assert.equal(await page.locator('#notice-error').innerText(), '', 'the review is recorded');
    await page.getByText('Enregistrer l’information de la personne', { exact: true }).click();
    const record = page.getByRole('form', { name: 'Enregistrer l’information de la personne' });
    await record.getByLabel('Moyen').selectOption('letter');
    await record.getByLabel('Personne informée').selectOption('guardians');
    await assertAccessible(page, 'case record');
    await screenshot(page, 'case-record');
    await screenshotSizes(page, 'case-record');
    await record.getByRole('button', { name: 'Enregistrer l’information' }).click();
    await page.locator('#notice-status').getByText('Information de la personne enregistrée.').or(page.locator('#notice-error:not(:empty)')).first().waitFor();
    assert.equal(await page.locator('#notice-error').innerText(), '', 'the information is recorded');
    await page.getByTestId('case-information').getByText(/Courrier — Les représentants légaux/).waitFor();

    // The end of the follow-up.
    await page.getByRole('button', { name: 'Mettre fin au suivi' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(/détruit trois ans après la fin du suivi/).waitFor();
    await assertAccessible(page, 'end of follow-up');
    await screenshot(page, 'case-end-follow-up');
    await dialog.getByRole('button', { name: 'Mettre fin au suivi' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Archiver le dossier' }).click();
    await page.getByText('Ce canal est en lecture seule.').or(page.getByRole('button', { name: 'Consulter l’archive' })).first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'Mettre fin au suivi' }).count(), 0);
    await screenshot(page, 'case-archived');
    assertNoProblems(tab);
  });
});
