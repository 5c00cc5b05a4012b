// `/reglages`: this browser's preferences, on a page of their own so that the messaging
// screen keeps its height for the conversation. Today: desktop notifications.

import { append, h, screenTitle } from '../dom.js';
import { showError, showStatus } from '../notices.js';

/** Whether notifications may carry the message's text (this browser only). */
export const NOTIFY_CONTENT_KEY = 'passerelle.notifications.contenu';

/** @param {HTMLElement} screen */
export function renderSettings(screen) {
  append(
    screen,
    screenTitle('Réglages'),
    h('p', {}, h('a', { href: '/' }, 'Retour à vos échanges')),
    h('div', { class: 'card card-narrow' }, notificationSettings()),
  );
}

function notificationSettings() {
  const box = h('section', { class: 'notification-settings', 'aria-labelledby': 'notif-title' }, h('h2', { id: 'notif-title' }, 'Notifications'));
  if (!('Notification' in window)) {
    box.append(h('p', { class: 'hint' }, 'Ce navigateur ne propose pas de notifications.'));
    return box;
  }
  const content = h('input', { type: 'checkbox', id: 'notif-contenu', checked: localStorage.getItem(NOTIFY_CONTENT_KEY) === 'oui' });
  content.addEventListener('change', () => localStorage.setItem(NOTIFY_CONTENT_KEY, content.checked ? 'oui' : 'non'));
  const enable = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Activer les notifications');
  enable.addEventListener('click', async () => {
    const answer = await Notification.requestPermission();
    if (answer === 'granted') {
      showStatus('Notifications activées : vous serez prévenu(e) des nouveaux messages quand Passerelle est en arrière-plan.');
      enable.hidden = true;
    } else {
      showError('Les notifications sont bloquées par le navigateur. Vous pouvez les autoriser dans ses réglages.');
    }
  });
  enable.hidden = Notification.permission === 'granted';
  box.append(
    h('p', {}, 'Passerelle peut vous prévenir d’un nouveau message quand son onglet est en arrière-plan.'),
    enable,
    h(
      'div',
      { class: 'checkbox' },
      content,
      h('label', { for: 'notif-contenu' }, 'Afficher le texte des messages dans les notifications'),
      h('p', { class: 'hint' }, 'Par défaut, une notification dit seulement qu’un message est arrivé : le texte reste confidentiel, même écran verrouillé.'),
    ),
  );
  return box;
}
