// The person's identity on a case (CHARTER.md C7) and the notice templates (C13), in the
// browsers: the coordinator opens a case, is offered the notice templates, records the
// identity (sealed in the browser), refuses a server that lists a reader the case's signed
// membership log does not name, names the referent (by a signed record), whose browser
// shows it; another
// member of the case sees nothing of it; the dashboard reminds of the person not yet
// informed.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, startDemoAndBrowser } from './lib/browser.mjs';
import { logInReady } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

const GROUP = 'Cellule de veille éducative';
const NAME = 'Kevin DURAND';
const SOCIAL = 'Conseil départemental (action sociale, ASE)';

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * Opens a channel from the list and accepts the rules it follows if asked.
 * @param {import('playwright-core').Page} page
 * @param {string | RegExp} name
 */
async function openChannel(page, name) {
  await page.getByRole('link', { name: 'Vos échanges' }).first().click().catch(() => {});
  await page.getByRole('link', { name }).first().click();
  const rules = page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter');
  await rules.or(page.getByLabel('Votre message')).first().waitFor();
  if (await rules.isVisible()) {
    await rules.check();
    await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
  }
  await page.getByLabel('Votre message').waitFor();
}

/** @param {import('playwright-core').Page} page */
async function noError(page) {
  assert.equal(await page.locator('#notice-error').innerText(), '', 'no error shown');
}

describe('a case’s identity and the information of the person', { timeout: 240_000 }, () => {
  test('the coordinator and the referent read the identity, another member sees nothing of it, and the templates are offered', async () => {
    const coordinatrice = await openTab(browser);
    const policier = await openTab(browser);
    const assistante = await openTab(browser);
    await logInReady(coordinatrice.page, demo.url, demo.accounts.coordinatrice);
    await logInReady(policier.page, demo.url, demo.accounts.policier);
    await logInReady(assistante.page, demo.url, demo.accounts['assistante.sociale']);

    const page = coordinatrice.page;
    // The group, then the case in it with both professionals.
    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
    await page.getByLabel('Nom', { exact: true }).fill(GROUP);
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
    await page.getByLabel(SOCIAL, { exact: true }).check();
    await page.getByLabel(/^Karim Benali/).check();
    await page.getByLabel(/^Sophie Leroy/).check();
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.waitForURL(/\/canal\//);
    await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
    await page.getByLabel('Votre message').waitFor();
    const groupUrl = page.url();

    // The group's coordination: none named yet; the coordinator names Sophie Leroy.
    await page.getByText('Coordination du groupe', { exact: true }).click();
    await page.getByTestId('group-coordinators').getByText(/Aucun coordinateur désigné/).waitFor();
    const coordination = page.getByRole('form', { name: 'Désigner les coordinateurs du groupe' });
    await coordination.getByLabel('Sophie Leroy').check();
    await coordination.getByRole('button', { name: 'Enregistrer la coordination' }).click();
    await page.locator('#notice-status').getByText('Coordination du groupe enregistrée.').or(page.locator('#notice-error:not(:empty)')).first().waitFor();
    await noError(page);
    await page.getByTestId('group-coordinators').getByText('Sophie Leroy').waitFor();

    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByLabel('Type de canal').selectOption('case');
    await page.getByLabel('Programme').selectOption('public_tranquillity');
    await page.getByLabel('Groupe de travail dont le règlement s’applique').selectOption({ label: GROUP });
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
    await page.getByLabel(SOCIAL, { exact: true }).check();
    await page.getByLabel(/^Karim Benali/).check();
    await page.getByLabel(/^Sophie Leroy/).check();
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.waitForURL((url) => url.href !== groupUrl && /\/canal\//.test(url.href));
    await page.getByLabel('Votre message').waitFor();
    const reference = (await page.getByTestId('conversation-title').innerText()).trim();

    // C13: the notice templates are offered at once, the reference filled in.
    const templates = page.getByTestId('notice-templates');
    await templates.getByLabel('Modèle de notice').waitFor();
    await templates.getByLabel('Modèle de notice').selectOption('information-representants-legaux');
    const text = await templates.getByLabel('Texte du modèle').inputValue();
    assert.match(text, /La situation de votre enfant/);
    assert.ok(text.includes(reference), 'the case reference is filled in');
    assert.match(text, /\[commune\]/, 'the passages to complete stay between brackets');
    await templates.getByRole('button', { name: 'Copier le texte' }).click();
    await page.locator('#notice-status').getByText(/^Texte (du modèle copié|sélectionné)/).waitFor();
    await assertAccessible(page, 'notice templates');
    await screenshot(page, 'case-notice-templates');

    // C7: the identity, sealed in this browser for the coordination and the referent.
    const identity = page.getByRole('region', { name: 'Identité de la personne' });
    await identity.getByText('Non enregistrée.').waitFor();
    await identity.locator('summary', { hasText: 'Enregistrer l’identité' }).click();
    const identityForm = page.getByRole('form', { name: 'Enregistrer l’identité' });
    await identityForm.getByLabel('Nom et prénom de la personne').fill(NAME);
    await identityForm.getByLabel('Mois de naissance (facultatif)').fill('2011-04');
    await identityForm.getByRole('button', { name: 'Enregistrer l’identité' }).click();
    await page.locator('#notice-status').getByText(/^Identité de la personne enregistrée/).or(page.locator('#notice-error:not(:empty)')).first().waitFor();
    await noError(page);
    await identity.getByRole('button', { name: 'Afficher' }).click();
    await identity.getByTestId('case-identity').getByText(NAME).waitFor();
    await identity.getByText('avril 2011').waitFor();
    await assertAccessible(page, 'case identity');
    await screenshot(page, 'case-identity-coordinator');

    // Issue 19 item 2: the readers come from the case's signed membership log. A server
    // that lists Karim Benali — a member, neither coordinator nor referent by the log —
    // among the readers is refused, and nothing is sealed.
    const caseId = page.url().split('/').pop() ?? '';
    const log = await page.evaluate(async (id) => (await fetch(`/api/v1/channels/${id}/membership-log`)).json(), caseId);
    assert.equal(log.records[0].kind, 'genesis', 'creating the case started its log');
    const karim = await page.evaluate(async (id) => {
      const detail = await (await fetch(`/api/v1/channels/${id}`)).json();
      const member = detail.members.find((/** @type {any} */ m) => m.display_name === 'Karim Benali');
      const keys = await (await fetch(`/api/v1/keys/users/${member.user_id}`)).json();
      return { user_id: member.user_id, device_id: keys.devices[0].certificate.device_id };
    }, caseId);
    const readersUrl = `**/api/v1/cases/${caseId}/identity/readers`;
    await page.route(readersUrl, async (route) => {
      const response = await route.fetch();
      const readers = await response.json();
      readers.readers.push({ user_id: karim.user_id, display_name: 'Karim Benali', duty: 'referent', devices: [karim.device_id] });
      await route.fulfill({ response, json: readers });
    });
    let sealings = 0;
    const sealUrl = `**/api/v1/cases/${caseId}/identity`;
    await page.route(sealUrl, async (route) => {
      if (route.request().method() === 'PUT') sealings += 1;
      await route.continue();
    });
    await identity.locator('summary', { hasText: 'Remplacer l’identité' }).click();
    const replaceForm = page.getByRole('form', { name: 'Remplacer l’identité' });
    await replaceForm.getByLabel('Nom et prénom de la personne').fill(NAME);
    await replaceForm.getByRole('button', { name: 'Remplacer l’identité' }).click();
    await page.locator('#notice-error').getByText(/ne désigne ni coordinatrice ni référente du dossier\s*:\s*rien n’a été chiffré/).waitFor();
    assert.equal(sealings, 0, 'nothing was sealed for the extra reader');
    await page.unroute(readersUrl);
    await page.unroute(sealUrl);
    await screenshot(page, 'case-identity-extra-reader-refused');

    // Karim Benali becomes the referent: the identity is sealed again for him.
    await page.getByText('Modifier le suivi', { exact: true }).click();
    const followUp = page.getByRole('form', { name: 'Modifier le suivi' });
    await followUp.getByLabel('Référent du dossier').locator('option', { hasText: 'Karim Benali' }).waitFor({ state: 'attached' });
    await followUp.getByLabel('Référent du dossier').selectOption({ label: 'Karim Benali' });
    await followUp.getByRole('button', { name: 'Enregistrer le suivi' }).click();
    await page.locator('#notice-status').getByText(/chiffrée à nouveau pour le nouveau référent/).or(page.locator('#notice-error:not(:empty)')).first().waitFor();
    await noError(page);
    // The referent is named by a record the coordinator's device signed.
    const named = await page.evaluate(async (id) => (await fetch(`/api/v1/channels/${id}/membership-log`)).json(), caseId);
    const last = named.records[named.records.length - 1];
    assert.deepEqual([last.kind, last.role, last.subjects], ['role_changed', 'referent', [karim.user_id]]);

    // The referent reads it in his browser.
    {
      const referentPage = policier.page;
      await openChannel(referentPage, new RegExp(reference));
      await referentPage.getByText('Fiche du dossier', { exact: true }).click();
      const shown = referentPage.getByRole('region', { name: 'Identité de la personne' });
      await shown.getByRole('button', { name: 'Afficher' }).click();
      await shown.getByTestId('case-identity').getByText(NAME).waitFor();
      await noError(referentPage);
      // A referent records nothing else than the coordinator lets him.
      assert.equal(await referentPage.getByRole('button', { name: 'Mettre fin au suivi' }).count(), 0);
      await screenshot(referentPage, 'case-identity-referent');
      assertNoProblems(policier);
    }

    // Sophie Leroy, named coordinator of the group, coordinates its cases (C1): the
    // identity is offered to her too.
    {
      const otherPage = assistante.page;
      await openChannel(otherPage, new RegExp(reference));
      await otherPage.getByText('Fiche du dossier', { exact: true }).click();
      await otherPage.getByRole('region', { name: 'Identité de la personne' }).waitFor();

      // From « Créer un canal », she opens a case in the group she coordinates, and only
      // there: a case or a session, never a group of her own.
      await otherPage.reload();
      await otherPage.getByRole('link', { name: 'Créer un canal' }).first().click();
      await otherPage.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
      assert.deepEqual(await otherPage.locator('select[name="kind"] option').allTextContents(), ['Dossier (situation individuelle)', 'Séance d’analyse de pratiques']);
      assert.deepEqual(await otherPage.locator('select[name="group_id"] option').allTextContents(), ['Choisissez un groupe', GROUP]);
      await otherPage.getByLabel('Programme').selectOption('public_tranquillity');
      await otherPage.getByRole('button', { name: 'Créer le canal' }).click();
      await otherPage.getByText('Choisissez un groupe que vous coordonnez : le dossier ou la séance y est rattaché.').first().waitFor();
      await otherPage.getByLabel('Groupe de travail dont le règlement s’applique').selectOption({ label: GROUP });
      await otherPage.getByLabel('Police nationale (commissariat)', { exact: true }).check();
      await otherPage.getByLabel(/^Karim Benali/).check();
      await otherPage.getByRole('button', { name: 'Créer le canal' }).click();
      await otherPage.waitForURL((url) => /\/canal\//.test(url.href));
      await otherPage.getByTestId('conversation-title').getByText(/^DOS-/).waitFor();
      await screenshot(otherPage, 'group-coordinator-opens-a-case');
      await openChannel(otherPage, new RegExp(reference));
    }

    // The coordinator takes Sophie Leroy out of the group's coordination: in the case,
    // she is then a plain member and sees nothing of the identity.
    await page.goto(groupUrl);
    await page.getByLabel('Votre message').waitFor();
    await page.getByText('Coordination du groupe', { exact: true }).click();
    await page.getByRole('form', { name: 'Désigner les coordinateurs du groupe' }).getByLabel('Sophie Leroy').uncheck();
    await page.getByRole('button', { name: 'Enregistrer la coordination' }).click();
    await page.getByTestId('group-coordinators').getByText(/Aucun coordinateur désigné/).waitFor();
    {
      const otherPage = assistante.page;
      await otherPage.reload();
      await otherPage.getByLabel('Votre message').waitFor();
      await otherPage.getByText('Fiche du dossier', { exact: true }).click();
      await otherPage.getByTestId('case-information').waitFor();
      assert.equal(await otherPage.getByText('Identité de la personne').count(), 0, 'a plain member sees nothing of the identity');
      assert.equal(await otherPage.getByRole('button', { name: 'Afficher' }).count(), 0);
      assert.equal(await otherPage.getByText(NAME).count(), 0);
      await screenshot(otherPage, 'case-identity-other-member');
      assertNoProblems(assistante);
    }

    // The dashboard reminds the coordinator that the person is not yet informed.
    await page.getByRole('link', { name: 'Tableau de bord' }).click();
    await page.getByRole('heading', { level: 1, name: 'Tableau de bord' }).waitFor();
    const reminder = page.getByTestId('information-reminder');
    await reminder.getByText(/1 dossier\(s\) n’indiquent pas encore comment la personne a été informée/).waitFor();
    await reminder.getByRole('button', { name: 'Voir ces dossiers' }).click();
    await page.locator(`tr[data-case="${reference}"]`).waitFor();
    await screenshot(page, 'dashboard-information-reminder');
    assertNoProblems(coordinatrice);
  });
});
