// A direct conversation with one colleague, open to every professional who may browse
// the directory (members and coordinators; not external participants, CHARTER.md C6).
// The same colleague twice leads back to the conversation already open with them.

import { channels as channelsApi } from '../api.js';
import { append, h, replace, screenTitle } from '../dom.js';
import { form, selectField, validate, valueOf, whileBusy } from '../forms.js';
import { showError } from '../notices.js';
import { messengerFor } from './messaging.js';
import { currentKeyring } from '../session.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').DirectoryEntry} DirectoryEntry */

/**
 * `/nouvelle-conversation`.
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderNewConversation(screen, shell) {
  const area = h('div', {}, h('p', { class: 'loading' }, 'Chargement de l’annuaire…'));
  append(
    screen,
    screenTitle('Écrire à un collègue'),
    h(
      'p',
      { class: 'lead' },
      'Une conversation directe réunit deux personnes. Elle est chiffrée de bout en bout, comme tous vos échanges, et relève de la confidentialité CLSPD.',
    ),
    area,
  );
  channelsApi
    .directory()
    .then((directory) => replace(area, buildForm(directory.filter((entry) => entry.user_id !== shell.me.id))))
    .catch((error) => showError(error instanceof Error ? error.message : String(error)));

  /** @param {DirectoryEntry[]} directory */
  function buildForm(directory) {
    if (directory.length === 0) return h('p', {}, 'L’annuaire ne compte encore aucun collègue.');
    const collator = new Intl.Collator('fr', { sensitivity: 'base' });
    const sorted = [...directory].sort((a, b) => collator.compare(a.display_name, b.display_name));
    const chosen = form(
      { class: 'stack card' },
      selectField({
        label: 'Collègue',
        name: 'user_id',
        required: true,
        options: [{ value: '', label: 'Choisissez une personne' }, ...sorted.map((e) => ({ value: e.user_id, label: `${e.display_name} — ${e.institution.name}` }))],
        hint: 'Les personnes sont classées par nom, avec leur institution.',
      }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Commencer la conversation'), h('a', { href: '/', class: 'button button-secondary' }, 'Retour à vos échanges')),
    );
    chosen.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(chosen)) return;
      const userId = valueOf(chosen, 'user_id');
      const existing = existingConversation(shell, userId);
      if (existing) {
        shell.navigate(`/canal/${existing}`);
        return;
      }
      const channel = await whileBusy(chosen, () =>
        channelsApi.create({ kind: 'direct', name: '', regime: 'clspd_confidential', institutions: [], members: [userId] }),
      );
      if (!channel) return;
      await currentKeyring()?.signMembershipChange(channel.id, null).catch(() => null); // §22
      shell.navigate(`/canal/${channel.id}`);
    });
    return chosen;
  }
}

/**
 * The active direct conversation already held with `userId`, if this page knows it.
 * @param {UserShell} shell
 * @param {string} userId
 * @returns {string | null}
 */
function existingConversation(shell, userId) {
  const messenger = messengerFor(shell);
  if (!messenger) return null;
  for (const channel of messenger.channels.values()) {
    if (channel.kind !== 'direct' || channel.status !== 'active') continue;
    const members = messenger.conversations.get(channel.id)?.detail?.members ?? [];
    if (members.some((member) => member.user_id === userId)) return channel.id;
  }
  return null;
}
