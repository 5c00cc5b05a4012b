// End-to-end encrypted messaging in the browser, against a real `passerelle demo`:
// device set-up with the recovery code, the charter and the group's rules, two
// institutions talking both ways in real time, an attachment, an exclusion, the
// anonymity check of practice sessions, identity verification, and the auditor's view.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertAccessible, assertNoProblems, openTab, screenshot, screenshotSizes, startDemoAndBrowser } from './lib/browser.mjs';
import { logIn, logInReady, shownMessages } from './lib/flows.mjs';

/** @type {import('./lib/demo.mjs').Demo} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {Record<string, import('./lib/browser.mjs').Tab>} */
const tabs = {};
let groupUrl = '';
let socialRecoveryCode = '';

before(async () => {
  ({ demo, browser } = await startDemoAndBrowser());
});

after(async () => {
  for (const tab of Object.values(tabs)) await tab.context.close().catch(() => {});
  await browser?.close();
  await demo?.stop();
});

/**
 * The conversation's message list of a tab.
 * @param {import('./lib/browser.mjs').Tab} tab
 */
const messages = (tab) => tab.page.getByTestId('messages');

/**
 * Types and sends a message.
 * @param {import('./lib/browser.mjs').Tab} tab
 * @param {string} text
 */
async function send(tab, text) {
  await tab.page.getByLabel('Votre message').fill(text);
  await tab.page.getByRole('button', { name: 'Envoyer', exact: true }).click();
}

describe('end-to-end encrypted messaging', { timeout: 240_000 }, () => {
  test('three people of three institutions set up their devices and accept the charter', async () => {
    // Distinct TOTP steps: one account per step is not needed, each account logs in once.
    tabs.coordinatrice = await openTab(browser);
    tabs.policier = await openTab(browser);
    tabs.social = await openTab(browser);
    await logIn(tabs.coordinatrice.page, demo.url, demo.accounts.coordinatrice);
    await tabs.coordinatrice.page.getByRole('heading', { level: 1, name: 'Configurer cet appareil' }).waitFor();
    await assertAccessible(tabs.coordinatrice.page, 'device set-up');
    await screenshot(tabs.coordinatrice.page, 'device-setup');
    await screenshotSizes(tabs.coordinatrice.page, 'device-setup');
    await tabs.coordinatrice.page.getByRole('button', { name: 'Créer mes clés' }).click();
    const code = await tabs.coordinatrice.page.getByTestId('recovery-code').innerText();
    // 128 bits: 26 characters, in groups of four (docs/PROTOCOL.md §10.1).
    assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}-[0-9A-Z]{2}$/);
    await screenshot(tabs.coordinatrice.page, 'recovery-code');
    await tabs.coordinatrice.context.close();

    // The code was never confirmed: nothing was published; a fresh start works.
    tabs.coordinatrice = await openTab(browser);
    await logInReady(tabs.coordinatrice.page, demo.url, demo.accounts.coordinatrice, Date.now() + 30_000);
    await logInReady(tabs.policier.page, demo.url, demo.accounts.policier);
    socialRecoveryCode = await logInReady(tabs.social.page, demo.url, demo.accounts['assistante.sociale']);
    await assertAccessible(tabs.policier.page, 'messaging (empty)');
    await screenshot(tabs.policier.page, 'messaging-empty');
  });

  test('the coordinator creates a working group and its rules; members accept them', async () => {
    const { page } = tabs.coordinatrice;
    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Créer un canal' }).waitFor();
    await page.getByLabel('Nom', { exact: true }).fill('Prévention de la délinquance des mineurs');
    await page.getByLabel('Police nationale (commissariat)', { exact: true }).check();
    await page.getByLabel('Conseil départemental (action sociale, ASE)', { exact: true }).check();
    await page.getByLabel(/^Karim Benali/).check();
    await page.getByLabel(/^Sophie Leroy/).check();
    await assertAccessible(page, 'create channel');
    await screenshot(page, 'create-channel');
    await screenshotSizes(page, 'create-channel');
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.waitForURL(/\/canal\//);
    groupUrl = page.url();
    // The coordinator accepts the rules she published, inline.
    await page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
    await page.getByRole('button', { name: /^Accepter le règlement/ }).click();
    await page.getByLabel('Votre message').waitFor();

    for (const tab of [tabs.policier, tabs.social]) {
      await tab.page.getByRole('link', { name: /Prévention de la délinquance des mineurs/ }).click();
      await tab.page.getByLabel('J’ai lu le règlement intérieur et je m’engage à le respecter').check();
      await tab.page.getByRole('button', { name: /^Accepter le règlement/ }).click();
      await tab.page.getByLabel('Votre message').waitFor();
    }
  });

  test('two institutions exchange messages both ways, in real time, with receipts', async () => {
    await send(tabs.policier, 'Bonjour, point sur la situation du quartier nord ?');
    await messages(tabs.social).getByText('Bonjour, point sur la situation du quartier nord ?').waitFor();
    await messages(tabs.coordinatrice).getByText('Bonjour, point sur la situation du quartier nord ?').waitFor();
    await send(tabs.social, 'La famille a été reçue mardi ; prochain point jeudi.');
    await messages(tabs.policier).getByText('La famille a été reçue mardi ; prochain point jeudi.').waitFor();
    await messages(tabs.coordinatrice).getByText('La famille a été reçue mardi ; prochain point jeudi.').waitFor();
    // Sent, then read by the others.
    await messages(tabs.social).getByText(/^Lu par /).waitFor();
    // Opened again later, the conversation still shows who read it (the server keeps it).
    await tabs.social.page.reload();
    await messages(tabs.social).getByText('La famille a été reçue mardi ; prochain point jeudi.').waitFor();
    await messages(tabs.social).getByText(/^Lu par /).waitFor();
    // Members grouped by institution.
    await tabs.policier.page.getByText('Membres (3)').click();
    for (const institution of ['Police nationale (commissariat)', 'Conseil départemental (action sociale, ASE)', 'Mairie (coordination CLSPD)']) {
      await tabs.policier.page.getByRole('heading', { level: 3, name: institution }).waitFor();
    }
    await assertAccessible(tabs.policier.page, 'conversation');
    await screenshot(tabs.policier.page, 'conversation');
    await screenshotSizes(tabs.policier.page, 'conversation');
    // The server stored ciphertext only: the history it serves holds no clear text.
    const history = await tabs.policier.page.evaluate(async (url) => {
      const id = url.split('/').pop();
      return (await fetch(`/api/v1/channels/${id}/messages?after_seq=0&limit=100`)).text();
    }, groupUrl);
    assert.ok(!history.includes('quartier nord'), 'the server holds the message in clear');
    assert.match(history, /"ciphertext"/);
  });

  test('the conversation reads like a chat: days, grouped messages, full dates on hover', async () => {
    await send(tabs.policier, 'Premier point : la réunion est confirmée.');
    await send(tabs.policier, 'Second point : salle du conseil.');
    const list = messages(tabs.social);
    await list.getByText('Second point : salle du conseil.').waitFor();
    // One day separator for today's messages, not one per message.
    assert.deepEqual(await list.locator('.day-separator').allInnerTexts(), ['Aujourd’hui']);
    // Two messages in a row from Karim Benali: his name and initials once, over the first.
    const second = list.locator('.message').filter({ hasText: 'Second point' });
    const first = list.locator('.message').filter({ hasText: 'Premier point' });
    assert.match(await second.getAttribute('class') ?? '', /message-grouped/);
    assert.doesNotMatch(await first.getAttribute('class') ?? '', /message-grouped/);
    assert.equal(await first.locator('.avatar').innerText(), 'KB');
    // The time shown, the full date on hover.
    const title = await first.locator('time').getAttribute('title');
    assert.match(title ?? '', /^[a-z]+ \d{1,2} [a-zéû]+ \d{4}/);
    // The list puts the channel that just spoke first, with its last message.
    const firstChannel = tabs.social.page.getByTestId('channel-list').getByRole('link').first();
    assert.match(await firstChannel.innerText(), /Prévention de la délinquance des mineurs[\s\S]*Second point : salle du conseil\./);
  });

  test('a reply quotes the message it answers, on the other side too', async () => {
    const social = tabs.social.page;
    const original = messages(tabs.social).locator('.message').filter({ hasText: 'Second point : salle du conseil.' });
    await original.hover();
    await original.getByRole('button', { name: /^Répondre/ }).click();
    await social.getByTestId('reply-bar').getByText('Second point : salle du conseil.', { exact: false }).waitFor();
    await send(tabs.social, 'Bien noté pour la salle.');
    assert.equal(await social.getByTestId('reply-bar').isVisible(), false, 'the reply bar closes once sent');
    const reply = messages(tabs.policier).locator('.message').filter({ hasText: 'Bien noté pour la salle.' });
    await reply.getByTestId('quote').waitFor();
    assert.equal(await reply.getByTestId('quote').innerText(), 'Vous : Second point : salle du conseil.');
    const own = messages(tabs.social).locator('.message').filter({ hasText: 'Bien noté pour la salle.' });
    assert.equal(await own.getByTestId('quote').innerText(), 'Karim Benali : Second point : salle du conseil.');
  });

  test('the composer stays in view without scrolling, on a laptop and on a phone', async () => {
    const { page } = tabs.policier;
    for (const size of [{ width: 1366, height: 800 }, { width: 390, height: 844 }]) {
      await page.setViewportSize(size);
      for (const control of [page.getByLabel('Votre message'), page.getByRole('button', { name: 'Envoyer', exact: true })]) {
        const box = await control.boundingBox();
        assert.ok(box && box.y >= 0 && box.y + box.height <= size.height, `composer in view at ${size.width}×${size.height}: ${JSON.stringify(box)}`);
      }
      assert.ok(await page.evaluate(() => document.documentElement.scrollHeight <= window.innerHeight), `the page itself does not scroll at ${size.width}×${size.height}`);
      await page.getByTestId('messages').getByText('Second point : salle du conseil.', { exact: true }).waitFor();
    }
    // On a phone, one pane at a time: the conversation, then the list, then back.
    const side = page.getByRole('navigation', { name: 'Vos canaux' });
    assert.equal(await side.isVisible(), false, 'the channel list is not squeezed beside the conversation');
    await page.getByRole('link', { name: 'Retour à la liste des canaux' }).click();
    await side.waitFor();
    assert.equal(await page.getByLabel('Votre message').count(), 0);
    await side.getByRole('link', { name: /Prévention de la délinquance des mineurs/ }).click();
    await page.getByLabel('Votre message').waitFor();
    // The details (members, search) open over the thread and close again.
    await page.getByRole('button', { name: 'Détails' }).click();
    await page.getByText('Membres (3)').click();
    await page.getByRole('heading', { level: 3, name: 'Police nationale (commissariat)' }).waitFor();
    await assertAccessible(page, 'conversation details on a phone');
    await page.getByRole('button', { name: 'Détails' }).click();
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByText('Membres (3)').waitFor();
  });

  test('edit and delete for everyone reach the other members, and the deleted text is gone', async () => {
    const { page } = tabs.policier;
    // A message by its own text (a reply quoting it holds the text too).
    const byText = (/** @type {import('playwright-core').Locator} */ list, /** @type {string} */ text) =>
      list.locator('.message').filter({ has: list.page().locator('.message-text', { hasText: text }) });
    const mine = (/** @type {string} */ text) => byText(messages(tabs.policier), text);
    const theirs = (/** @type {string} */ text) => byText(messages(tabs.social), text);

    // Edit: the new text replaces the old one on the other side, marked « (modifié) ».
    await mine('Premier point : la réunion est confirmée.').hover();
    await mine('Premier point : la réunion est confirmée.').getByRole('button', { name: /^Modifier/ }).click();
    await page.getByTestId('reply-bar').getByText('Modification de votre message', { exact: false }).waitFor();
    assert.equal(await page.getByLabel('Votre message').inputValue(), 'Premier point : la réunion est confirmée.');
    await page.getByLabel('Votre message').fill('Premier point : la réunion est confirmée à 10 h.');
    await page.getByLabel('Votre message').press('Enter');
    await theirs('Premier point : la réunion est confirmée à 10 h.').getByTestId('edited').waitFor();
    assert.equal(await theirs('Premier point').count(), 1, 'one message, edited in place');

    // Delete: the confirmation keeps the message by default; then it goes for everyone.
    await mine('Second point : salle du conseil.').hover();
    await mine('Second point : salle du conseil.').getByRole('button', { name: /^Supprimer/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Supprimer ce message pour tous ?').waitFor();
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await mine('Second point : salle du conseil.').count(), 1, 'Enter kept the message');
    await mine('Second point : salle du conseil.').hover();
    await mine('Second point : salle du conseil.').getByRole('button', { name: /^Supprimer/ }).click();
    await dialog.getByRole('button', { name: 'Supprimer pour tous' }).click();
    await messages(tabs.social).getByText('Ce message a été supprimé par son auteur.').waitFor();
    assert.equal(await messages(tabs.social).getByText('salle du conseil').count(), 0, 'the text is gone from her screen');
    await messages(tabs.social).getByText('Réponse à un message supprimé.').waitFor();
    // Nor is it anywhere in her browser's storage (decrypted messages are never stored).
    const stored = await tabs.social.page.evaluate(async () => {
      const names = (await indexedDB.databases()).map((d) => d.name ?? '');
      const found = [];
      for (const name of names) {
        const db = await new Promise((resolve, reject) => {
          const open = indexedDB.open(name);
          open.onsuccess = () => resolve(open.result);
          open.onerror = () => reject(open.error);
        });
        for (const store of db.objectStoreNames) {
          const records = await new Promise((resolve) => {
            const request = db.transaction(store).objectStore(store).getAll();
            request.onsuccess = () => resolve(request.result);
          });
          found.push(JSON.stringify(records, (_, value) => (value instanceof CryptoKey ? null : ArrayBuffer.isView(value) ? new TextDecoder().decode(value) : value)));
        }
        db.close();
      }
      return found.join('\n') + JSON.stringify(Object.entries(localStorage)) + JSON.stringify(Object.entries(sessionStorage));
    });
    assert.ok(!stored.includes('salle du conseil'), 'the deleted text is nowhere in her browser');
  });

  test('search finds decrypted messages of the open conversation only', async () => {
    const { page } = tabs.coordinatrice;
    await page.getByLabel('Rechercher dans cette conversation').fill('famille');
    await page.getByText('1 message(s) trouvé(s)', { exact: false }).waitFor();
    assert.equal(await messages(tabs.coordinatrice).getByText('quartier nord').count(), 0);
    await page.getByLabel('Rechercher dans cette conversation').fill('');
  });

  test('an attachment round-trips, encrypted, with a progress bar', async () => {
    const content = 'Compte rendu de la réunion du groupe.\n'.repeat(4000);
    await tabs.social.page.getByLabel('Joindre des fichiers').setInputFiles({ name: 'compte-rendu.txt', mimeType: 'text/plain', buffer: Buffer.from(content) });
    await send(tabs.social, 'Le compte rendu est joint.');
    const button = messages(tabs.policier).getByRole('button', { name: /Télécharger compte-rendu\.txt/ });
    await button.waitFor();
    const download = tabs.policier.page.waitForEvent('download');
    await button.click();
    const file = await download;
    const stream = await file.createReadStream();
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(Buffer.concat(chunks).toString('utf8'), content);
  });

  test('an image dropped on the conversation is sent and previewed, decrypted, by the others', async () => {
    const { page } = tabs.social;
    // A 1×1 PNG, dropped as a file would be from the desktop.
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const dataTransfer = await page.evaluateHandle((base64) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'plan-du-quartier.png', { type: 'image/png' }));
      return transfer;
    }, png);
    await page.locator('section.conversation').dispatchEvent('dragover', { dataTransfer });
    await page.locator('section.conversation').dispatchEvent('drop', { dataTransfer });
    await page.getByTestId('chosen-files').getByText('Fichier joint : plan-du-quartier.png').waitFor();
    await send(tabs.social, 'Le plan du quartier.');
    const received = messages(tabs.policier).locator('.message').filter({ hasText: 'Le plan du quartier.' });
    await received.getByRole('button', { name: 'Aperçu de plan-du-quartier.png' }).click();
    const image = received.getByRole('img', { name: 'Aperçu de plan-du-quartier.png' });
    await image.waitFor();
    assert.ok(await image.evaluate((img) => img instanceof HTMLImageElement && img.src.startsWith('blob:')), 'shown from memory');
    await tabs.policier.page.waitForFunction(() => [...document.querySelectorAll('img.attachment-preview')].some((img) => img instanceof HTMLImageElement && img.complete && img.naturalWidth === 1));
  });

  test('in a practice session, a likely name or phone number is pointed out before sending (C9)', async () => {
    const { page } = tabs.coordinatrice;
    await page.getByRole('link', { name: 'Créer un canal' }).first().click();
    await page.getByLabel('Type de canal').selectOption('practice_session');
    await page.getByLabel('Nom', { exact: true }).fill('Analyse de pratiques — mars');
    const [start, end] = await page.evaluate(() => {
      const local = (/** @type {number} */ ms) => {
        const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
        return d.toISOString().slice(0, 16);
      };
      return [local(Date.now() - 5 * 60_000), local(Date.now() + 60 * 60_000)];
    });
    await page.getByLabel('Début de la séance').fill(start);
    await page.getByLabel('Fin de la séance').fill(end);
    await page.getByLabel('Groupe de travail dont le règlement s’applique').selectOption({ label: 'Prévention de la délinquance des mineurs' });
    await page.getByLabel('Conseil départemental (action sociale, ASE)', { exact: true }).check();
    await page.getByLabel(/^Sophie Leroy/).check();
    await page.getByRole('button', { name: 'Créer le canal' }).click();
    await page.waitForURL(/\/canal\//);
    await page.getByText('Séance anonyme.').waitFor();
    // Its kind in words, not a plural with its final « s » cut off.
    assert.match(await page.locator('.conversation-meta').innerText(), /^Analyse de pratiques · /);
    const risky = 'Mme Durand a rappelé au 06 12 34 56 78.';
    const composer = page.getByLabel('Votre message');
    await composer.fill(risky);
    await composer.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.getByText('un numéro de téléphone', { exact: false }).waitFor();
    await dialog.getByText('un nom de personne', { exact: false }).waitFor();
    // French typography: a narrow no-break space before « : » and inside guillemets.
    const explanation = await dialog.innerText();
    assert.ok(explanation.includes('\u202F:') && explanation.includes('«\u202F') && explanation.includes('\u202F»'), explanation);
    await assertAccessible(page, 'anonymity check');
    await screenshot(page, 'practice-warning');
    await screenshotSizes(page, 'practice-warning');
    // The safe answer has the focus: Enter pressed twice out of habit sends nothing.
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Modifier le message');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Enter');
    // The second Enter, back in the composer, asks again; the message is still there.
    await dialog.getByRole('button', { name: 'Modifier le message' }).waitFor();
    // Enter on the risky button itself does not confirm either: the dialog stays open.
    await dialog.getByRole('button', { name: 'Envoyer quand même' }).focus();
    await page.keyboard.press('Enter');
    await dialog.getByRole('button', { name: 'Modifier le message' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await composer.inputValue(), risky, 'the composer still holds the message');
    // Anything sent by mistake would arrive before this one.
    await composer.fill('Une situation de décrochage scolaire, sans nom.');
    await page.getByRole('button', { name: 'Envoyer', exact: true }).click();
    await messages(tabs.coordinatrice).getByTestId('sent').first().waitFor();
    assert.deepEqual(await shownMessages(page), ['Une situation de décrochage scolaire, sans nom.'], 'nothing else was sent');
    await page.goto(groupUrl);
    await page.getByLabel('Votre message').waitFor();
  });

  test('Ctrl+K switches conversations, and a draft waits in its channel', async () => {
    const { page } = tabs.coordinatrice;
    const composer = page.getByLabel('Votre message');
    await composer.fill('Brouillon pour le groupe');
    await page.keyboard.press('Control+k');
    const switcher = page.getByRole('dialog', { name: 'Aller à une conversation' });
    await switcher.getByLabel('Nom du canal ou de la personne').fill('analyse');
    await assertAccessible(page, 'channel switcher');
    await page.keyboard.press('Enter');
    await page.getByTestId('conversation-title').getByText('Analyse de pratiques — mars').waitFor();
    assert.equal(await composer.inputValue(), '', 'the draft stayed in its own channel');
    await page.getByTestId('channel-list').getByText('Brouillon : Brouillon pour le groupe').waitFor();
    await page.keyboard.press('Control+k');
    await switcher.getByLabel('Nom du canal ou de la personne').fill('mineurs');
    await page.keyboard.press('Enter');
    await page.getByTestId('conversation-title').getByText('Prévention de la délinquance des mineurs').waitFor();
    assert.equal(await composer.inputValue(), 'Brouillon pour le groupe');
    await composer.fill('');
  });

  test('unread messages are counted in the list and marked « Nouveaux messages » on return', async () => {
    const { page } = tabs.coordinatrice;
    await page.getByRole('navigation', { name: 'Menu principal' }).getByRole('link', { name: 'Vos échanges' }).click();
    await page.getByTestId('empty-state').waitFor();
    await send(tabs.social, 'Nouveau point pendant votre absence.');
    await send(tabs.social, 'Et un second.');
    const group = page.getByTestId('channel-list').getByRole('link', { name: /Prévention de la délinquance des mineurs/ });
    await group.getByTestId('unread').filter({ hasText: /^2 non lus$/ }).waitFor();
    // The channel that just spoke is first, with its last message.
    assert.match(await page.getByTestId('channel-list').getByRole('link').first().innerText(), /Prévention de la délinquance des mineurs[\s\S]*Et un second\./);
    // Counted from the server's read cursor too: a reload keeps the count.
    await page.reload();
    await group.getByTestId('unread').filter({ hasText: /^2 non lus$/ }).waitFor();
    await group.click();
    const marker = messages(tabs.coordinatrice).getByTestId('unread-marker');
    await marker.waitFor();
    // The history is decrypted message by message: the marker settles before the first new one.
    await page.waitForFunction(
      (text) => document.querySelector('[data-testid="unread-marker"]')?.nextElementSibling?.querySelector('.message-text')?.textContent === text,
      'Nouveau point pendant votre absence.',
    );
    await page.getByTestId('channel-list').getByRole('link', { name: /Prévention de la délinquance des mineurs/ }).getByTestId('unread').waitFor({ state: 'detached' });
  });

  test('a new browser admitted with the recovery code reads the history', async () => {
    tabs.socialLaptop = await openTab(browser);
    const { page } = tabs.socialLaptop;
    await logIn(page, demo.url, demo.accounts['assistante.sociale'], Date.now() + 30_000);
    await page.getByRole('heading', { level: 1, name: 'Configurer cet appareil' }).waitFor();
    await page.getByLabel(/^Code de secours/).fill('not a code');
    await page.getByRole('button', { name: 'Activer cet appareil' }).click();
    await page.locator('#notice-error').getByText('Ce code de secours n’est pas valide', { exact: false }).waitFor();
    await page.getByLabel(/^Code de secours/).fill(socialRecoveryCode.toLowerCase().replace(/-/g, ' '));
    await page.getByRole('button', { name: 'Activer cet appareil' }).click();
    await page.getByRole('heading', { level: 1, name: 'Vos échanges' }).waitFor();
    await page.getByRole('link', { name: /Prévention de la délinquance des mineurs/ }).click();
    await messages(tabs.socialLaptop).getByText('Bonjour, point sur la situation du quartier nord ?').waitFor();
    // The next message rotates the key for her new device too.
    await send(tabs.policier, 'Message lu sur les deux appareils.');
    await messages(tabs.socialLaptop).getByText('Message lu sur les deux appareils.').waitFor();
    await messages(tabs.social).getByText('Message lu sur les deux appareils.').waitFor();
    // Her colleagues are told of the new device in the conversation (PROTOCOL.md §21).
    await messages(tabs.policier).getByText('Nouvel appareil de Sophie Leroy.').waitFor();
    // The new browser shows the stored membership notes too, worded for her.
    await messages(tabs.socialLaptop).getByText('Claire Martin vous a ajouté(e) au canal.').waitFor();
    // Every sender's order, through edits, deletions, attachments and rotations, is
    // unbroken: neither the new device nor the old one shows an order notice (§8.8).
    for (const tab of [tabs.socialLaptop, tabs.social]) {
      await tab.page.locator('[data-testid="messages"][data-order-checked]:not([data-order-checked="0"])').waitFor();
      assert.deepEqual(await messages(tab).getByTestId('order-notice').allInnerTexts(), []);
    }
  });

  test('identity verification shows the same 60 digits on both sides', async () => {
    const { page } = tabs.policier;
    await page.getByRole('button', { name: 'Vérifier l’identité de Sophie Leroy' }).click();
    const theirs = (await page.getByRole('dialog').getByTestId('fingerprint').innerText()).replace(/\s/g, '');
    assert.match(theirs, /^\d{60}$/);
    await assertAccessible(page, 'fingerprint');
    await screenshot(page, 'fingerprint');
    await page.getByRole('button', { name: /marquer comme vérifiée/ }).click();
    await page.getByText('identité vérifiée').first().waitFor();

    const social = tabs.social.page;
    await social.getByText('Membres (3)').click();
    await social.getByRole('button', { name: 'Mon code de sécurité' }).click();
    const own = (await social.getByRole('dialog').getByTestId('fingerprint').innerText()).replace(/\s/g, '');
    assert.equal(own, theirs);
    await social.getByRole('dialog').getByRole('button', { name: 'Fermer' }).click();
  });

  test('a removed member stops receiving at once', async () => {
    const { page } = tabs.coordinatrice;
    await page.getByText('Membres (3)').click();
    await page.getByRole('button', { name: 'Retirer Karim Benali' }).click();
    await page.getByRole('dialog').getByLabel('Motif du retrait').fill('Changement de poste');
    await page.getByRole('dialog').getByRole('button', { name: 'Retirer du canal' }).click();
    await page.getByText('Membres (2)').waitFor();
    await tabs.policier.page.locator('#notice-error').getByText('Vous avez été retiré(e) du canal', { exact: false }).waitFor();
    await send(tabs.coordinatrice, 'Message après le retrait.');
    await messages(tabs.social).getByText('Message après le retrait.').waitFor();
    // The removal is told in the conversation, with who made it, right after the message
    // it followed (PROTOCOL.md §21).
    const note = 'Claire Martin a retiré Karim Benali.';
    const noteInPlace = async () => {
      await messages(tabs.social).getByText(note).waitFor();
      const timeline = await messages(tabs.social).locator('.message-note, .message-text').allInnerTexts();
      const at = timeline.indexOf(note);
      assert.ok(at > 0 && timeline[at + 1] === 'Message après le retrait.', timeline.join(' | '));
    };
    await noteInPlace();
    // Stored by the server: a reload shows it again, in the same place.
    await tabs.social.page.reload();
    await messages(tabs.social).getByText('Message après le retrait.').waitFor();
    await noteInPlace();
    const channelLink = tabs.policier.page.getByRole('link', { name: /Prévention de la délinquance/ });
    assert.equal(await channelLink.count(), 0);
    // Added back afterwards: the policeman's browser learns it on the same socket, after
    // the message would have reached it; it never shows what was said in between.
    await page.getByLabel('Ajouter un membre').selectOption({ label: 'Karim Benali — Police nationale (commissariat)' });
    await page.getByRole('button', { name: 'Ajouter', exact: true }).click();
    await page.getByText('Membres (3)').waitFor();
    await channelLink.waitFor();
    assert.equal(await tabs.policier.page.getByText('Message après le retrait.').count(), 0);
    await channelLink.click();
    await tabs.policier.page.getByLabel('Votre message').waitFor();
    assert.equal(await messages(tabs.policier).getByText('Message après le retrait.').count(), 0);
    // His notes start with his return, as his history does.
    await messages(tabs.policier).getByText('Claire Martin vous a ajouté(e) au canal.').waitFor();
    assert.equal(await messages(tabs.policier).getByText('Claire Martin vous a retiré(e) du canal.').count(), 0);
  });

  test('the auditor sees the events and the integrity of the log', async () => {
    const tab = await openTab(browser);
    await logIn(tab.page, demo.url, demo.accounts.dpo);
    // The auditor's home leads to the log, and promises nothing « à venir ».
    const home = tab.page.getByTestId('home-role');
    await home.getByRole('link', { name: 'Ouvrir le journal' }).waitFor();
    assert.doesNotMatch(await tab.page.locator('main').innerText(), /bientôt|s’affichera ici/);
    await assertAccessible(tab.page, 'auditor home');
    await tab.page.getByRole('link', { name: 'Journal des accès' }).click();
    const integrity = tab.page.getByTestId('integrity');
    await integrity.locator('.integrity-status, .notice-error').waitFor({ timeout: 90_000 });
    assert.match(await integrity.innerText(), /Chaîne intacte/);
    // Actions in French, chosen by their names.
    await tab.page.getByLabel('Action', { exact: true }).selectOption({ label: 'Membre retiré' });
    await tab.page.getByRole('button', { name: 'Filtrer' }).click();
    await tab.page.getByTestId('audit-total').getByText('1 événement(s)').waitFor();
    const removal = tab.page.locator('tbody tr').filter({ has: tab.page.getByRole('cell', { name: 'Membre retiré' }) });
    await removal.waitFor();
    // Who and where, by name; the channel by its name rather than its id.
    assert.match(await removal.innerText(), /Claire Martin[\s\S]*Prévention de la délinquance des mineurs/);
    await tab.page.getByLabel('Action', { exact: true }).selectOption({ label: 'Toutes' });
    await tab.page.getByRole('button', { name: 'Filtrer' }).click();
    await tab.page.locator('svg.chart rect').first().waitFor();
    const csv = await tab.page.getByRole('link', { name: 'CSV' }).getAttribute('href');
    assert.match(csv ?? '', /\/api\/v1\/audit\/export\?.*format=csv/);
    await assertAccessible(tab.page, 'audit');
    await screenshot(tab.page, 'audit');
    await screenshotSizes(tab.page, 'audit');
    assertNoProblems(tab);
    await tab.context.close();
  });

  test('no page logged an error', () => {
    for (const [name, tab] of Object.entries(tabs)) assert.deepEqual(tab.problems, [], `${name}'s page logged errors`);
  });
});
