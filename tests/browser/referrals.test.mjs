// Referrals of the intervenant social au commissariat (issue 21, item 1): the demo's
// intervenant social refers a person to the social services with a sealed note, the
// social worker reads the note and accepts, which opens a case; the coordinator sees the
// referrals waiting on the dashboard and the annual report counts them. The note is
// decrypted in the browsers only.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, screenshotSizes, startDemoAndBrowser } from './lib/browser.mjs';
import { logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

const SOCIAL_SERVICES = 'Conseil départemental (action sociale, ASE)';
const NOTE = 'Dettes de loyer, rendez-vous souhaité cette semaine.';

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

describe('referrals', { timeout: 180_000 }, () => {
  test('the intervenant social refers a person; the social worker accepts and the case exists', async () => {
    const intervenant = await openTab(browser);
    const assistante = await openTab(browser);
    const coordinatrice = await openTab(browser);
    await logInReady(intervenant.page, demo.url, demo.accounts['intervenant.social']);
    await logInReady(assistante.page, demo.url, demo.accounts['assistante.sociale']);
    await logInReady(coordinatrice.page, demo.url, demo.accounts.coordinatrice);

    // The intervenant social's form: no field for the person's name.
    {
      const { page } = intervenant;
      await page.getByRole('link', { name: 'Orientations', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Orientations' }).waitFor();
      const referral = page.getByRole('form', { name: 'Orienter une personne' });
      await referral.getByLabel('Institution destinataire').selectOption({ label: SOCIAL_SERVICES });
      await referral.getByLabel('Référent proposé').selectOption({ label: 'Sophie Leroy' });
      await referral.locator('select[name="reason"]').selectOption({ label: 'Difficultés économiques' });
      await referral.getByLabel('Consentement de la personne').selectOption({ value: 'consented' });
      await referral.getByLabel('Informée par').selectOption({ label: 'Entretien' });
      await referral.getByLabel('Note pour le destinataire').fill(NOTE);
      assert.equal(await referral.getByLabel(/nom/i).count(), 0, 'no field asks for a name');
      await assertAccessible(page, 'referral form');
      await screenshot(page, 'referral-form');
      await screenshotSizes(page, 'referral-form');
      await referral.getByRole('button', { name: 'Envoyer l’orientation' }).click();
      await page.locator('#notice-status').getByText('Orientation envoyée').or(page.locator('#notice-error:not(:empty)')).first().waitFor();
      assert.equal(await page.locator('#notice-error').innerText(), '', 'the referral is sent');
      const card = page.getByTestId('referrals-sent').getByTestId('referral').filter({ hasText: 'Difficultés économiques' });
      await card.getByTestId('referral-status').getByText('Proposée').waitFor();
      await card.getByTestId('referral-note').getByText(NOTE).waitFor();
    }

    // The social worker reads the note and accepts: a case opens, she is its referent.
    let caseHref = '';
    {
      const { page } = assistante;
      await page.getByRole('link', { name: 'Orientations', exact: true }).click();
      const card = page.getByTestId('referrals-received').getByTestId('referral').filter({ hasText: 'Difficultés économiques' });
      await card.getByTestId('referral-note').getByText(NOTE).waitFor();
      assert.match(await card.innerText(), /Nadia Haddad/);
      assert.equal(await page.getByRole('form', { name: 'Orienter une personne' }).count(), 0, 'only the intervenant social refers');
      await assertAccessible(page, 'referral received');
      await screenshot(page, 'referral-received');
      const accept = card.getByRole('form', { name: /^Accepter l’orientation/ });
      // The proposed referent is chosen already: herself.
      assert.equal(await accept.getByLabel('Référent du dossier').locator('option:checked').innerText(), 'Vous');
      await accept.getByRole('button', { name: 'Accepter et ouvrir le dossier' }).click();
      const accepted = page.getByTestId('referrals-received').getByTestId('referral').filter({ hasText: 'Difficultés économiques' });
      await accepted.getByTestId('referral-status').getByText('Acceptée').waitFor();
      const link = accepted.getByTestId('referral-case');
      assert.match(await link.innerText(), /^DOS-/);
      caseHref = (await link.getAttribute('href')) ?? '';
      assert.match(caseHref, /^\/canal\//);
      await screenshot(page, 'referral-accepted');
      // The case is among her channels.
      const channels = await page.evaluate(async () => (await fetch('/api/v1/channels')).json());
      assert.ok(
        channels.some((/** @type {{ id: string, kind: string }} */ c) => `/canal/${c.id}` === caseHref && c.kind === 'case'),
        'the accepted referral opened a case',
      );
    }

    // The intervenant social sees the outcome and the case.
    {
      const { page } = intervenant;
      await page.reload();
      const card = page.getByTestId('referrals-sent').getByTestId('referral').filter({ hasText: 'Difficultés économiques' });
      await card.getByTestId('referral-status').getByText('Acceptée').waitFor();
      assert.equal(await card.getByTestId('referral-case').getAttribute('href'), caseHref);
    }

    // The coordinator: the demo's referral waits on the dashboard; the report counts both.
    {
      const { page } = coordinatrice;
      await page.getByRole('link', { name: 'Tableau de bord' }).click();
      await page.getByRole('heading', { level: 2, name: 'Orientations en attente' }).waitFor();
      const waiting = page.getByTestId('dashboard-referral');
      await waiting.first().waitFor();
      assert.equal(await waiting.count(), 1, 'the accepted referral no longer waits');
      assert.match(await waiting.innerText(), /Logement/);
      await assertAccessible(page, 'dashboard with referrals');
      await screenshot(page, 'dashboard-referrals');
      await page.getByRole('link', { name: 'Bilan annuel' }).click();
      await page.getByRole('heading', { level: 1, name: 'Bilan annuel' }).waitFor();
      const row = (/** @type {string} */ label) => page.getByRole('row', { name: new RegExp(`^${label}`) }).getByRole('cell');
      await row('Difficultés économiques').getByText('1', { exact: true }).waitFor();
      assert.equal(await row('Logement').innerText(), '1');
      assert.equal(await row('Acceptée').innerText(), '1');
      assert.equal(await row('Refusée').innerText(), '0');
      assert.doesNotMatch(await page.locator('.report').innerText(), /Nadia|Sophie|Dettes/);
      await screenshot(page, 'annual-report-referrals');
    }

    // The server was given the note sealed: its API never returns it in clear.
    const listed = await assistante.page.evaluate(async () => (await fetch('/api/v1/referrals')).text());
    assert.ok(!listed.includes('Dettes'), 'the note is sealed on the server');

    for (const tab of [intervenant, assistante, coordinatrice]) assertNoProblems(tab);
  });
});
