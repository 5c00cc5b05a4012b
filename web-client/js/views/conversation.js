// One conversation: its members grouped by institution, the decrypted messages with
// scroll-back, receipts, typing and sending state, attachments with progress bars, a
// search over what is decrypted here (never across channels, CHARTER.md C10), and the
// practice sessions' anonymity check (C9).

import { admin as adminApi, ApiError, channels as channelsApi } from '../api.js';
import { confirmAction, openDialog } from '../dialog.js';
import { h, replace, srOnly, uid } from '../dom.js';
import { field, selectField, valueOf, whileBusy } from '../forms.js';
import { formatDateTime, ROLE_LABELS } from '../labels.js';
import { membershipNote } from '../membership-notes.js';
import { LOG_MISSING_NOTICE } from '../messenger.js';
import { NOT_CONFIRMED, UNVERIFIED_BEFORE, vouch } from '../membership-log-notes.js';
import { showError, showStatus } from '../notices.js';
import { findPersonalData } from '../privacy.js';
import { fillRules } from './charter.js';
import { caseRecordPanel } from './case-record.js';
import { groupCoordinatorsPanel } from './group-coordinators.js';
import { openFingerprintDialog } from './fingerprint.js';
import { showInvitationLink } from './invitation-link.js';
import { KIND_SINGULAR, REGIME_LABELS } from './messaging.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').Member} Member */
/** @typedef {import('../messenger.js').Messenger} Messenger */
/** @typedef {import('../messenger.js').Message} Message */
/** @typedef {import('../messenger.js').Conversation} Conversation */

const timeOnly = new Intl.DateTimeFormat('fr-FR', { hour: '2-digit', minute: '2-digit' });
const fullDate = new Intl.DateTimeFormat('fr-FR', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit' });
const dayOnly = new Intl.DateTimeFormat('fr-FR', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const TYPING_EVERY_MS = 3000;
/** Messages of one sender closer than this are shown as one group. */
const GROUP_WITHIN_MS = 5 * 60 * 1000;
/** Images a browser shows by itself, previewed in the conversation once decrypted. */
const PREVIEWABLE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const MAX_PREVIEW_BYTES = 10 * 1024 * 1024;
/** Whether the details panel is open (this browser's choice, for every conversation). */
const DETAILS_KEY = 'passerelle.details';

/**
 * The initials of a name, for its round badge: « Karim Benali » → « KB ».
 * @param {string} name
 */
export function initials(name) {
  const words = name.replace(/[«»"()]/g, ' ').split(/[\s-]+/u).filter((word) => /\p{L}/u.test(word));
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : words;
  return letters.map((word) => [...word].find((ch) => /\p{L}/u.test(ch)) ?? '').join('').toLocaleUpperCase('fr');
}

/**
 * The start of a text, for a quote.
 * @param {string} text
 */
function excerpt(text) {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
}

/** @param {number} ts */
function dayKey(ts) {
  return new Date(ts).toDateString();
}

/**
 * « Aujourd’hui », « Hier », or the full day.
 * @param {number} ts
 */
function dayLabel(ts) {
  const today = new Date();
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (dayKey(ts) === today.toDateString()) return 'Aujourd’hui';
  if (dayKey(ts) === yesterday.toDateString()) return 'Hier';
  const label = dayOnly.format(ts);
  return label.charAt(0).toLocaleUpperCase('fr') + label.slice(1);
}

/** On a phone, where the list is not beside the conversation: the way back to it. */
function backLink() {
  return h('a', { href: '/', class: 'back-link' }, h('span', { 'aria-hidden': 'true' }, '← '), 'Retour', srOnly(' à la liste des canaux'));
}

/** A phone-sized screen: one pane at a time. */
function isPhone() {
  return window.matchMedia('(max-width: 48rem)').matches;
}

/** The details panel starts open where there is room for it, unless closed before. */
function detailsWanted() {
  const saved = localStorage.getItem(DETAILS_KEY);
  if (isPhone()) return false;
  if (saved) return saved === 'ouverts';
  return window.matchMedia('(min-width: 75rem)').matches;
}

/**
 * @param {HTMLElement} main
 * @param {UserShell} shell
 * @param {Messenger} messenger
 * @param {string} channelId
 */
export function renderConversation(main, shell, messenger, channelId) {
  const coordinator = shell.me.role === 'coordinator';
  const header = h('div', { class: 'conversation-header' });
  const warnings = h('div', { class: 'identity-warnings', 'aria-live': 'polite' });
  const members = h('div', { class: 'members-area' });
  const olderArea = h('div', { class: 'older' });
  const list = h('ol', { class: 'messages', 'aria-label': 'Messages', 'data-testid': 'messages' });
  const scroller = h('div', { class: 'messages-scroller', tabindex: '0', role: 'region', 'aria-label': 'Fil des messages' }, olderArea, list);
  const jump = h('button', { type: 'button', class: 'button button-small jump-unread', hidden: true }, 'Aller au premier message non lu');
  const typingLine = h('p', { class: 'typing', 'aria-live': 'polite' });
  const searchInput = h('input', { type: 'search', id: uid('recherche'), autocomplete: 'off', spellcheck: 'false' });
  const searchCount = h('span', { class: 'hint', 'aria-live': 'polite' });
  const search = h(
    'div',
    { class: 'conversation-search', role: 'search', 'aria-label': 'Cette conversation' },
    h('label', { for: searchInput.id }, 'Rechercher dans cette conversation'),
    searchInput,
    searchCount,
  );
  const composer = buildComposer();
  // A channel no verified membership log vouches for, which this account may not open
  // (§22.4): the composer is disabled, and this says why and when it will not be.
  const recheck = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Vérifier à nouveau');
  recheck.addEventListener('click', () => {
    messenger.loadLog(conversation()).catch((error) => showError(error instanceof Error ? error.message : String(error)));
  });
  const logNotice = h('div', { class: 'notice notice-warning', role: 'status', 'data-testid': 'log-missing', hidden: true }, h('p', {}, LOG_MISSING_NOTICE), recheck);
  const detailsId = uid('details');
  const details = h('aside', { class: 'conversation-details', id: detailsId, 'aria-label': 'Détails de la conversation', hidden: !detailsWanted() });
  const detailsToggle = h(
    'button',
    { type: 'button', class: 'button button-small button-secondary details-toggle', 'aria-controls': detailsId, 'aria-expanded': String(!details.hidden) },
    'Détails',
  );
  detailsToggle.addEventListener('click', () => showDetails(details.hidden));
  const body = h('div', { class: 'conversation-body' });
  const panel = h('section', { class: 'conversation', 'aria-labelledby': 'conversation-title' }, header, body);
  composer.acceptDrops(panel);
  replace(main, panel);
  replace(body, h('p', { class: 'loading' }, 'Ouverture de la conversation…'));

  /** @type {Map<string, number>} Download progress per attachment id. */
  const downloads = new Map();
  /** @type {Map<string, string>} Decrypted image previews (blob URLs) per attachment id. */
  const previews = new Map();
  /** @type {Message | null} The message the composer answers (quoted above the field). */
  let replyingTo = null;
  /** @type {Message | null} One's own message the composer is rewriting. */
  let editing = null;
  let lastTypingSent = 0;
  let opened = false;

  /**
   * Opens or closes the details panel (members, search, the case's record); the choice
   * is kept for the next conversations.
   * @param {boolean} open
   * @param {boolean} [remember] false when the window's size decides, not the person.
   */
  function showDetails(open, remember = true) {
    details.hidden = !open;
    detailsToggle.setAttribute('aria-expanded', String(open));
    // On a phone the panel covers the thread: opening it there is for a moment only.
    if (!remember || isPhone()) return;
    localStorage.setItem(DETAILS_KEY, open ? 'ouverts' : 'fermés');
    const first = details.querySelector('input, button, summary');
    if (open && first instanceof HTMLElement) first.focus();
  }
  details.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && isPhone()) {
      showDetails(false);
      detailsToggle.focus();
    }
  });
  jump.addEventListener('click', () => {
    const first = list.querySelector('.unread-marker');
    if (first instanceof HTMLElement) {
      first.scrollIntoView({ block: 'start' });
      first.focus();
    }
    jump.hidden = true;
  });

  // Turned into a phone-sized window, the panel would cover the thread: it closes.
  const phone = window.matchMedia('(max-width: 48rem)');
  const onResize = () => showDetails(detailsWanted(), false);
  phone.addEventListener('change', onResize);
  const onConversation = (/** @type {Event} */ event) => {
    if (/** @type {CustomEvent} */ (event).detail.channelId === channelId && opened) render();
  };
  const onIdentity = () => {
    if (!opened || conversation().blocked) return;
    renderWarnings();
    renderMembers({ force: true });
  };
  messenger.addEventListener('conversation', onConversation);
  messenger.addEventListener('identity', onIdentity);
  // A title opened or sealed again (§24) renames the conversation.
  const onChannels = () => renderHeader();
  messenger.addEventListener('channels', onChannels);
  const cleanup = new MutationObserver(() => {
    if (!main.isConnected) {
      messenger.removeEventListener('channels', onChannels);
      messenger.removeEventListener('conversation', onConversation);
      messenger.removeEventListener('identity', onIdentity);
      phone.removeEventListener('change', onResize);
      cleanup.disconnect();
    }
  });
  cleanup.observe(document.getElementById('outlet') ?? document.body, { childList: true });
  searchInput.addEventListener('input', () => renderMessages());
  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 40) loadOlder();
  });

  messenger
    .open(channelId)
    .then(() => {
      opened = true;
      render();
      scroller.scrollTop = scroller.scrollHeight;
      // New messages above the fold: offered, not forced (the latest stay in view).
      const marker = list.querySelector('.unread-marker');
      if (marker instanceof HTMLElement && marker.offsetTop < scroller.scrollTop) jump.hidden = false;
      // Nothing new on opening: what arrives while reading is not « new » either.
      if (!marker) conversation().readAtOpen = Number.MAX_SAFE_INTEGER;
    })
    .catch((error) => {
      replace(body, h('p', { class: 'notice notice-error' }, error instanceof Error ? error.message : String(error)));
    });

  function conversation() {
    return messenger.conversation(channelId);
  }

  function render() {
    const current = conversation();
    const channel = messenger.channels.get(channelId);
    renderHeader();
    if (current.blocked) {
      renderBlocked(current.blocked);
      return;
    }
    // The thread and its composer once the conversation is open, its signed membership
    // log checked (§22.4): nothing is offered before the coordinator's genesis, or the
    // notice that the channel waits for one.
    if (!current.loaded) return;
    if (!body.contains(list)) {
      const readOnly = channel?.status !== 'active' || (channel?.kind === 'practice_session' && (channel.ends_at ?? Infinity) <= Date.now());
      replace(
        details,
        h('h2', { class: 'details-title' }, 'Détails'),
        search,
        members,
        channel?.kind === 'case' && channel.status === 'active'
          ? caseRecordPanel(
              channelId,
              shell.me.id,
              () => {
                location.reload();
              },
              messenger.keyring,
              (id) => messenger.ensureEpoch(id),
            )
          : null,
        channel?.kind === 'working_group' ? groupCoordinatorsPanel(channelId, messenger.keyring) : null,
      );
      replace(
        body,
        h(
          'div',
          { class: 'conversation-columns' },
          h(
            'div',
            { class: 'conversation-thread' },
            warnings,
            channel?.kind === 'practice_session' ? practiceRule() : null,
            scroller,
            jump,
            typingLine,
            readOnly ? h('p', { class: 'notice notice-status' }, 'Ce canal est en lecture seule.') : logNotice,
            readOnly ? null : composer.form,
          ),
          details,
        ),
      );
    }
    renderWarnings();
    renderMembers();
    renderMessages();
    renderLogNotice();
  }

  /** Disables the composer while the channel waits for its signed membership log (§22.4). */
  function renderLogNotice() {
    const missing = conversation().logMissing === true;
    logNotice.hidden = !missing;
    for (const control of composer.form.querySelectorAll('textarea, input, button')) {
      if (control instanceof HTMLTextAreaElement || control instanceof HTMLInputElement || control instanceof HTMLButtonElement) control.disabled = missing;
    }
  }

  function renderHeader() {
    const channel = messenger.channels.get(channelId);
    if (!channel) {
      replace(header, backLink(), h('h2', { id: 'conversation-title' }, 'Canal indisponible'));
      return;
    }
    const name = messenger.channelName(channel);
    replace(
      header,
      backLink(),
      h('span', { class: `avatar avatar-${channel.kind}`, 'aria-hidden': 'true' }, initials(name)),
      h(
        'div',
        { class: 'conversation-heading' },
        h('h2', { id: 'conversation-title', 'data-testid': 'conversation-title' }, name),
        h(
          'p',
          { class: 'conversation-meta' },
          KIND_SINGULAR[channel.kind],
          ' · ',
          // A direct conversation is outside any working group: its own label, not the
          // group regimes' (CHARTER.md C1).
          channel.kind === 'direct' ? 'entre deux professionnels, hors groupe de travail' : (REGIME_LABELS[channel.regime] ?? channel.regime),
          channel.status === 'archived' ? ' · archivé' : '',
          channel.ends_at ? ` · jusqu’au ${formatDateTime(channel.ends_at)}` : '',
        ),
      ),
      detailsToggle,
    );
  }

  function practiceRule() {
    return h(
      'p',
      { class: 'notice notice-warning' },
      h('strong', {}, 'Séance anonyme. '),
      'N’écrivez ni nom, ni date de naissance, ni téléphone, ni adresse : Passerelle vous préviendra avant l’envoi si votre message semble en contenir (charte, C9).',
    );
  }

  /** @param {string} code */
  function renderBlocked(code) {
    const box = h('div', { class: 'stack' });
    replace(body, box);
    if (code === 'charter_not_accepted' || code === 'charter_not_published') {
      replace(box, h('p', { class: 'notice notice-error' }, 'La charte doit être acceptée avant d’accéder à ce canal.'), h('p', {}, h('a', { href: '/charte', class: 'button' }, 'Lire et accepter la charte')));
    } else if (code === 'rules_not_accepted' || code === 'rules_not_published') {
      fillRules(box, channelId, coordinator, () => {
        messenger.conversation(channelId).blocked = null;
        messenger.conversation(channelId).loaded = false;
        messenger.open(channelId).then(render).catch(() => {});
      }).catch((error) => showError(error instanceof Error ? error.message : String(error)));
    } else if (code === 'archive_reason_required') {
      const reasonForm = h(
        'form',
        { class: 'stack', novalidate: true },
        h('p', {}, 'Ce dossier est archivé. Sa consultation exige un motif écrit, inscrit au journal des accès. Indiquez pourquoi, sans nommer la personne.'),
        field({ label: 'Motif de la consultation', name: 'reason', required: true, maxlength: 500, hint: '10 à 500 caractères.' }),
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Consulter l’archive')),
      );
      reasonForm.addEventListener('submit', async (event) => {
        event.preventDefault();
        const reason = valueOf(reasonForm, 'reason');
        const ok = await whileBusy(reasonForm, () => channelsApi.openArchived(channelId, reason));
        if (!ok) return;
        messenger.conversation(channelId).blocked = null;
        messenger.open(channelId).then(render).catch(() => {});
      });
      replace(box, reasonForm);
    } else {
      replace(box, h('p', { class: 'notice notice-error' }, code));
    }
  }

  // ---- Identity warnings and members ------------------------------------------------

  async function renderWarnings() {
    const detail = conversation().detail;
    if (!detail) return;
    const items = conversation().alerts.map((text) => h('div', { class: 'notice notice-error', role: 'alert', 'data-testid': 'tamper-warning' }, text));
    for (const member of detail.members) {
      if (member.user_id === shell.me.id) continue;
      const peer = await messenger.keyring.peer(member.user_id).catch(() => null);
      if (peer?.previousKey) {
        const check = h('button', { type: 'button', class: 'button button-small' }, `Vérifier l’identité de ${member.display_name}`);
        check.addEventListener('click', () => openFingerprintDialog(messenger.keyring, shell.me, member.user_id, member.display_name));
        items.push(
          h(
            'div',
            { class: 'notice notice-warning', role: 'alert', 'data-testid': 'identity-warning' },
            h('strong', {}, `La clé d’identité de ${member.display_name} a changé. `),
            'Cela arrive quand une personne réinitialise ses clés ; cela peut aussi signaler une usurpation. Comparez vos codes de sécurité en personne avant d’envoyer des informations sensibles.',
            ' ',
            check,
          ),
        );
      }
    }
    replace(warnings, ...items);
  }

  /** Whether the working group named this person among its coordinators (C1), once asked. */
  let namedCoordinator = false;
  let askedCoordination = false;

  /** What the members panel shows, as last rendered: it is rebuilt only when that changes
   * (every message arriving renders the conversation), so that a person being chosen in
   * the add form is not reset under the coordinator's hand. */
  let membersShown = '';
  /** The person chosen in the add form, kept when the form has to be rebuilt. */
  let memberChoice = '';

  /** @param {{ force?: boolean }} [options] `force`: rebuild although the members did not change (badges). */
  function renderMembers(options = {}) {
    const detail = conversation().detail;
    if (!detail) return;
    if (!askedCoordination && !coordinator && detail.channel.kind === 'working_group') {
      askedCoordination = true;
      channelsApi
        .coordinators(channelId)
        .then((named) => {
          namedCoordinator = named.coordinators.some((c) => c.user_id === shell.me.id);
          if (namedCoordinator) renderMembers({ force: true });
        })
        .catch(() => {});
    }
    /** @type {Map<string, Member[]>} */
    const byInstitution = new Map();
    for (const member of detail.members) {
      const group = byInstitution.get(member.institution.name) ?? [];
      group.push(member);
      byInstitution.set(member.institution.name, group);
    }
    const collator = new Intl.Collator('fr', { sensitivity: 'base' });
    const institutions = [...byInstitution.keys()].sort(collator.compare);
    const canManage = (coordinator || namedCoordinator) && detail.channel.kind !== 'direct' && detail.channel.status === 'active';
    const shown = JSON.stringify([detail.members.map((m) => [m.user_id, m.role, m.display_name, m.institution.name]), canManage, detail.channel.kind]);
    if (!options.force && shown === membersShown && members.firstChild) return;
    membersShown = shown;
    const open = members.querySelector('details')?.open ?? false;
    replace(
      members,
      h(
        'details',
        { class: 'disclosure members', open },
        h('summary', {}, `Membres (${detail.members.length})`),
        h(
          'div',
          { class: 'member-groups' },
          institutions.map((name) =>
            h(
              'section',
              { class: 'member-group' },
              h('h3', {}, name),
              h(
                'ul',
                {},
                (byInstitution.get(name) ?? []).sort((a, b) => collator.compare(a.display_name, b.display_name)).map((member) => memberItem(member, canManage, canManage && detail.channel.kind === 'working_group')),
              ),
            ),
          ),
        ),
        canManage ? addMemberForm(detail.members) : null,
      ),
    );
  }

  /**
   * @param {Member} member
   * @param {boolean} canManage
   * @param {boolean} canInvite whether the viewer may give a group's member an invitation link
   */
  function memberItem(member, canManage, canInvite) {
    const me = member.user_id === shell.me.id;
    const verify = h('button', { type: 'button', class: 'button button-small button-secondary' }, me ? 'Mon code de sécurité' : 'Vérifier', me ? null : srOnly(` l’identité de ${member.display_name}`));
    verify.addEventListener('click', () => openFingerprintDialog(messenger.keyring, shell.me, member.user_id, member.display_name));
    const badge = h('span', { class: 'verified-badge' });
    const invite = h('span', {});
    if (!me) {
      messenger.keyring.peer(member.user_id).then((peer) => {
        if (peer.verified) replace(badge, h('span', { class: 'badge badge-ok' }, 'identité vérifiée'));
        else if (!peer.identityKey) {
          replace(badge, h('span', { class: 'badge' }, 'pas encore d’appareil'));
          // Someone who has never logged in: the coordinator can hand them a link.
          if (canInvite) replace(invite, inviteButton(member));
        }
      }).catch(() => {});
    }
    let remove = null;
    if (canManage && !me) {
      remove = h('button', { type: 'button', class: 'button button-small button-danger' }, 'Retirer', srOnly(` ${member.display_name}`));
      remove.addEventListener('click', () => removeMember(member));
    }
    return h(
      'li',
      { class: 'member' },
      h('span', { class: 'member-name' }, member.display_name, me ? ' (vous)' : ''),
      h('span', { class: 'hint' }, ROLE_LABELS[member.role]),
      badge,
      h('span', { class: 'member-actions' }, verify, invite, remove),
    );
  }

  /**
   * A one-time link for a member of the group who has not logged in yet: the
   * coordinator need not wait for the admin (the server checks they share the group).
   * @param {Member} member
   */
  function inviteButton(member) {
    const button = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Lien d’invitation', srOnly(` pour ${member.display_name}`));
    button.addEventListener('click', async () => {
      const invitation = await whileBusy(button, () => adminApi.invite(member.user_id));
      if (invitation) await showInvitationLink(member.display_name, invitation);
    });
    return button;
  }

  /**
   * Signs a membership change and sends it with `send`; signed once more, on the log and
   * epoch as they are then, when another change or a new epoch came first (409
   * `membership_log_conflict`): the coordinator asked for this change, not for that state.
   * @param {{ kind: string, subjects: string[], reason?: string, role?: string }} change
   * @param {(record: import('../crypto/membership-log.js').MembershipRecord | null) => Promise<unknown>} send
   */
  async function signedChange(change, send) {
    try {
      await send(await messenger.keyring.signMembershipChange(channelId, change));
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'membership_log_conflict')) throw error;
      await send(await messenger.keyring.signMembershipChange(channelId, change));
    }
  }

  /** @param {Member} member */
  async function removeMember(member) {
    const reasonField = field({ label: 'Motif du retrait', name: 'reason', required: true, maxlength: 500, hint: 'Inscrit au journal des accès (charte, C3). Par exemple : « fin de mission », « changement de poste ».' });
    const answer = await openDialog({
      title: `Retirer ${member.display_name} du canal ?`,
      body: [
        'Le retrait prend effet immédiatement : cette personne ne reçoit plus les messages, et la clé du canal sera renouvelée pour qu’elle ne puisse pas lire la suite.',
        reasonField,
      ],
      confirmLabel: 'Retirer du canal',
      danger: true,
      check: (form) => valueOf(form, 'reason').length > 0,
    });
    if (!answer) return;
    const reason = valueOf(answer, 'reason');
    try {
      // Signed by this device and chained to the channel's log (§22); the motif stays out of it.
      await signedChange({ kind: 'removed', subjects: [member.user_id], reason: 'coordinator' }, (record) => channelsApi.removeMember(channelId, member.user_id, reason, record));
      showStatus(`${member.display_name} a été retiré(e) du canal.`);
      await messenger.loadDetail(channelId);
    } catch (error) {
      showError(error instanceof Error ? error.message : String(error));
    }
  }

  /** @param {Member[]} current */
  function addMemberForm(current) {
    const area = h('div', { class: 'add-member' }, h('p', { class: 'hint' }, 'Chargement de l’annuaire…'));
    channelsApi
      .directory()
      .then((directory) => {
        const present = new Set(current.map((m) => m.user_id));
        const candidates = directory.filter((entry) => !present.has(entry.user_id));
        if (candidates.length === 0) {
          replace(area, h('p', { class: 'hint' }, 'Toutes les personnes de l’annuaire sont déjà membres.'));
          return;
        }
        const select = selectField({
          label: 'Ajouter un membre',
          name: 'user_id',
          options: [{ value: '', label: 'Choisissez une personne' }, ...candidates.map((e) => ({ value: e.user_id, label: `${e.display_name} — ${e.institution.name}` }))],
          hint: 'Elle recevra les messages envoyés à partir de son ajout, pas l’historique.',
          value: candidates.some((e) => e.user_id === memberChoice) ? memberChoice : '',
        });
        select.addEventListener('change', () => {
          memberChoice = valueOf(addForm, 'user_id');
        });
        const addForm = h('form', { class: 'inline-form', novalidate: true }, select, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-small' }, 'Ajouter')));
        addForm.addEventListener('submit', async (event) => {
          event.preventDefault();
          const userId = valueOf(addForm, 'user_id');
          if (!userId) return;
          const ok = await whileBusy(addForm, async () => {
            const entry = candidates.find((e) => e.user_id === userId);
            const role = entry?.role === 'coordinator' ? 'coordinator' : '';
            await signedChange({ kind: 'added', subjects: [userId], role }, (record) => channelsApi.addMember(channelId, userId, record));
            return true;
          });
          if (ok) {
            memberChoice = '';
            showStatus('Membre ajouté. La clé du canal sera renouvelée au prochain message.');
            await messenger.loadDetail(channelId);
          }
        });
        replace(area, addForm);
      })
      .catch(() => replace(area));
    return area;
  }

  // ---- Messages -------------------------------------------------------------------------

  async function loadOlder() {
    const current = conversation();
    if (!current.hasOlder || olderArea.getAttribute('aria-busy') === 'true') return;
    olderArea.setAttribute('aria-busy', 'true');
    const height = scroller.scrollHeight;
    try {
      await messenger.loadOlder(channelId);
      scroller.scrollTop += scroller.scrollHeight - height;
    } catch (error) {
      showError(error instanceof Error ? error.message : String(error));
    } finally {
      olderArea.removeAttribute('aria-busy');
    }
  }

  function renderMessages() {
    const current = conversation();
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    const query = searchInput.value.trim().toLocaleLowerCase('fr');
    const all = [...current.messages.values()].filter((m) => !m.control).sort(
      (a, b) => (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER) || a.ts - b.ts,
    );
    const shown = query ? all.filter((m) => m.content?.text.toLocaleLowerCase('fr').includes(query) || m.content?.attachments.some((a) => a.name.toLocaleLowerCase('fr').includes(query))) : all;
    replace(searchCount, query ? `${shown.length} message(s) trouvé(s) parmi ceux chargés sur cet appareil.` : '');
    const older = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Afficher les messages plus anciens');
    older.addEventListener('click', loadOlder);
    replace(olderArea, current.hasOlder ? older : all.length > 0 ? h('p', { class: 'hint' }, 'Début de la conversation sur cet appareil.') : null);
    const lastMine = [...all].reverse().find((m) => m.mine && m.seq !== null);
    /** @type {HTMLElement[]} */
    const items = [];
    /** @type {Message | null} */
    let previous = null;
    let markerShown = false;
    // Membership notes go right after the message each follows (`after_seq`); those that
    // follow a message not loaded yet wait for the scroll-back.
    const firstShown = current.hasOlder ? current.oldestSeq - 1 : 0;
    // The signed log (§22) vouches for each note, or says it does not.
    const vouched = vouch(current.membership, current.log ?? null);
    const notes = query ? [] : current.membership.map((event, i) => ({ event, i, mark: vouched.marks[i] })).filter(({ event }) => event.after_seq >= firstShown);
    const startLine = () => h('li', { class: 'message-note', 'data-testid': 'membership-log-start' }, UNVERIFIED_BEFORE);
    const flushNotes = (/** @type {number} */ before) => {
      while (notes.length > 0 && notes[0].event.after_seq < before) {
        const note = notes.shift();
        if (!note) break;
        const { event, i, mark } = note;
        if (i === vouched.startsAt) items.push(startLine());
        const said = membershipNote(event, shell.me.id, messenger.names);
        const text = mark === 'unsigned' ? `${said.replace(/\.$/, '')}${NOT_CONFIRMED}.` : said;
        items.push(h('li', { class: 'message-note', 'data-testid': 'membership-note', 'data-after-seq': String(event.after_seq), 'data-signed': mark ?? 'none', title: formatDateTime(event.at) }, text));
        if (i === current.membership.length - 1 && vouched.startsAt === current.membership.length) items.push(startLine());
        previous = null;
      }
    };
    // What the order check found (§8.8) goes with the message it concerns: a notice line
    // before it, or after it when the messages that should follow it are missing.
    const orderNotes = query ? [] : [...current.orderNotes];
    const orderNoteItem = (/** @type {{ text: string, code: string }} */ note) =>
      h('li', { class: 'message-note order-notice', role: 'note', 'data-testid': 'order-notice', 'data-code': note.code }, note.text);
    const flushOrderNotes = (/** @type {number} */ seq, /** @type {boolean} */ after) => {
      for (let i = 0; i < orderNotes.length; ) {
        const note = orderNotes[i];
        if (note.seq === seq && note.after === after) {
          items.push(orderNoteItem(note));
          orderNotes.splice(i, 1);
          previous = null;
        } else {
          i += 1;
        }
      }
    };
    for (const message of shown) {
      flushNotes(message.seq ?? Number.POSITIVE_INFINITY);
      if (message.seq !== null) flushOrderNotes(message.seq, false);
      if (!previous || dayKey(previous.ts) !== dayKey(message.ts)) {
        items.push(h('li', { class: 'day-separator' }, h('span', {}, dayLabel(message.ts))));
        previous = null;
      }
      const isNew = !query && !markerShown && !message.mine && message.seq !== null && message.seq > current.readAtOpen;
      if (isNew) {
        markerShown = true;
        items.push(h('li', { class: 'unread-marker', tabindex: '-1', 'data-testid': 'unread-marker' }, h('span', {}, 'Nouveaux messages')));
        previous = null;
      }
      const grouped = previous !== null && previous.sender === message.sender && message.ts - previous.ts < GROUP_WITHIN_MS;
      items.push(messageItem(message, message === lastMine ? readersOf(current, message) : [], grouped));
      previous = message;
      if (message.seq !== null) flushOrderNotes(message.seq, true);
    }
    flushNotes(Number.POSITIVE_INFINITY);
    list.dataset.orderChecked = String(current.orderChecked);
    // Those of messages not shown (edits, deletions) come last rather than not at all.
    for (const note of orderNotes) items.push(orderNoteItem(note));
    replace(
      list,
      shown.length === 0 ? h('li', { class: 'hint empty' }, query ? 'Aucun message ne correspond.' : 'Aucun message pour l’instant. Écrivez le premier.') : null,
      ...items,
    );
    const typing = [...current.typing.entries()].filter(([, until]) => until > Date.now()).map(([userId]) => messenger.names.get(userId) ?? 'Quelqu’un');
    typingLine.textContent = typing.length === 0 ? '' : `${typing.join(', ')} ${typing.length > 1 ? 'écrivent' : 'écrit'}…`;
    if (atBottom) scroller.scrollTop = scroller.scrollHeight;
    if (document.visibilityState === 'visible') messenger.markRead(channelId);
  }

  /**
   * Who has read up to this message (besides the sender).
   * @param {Conversation} current
   * @param {Message} message
   */
  function readersOf(current, message) {
    return [...current.readers.entries()]
      .filter(([userId, seq]) => userId !== shell.me.id && message.seq !== null && seq >= message.seq)
      .map(([userId]) => messenger.names.get(userId) ?? 'un membre');
  }

  /**
   * One message; a message following the same sender's by a few minutes is grouped with
   * it (no repeated name nor initials), as messengers do.
   * @param {Message} message
   * @param {string[]} readers
   * @param {boolean} grouped
   */
  function messageItem(message, readers, grouped) {
    const sender = message.mine ? 'Vous' : messenger.names.get(message.sender) ?? 'Ancien membre';
    const fullName = message.mine ? shell.me.display_name : sender;
    const state =
      message.state === 'sending'
        ? h('span', { class: 'message-state' }, message.progress !== null ? 'Chiffrement et envoi des pièces jointes…' : 'Envoi en cours…')
        : message.state === 'failed'
          ? failedState(message)
          : message.mine
            ? h('span', { class: 'message-state', 'data-testid': 'sent' }, readers.length > 0 ? `Lu par ${readers.join(', ')}` : 'Envoyé')
            : null;
    const time = h('time', { datetime: new Date(message.ts).toISOString(), title: fullDate.format(message.ts) }, timeOnly.format(message.ts));
    return h(
      'li',
      {
        class: `message${message.mine ? ' message-mine' : ''}${message.problem ? ' message-problem' : ''}${grouped ? ' message-grouped' : ''}`,
        'data-seq': message.seq ?? '',
      },
      grouped ? h('span', { class: 'avatar-space', 'aria-hidden': 'true' }) : h('span', { class: 'avatar avatar-person', 'aria-hidden': 'true' }, initials(fullName)),
      h(
        'div',
        { class: 'message-bubble' },
        h('p', { class: grouped ? 'message-meta visually-hidden' : 'message-meta' }, h('span', { class: 'message-sender' }, sender), ' ', time),
        message.content?.reply_to ? quoteOf(message.content.reply_to) : null,
        message.deleted
          ? h('p', { class: 'message-text message-deleted', 'data-testid': 'deleted' }, message.mine ? 'Vous avez supprimé ce message.' : 'Ce message a été supprimé par son auteur.')
          : message.content
            ? h('p', { class: 'message-text' }, message.content.text, message.edited ? h('span', { class: 'message-edited', 'data-testid': 'edited' }, ' (modifié)') : null)
            : h('p', { class: 'message-text message-unreadable' }, message.problem ?? 'Déchiffrement…'),
        message.content && message.content.attachments.length > 0 ? h('ul', { class: 'attachments' }, message.content.attachments.map((a) => attachmentItem(a, message))) : null,
        message.progress !== null ? progressBar(message.progress, 'Envoi des pièces jointes') : null,
        message.content && message.oldKey ? h('p', { class: 'message-old-key', 'data-testid': 'old-key' }, 'Envoyé avec une ancienne clé : son auteur a réinitialisé ses clés depuis.') : null,
        message.conflict ? h('p', { class: 'notice notice-warning' }, 'Attention : le serveur a présenté un autre message sous le même identifiant. Seul le premier est affiché.') : null,
        state,
      ),
      grouped ? h('span', { class: 'message-time-aside', 'aria-hidden': 'true', title: fullDate.format(message.ts) }, timeOnly.format(message.ts)) : null,
      message.content && !message.deleted && message.seq !== null && composer.form.isConnected ? messageActions(message, sender) : null,
    );
  }

  /**
   * @param {Message} message
   * @param {string} sender
   */
  function messageActions(message, sender) {
    const actions = h('span', { class: 'message-action' }, replyButton(message, sender));
    if (message.mine) {
      const edit = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Modifier', srOnly(' votre message'));
      edit.addEventListener('click', () => composer.edit(message));
      const remove = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Supprimer', srOnly(' votre message pour tous'));
      remove.addEventListener('click', () => deleteForEveryone(message, remove));
      actions.append(edit, remove);
    }
    return actions;
  }

  /**
   * Deletes one's message for everyone, after a confirmation whose default is to keep it.
   * @param {Message} message
   * @param {HTMLButtonElement} opener
   */
  async function deleteForEveryone(message, opener) {
    const ok = await confirmAction(
      'Supprimer ce message pour tous ?',
      'Son texte et ses pièces jointes disparaîtront de l’écran de chaque membre ; « Message supprimé » restera à sa place.',
      'Supprimer pour tous',
      'Garder le message',
    );
    if (!ok) {
      opener.focus();
      return;
    }
    messenger.send(channelId, '', [], null, { deletes: { sender_device: message.senderDevice, client_msg_id: message.clientMsgId } });
  }

  /**
   * « Répondre »: shown on hover, always reachable with the keyboard.
   * @param {Message} message
   * @param {string} sender
   */
  function replyButton(message, sender) {
    const button = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Répondre', srOnly(` à ${sender === 'Vous' ? 'votre message' : sender}`));
    button.addEventListener('click', () => composer.replyTo(message));
    return button;
  }

  /**
   * The quoted message a reply answers: its sender and the start of its text.
   * @param {{ sender_device: string, client_msg_id: string }} ref
   */
  function quoteOf(ref) {
    const original = conversation().messages.get(`${ref.sender_device}/${ref.client_msg_id}`);
    const who = original ? (original.mine ? 'Vous' : messenger.names.get(original.sender) ?? 'Ancien membre') : null;
    return h(
      'blockquote',
      { class: 'message-quote', 'data-testid': 'quote' },
      original?.deleted
        ? 'Réponse à un message supprimé.'
        : original?.content
        ? [h('span', { class: 'message-quote-sender' }, `${who} : `), excerpt(original.content.text || 'Pièce jointe')]
        : 'Réponse à un message qui n’est pas chargé sur cet appareil.',
    );
  }

  /** @param {Message} message */
  function failedState(message) {
    const retry = h('button', { type: 'button', class: 'button button-small' }, 'Réessayer');
    retry.addEventListener('click', () => messenger.retry(channelId, message.key));
    return h('span', { class: 'message-state message-failed', role: 'alert' }, `Non envoyé : ${message.failure ?? ''} `, retry);
  }

  /**
   * @param {number} fraction
   * @param {string} label
   */
  function progressBar(fraction, label) {
    return h('progress', { max: '100', value: String(Math.round(fraction * 100)), 'aria-label': label });
  }

  /**
   * @param {import('../crypto/envelope.js').AttachmentRef} attachment
   * @param {Message} message
   */
  function attachmentItem(attachment, message) {
    const progress = downloads.get(attachment.id);
    const button = h('button', { type: 'button', class: 'button button-small button-secondary', disabled: message.state === 'sending' || progress !== undefined }, `Télécharger ${attachment.name}`, srOnly(` (${formatSize(attachment.size)})`));
    button.addEventListener('click', async () => {
      downloads.set(attachment.id, 0);
      renderMessages();
      try {
        const blob = await messenger.fetchAttachment(attachment, (fraction) => {
          downloads.set(attachment.id, fraction);
          const bar = list.querySelector(`progress[data-attachment="${CSS.escape(attachment.id)}"]`);
          if (bar) bar.setAttribute('value', String(Math.round(fraction * 100)));
        });
        const url = URL.createObjectURL(blob);
        const link = h('a', { href: url, download: attachment.name, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
        showStatus(`« ${attachment.name} » déchiffré et enregistré.`);
      } catch (error) {
        showError(error instanceof Error && 'status' in error ? error.message : 'La pièce jointe n’a pas pu être déchiffrée : elle a peut-être été altérée.');
      } finally {
        downloads.delete(attachment.id);
        renderMessages();
      }
    });
    const preview = previews.get(attachment.id);
    let show = null;
    if (!preview && PREVIEWABLE.has(attachment.mime) && attachment.size <= MAX_PREVIEW_BYTES && message.state !== 'sending') {
      show = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Aperçu', srOnly(` de ${attachment.name}`));
      show.addEventListener('click', async () => {
        try {
          // Decrypted here, shown from memory: the image never leaves this page.
          const blob = await messenger.fetchAttachment(attachment, () => {});
          previews.set(attachment.id, URL.createObjectURL(blob));
          renderMessages();
        } catch (error) {
          showError(error instanceof Error && 'status' in error ? error.message : 'L’image n’a pas pu être déchiffrée : elle a peut-être été altérée.');
        }
      });
    }
    return h(
      'li',
      { class: 'attachment' },
      button,
      show,
      h('span', { class: 'hint' }, ` ${formatSize(attachment.size)}`),
      progress !== undefined ? h('progress', { max: '100', value: String(Math.round(progress * 100)), 'data-attachment': attachment.id, 'aria-label': `Téléchargement de ${attachment.name}` }) : null,
      preview ? h('img', { src: preview, alt: `Aperçu de ${attachment.name}`, class: 'attachment-preview' }) : null,
    );
  }

  // ---- Composer ---------------------------------------------------------------------

  function buildComposer() {
    const textId = uid('message');
    const fileId = uid('fichiers');
    const textarea = h('textarea', { id: textId, name: 'text', rows: 3, class: 'textarea', 'aria-describedby': `${textId}-aide` });
    const files = h('input', { type: 'file', id: fileId, name: 'files', multiple: true });
    const chosenLine = h('p', { class: 'hint composer-files', 'aria-live': 'polite', 'data-testid': 'chosen-files' });
    const replyBar = h('div', { class: 'reply-bar', hidden: true, 'data-testid': 'reply-bar' });
    const formElement = h(
      'form',
      { class: 'composer', novalidate: true },
      replyBar,
      h('label', { for: textId }, 'Votre message'),
      h('p', { class: 'hint', id: `${textId}-aide` }, 'Entrée pour envoyer, Maj+Entrée pour aller à la ligne. Chiffré sur cet appareil avant l’envoi.'),
      textarea,
      h('div', { class: 'composer-actions' }, h('label', { for: fileId, class: 'file-label' }, 'Joindre des fichiers'), files, h('button', { type: 'submit', class: 'button' }, 'Envoyer')),
      chosenLine,
    );
    const showChosen = () => {
      const names = [...(files.files ?? [])].map((file) => file.name);
      replace(chosenLine, names.length > 0 ? `${names.length > 1 ? 'Fichiers joints' : 'Fichier joint'} : ${names.join(', ')}` : '');
    };
    files.addEventListener('change', showChosen);
    /**
     * Files dropped anywhere on `target` (the conversation) are attached, as with
     * « Joindre des fichiers ».
     * @param {HTMLElement} target
     */
    function acceptDrops(target) {
      target.addEventListener('dragover', (event) => {
        if (!event.dataTransfer?.types.includes('Files')) return;
        event.preventDefault();
        target.classList.add('drop-target');
      });
      target.addEventListener('dragleave', (event) => {
        if (event.target === target) target.classList.remove('drop-target');
      });
      target.addEventListener('drop', (event) => {
        target.classList.remove('drop-target');
        const dropped = event.dataTransfer?.files;
        if (!dropped || dropped.length === 0 || !formElement.isConnected) return;
        event.preventDefault();
        files.files = dropped;
        showChosen();
        textarea.focus();
      });
    }
    textarea.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        formElement.requestSubmit();
      }
    });
    // A draft follows its channel: leaving and coming back finds it (in memory only: a
    // draft is plaintext, never written to this browser's storage).
    textarea.value = messenger.drafts.get(channelId) ?? '';
    textarea.addEventListener('input', () => {
      if (textarea.value) messenger.drafts.set(channelId, textarea.value);
      else messenger.drafts.delete(channelId);
      if (Date.now() - lastTypingSent > TYPING_EVERY_MS) {
        lastTypingSent = Date.now();
        messenger.typing(channelId);
      }
    });
    formElement.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = textarea.value.trim();
      const chosen = [...(files.files ?? [])];
      if (!text && chosen.length === 0) return;
      const channel = messenger.channels.get(channelId);
      // Refused: the message stays in the composer, to be reworded.
      const confirmed = (channel?.kind !== 'practice_session' || (await anonymityConfirmed(text))) && (await identityChangesAcknowledged());
      if (!confirmed) {
        textarea.focus();
        return;
      }
      textarea.value = '';
      files.value = '';
      replace(chosenLine, '');
      messenger.drafts.delete(channelId);
      const answering = replyingTo ? { sender_device: replyingTo.senderDevice, client_msg_id: replyingTo.clientMsgId } : null;
      const rewritten = editing;
      replyTo(null);
      if (rewritten) messenger.send(channelId, text, [], null, { edits: { sender_device: rewritten.senderDevice, client_msg_id: rewritten.clientMsgId } });
      else messenger.send(channelId, text, chosen, answering);
      scroller.scrollTop = scroller.scrollHeight;
      textarea.focus();
    });
    /**
     * Sets (or clears) the message the next one answers.
     * @param {Message | null} message
     */
    function replyTo(message) {
      replyingTo = message;
      if (editing && !message) textarea.value = '';
      editing = null;
      if (!message) {
        replyBar.hidden = true;
        replace(replyBar);
        return;
      }
      const who = message.mine ? 'votre message' : messenger.names.get(message.sender) ?? 'Ancien membre';
      const cancel = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Annuler la réponse');
      cancel.addEventListener('click', () => {
        replyTo(null);
        textarea.focus();
      });
      replace(replyBar, h('p', { class: 'reply-bar-text' }, h('strong', {}, `En réponse à ${who} : `), excerpt(message.content?.text || 'Pièce jointe')), cancel);
      replyBar.hidden = false;
      textarea.focus();
    }
    /**
     * Rewrites one's own message: its text in the field, sent as an edit (§8.2).
     * @param {Message} message
     */
    function edit(message) {
      replyTo(null);
      editing = message;
      const cancel = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Annuler la modification');
      cancel.addEventListener('click', () => {
        replyTo(null);
        textarea.focus();
      });
      replace(replyBar, h('p', { class: 'reply-bar-text' }, h('strong', {}, 'Modification de votre message : '), excerpt(message.content?.text ?? '')), cancel);
      replyBar.hidden = false;
      textarea.value = message.content?.text ?? '';
      textarea.focus();
    }
    textarea.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && (replyingTo || editing)) replyTo(null);
    });
    return { form: formElement, replyTo, edit, acceptDrops };
  }

  /** @param {string} text */
  async function anonymityConfirmed(text) {
    const findings = findPersonalData(text);
    if (findings.length === 0) return true;
    return confirmAction(
      'Ce message semble identifier une personne',
      `Une séance d’analyse de pratiques est anonyme (charte, C9). Votre message paraît contenir : ${findings.map((f) => `${f.label} (« ${f.excerpt} »)`).join(' ; ')}. Reformulez-le sans ces éléments, ou confirmez s’il s’agit d’une fausse alerte.`,
      'Envoyer quand même',
      'Modifier le message',
    );
  }

  /** Asks once before sending to someone whose identity key changed (PROTOCOL.md §6.1). */
  async function identityChangesAcknowledged() {
    const detail = conversation().detail;
    if (!detail) return true;
    const changed = [];
    for (const member of detail.members) {
      if (member.user_id === shell.me.id) continue;
      const peer = await messenger.keyring.peer(member.user_id).catch(() => null);
      if (peer?.previousKey) changed.push(member);
    }
    if (changed.length === 0) return true;
    const ok = await confirmAction(
      'Envoyer malgré le changement de clé ?',
      `La clé d’identité de ${changed.map((m) => m.display_name).join(', ')} a changé depuis votre dernier échange. Si vous n’avez pas pu vérifier son code de sécurité en personne, ne transmettez pas d’information sensible.`,
      'J’ai compris, envoyer',
      'Ne pas envoyer',
    );
    if (ok) for (const member of changed) await messenger.keyring.setVerified(member.user_id, false);
    return ok;
  }
}

/** @param {number} bytes */
function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} o`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toLocaleString('fr-FR', { maximumFractionDigits: 1 })} Ko`;
  return `${(bytes / 1024 / 1024).toLocaleString('fr-FR', { maximumFractionDigits: 1 })} Mo`;
}
