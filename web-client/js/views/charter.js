// The charter and the groups' internal rules (CHARTER.md C2): read, then accept the
// version in force. Until then the server keeps the confidential channels closed.

import { channels as channelsApi, charter as charterApi } from '../api.js';
import { append, h, replace, screenTitle } from '../dom.js';
import { form, whileBusy } from '../forms.js';
import { formatDate } from '../labels.js';
import { renderMarkdown } from '../markdown.js';
import { showError, showStatus } from '../notices.js';
import * as session from '../session.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').RulesStatus} RulesStatus */

/** A starting text for a group's rules, which the coordinator adapts before publishing. */
export const RULES_TEMPLATE = `# Règlement intérieur du groupe

1. **Objet.** Le groupe coordonne l'accompagnement des situations relevant de sa thématique.
2. **Membres.** Seuls les professionnels nommés par la coordination participent ; chacun représente son institution.
3. **Confidentialité.** Les informations échangées restent dans le groupe et ne sont communiquées à aucun tiers.
4. **Besoin d'en connaître.** Chacun ne partage que ce qui est nécessaire à la coordination.
5. **Exclusion.** Un manquement à la confidentialité entraîne l'exclusion du groupe.`;

/**
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderCharter(screen, shell) {
  const body = h('div', { class: 'stack' }, h('p', { class: 'loading' }, 'Chargement de la charte…'));
  append(screen, screenTitle('Charte d’échange d’informations'), body);
  load().catch((error) => showError(error instanceof Error ? error.message : String(error)));

  async function load() {
    const status = await charterApi.status();
    await session.update(shell.me, { charter: status });
    const parts = [];
    if (!status.current) {
      parts.push(h('p', { class: 'notice notice-error' }, 'Aucune charte n’a encore été publiée : les canaux restent fermés jusqu’à sa publication par l’administrateur.'));
    } else if (status.accepted_version !== status.current.version) {
      parts.push(charterCard(status.current));
    } else {
      parts.push(
        h('section', { class: 'card', 'aria-labelledby': 'charter-ok' },
          h('h2', { id: 'charter-ok' }, `Charte acceptée (version ${status.current.version})`),
          h('p', {}, `Vous l’avez acceptée le ${formatDate(status.accepted_at ?? 0)}.`),
          h('details', { class: 'disclosure' }, h('summary', {}, 'Relire la charte'), renderMarkdown(status.current.text, 3)),
        ),
      );
      for (const pending of status.pending_rules) parts.push(await rulesCard(pending.channel_id));
      parts.push(h('p', {}, h('a', { href: '/' }, 'Aller à vos échanges')));
    }
    replace(body, ...parts);
  }

  /** @param {import('../types.js').CharterVersion} current */
  function charterCard(current) {
    const checkbox = h('input', { type: 'checkbox', id: 'charter-read', name: 'read' });
    const accept = form(
      { class: 'stack' },
      h('div', { class: 'checkbox' }, checkbox, h('label', { for: 'charter-read' }, 'J’ai lu la charte et je m’engage à la respecter')),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, `Accepter la charte (version ${current.version})`)),
    );
    accept.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!checkbox.checked) {
        showError('Cochez la case pour confirmer votre lecture de la charte.');
        checkbox.focus();
        return;
      }
      const done = await whileBusy(accept, async () => {
        await charterApi.accept(current.version);
        return true;
      });
      if (!done) return;
      await load();
      showStatus('Charte acceptée. Votre acceptation est enregistrée au journal des accès.');
      /** @type {HTMLElement | null} */ (document.querySelector('h1'))?.focus();
    });
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'charter-text-title' },
      h('h2', { id: 'charter-text-title' }, `Version ${current.version}, publiée le ${formatDate(current.published_at)}`),
      h('p', { class: 'lead' }, 'Avant d’accéder aux canaux du CLSPD, lisez et acceptez la charte en vigueur. Votre acceptation est enregistrée (date et version).'),
      h('div', { class: 'charter-text', tabindex: '0', role: 'region', 'aria-label': 'Texte de la charte' }, renderMarkdown(current.text, 3)),
      accept,
    );
  }

  /** @param {string} channelId */
  async function rulesCard(channelId) {
    const card = h('section', { class: 'card' });
    await fillRules(card, channelId, shell.me.role === 'coordinator', () => load());
    return card;
  }
}

/**
 * Fills `container` with a group's rules to accept, or (coordinators) a form to publish
 * them when there are none yet. Used by this screen and inline in a closed conversation.
 * @param {HTMLElement} container
 * @param {string} channelId
 * @param {boolean} canPublish
 * @param {() => void} onDone
 */
export async function fillRules(container, channelId, canPublish, onDone) {
  /** @type {RulesStatus} */
  const status = await channelsApi.rules(channelId);
  const owner = status.owner_channel_id ?? channelId;
  const titleId = `regles-${owner}`;
  if (!status.current) {
    if (!canPublish || owner !== channelId) {
      replace(container, h('h2', { id: titleId }, 'Règlement intérieur'), h('p', {}, 'Le règlement intérieur de ce groupe n’a pas encore été publié par sa coordination : le groupe reste fermé jusque-là.'));
      return;
    }
    const textarea = h('textarea', { id: `${titleId}-texte`, name: 'text', rows: 10, class: 'textarea' });
    textarea.value = RULES_TEMPLATE;
    const publish = form(
      { class: 'stack' },
      h('div', { class: 'field' }, h('label', { for: textarea.id }, 'Texte du règlement (Markdown)'), textarea),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Publier le règlement')),
    );
    publish.addEventListener('submit', async (event) => {
      event.preventDefault();
      const ok = await whileBusy(publish, async () => {
        await channelsApi.publishRules(channelId, textarea.value);
        return true;
      });
      if (ok) {
        showStatus('Règlement publié. Chaque membre, vous compris, doit maintenant l’accepter.');
        await fillRules(container, channelId, canPublish, onDone);
      }
    });
    replace(container, h('h2', { id: titleId }, 'Publier le règlement intérieur du groupe'), h('p', {}, 'Le groupe reste fermé tant que son règlement n’est pas publié puis accepté par ses membres.'), publish);
    return;
  }
  if (status.accepted_version === status.current.version) {
    replace(container, h('h2', { id: titleId }, 'Règlement intérieur accepté'), h('p', {}, `Version ${status.current.version}.`));
    onDone();
    return;
  }
  const version = status.current.version;
  const checkbox = h('input', { type: 'checkbox', id: `${titleId}-lu`, name: 'read' });
  const accept = form(
    { class: 'stack' },
    h('div', { class: 'checkbox' }, checkbox, h('label', { for: checkbox.id }, 'J’ai lu le règlement intérieur et je m’engage à le respecter')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, `Accepter le règlement (version ${version})`)),
  );
  accept.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!checkbox.checked) {
      showError('Cochez la case pour confirmer votre lecture du règlement.');
      checkbox.focus();
      return;
    }
    const ok = await whileBusy(accept, async () => {
      await channelsApi.acceptRules(channelId, version);
      return true;
    });
    if (ok) {
      showStatus('Règlement intérieur accepté.');
      onDone();
    }
  });
  replace(
    container,
    h('h2', { id: titleId }, `Règlement intérieur du groupe (version ${version})`),
    h('div', { class: 'charter-text', tabindex: '0', role: 'region', 'aria-label': 'Texte du règlement intérieur' }, renderMarkdown(status.current.text, 3)),
    accept,
  );
}
