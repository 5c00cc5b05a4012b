// « Coordination du groupe » in a working group's details (CHARTER.md C1): the members the
// group names as its coordinators, who may do for the group, its cases and its sessions
// what a coordinator may. Shown to every member; changed by an admin or a coordinator of
// the group.

import { channels as channelsApi } from '../api.js';
import { h, replace } from '../dom.js';
import { checkboxField, form, whileBusy } from '../forms.js';
import { showStatus } from '../notices.js';

/**
 * @param {string} groupId
 * @param {import('../keyring.js').Keyring | null} [keyring] Signs the changes once the
 *   group has a signed membership log (§22).
 * @returns {HTMLElement}
 */
export function groupCoordinatorsPanel(groupId, keyring = null) {
  const content = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading' }, 'Chargement…'));
  const panel = h('details', { class: 'disclosure group-coordinators' }, h('summary', {}, 'Coordination du groupe'), content);

  async function load() {
    let named;
    let detail;
    try {
      [named, detail] = await Promise.all([channelsApi.coordinators(groupId), channelsApi.detail(groupId)]);
    } catch {
      replace(content, h('p', {}, 'La coordination du groupe n’a pas pu être chargée.'));
      return;
    }
    const list = named.coordinators.length
      ? h('ul', { 'data-testid': 'group-coordinators' }, named.coordinators.map((c) => h('li', {}, c.display_name)))
      : h('p', { 'data-testid': 'group-coordinators' }, 'Aucun coordinateur désigné : la coordination du CLSPD coordonne ce groupe.');
    const eligible = detail.members.filter((m) => m.role === 'member' || m.role === 'coordinator');
    const chosen = new Set(named.coordinators.map((c) => c.user_id));
    const edit = named.can_edit
      ? form(
          { class: 'grid-form', 'aria-label': 'Désigner les coordinateurs du groupe' },
          h(
            'fieldset',
            {},
            h('legend', {}, 'Coordinateurs du groupe'),
            eligible.map((member) => checkboxField({ label: member.display_name, name: `coordinator-${member.user_id}`, checked: chosen.has(member.user_id) })),
          ),
          h('p', { class: 'hint' }, 'Ils pourront gérer les membres, le règlement, les dossiers et les séances de ce groupe.'),
          h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, 'Enregistrer la coordination')),
        )
      : null;
    edit?.addEventListener('submit', async (event) => {
      event.preventDefault();
      const ids = [...edit.querySelectorAll('input[type="checkbox"]')]
        .filter((input) => /** @type {HTMLInputElement} */ (input).checked)
        .map((input) => /** @type {HTMLInputElement} */ (input).name.replace(/^coordinator-/, ''));
      const saved = await whileBusy(edit, async () => {
        const records = keyring ? await keyring.signRoleChanges(groupId, [...chosen], ids) : [];
        return channelsApi.setCoordinators(groupId, ids, records);
      });
      if (!saved) return;
      showStatus('Coordination du groupe enregistrée.');
      await load();
    });
    replace(content, list, edit);
  }

  load();
  return panel;
}
