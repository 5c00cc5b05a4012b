// The messaging screen, laid out as an application: the channel list (most recent
// activity first, with unread counts and the last decrypted message) beside the open
// conversation; on a phone one of them at a time. Desktop notifications for a
// background tab.

import { h, replace, screenTitle, srOnly } from '../dom.js';
import { exclusionMessage } from '../labels.js';
import { Messenger } from '../messenger.js';
import { showError, showStatus } from '../notices.js';
import * as session from '../session.js';
import { fr } from '../typography.js';
import { initials, renderConversation } from './conversation.js';
import { NOTIFY_CONTENT_KEY } from './settings.js';
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
  started.addEventListener('backup-saved', () => showStatus('La sauvegarde de vos clés est de nouveau à jour.'));
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

const listTime = new Intl.DateTimeFormat('fr-FR', { hour: '2-digit', minute: '2-digit' });
const listDay = new Intl.DateTimeFormat('fr-FR', { day: 'numeric', month: 'short' });

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
  const filter = h('input', { type: 'search', id: 'filtre-canaux', autocomplete: 'off', spellcheck: 'false', placeholder: 'Rechercher un canal ou une personne' });
  const list = h('ul', { class: 'channel-items', 'data-testid': 'channel-list' });
  const status = h('div', { class: 'connection-status', role: 'status', 'data-testid': 'connection-status' });
  const main = h('div', { class: 'conversation-area' });
  const title = screenTitle('Vos échanges');
  title.classList.add('visually-hidden');
  const starts = h('p', { class: 'actions channel-starts' });
  replace(
    screen,
    title,
    h(
      'div',
      { class: 'messaging', 'data-view': channelId ? 'conversation' : 'list' },
      h(
        'nav',
        { class: 'messaging-side', 'aria-label': 'Vos canaux' },
        status,
        h('div', { class: 'channel-filter', role: 'search', 'aria-label': 'Vos canaux' }, h('label', { for: filter.id, class: 'visually-hidden' }, 'Filtrer vos canaux'), filter),
        starts,
        list,
        h('p', { class: 'side-footer' }, h('a', { href: '/reglages' }, 'Réglages des notifications'), h('span', { class: 'hint' }, ' · Ctrl+K pour changer de conversation')),
      ),
      main,
    ),
  );
  replace(starts, startLinks(shell.me, 'button-small'));

  const showList = () => {
    renderList(list, current, channelId, filter.value);
    if (!channelId) replace(main, emptyState(current, shell.me));
  };
  filter.addEventListener('input', showList);
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
  // A new message changes the list's order and previews.
  const onConversation = () => renderList(list, current, channelId, filter.value);
  const listeners = /** @type {Array<[string, EventListener]>} */ ([
    ['channels', showList],
    ['status', showStatusLine],
    ['activity', onConversation],
  ]);
  for (const [type, listener] of listeners) current.addEventListener(type, listener);
  // Ctrl+K (⌘K on a Mac): the channel switcher, as in other messengers.
  const onKey = (/** @type {KeyboardEvent} */ event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 'k' && !document.querySelector('dialog[open]')) {
      event.preventDefault();
      openSwitcher(current, shell);
    }
  };
  document.addEventListener('keydown', onKey);
  // The screen element is replaced on navigation: stop listening once it is detached.
  const observer = new MutationObserver(() => {
    if (!screen.isConnected) {
      document.removeEventListener('keydown', onKey);
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
 * @param {import('../types.js').Me} me
 */
function emptyState(source, me) {
  const role = me.role;
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
    { class: 'empty-conversation', 'data-testid': 'empty-state' },
    h('h2', {}, fr(none ? 'Vous n’avez encore aucun échange.' : 'Choisissez une conversation')),
    h('p', {}, fr(none ? firstSteps[role] ?? '' : 'Vos conversations sont listées à gauche, la plus récente en haut.')),
    h('p', {}, fr('Les messages sont chiffrés de bout en bout sur vos appareils : le serveur ne peut pas les lire.')),
    h('p', { class: 'actions' }, startLinks(me)),
  );
}

/**
 * The ways this account starts an exchange.
 * @param {import('../types.js').Me} me
 * @param {string} [size] A button size class.
 */
function startLinks(me, size = '') {
  return [
    session.browsesDirectory(me.role) ? h('a', { href: '/nouvelle-conversation', class: `button ${size}`.trim() }, 'Écrire à un collègue') : null,
    session.createsChannels(me) ? h('a', { href: '/nouveau-canal', class: `button button-secondary ${size}`.trim() }, 'Créer un canal') : null,
  ];
}

/**
 * The channel switcher (Ctrl+K): a field that filters the channels by name, the most
 * recent first; Enter opens the first one shown, Escape closes.
 * @param {Messenger} source
 * @param {UserShell} shell
 */
function openSwitcher(source, shell) {
  const input = h('input', { type: 'search', id: 'aller-a', autocomplete: 'off', spellcheck: 'false' });
  const results = h('ul', { class: 'switcher-results', 'aria-label': 'Canaux trouvés' });
  const dialog = h(
    'dialog',
    { class: 'dialog switcher', 'aria-labelledby': 'aller-a-titre' },
    h('h2', { id: 'aller-a-titre' }, 'Aller à une conversation'),
    h('label', { for: input.id }, 'Nom du canal ou de la personne'),
    input,
    results,
    h('p', { class: 'hint' }, 'Entrée ouvre la première ; Échap ferme.'),
  );
  const matching = () => {
    const needle = input.value.trim().toLocaleLowerCase('fr');
    return [...source.channels.values()]
      .filter((channel) => !needle || source.channelName(channel).toLocaleLowerCase('fr').includes(needle))
      .sort((a, b) => source.activityOf(b) - source.activityOf(a))
      .slice(0, 8);
  };
  /** @param {string} id */
  const go = (id) => {
    dialog.close();
    shell.navigate(`/canal/${id}`);
  };
  const show = () => {
    const found = matching();
    replace(
      results,
      found.length === 0
        ? h('li', { class: 'hint' }, 'Aucun canal ne correspond.')
        : found.map((channel) => {
            const link = h('a', { href: `/canal/${channel.id}`, class: 'channel-link' }, h('span', { class: 'channel-name' }, source.channelName(channel)), h('span', { class: 'hint' }, KIND_SINGULAR[channel.kind]));
            link.addEventListener('click', (event) => {
              event.preventDefault();
              go(channel.id);
            });
            return h('li', {}, link);
          }),
    );
  };
  input.addEventListener('input', show);
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      const first = matching()[0];
      if (first) go(first.id);
    }
  });
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  show();
  dialog.showModal();
  input.focus();
}

/** @param {number} ts */
function shortWhen(ts) {
  const date = new Date(ts);
  const now = new Date();
  return date.toDateString() === now.toDateString() ? listTime.format(date) : listDay.format(date);
}

/**
 * The channels, the most recently active first, as a messenger lists its conversations.
 * @param {HTMLElement} list
 * @param {Messenger} source
 * @param {string | null} selected
 * @param {string} query
 */
function renderList(list, source, selected, query) {
  const needle = query.trim().toLocaleLowerCase('fr');
  const channels = [...source.channels.values()]
    .filter((channel) => !needle || source.channelName(channel).toLocaleLowerCase('fr').includes(needle))
    .sort((a, b) => source.activityOf(b) - source.activityOf(a));
  if (channels.length === 0) {
    replace(list, source.listed ? h('li', { class: 'hint channel-none' }, needle ? 'Aucun canal ne correspond.' : 'Aucun canal pour l’instant.') : null);
    return;
  }
  replace(
    list,
    channels.map((channel) => {
      const name = source.channelName(channel);
      const unread = source.unread.get(channel.id) ?? 0;
      const last = source.lastMessage(channel.id);
      // A draft first (as messengers do), then the last decrypted message, or, before
      // any, the channel's kind.
      const draft = channel.id === selected ? undefined : source.drafts.get(channel.id);
      const preview = draft ? `Brouillon : ${draft}` : last?.content ? `${last.mine ? 'Vous : ' : ''}${last.content.text || 'Pièce jointe'}` : KIND_SINGULAR[channel.kind];
      const when = source.activity.get(channel.id);
      return h(
        'li',
        {},
        h(
          'a',
          {
            href: `/canal/${channel.id}`,
            'aria-current': channel.id === selected ? 'page' : false,
            class: `channel-link${unread > 0 ? ' channel-unread' : ''}`,
          },
          h('span', { class: `avatar avatar-${channel.kind}`, 'aria-hidden': 'true' }, initials(name)),
          h(
            'span',
            { class: 'channel-text' },
            h('span', { class: 'channel-line' }, h('span', { class: 'channel-name' }, name), when ? h('span', { class: 'channel-when' }, shortWhen(when)) : null),
            h(
              'span',
              { class: 'channel-line' },
              h('span', { class: 'channel-preview' }, last?.content ? srOnly(`${KIND_SINGULAR[channel.kind]}. `) : null, preview),
              channel.status === 'archived' ? h('span', { class: 'badge' }, 'archivé') : null,
              unread > 0 ? h('span', { class: 'badge badge-count', 'data-testid': 'unread' }, `${unread}`, srOnly(' non lus')) : null,
            ),
          ),
        ),
      );
    }),
  );
}
