// `/tableau-de-bord`: the coordinator's cases at a glance — follow-up, referent, next review,
// destruction date, whether the person's information is recorded — and the field reports
// waiting for their groups. Only the coordinator's own cases: there is no search across
// cases (CHARTER.md C10), and each record read here is in the access log like any other.

import { cases as casesApi, channels as channelsApi, fieldReports as fieldReportsApi } from '../api.js';
import { append, h, replace, screenTitle } from '../dom.js';
import { selectField } from '../forms.js';
import { formatDate } from '../labels.js';
import { showError } from '../notices.js';
import { FOLLOW_UP_LABELS, PROGRAMME_LABELS } from './case-record.js';

/** @typedef {import('../types.js').UserShell} UserShell */

const FILTERS = [
  { value: 'active', label: 'Tous les dossiers en cours' },
  { value: 'review', label: 'À revoir (revue dépassée ou clôture proposée)' },
  { value: 'information', label: 'Information de la personne non renseignée' },
];

/**
 * @typedef {object} CaseRow
 * @property {import('../types.js').Channel} channel
 * @property {any} view The case's record (CaseView).
 */

/**
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderDashboard(screen, shell) {
  const summary = h('p', { class: 'lead', 'aria-live': 'polite' }, 'Chargement de vos dossiers…');
  const filter = selectField({ label: 'Afficher', name: 'filtre', options: FILTERS, value: 'active' });
  const select = /** @type {HTMLSelectElement} */ (filter.querySelector('select'));
  const area = h('div', { class: 'table-area' });
  const reminder = h('div', { 'aria-live': 'polite' });
  append(screen, screenTitle('Tableau de bord'), summary, reminder, filter, area);

  Promise.all([channelsApi.list(), channelsApi.directory(), fieldReportsApi.list().catch(() => [])])
    .then(async ([channels, directory, reports]) => {
      const names = new Map(directory.map((entry) => [entry.user_id, entry.display_name]));
      names.set(shell.me.id, 'Vous');
      const active = channels.filter((c) => c.kind === 'case' && c.status === 'active');
      /** @type {CaseRow[]} */
      const rows = await Promise.all(active.map(async (channel) => ({ channel, view: await casesApi.get(channel.id) })));
      const waiting = /** @type {Array<{ status: string }>} */ (reports).filter((r) => r.status === 'new').length;
      const now = Date.now();
      const dueForReview = (/** @type {CaseRow} */ row) => Boolean(row.view.closing_proposed_at) || (row.view.next_review_at ?? Infinity) <= now;
      const withoutInformation = (/** @type {CaseRow} */ row) => !row.view.information;
      replace(
        summary,
        `${rows.length} dossier(s) en cours · ${rows.filter(dueForReview).length} à revoir · ${rows.filter(withoutInformation).length} sans information de la personne · `,
        h('a', { href: '/signalements' }, `${waiting} signalement(s) de terrain à prendre en charge`),
      );
      const show = () => {
        const chosen = rows.filter((row) => (select.value === 'review' ? dueForReview(row) : select.value === 'information' ? withoutInformation(row) : true));
        replace(area, chosen.length ? caseTable(chosen, names, now) : emptyState(rows.length === 0, shell));
      };
      select.addEventListener('change', show);
      show();
      // C13: each case records how the person was informed, or why not.
      const uninformed = rows.filter(withoutInformation).length;
      if (uninformed > 0) {
        const list = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Voir ces dossiers');
        list.addEventListener('click', () => {
          select.value = 'information';
          show();
        });
        replace(
          reminder,
          h(
            'p',
            { class: 'notice notice-warning', role: 'status', 'data-testid': 'information-reminder' },
            `Rappel (charte, C13) : ${uninformed} dossier(s) n’indiquent pas encore comment la personne a été informée. Ouvrez la fiche du dossier pour choisir un modèle de notice, puis enregistrez l’information. `,
            list,
          ),
        );
      }
    })
    .catch((error) => {
      replace(summary);
      showError(error instanceof Error ? error.message : String(error));
    });
}

/**
 * @param {CaseRow[]} rows
 * @param {Map<string, string>} names
 * @param {number} now
 */
function caseTable(rows, names, now) {
  return h(
    'table',
    { class: 'table dashboard-table' },
    h('caption', { class: 'visually-hidden' }, 'Vos dossiers'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Dossier', 'Programme', 'Suivi', 'Référent', 'Prochaine revue', 'Destruction au plus tard', 'Information de la personne'].map((title) => h('th', { scope: 'col' }, title)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map(({ channel, view }) => {
        const late = Boolean(view.closing_proposed_at) || (view.next_review_at ?? Infinity) <= now;
        return h(
          'tr',
          { 'data-case': channel.name },
          h('th', { scope: 'row' }, h('a', { href: `/canal/${channel.id}` }, channel.name)),
          h('td', {}, PROGRAMME_LABELS[/** @type {keyof typeof PROGRAMME_LABELS} */ (view.programme)] ?? view.programme, view.scheme ? ` · ${view.scheme.kind === 'acte' ? 'ACTE' : 'Chantier éducatif'}` : ''),
          h('td', {}, FOLLOW_UP_LABELS[/** @type {keyof typeof FOLLOW_UP_LABELS} */ (view.follow_up_status)] ?? view.follow_up_status),
          h('td', {}, view.referent_user_id ? (names.get(view.referent_user_id) ?? 'Un membre du dossier') : 'Aucun'),
          h('td', { class: late ? 'late' : '' }, view.next_review_at ? formatDate(view.next_review_at) : '—', late ? ' · à revoir' : ''),
          h('td', {}, view.destroy_limit ? formatDate(view.destroy_limit) : '—'),
          h('td', {}, view.information ? 'Renseignée' : 'Non renseignée'),
        );
      }),
    ),
  );
}

/**
 * @param {boolean} none No case at all, rather than none for this filter.
 * @param {UserShell} shell
 */
function emptyState(none, shell) {
  if (!none) return h('p', {}, 'Aucun dossier ne correspond à ce filtre.');
  return h(
    'div',
    { class: 'card' },
    h('p', {}, 'Vous ne suivez encore aucun dossier.'),
    h(
      'p',
      {},
      'Pour commencer : créez un groupe de travail et publiez son règlement, puis ouvrez un dossier depuis ',
      h('a', { href: '/nouveau-canal' }, 'Créer un canal'),
      shell.me.role === 'coordinator' ? ' (type « Dossier »).' : '.',
    ),
  );
}
