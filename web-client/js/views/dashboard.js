// `/tableau-de-bord`: the coordinator's cases at a glance — follow-up, referent, next review,
// destruction date, whether the person's information is recorded — and the field reports
// and referrals waiting. Only the coordinator's own cases: there is no search across
// cases (CHARTER.md C10), and each record read here is in the access log like any other.

import { cases as casesApi, channels as channelsApi, fieldReports as fieldReportsApi, referrals as referralsApi, meetings as meetingsApi } from '../api.js';
import { append, h, replace, screenTitle } from '../dom.js';
import { selectField } from '../forms.js';
import { REFERRAL_REASON_LABELS, formatDate, formatDateTime } from '../labels.js';
import { showError } from '../notices.js';
import { FOLLOW_UP_LABELS, PROGRAMME_LABELS } from './case-record.js';
import { messengerFor } from './messaging.js';

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
  const referralsArea = h('section', { 'aria-labelledby': 'orientations-en-attente', 'data-testid': 'dashboard-referrals' });
  const meetingsArea = h('section', { 'aria-labelledby': 'titre-reunions-a-preparer', 'data-testid': 'dashboard-meetings' });
  append(screen, screenTitle('Tableau de bord'), summary, reminder, filter, area, meetingsArea, referralsArea);

  Promise.all([
    channelsApi.list(),
    channelsApi.directory(),
    fieldReportsApi.list().catch(() => []),
    referralsApi.list().catch(() => ({ may_refer: false, referrals: [] })),
    meetingsApi.list().catch(() => []),
  ])
    .then(async ([channels, directory, reports, referrals, meetings]) => {
      replace(referralsArea, ...waitingReferrals(referrals.referrals.filter((/** @type {any} */ r) => r.status === 'proposed')));
      replace(meetingsArea, ...meetingsToPrepare(meetings));
      const names = new Map(directory.map((entry) => [entry.user_id, entry.display_name]));
      names.set(shell.me.id, 'Vous');
      const active = channels.filter((c) => c.kind === 'case' && c.status === 'active');
      // The cases' titles, opened here (§24); the reference where none opens.
      const messenger = messengerFor(shell);
      await messenger?.titles.openAll(active);
      /** @param {import('../types.js').Channel} channel */
      const label = (channel) => messenger?.titles.labelled(channel) ?? channel.name;
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
        replace(area, chosen.length ? caseTable(chosen, names, now, label) : emptyState(rows.length === 0, shell));
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
 * The referrals no institution has accepted or declined yet, oldest first: the
 * coordinator may decide them too (page « Orientations »).
 * @param {any[]} waiting
 */
function waitingReferrals(waiting) {
  const title = h('h2', { id: 'orientations-en-attente' }, 'Orientations en attente');
  if (waiting.length === 0) return [title, h('p', { class: 'empty' }, 'Aucune orientation en attente de réponse.')];
  return [
    title,
    h(
      'ul',
      { class: 'stack' },
      [...waiting].reverse().map((referral) =>
        h(
          'li',
          { 'data-testid': 'dashboard-referral' },
          h('a', { href: '/orientations' }, REFERRAL_REASON_LABELS[/** @type {keyof typeof REFERRAL_REASON_LABELS} */ (referral.reason)] ?? referral.reason),
          ` — vers ${referral.target_institution_name}, envoyée le ${formatDateTime(referral.opened_at)} par ${referral.referrer_name}`,
        ),
      ),
    ),
  ];
}

/**
 * @param {CaseRow[]} rows
 * @param {Map<string, string>} names
 * @param {number} now
 * @param {(channel: import('../types.js').Channel) => string} label
 */
function caseTable(rows, names, now, label) {
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
          h('th', { scope: 'row' }, h('a', { href: `/canal/${channel.id}` }, label(channel))),
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
 * The meetings still to hold, soonest first: each has its agenda to prepare.
 * @param {any[]} meetings
 */
function meetingsToPrepare(meetings) {
  const upcoming = meetings.filter((m) => m.status === 'scheduled');
  return [
    h('h2', { id: 'titre-reunions-a-preparer' }, 'Réunions à préparer'),
    upcoming.length
      ? h(
          'ul',
          {},
          upcoming.map((m) => h('li', {}, `${m.group_name} — ${formatDateTime(m.scheduled_at)} — ${m.agenda.length} situation(s) à examiner`)),
        )
      : h('p', {}, 'Aucune réunion prévue.'),
    h('p', {}, h('a', { href: '/reunions' }, 'Programmer ou ouvrir une réunion')),
  ];
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
