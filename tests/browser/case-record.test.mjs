// A case's record for its coordinator: the information of the person (CHARTER.md C13)
// and « Mettre fin au suivi » (archiving, destruction three years later at the latest).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, screenshotSizes, startDemoAndBrowser } from './lib/browser.mjs';
import { logIn, logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** The case's reference, as the coordinator's screen shows it. */
let reference = '';
/** The coordinator's tab, still logged in after the first test (a second login within
 * the same TOTP step would be refused as a replay). */
/** @type {import('playwright-core').Page | null} */
let coordinatorPage = null;

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
    // Any institution of the CLSPD may report a situation, even one without accounts yet.
    const reporters = await page.getByLabel('Institution qui signale la situation').locator('option').allInnerTexts();
    assert.ok(reporters.includes('Mission locale'), reporters.join(', '));
    // The youth programme asks for the birth month (C11): refused without it, then the
    // 25th birthday is the case's destruction limit.
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.getByText(/Indiquez le mois de naissance de la personne/).first().waitFor();
    await page.getByLabel('Mois de naissance de la personne').fill('2012-03');
    // A pupil temporarily excluded from the collège, hosted by a structure (ACTE): each
    // missing field is named next to it, then the scheme travels with the case.
    await page.getByLabel('Dispositif local').selectOption('acte');
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.getByText('Choisissez le collège qui oriente l’élève.', { exact: true }).waitFor();
    await page.getByText('Indiquez le premier jour.', { exact: true }).waitFor();
    await page.getByLabel('Collège', { exact: true }).selectOption({ label: 'Éducation nationale (collège)' });
    const day = (/** @type {number} */ offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel('Premier jour d’exclusion').fill(day(1));
    await page.getByLabel('Dernier jour d’exclusion').fill(day(3));
    await page.getByLabel('Structure d’accueil').selectOption({ label: 'Éducation nationale (collège)' });
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.getByText('La structure d’accueil doit être différente du collège.', { exact: true }).waitFor();
    await page.getByLabel('Structure d’accueil').selectOption({ label: 'CCAS' });
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
    reference = (await page.getByTestId('conversation-title').innerText()).trim();
    const caseUrl = page.url();

    // The coordinator's dashboard lists the case with what is still to do.
    await page.getByRole('link', { name: 'Tableau de bord' }).click();
    await page.getByRole('heading', { level: 1, name: 'Tableau de bord' }).waitFor();
    const caseRow = page.locator(`tr[data-case="${reference}"]`);
    await caseRow.waitFor();
    assert.match(await caseRow.innerText(), /Jeunes exposés à la délinquance · ACTE[\s\S]*Situation signalée[\s\S]*Aucun[\s\S]*Non renseignée/);
    await page.getByText(/^1 dossier\(s\) en cours · 0 à revoir · 1 sans information de la personne/).waitFor();
    await page.getByLabel('Afficher').selectOption('review');
    await page.getByText('Aucun dossier ne correspond à ce filtre.').waitFor();
    await page.getByLabel('Afficher').selectOption('information');
    await caseRow.waitFor();
    await assertAccessible(page, 'coordinator dashboard');
    await screenshot(page, 'coordinator-dashboard');
    await caseRow.getByRole('link', { name: reference }).click();
    await page.waitForURL(caseUrl);
    await page.getByLabel('Votre message').waitFor();

    // The record.
    await page.getByText('Fiche du dossier', { exact: true }).click();
    await page.getByTestId('case-information').getByText('Non renseignée').waitFor();
    await page.getByTestId('case-scheme').getByText(/^ACTE : exclusion temporaire du .* orientée par Éducation nationale \(collège\), accueil par CCAS$/).waitFor();
    // The birth month typed at the opening waits, in this page only, to join the identity
    // record sealed for the coordination and the referent (C7).
    const identityForm = page.getByRole('form', { name: 'Enregistrer l’identité' });
    assert.equal(await identityForm.getByLabel('Mois de naissance (facultatif)').inputValue(), '2012-03');
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

    // The follow-up's step and its referent.
    await page.getByText('Modifier le suivi', { exact: true }).click();
    const followUp = page.getByRole('form', { name: 'Modifier le suivi' });
    await followUp.getByLabel('Étape du suivi').selectOption({ label: 'En cours d’évaluation' });
    await followUp.getByLabel('Référent du dossier').locator('option', { hasText: 'Karim Benali' }).waitFor({ state: 'attached' });
    await followUp.getByLabel('Référent du dossier').selectOption({ label: 'Karim Benali' });
    await followUp.getByRole('button', { name: 'Enregistrer le suivi' }).click();
    await page.locator('#notice-status').getByText('Suivi du dossier enregistré.').waitFor();
    await page.locator('.case-record dd', { hasText: 'En cours d’évaluation' }).waitFor();
    await page.getByTestId('case-referent').getByText('Karim Benali').waitFor();

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
    coordinatorPage = page;
  });

  test('the coordinator reads the annual report, ACTE counted, and downloads it', async () => {
    const page = coordinatorPage;
    assert.ok(page, 'the coordinator has opened a case');
    await page.getByRole('link', { name: 'Bilan annuel' }).click();
    await page.getByRole('heading', { level: 1, name: 'Bilan annuel' }).waitFor();
    const row = (/** @type {string} */ label) => page.getByRole('row', { name: new RegExp(`^${label}`) }).getByRole('cell');
    await row('ACTE : collégiens temporairement exclus accueillis').getByText('1', { exact: true }).waitFor();
    assert.equal(await row('Chantiers éducatifs').innerText(), '0');
    assert.ok(Number(await row('Situations individuelles ouvertes').innerText()) >= 1);
    // Names never appear: institutions are the only words besides the labels.
    assert.doesNotMatch(await page.locator('.report').innerText(), /Claire Martin|Karim Benali|DOS-/);
    await assertAccessible(page, 'annual report');
    await screenshot(page, 'annual-report');
    const href = await page.getByRole('link', { name: 'Télécharger le tableau (CSV)' }).getAttribute('href');
    assert.ok(href, 'the CSV has an address');
    const csv = await page.request.get(new URL(href, demo.url).href);
    assert.equal(csv.status(), 200);
    assert.match(await csv.text(), /^situations_acte,1$/m);
  });

  test('the auditor finds the case by its reference and reads its events in words', async () => {
    assert.ok(reference, 'the case has a reference');
    const tab = await openTab(browser);
    const { page } = tab;
    await logIn(page, demo.url, demo.accounts.dpo);
    await page.getByRole('link', { name: 'Journal des accès' }).click();
    // The newest first, in words: the auditor's own consultation of the log is among the
    // first rows (the console's integrity check, run at the same moment, may come first).
    const table = page.getByRole('table', { name: /^Événements du journal des accès/ });
    await table.locator('tbody tr').first().waitFor();
    const newest = await table.locator('tbody tr [data-action]').evaluateAll((cells) => cells.slice(0, 3).map((cell) => cell.textContent));
    assert.ok(newest.includes('Consultation du journal des accès'), newest.join(', '));

    // By the case's reference: its channel's events, named.
    await page.getByLabel('Dossier ou cible').fill(reference);
    await page.getByRole('button', { name: 'Filtrer' }).click();
    const archived = table.locator('tbody tr').filter({ has: page.locator('td[data-action="case_archived"]') });
    await archived.waitFor();
    assert.match(await archived.innerText(), /Dossier archivé/);
    assert.match(await archived.innerText(), new RegExp(`Claire Martin[\\s\\S]*Mairie \\(coordination CLSPD\\)[\\s\\S]*${reference}`));
    const actions = await table.locator('tbody td[data-action]').evaluateAll((cells) => cells.map((cell) => cell.getAttribute('data-action')));
    assert.ok(actions.includes('history_read') || actions.includes('channel_created') || actions.includes('case_opened'), actions.join(', '));
    // No raw code nor raw JSON in the table.
    assert.doesNotMatch(await table.locator('tbody').innerText(), /[a-z]+_[a-z]+|\{"/);

    // One event in detail.
    await archived.getByRole('button', { name: /^Voir/ }).click();
    const detail = page.getByTestId('audit-detail');
    await detail.getByRole('heading', { name: /Dossier archivé/ }).waitFor();
    assert.match(await detail.innerText(), /Claire Martin/);
    await assertAccessible(page, 'audit detail');
    await screenshot(page, 'audit-detail');
    await screenshotSizes(page, 'audit-detail');
    await detail.getByRole('button', { name: 'Fermer le détail' }).click();

    // By institution, chosen by its name.
    await page.getByLabel('Dossier ou cible').fill('');
    await page.getByLabel('Institution').selectOption({ label: 'Mairie (coordination CLSPD)' });
    await page.getByRole('button', { name: 'Filtrer' }).click();
    await page.getByTestId('audit-total').getByText(/événement\(s\) correspondent/).waitFor();
    await table.locator('tbody tr').filter({ hasText: 'Claire Martin' }).first().waitFor();
    const institutions = await table.locator('tbody td[data-label="Institution"]').allInnerTexts();
    assert.ok(institutions.length > 0 && institutions.every((name) => name === 'Mairie (coordination CLSPD)'), institutions.join(', '));
    assertNoProblems(tab);
  });
});
