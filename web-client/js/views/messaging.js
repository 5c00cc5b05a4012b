// The messaging screen: channels grouped by kind beside the open conversation, the
// connection's state, and desktop notifications for a background tab.

import { h, replace, screenTitle } from '../dom.js';
import { exclusionMessage } from '../labels.js';
import { Messenger } from '../messenger.js';
import { showError, showStatus } from '../notices.js';
import * as session from '../session.js';
import { fr } from '../typography.js';
import { renderConversation } from './conversation.js';
import { watchLinkRequests } from './link-approval.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').Channel} Channel */
/** @typedef {import('../types.js').ChannelKind} ChannelKind */

/**
 * The channel list's headings.
 * @type {Readonly<Record<ChannelKind, string>>}
 */
export const KIND_LABELS = Object.freeze({
  working_group: 'Groupes de travail',
  case: 'Dossiers',
  practice_session: 'Séances d’analyse de pratiques',
  direct: 'Conversations directes',
});

/**
 * One channel's kind, in its header: not derived from the plural (French plurals are not
 * « + s »; that is how « Analyses de pratique » came about).
 * @type {Readonly<Record<ChannelKind, string>>}
 */
export const KIND_SINGULAR = Object.freeze({
  working_group: 'Groupe de travail',
  case: 'Dossier',
  practice_session: 'Analyse de pratiques',
  direct: 'Conversation directe',
});

/** @type {Readonly<Record<string, string>>} */
export const REGIME_LABELS = Object.freeze({
  clspd_confidential: 'Confidentialité CLSPD (CSI, art. L132-5)',
  shared_secret_social: 'Secret partagé de l’action sociale (CASF, art. L121-6-2)',
  child_protection: 'Protection de l’enfance (CASF, art. L226-2-2)',
});

const NOTIFY_CONTENT_KEY = 'passerelle.notifications.contenu';

/** @type {Messenger | null} */
let messenger = null;

/** Stops the messenger (logout). */
export function stopMessenger() {
  messenger?.stop();
  messenger = null;
}

/** Stops the messenger of a session a refused request found ended (see Messenger.retire). */
export function retireMessenger() {
  messenger?.retire();
  messenger = null;
}

/**
 * The messenger of the ready account, started once per page.
 * @param {UserShell} shell
 */
export function messengerFor(shell) {
  const keyring = session.currentKeyring();
  if (!keyring) return null;
  if (messenger && messenger.me.id === shell.me.id) return messenger;
  stopMessenger();
  const started = new Messenger(shell.me, keyring);
  messenger = started;
  started.addEventListener('incoming', (event) => notify(started, /** @type {CustomEvent} */ (event).detail));
  started.addEventListener('charter-required', () => shell.navigate('/charte'));
  started.addEventListener('excluded', (event) => {
    const { code, reason } = /** @type {CustomEvent} */ (event).detail;
    shell.endSession(exclusionMessage(code, reason), started.retired);
  });
  started.addEventListener('dropped', (event) => {
    const { why, name } = /** @type {CustomEvent} */ (event).detail;
    // Leave the conversation first: a new screen clears the notices.
    if (location.pathname.startsWith('/canal/')) shell.navigate('/');
    showError(
      why === 'removed'
        ? `Vous avez été retiré(e) du canal « ${name} » : vous ne recevez plus ses messages.`
        : `Le canal « ${name} » a atteint la fin de sa durée de conservation : il a été détruit, avec ses clés.`,
    );
  });
  started.addEventListener('problem', (event) => showError(/** @type {CustomEvent} */ (event).detail.message));
  watchLinkRequests(started);
  started.start().catch((error) => showError(error instanceof Error ? error.message : String(error)));
  return started;
}

/**
 * A desktop notification for a message arriving while the tab is in the background;
 * without its content unless the user allowed it.
 * @param {Messenger} source
 * @param {{ channelId: string, message: import('../messenger.js').Message }} detail
 */
function notify(source, detail) {
  if (document.visibilityState === 'visible' || !('Notification' in window) || Notification.permission !== 'granted') return;
  const withContent = localStorage.getItem(NOTIFY_CONTENT_KEY) === 'oui';
  const sender = source.names.get(detail.message.sender) ?? 'Un membre';
  const body = withContent && detail.message.content ? `${sender} : ${detail.message.content.text.slice(0, 140)}` : 'Nouveau message dans un de vos canaux.';
  const notification = new Notification('Passerelle', { body, tag: detail.channelId });
  notification.addEventListener('click', () => {
    window.focus();
    notification.close();
  });
}

/**
 * `/` and `/canal/<id>`.
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 * @param {string | null} channelId
 */
export function renderMessaging(screen, shell, channelId) {
  const active = messengerFor(shell);
  if (!active) {
    shell.navigate('/appareil', { replace: true });
    return;
  }
  const current = active;
  const list = h('nav', { class: 'channel-list', 'aria-label': 'Vos canaux' });
  const status = h('div', { class: 'connection-status', role: 'status', 'data-testid': 'connection-status' });
  const main = h('div', { class: 'conversation-area' });
  const title = screenTitle('Vos échanges');
  title.classList.add(channelId ? 'visually-hidden' : 'page-title');
  replace(
    screen,
    title,
    h(
      'div',
      { class: 'messaging' },
      h('aside', { class: 'messaging-side', 'aria-label': 'Canaux et réglages' }, status, list, notificationSettings()),
      main,
    ),
  );

  const showList = () => {
    renderList(list, current, channelId, shell.me.role);
    if (!channelId) replace(main, emptyState(current, shell.me.role));
  };
  const showStatusLine = () => {
    const lost = current.status !== 'open' && current.wasConnected;
    const label = current.status === 'open' ? 'Connecté' : lost ? 'Connexion perdue — reconnexion…' : 'Connexion en cours…';
    const now = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Reconnecter maintenant');
    now.addEventListener('click', () => current.connection.reconnectNow());
    status.classList.toggle('connection-lost', lost);
    replace(
      status,
      h('span', { class: 'connection-line' }, h('span', { class: `dot dot-${lost ? 'closed' : current.status}`, 'aria-hidden': 'true' }), label),
      lost ? h('span', { class: 'connection-hint' }, 'Les messages arrivés entre-temps s’afficheront dès son retour.') : null,
      current.status === 'closed' ? now : null,
    );
  };
  showList();
  showStatusLine();
  const listeners = /** @type {Array<[string, EventListener]>} */ ([
    ['channels', showList],
    ['status', showStatusLine],
  ]);
  for (const [type, listener] of listeners) current.addEventListener(type, listener);
  // The screen element is replaced on navigation: stop listening once it is detached.
  const observer = new MutationObserver(() => {
    if (!screen.isConnected) {
      for (const [type, listener] of listeners) current.removeEventListener(type, listener);
      observer.disconnect();
      if (current.visible === channelId) current.visible = null;
    }
  });
  observer.observe(document.getElementById('outlet') ?? document.body, { childList: true });

  if (channelId) {
    renderConversation(main, shell, current, channelId);
  } else {
    current.visible = null;
  }
}

/**
 * What to do when no conversation is open: with none at all, how one starts; otherwise,
 * where to find them.
 * @param {Messenger} source
 * @param {import('../types.js').Role} role
 */
function emptyState(source, role) {
  // Before the list arrives, « no exchange yet » would be a false alarm.
  if (!source.listed) return h('p', { class: 'loading' }, 'Chargement de vos échanges…');
  const none = source.channels.size === 0;
  /** @type {Record<string, string>} */
  const firstSteps = {
    member: 'Un coordinateur du CLSPD vous ajoutera aux groupes de travail et aux dossiers qui vous concernent. Vous pouvez aussi écrire dès maintenant à un collègue.',
    coordinator: 'Créez un groupe de travail, un dossier ou une séance d’analyse de pratiques, ou écrivez à un collègue.',
    external: 'La personne qui vous a invité(e) vous ajoutera aux canaux qui vous concernent : ils apparaîtront ici.',
  };
  return h(
    'div',
    { class: 'card empty-conversation', 'data-testid': 'empty-state' },
    h('h2', {}, fr(none ? 'Vous n’avez encore aucun échange.' : 'Choisissez une conversation')),
    h('p', {}, fr(none ? firstSteps[role] ?? '' : 'Vos conversations sont listées par type, à gauche (en haut sur un téléphone).')),
    h('p', {}, fr('Les messages sont chiffrés de bout en bout sur vos appareils : le serveur ne peut pas les lire.')),
    h('p', { class: 'actions' }, startLinks(role)),
  );
}

/**
 * The ways this role starts an exchange.
 * @param {import('../types.js').Role} role
 * @param {string} [size] A button size class.
 */
function startLinks(role, size = '') {
  return [
    session.browsesDirectory(role) ? h('a', { href: '/nouvelle-conversation', class: `button ${size}`.trim() }, 'Écrire à un collègue') : null,
    role === 'coordinator' ? h('a', { href: '/nouveau-canal', class: `button button-secondary ${size}`.trim() }, 'Créer un canal') : null,
  ];
}

/**
 * @param {HTMLElement} list
 * @param {Messenger} source
 * @param {string | null} selected
 * @param {import('../types.js').Role} role
 */
function renderList(list, source, selected, role) {
  /** @type {Record<string, Channel[]>} */
  const groups = { working_group: [], case: [], practice_session: [], direct: [] };
  for (const channel of source.channels.values()) groups[channel.kind]?.push(channel);
  const collator = new Intl.Collator('fr', { sensitivity: 'base' });
  const sections = Object.entries(groups).map(([kind, channels]) => {
    const headingId = `liste-${kind}`;
    channels.sort((a, b) => collator.compare(source.channelName(a), source.channelName(b)));
    return h(
      'section',
      { class: 'channel-group', 'aria-labelledby': headingId },
      h('h2', { id: headingId }, KIND_LABELS[/** @type {ChannelKind} */ (kind)]),
      channels.length === 0
        ? h('p', { class: 'hint' }, kind === 'direct' || kind === 'practice_session' ? 'Aucune pour l’instant.' : 'Aucun pour l’instant.')
        : h(
            'ul',
            {},
            channels.map((channel) => {
              const unread = source.unread.get(channel.id) ?? 0;
              return h(
                'li',
                {},
                h(
                  'a',
                  { href: `/canal/${channel.id}`, 'aria-current': channel.id === selected ? 'page' : false, class: 'channel-link' },
                  h('span', { class: 'channel-name' }, source.channelName(channel)),
                  channel.status === 'archived' ? h('span', { class: 'badge' }, 'archivé') : null,
                  unread > 0 ? h('span', { class: 'badge badge-info', 'data-testid': 'unread' }, `${unread}`, h('span', { class: 'visually-hidden' }, ' non lus')) : null,
                ),
              );
            }),
          ),
    );
  });
  const links = startLinks(role, 'button-small').filter((link) => link !== null);
  replace(list, links.length > 0 ? h('p', { class: 'actions' }, links) : null, ...sections);
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
