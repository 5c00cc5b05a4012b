// Offline notices by e-mail (issue 21, item 7): the admin sets a person's address in the
// console, the person sees it on « Sécurité du compte » and turns the e-mails off, and the
// choice holds after a reload. The e-mails themselves are tested against a real SMTP
// server in the Rust suite (tests/tests/it/notices.rs).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, launchBrowser, openTab, screenshot } from './lib/browser.mjs';
import { startDemo } from './lib/demo.mjs';
import { logIn, logInReady, openAdminConsole } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  // Notices on, towards a relay on this machine that this test never needs: nobody is
  // away long enough for a notice here.
  demo = await startDemo({
    settings: {
      PASSERELLE_NOTICES__ENABLED: 'true',
      PASSERELLE_NOTICES__SMTP_HOST: 'localhost',
      PASSERELLE_NOTICES__SMTP_PORT: '2525',
      PASSERELLE_NOTICES__SMTP_TLS: 'none',
      PASSERELLE_NOTICES__FROM: 'Passerelle <demo@localhost>',
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

describe('offline notices by e-mail', { timeout: 120_000 }, () => {
  test('the admin sets the address, the person sees it and turns the e-mails off', async () => {
    const adminTab = await openTab(browser);
    const { page: adminPage } = adminTab;
    await logIn(adminPage, demo.url, demo.accounts.admin);
    await openAdminConsole(adminPage, demo.url);
    const row = adminPage.locator('tr[data-login="coordinatrice"]');
    await row.waitFor();
    await row.getByText('Actions').click();
    await row.getByRole('button', { name: /^Adresse e-mail des avis/ }).click();
    const dialog = adminPage.getByRole('dialog');
    await dialog.getByLabel('Adresse e-mail').fill('coordinatrice@ville.example.fr');
    await assertAccessible(adminPage, 'admin e-mail dialog');
    await screenshot(adminPage, 'admin-email');
    await dialog.getByRole('button', { name: 'Enregistrer' }).click();
    await adminPage.locator('#notice-status').getByText(/adresse e-mail de .* est enregistrée/i).waitFor();
    assertNoProblems(adminTab);
    await adminTab.context.close();

    const tab = await openTab(browser);
    const { page } = tab;
    await logInReady(page, demo.url, demo.accounts.coordinatrice);
    await page.goto(`${demo.url}/securite`);
    const section = page.locator('#email-notices');
    await section.getByRole('heading', { name: 'Avis par e-mail' }).waitFor();
    await section.getByTestId('notice-email').waitFor();
    assert.equal(await section.getByTestId('notice-email').innerText(), 'coordinatrice@ville.example.fr');
    const toggle = section.getByLabel('Me prévenir par e-mail');
    assert.equal(await toggle.isChecked(), true, 'on until the person says otherwise');
    await assertAccessible(page, 'email notices');
    await screenshot(page, 'email-notices');

    await toggle.uncheck();
    await page.locator('#notice-status').getByText(/Avis par e-mail désactivés/).waitFor();
    await page.reload();
    await section.getByTestId('notice-email').waitFor();
    assert.equal(await section.getByLabel('Me prévenir par e-mail').isChecked(), false, 'the choice is kept');
    assertNoProblems(tab);
    await tab.context.close();
  });
});
