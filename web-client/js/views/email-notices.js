// « Avis par e-mail »: whether Passerelle may e-mail the person when messages wait while
// they are away. The e-mail says only that there are new messages (never what they say,
// who wrote them or where), and the address is set by the administrator: the person sees
// it here and may turn the notices off.

import { notices } from '../api.js';
import { h, replace } from '../dom.js';
import { showError, showStatus } from '../notices.js';

/** @typedef {import('../types.js').NoticeSettings} NoticeSettings */

/**
 * The section, loaded.
 * @returns {HTMLElement}
 */
export function emailNoticesSection() {
  const body = h('div', {}, h('p', { class: 'loading' }, 'Chargement…'));
  const section = h(
    'section',
    { class: 'card', 'aria-labelledby': 'email-notices-title', id: 'email-notices' },
    h('h2', { id: 'email-notices-title' }, 'Avis par e-mail'),
    body,
  );
  notices
    .get()
    .then((settings) => show(body, settings))
    .catch((error) => {
      replace(body, h('p', {}, 'Vos avis par e-mail n’ont pas pu être chargés.'));
      showError(error instanceof Error ? error.message : String(error));
    });
  return section;
}

/**
 * @param {HTMLElement} body
 * @param {NoticeSettings} settings
 */
function show(body, settings) {
  if (!settings.available) {
    replace(body, h('p', { class: 'hint' }, 'Ce serveur Passerelle n’envoie pas d’avis par e-mail.'));
    return;
  }
  const address = settings.email
    ? h('p', {}, 'Adresse utilisée : ', h('strong', { 'data-testid': 'notice-email' }, settings.email))
    : h('p', { 'data-testid': 'notice-email-missing' }, 'Aucune adresse e-mail n’est enregistrée pour votre compte : demandez à l’administrateur de Passerelle d’en ajouter une.');
  const toggle = h('input', { type: 'checkbox', id: 'notice-enabled', checked: settings.enabled });
  toggle.addEventListener('change', async () => {
    const wanted = toggle.checked;
    toggle.disabled = true;
    try {
      const saved = await notices.set(wanted);
      toggle.checked = saved.enabled;
      showStatus(saved.enabled ? 'Avis par e-mail activés.' : 'Avis par e-mail désactivés : vous n’en recevrez plus.');
    } catch (error) {
      toggle.checked = !wanted;
      showError(error instanceof Error ? error.message : String(error));
    } finally {
      toggle.disabled = false;
    }
  });
  replace(
    body,
    h('p', {}, 'Quand des messages vous attendent et que vous n’êtes pas connecté(e) depuis un moment, Passerelle peut vous envoyer un e-mail « Vous avez de nouveaux messages sur Passerelle ».'),
    address,
    h(
      'div',
      { class: 'checkbox' },
      toggle,
      h('label', { for: 'notice-enabled' }, 'Me prévenir par e-mail'),
      h('p', { class: 'hint' }, 'L’e-mail ne contient ni le texte des messages, ni leur expéditeur, ni le nom de la conversation.'),
    ),
  );
}
