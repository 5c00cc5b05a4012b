// Meetings of the cellule de veille (issue 21, item 2): the demo's coordinator creates the
// group and two situations, schedules a meeting with both on the agenda, marks who
// attended, decides each situation with a note and the next review, writes the minutes,
// closes the meeting and opens its printable version; the social worker, member of the
// group, reads the decisions; the annual report counts them. Notes and minutes are
// decrypted in the browsers only.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, screenshotSizes, startDemoAndBrowser } from './lib/browser.mjs';
import { logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

const GROUP = 'Cellule de veille';
const SOCIAL = /^Sophie Leroy/;
const SOCIAL_INSTITUTION = 'Conseil départemental (action sociale, ASE)';
const NOTE = 'La famille accepte un accompagnement éducatif renforcé.';
const MINUTES = 'Deux situations examinées ; prochaine cellule dans un mois.';

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * Accepts the rules of the channel just opened, if they are asked.
 * @param {import('playwright-core').Page} page
 */
async function acceptRulesIfAsked(page) {
  const rules = page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter');
  await page.getByLabel('Votre message').or(rules).first().waitFor();
  if (await rules.isVisible()) {
    await rules.check();
    await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
  }
  await page.getByLabel('Votre message').waitFor();
}

/**
 * A case of the group, with the social worker; its reference.
 * @param {import('playwright-core').Page} page
 */
async function openCase(page) {
  const before = page.url();
  await page.getByRole('link', { name: 'Créer un canal' }).first().click();
  await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
  await page.getByLabel('Type de canal').selectOption('case');
  await page.getByLabel('Programme').selectOption('public_tranquillity');
  await page.getByLabel('Groupe de travail dont le règlement s’applique').selectOption({ label: GROUP });
  await page.getByLabel(SOCIAL_INSTITUTION, { exact: true }).check();
  await page.getByLabel(SOCIAL).check();
  await page.getByRole('button', { name: 'Créer le canal' }).click();
  await page.waitForURL((url) => url.href !== before && /\/canal\//.test(url.href));
  await acceptRulesIfAsked(page);
  return (await page.getByTestId('conversation-title').innerText()).trim();
}

/**
 * Waits for the outcome of an action: the status notice, or an error that fails the test.
 * @param {import('playwright-core').Page} page
 * @param {string | RegExp} status
 */
async function done(page, status) {
  await page.locator('#notice-status').getByText(status).or(page.locator('#notice-error:not(:empty)')).first().waitFor();
  assert.equal(await page.locator('#notice-error').innerText(), '', `no error after « ${status} »`);
}

describe('meetings of the cellule de veille', { timeout: 240_000 }, () => {
  test('a coordinator runs a cellule de veille from the agenda to the printable minutes', async () => {
    const coordinatrice = await openTab(browser);
    const sociale = await openTab(browser);
    await logInReady(coordinatrice.page, demo.url, demo.accounts.coordinatrice);
    await logInReady(sociale.page, demo.url, demo.accounts['assistante.sociale']);

    // The group and two situations of the group.
    const references = [];
    {
      const { page } = coordinatrice;
      await page.getByRole('link', { name: 'Créer un canal' }).first().click();
      await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
      await page.getByLabel('Nom', { exact: true }).fill(GROUP);
      await page.getByLabel(SOCIAL_INSTITUTION, { exact: true }).check();
      await page.getByLabel(SOCIAL).check();
      await page.getByRole('button', { name: 'Créer le canal' }).click();
      await page.waitForURL(/\/canal\//);
      await acceptRulesIfAsked(page);
      references.push(await openCase(page), await openCase(page));
    }
    {
      const { page } = sociale;
      await page.reload();
      await page.getByRole('link', { name: new RegExp(GROUP) }).click();
      await acceptRulesIfAsked(page);
    }

    // « Réunions »: schedule with both situations on the agenda.
    const { page } = coordinatrice;
    await page.getByRole('link', { name: 'Réunions', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Réunions' }).waitFor();
    await page.getByTestId('meetings-upcoming').getByText('Aucune réunion prévue.').waitFor();
    await page.getByText('Programmer une réunion', { exact: true }).click();
    const schedule = page.getByRole('form', { name: 'Programmer une réunion' });
    await schedule.getByLabel('Groupe de travail').selectOption({ label: GROUP });
    for (const reference of references) await schedule.getByLabel(`Situation ${reference}`).check();
    await assertAccessible(page, 'meeting scheduling');
    await screenshot(page, 'meeting-schedule');
    await schedule.getByRole('button', { name: 'Programmer la réunion' }).click();
    await done(page, 'Réunion programmée.');

    // The meeting screen: attendance, a decision per situation, the minutes.
    await page.getByRole('heading', { level: 2, name: new RegExp(`^${GROUP}`) }).waitFor();
    await page.getByLabel(/^Claire Martin/).check();
    await page.getByLabel(SOCIAL).check();
    await page.getByRole('button', { name: 'Enregistrer les présences' }).click();
    await done(page, 'Présences enregistrées.');
    const nextMonth = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    {
      const decision = page.getByRole('form', { name: `Décision pour la situation ${references[0]}` });
      await decision.getByLabel('Décision').selectOption({ label: 'Maintenir le suivi' });
      await decision.getByLabel('Note (chiffrée pour le groupe)').fill(NOTE);
      await decision.getByLabel('Prochaine revue').fill(nextMonth);
      await decision.getByRole('button', { name: 'Enregistrer la décision' }).click();
      await done(page, `Décision enregistrée pour la situation ${references[0]}.`);
    }
    {
      const decision = page.getByRole('form', { name: `Décision pour la situation ${references[1]}` });
      await decision.getByLabel('Décision').selectOption({ label: 'Demander une évaluation' });
      await decision.getByRole('button', { name: 'Enregistrer la décision' }).click();
      await done(page, `Décision enregistrée pour la situation ${references[1]}.`);
    }
    await page.getByLabel('Compte rendu (chiffré pour le groupe)').fill(MINUTES);
    await page.getByRole('button', { name: 'Enregistrer le compte rendu' }).click();
    await done(page, 'Compte rendu enregistré.');
    const first = page.locator(`[data-testid="situation"][data-case="${references[0]}"]`);
    await first.getByTestId('situation-decision').getByText('Maintenir le suivi').waitFor();
    await first.getByTestId('situation-note').getByText(NOTE).waitFor();
    await assertAccessible(page, 'meeting in progress');
    await screenshot(page, 'meeting-in-progress');
    await screenshotSizes(page, 'meeting-in-progress');

    // Closed: the decisions are frozen, the forms gone.
    await page.getByRole('button', { name: 'Clore la réunion' }).click();
    await done(page, 'Réunion close : ses décisions sont figées.');
    await page.getByTestId('meeting-status').getByText(/^Réunion tenue et close/).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Enregistrer la décision' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Clore la réunion' }).count(), 0);

    // The printable version: attendance, decisions, decrypted note and minutes.
    await page.getByRole('button', { name: 'Version imprimable' }).click();
    const printable = page.getByTestId('meeting-print');
    await printable.waitFor();
    const text = await printable.innerText();
    for (const expected of ['Claire Martin', 'Sophie Leroy', 'Maintenir le suivi', 'Demander une évaluation', NOTE, references[0], references[1]]) {
      assert.ok(text.includes(expected), `the printable version shows ${expected}`);
    }
    await printable.getByTestId('meeting-print-minutes').getByText(MINUTES).waitFor();
    await page.evaluate(() => {
      // @ts-ignore -- a test hook: the print dialog cannot be driven, its call is recorded.
      window.print = () => { window.printed = true; };
    });
    await page.getByRole('button', { name: 'Imprimer', exact: true }).click();
    // @ts-ignore
    assert.equal(await page.evaluate(() => window.printed === true), true, 'Imprimer opens the print dialog');
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.getByRole('button', { name: 'Imprimer', exact: true }).isVisible(), false, 'the buttons are not printed');
    assert.equal(await page.locator('.app-header').isVisible(), false, 'the header is not printed');
    await screenshot(page, 'meeting-printable');
    await page.emulateMedia({ media: 'screen' });
    await assertAccessible(page, 'meeting printable version');

    // The social worker, member of the group, reads the held meeting and its note.
    {
      const { page: social } = sociale;
      await social.getByRole('link', { name: 'Réunions', exact: true }).click();
      const held = social.getByTestId('meetings-held').getByTestId('meeting');
      await held.getByRole('button', { name: /^Ouvrir/ }).click();
      const situation = social.locator(`[data-testid="situation"][data-case="${references[0]}"]`);
      await situation.getByTestId('situation-note').getByText(NOTE).waitFor();
      assert.equal(await social.getByLabel('Compte rendu (chiffré pour le groupe)').inputValue(), MINUTES);
      await screenshot(social, 'meeting-held-member');
    }

    // The annual report counts the meeting, the situations and the decisions.
    await page.getByRole('link', { name: 'Bilan annuel' }).click();
    await page.getByRole('heading', { level: 1, name: 'Bilan annuel' }).waitFor();
    const row = (/** @type {string} */ label) => page.getByRole('row', { name: new RegExp(`^${label}`) }).getByRole('cell');
    await row('Réunions tenues').getByText('1', { exact: true }).waitFor();
    assert.equal(await row('Situations examinées').innerText(), '2');
    assert.equal(await row('Maintenir le suivi').innerText(), '1');
    assert.equal(await row('Demander une évaluation').innerText(), '1');
    assert.equal(await row('Clore la situation').innerText(), '0');
    await assertAccessible(page, 'annual report with meetings');
    await screenshot(page, 'annual-report-meetings');

    // The server was given ciphertext only.
    const listed = await page.evaluate(async () => (await fetch('/api/v1/meetings')).text());
    assert.ok(listed.includes(references[0]), 'the list holds the agenda');
    for (const secret of [NOTE, MINUTES]) assert.ok(!listed.includes(secret), `in clear on the server: ${secret}`);

    for (const tab of [coordinatrice, sociale]) assertNoProblems(tab);
  });
});
