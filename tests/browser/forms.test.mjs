// Long forms say whom an error is about, beside that person (issue 20, item 7): the
// coordinator creates a child-protection channel with a colleague the regime does not
// admit; the server's refusal names the account, and the form shows « Karim Benali … ne
// peut pas rejoindre ce canal » beside the member list, with the focus on his box, not
// only at the top of the page.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, startDemoAndBrowser } from './lib/browser.mjs';
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

describe('errors of long forms', { timeout: 120_000 }, () => {
  test('a member the regime refuses is named beside the member list, and focused', async () => {
    const tab = await openTab(browser);
    const { page } = tab;
    await logInReady(page, demo.url, demo.accounts.coordinatrice);
    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
    await page.getByLabel('Nom', { exact: true }).fill('Protection de l’enfance, quartier Nord');
    await page.getByLabel('Régime juridique').selectOption('child_protection');
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
    await page.getByLabel('Conseil départemental (action sociale, ASE)', { exact: true }).check();
    await page.getByLabel(/^Sophie Leroy/).check();
    await page.getByLabel(/^Karim Benali/).check();
    await page.getByRole('button', { name: 'Créer le canal' }).click();

    const beside = page.getByRole('group', { name: 'Membres' }).getByRole('alert');
    await beside.getByText('Karim Benali (Police nationale (commissariat)) ne peut pas rejoindre ce canal', { exact: false }).waitFor();
    const focused = await page.evaluate(() => document.activeElement?.closest('.checkbox')?.textContent ?? '');
    assert.match(focused, /Karim Benali/, 'the focus is on the person the error is about');
    assert.equal(await page.getByLabel(/^Karim Benali/).getAttribute('aria-invalid'), 'true');
    assert.match(page.url(), /nouveau-canal/, 'nothing was created');
    await assertAccessible(page, 'create channel, member refused');
    await screenshot(page, 'create-channel-member-refused');

    // Without him, the channel is created.
    await page.getByLabel(/^Karim Benali/).uncheck();
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).uncheck();
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.waitForURL(/\/canal\//);
    assertNoProblems(tab);
    await tab.context.close();
  });
});
