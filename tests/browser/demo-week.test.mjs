// The demo as a person trying it finds it (`passerelle demo`, issue 21 item 8): a week of
// the CLSPD is waiting. The coordinator changes the seeded cellule de veille's agenda, runs
// it, schedules then cancels another meeting, and accepts the school's ACTE referral,
// which opens a case under the ACTE scheme; the police officer takes the mediator's field report in charge; the school's CPE refers a
// second pupil; the annual report counts all of it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, launchBrowser, openTab, screenshot } from './lib/browser.mjs';
import { startDemo } from './lib/demo.mjs';
import { logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  [demo, browser] = await Promise.all([startDemo({ sampleWeek: true }), launchBrowser()]);
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * Waits for the outcome of an action: the status notice, or an error that fails the test.
 * @param {import('playwright-core').Page} page
 * @param {string | RegExp} status
 */
async function done(page, status) {
  await page.locator('#notice-status').getByText(status).or(page.locator('#notice-error:not(:empty)')).first().waitFor();
  assert.equal(await page.locator('#notice-error').innerText(), '', `no error after « ${status} »`);
}

/**
 * Opens the working group `name` from the channel list and accepts its rules, as its
 * members do once.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
async function joinGroup(page, name) {
  await page.getByRole('link', { name: new RegExp(name) }).first().click();
  const rules = page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter');
  await page.getByLabel('Votre message').or(rules).first().waitFor();
  if (await rules.isVisible()) {
    await rules.check();
    await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
  }
  await page.getByLabel('Votre message').waitFor();
}

describe('the demo’s sample week', { timeout: 300_000 }, () => {
  test('the seeded meeting, field report and ACTE referral are there to be used, and counted', async () => {
    const coordinatrice = await openTab(browser);
    const policier = await openTab(browser);
    const cpe = await openTab(browser);
    await logInReady(coordinatrice.page, demo.url, demo.accounts.coordinatrice);
    await logInReady(policier.page, demo.url, demo.accounts.policier);
    await logInReady(cpe.page, demo.url, demo.accounts['cpe.college']);

    // The coordinator runs the cellule de veille seeded for tomorrow.
    {
      const { page } = coordinatrice;
      // Before the group's rules are accepted, « Réunions » says where its meeting is.
      await page.getByRole('link', { name: 'Réunions', exact: true }).click();
      const pending = page.getByTestId('meetings-rules-pending');
      await pending.getByRole('link', { name: 'Cellule de veille' }).waitFor();
      await assertAccessible(page, 'meetings with rules to accept');
      await joinGroup(page, 'Cellule de veille');
      await page.getByRole('link', { name: 'Réunions', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Réunions' }).waitFor();
      const upcoming = page.getByTestId('meetings-upcoming').getByTestId('meeting');
      await upcoming.first().waitFor();
      assert.equal(await upcoming.count(), 1);
      assert.match(await upcoming.innerText(), /Cellule de veille/);
      await screenshot(page, 'demo-week-meetings');
      await upcoming.getByRole('button', { name: /^Ouvrir/ }).click();
      const situations = page.getByTestId('situation');
      await situations.first().waitFor();
      assert.equal(await situations.count(), 2, 'two situations on the agenda');
      // The agenda changes until the meeting: a situation leaves it, then comes back.
      const second = (await situations.nth(1).getAttribute('data-case')) ?? '';
      await situations.nth(1).getByRole('button', { name: 'Retirer de l’ordre du jour' }).click();
      await done(page, `Situation ${second} retirée de l’ordre du jour.`);
      assert.equal(await situations.count(), 1);
      const add = page.getByRole('form', { name: 'Ajouter une situation à l’ordre du jour' });
      await add.getByLabel('Situation à ajouter').selectOption({ label: `Situation ${second}` });
      await add.getByRole('button', { name: 'Ajouter à l’ordre du jour' }).click();
      await done(page, `Situation ${second} ajoutée à l’ordre du jour.`);
      assert.equal(await situations.count(), 2);
      await page.getByLabel(/^Claire Martin/).check();
      await page.getByRole('button', { name: 'Enregistrer les présences' }).click();
      await done(page, 'Présences enregistrées.');
      for (const reference of await situations.evaluateAll((all) => all.map((s) => s.getAttribute('data-case') ?? ''))) {
        const decision = page.getByRole('form', { name: `Décision pour la situation ${reference}` });
        await decision.getByLabel('Décision').selectOption({ label: 'Maintenir le suivi' });
        await decision.getByRole('button', { name: 'Enregistrer la décision' }).click();
        await done(page, `Décision enregistrée pour la situation ${reference}.`);
      }
      await page.getByRole('button', { name: 'Clore la réunion' }).click();
      await done(page, 'Réunion close : ses décisions sont figées.');
      await assertAccessible(page, 'demo meeting held');

      // Another meeting, scheduled then cancelled: Enter keeps it, only the explicit
      // button cancels it.
      await page.getByRole('button', { name: 'Retour aux réunions' }).click();
      await page.getByText('Programmer une réunion', { exact: true }).click();
      const schedule = page.getByRole('form', { name: 'Programmer une réunion' });
      await schedule.getByLabel('Groupe de travail').selectOption({ label: 'Cellule de veille' });
      await schedule.locator('input[name="agenda"]').first().check();
      await schedule.getByRole('button', { name: 'Programmer la réunion' }).click();
      await done(page, 'Réunion programmée.');
      await page.getByRole('button', { name: 'Annuler la réunion' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      await page.keyboard.press('Enter');
      await dialog.waitFor({ state: 'detached' });
      await page.getByTestId('meeting-status').getByText(/^Réunion prévue/).waitFor();
      await page.getByRole('button', { name: 'Annuler la réunion' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Annuler la réunion' }).click();
      await done(page, 'Réunion annulée.');
      await page.getByTestId('meetings-upcoming').getByText('Aucune réunion prévue.').waitFor();
    }

    // The coordinator accepts the school's ACTE referral addressed to the town hall.
    {
      const { page } = coordinatrice;
      await page.getByRole('link', { name: 'Orientations', exact: true }).click();
      const card = page.getByTestId('referrals-received').getByTestId('referral').filter({ hasText: 'Scolarité' });
      await card.getByTestId('referral-scheme').getByText(/^ACTE : exclusion temporaire du/).waitFor();
      assert.match(await card.innerText(), /Lucie Garnier/);
      await screenshot(page, 'demo-week-acte-referral');
      await card.getByRole('button', { name: 'Accepter et ouvrir le dossier' }).click();
      await card.getByTestId('referral-status').getByText('Acceptée').waitFor();
      assert.match(await card.getByTestId('referral-case').innerText(), /^DOS-/);
    }

    // The police officer, member of the mediation group, takes the field report in charge.
    {
      const { page } = policier;
      await joinGroup(page, 'Médiation et tranquillité publique');
      await page.getByRole('link', { name: 'Signalements', exact: true }).click();
      await page.getByRole('heading', { level: 2, name: 'Signalements reçus' }).waitFor();
      const card = page.getByTestId('field-report');
      await card.getByTestId('field-report-description').getByText(/Signalement d’exemple/).waitFor();
      assert.match(await card.innerText(), /Rue des Tilleuls/);
      await card.getByRole('button', { name: 'Prendre en charge' }).click();
      await card.getByTestId('field-report-status').getByText('Pris en charge').waitFor();
      await assertAccessible(page, 'demo field report');
      await screenshot(page, 'demo-week-field-report');
    }

    // The school's CPE refers a second excluded pupil to the town hall's youth service:
    // only ACTE is offered to a school.
    {
      const { page } = cpe;
      await page.getByRole('link', { name: 'Orientations', exact: true }).click();
      const form = page.getByRole('form', { name: 'Orienter une personne' });
      await form.waitFor();
      assert.deepEqual(await form.locator('select[name="reason"] option').allTextContents(), ['Scolarité (exclusion temporaire)']);
      await form.getByLabel('Institution destinataire').selectOption({ label: 'Mairie (coordination CLSPD)' });
      await form.getByLabel('Mois de naissance de la personne').fill(`${new Date().getUTCFullYear() - 13}-03`);
      const day = (/** @type {number} */ offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
      await form.getByLabel('Premier jour d’exclusion').fill(day(2));
      await form.getByLabel('Dernier jour d’exclusion').fill(day(4));
      await assertAccessible(page, 'ACTE referral form');
      await screenshot(page, 'demo-week-acte-form');
      await form.getByRole('button', { name: 'Envoyer l’orientation' }).click();
      await done(page, 'Orientation envoyée à l’institution destinataire.');
      const sent = page.getByTestId('referrals-sent').getByTestId('referral');
      await sent.nth(1).waitFor();
      assert.equal(await sent.count(), 2, 'the seeded referral and this one');
    }

    // The plenary's report counts the week.
    {
      const { page } = coordinatrice;
      await page.getByRole('link', { name: 'Bilan annuel' }).click();
      await page.getByRole('heading', { level: 1, name: 'Bilan annuel' }).waitFor();
      const row = (/** @type {string} */ label) => page.getByRole('row', { name: new RegExp(`^${label}`) }).getByRole('cell');
      await row('Réunions tenues').getByText('1', { exact: true }).waitFor();
      assert.equal(await row('Situations examinées').innerText(), '2');
      assert.equal(await row('Scolarité').innerText(), '2');
      assert.equal(await row('Logement').innerText(), '1');
      assert.equal(await row('Panne technique ou dégradation').first().innerText(), '1');
      await screenshot(page, 'demo-week-annual-report');
    }

    for (const tab of [coordinatrice, policier, cpe]) assertNoProblems(tab);
  });
});
