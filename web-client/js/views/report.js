// `/bilan`: the annual report of the CLSPD (CHARTER.md C14) for coordinators and admins:
// anonymous counts, no name, no case reference — what the plenary assembly reads. Printed
// from the browser (a PDF with « Enregistrer au format PDF ») or downloaded as CSV.

import { reports as reportsApi } from '../api.js';
import { append, h, replace, screenTitle } from '../dom.js';
import { selectField } from '../forms.js';
import { FIELD_REPORT_CATEGORY_LABELS, FIELD_REPORT_STATUS_LABELS, MEETING_DECISION_LABELS, REFERRAL_REASON_LABELS, REFERRAL_STATUS_LABELS } from '../labels.js';
import { showError } from '../notices.js';

/** @typedef {import('../types.js').AnnualReport} AnnualReport */

/** The report's lines, in the order the plenary reads them: [label, value of the report]. */
const ACTIVITY = /** @type {Array<[string, (r: AnnualReport) => number]>} */ ([
  ['Groupes de travail en fin d’année', (r) => r.working_groups],
  ['Groupes de travail créés', (r) => r.working_groups_created],
  ['Situations individuelles ouvertes', (r) => r.cases_opened],
  ['Situations dont le suivi a pris fin', (r) => r.cases_closed],
  ['Séances d’analyse de pratiques', (r) => r.practice_sessions],
  ['Conversations directes ouvertes', (r) => r.direct_conversations ?? 0],
]);

const SCHEMES = /** @type {Array<[string, (r: AnnualReport) => number]>} */ ([
  ['ACTE : collégiens temporairement exclus accueillis', (r) => r.schemes?.acte_cases_opened ?? 0],
  ['Chantiers éducatifs', (r) => r.schemes?.chantier_cases_opened ?? 0],
]);

const CHARTER = /** @type {Array<[string, (r: AnnualReport) => number]>} */ ([
  ['Acceptations de la charte et des règlements intérieurs', (r) => r.charter_acceptances],
  ['Membres retirés d’un canal', (r) => r.exclusions],
]);

const SECURITY = /** @type {Array<[string, (r: AnnualReport) => number]>} */ ([
  ['Clés de sécurité enregistrées', (r) => r.security.security_keys_registered],
  ['Clés de sécurité retirées', (r) => r.security.security_keys_removed],
  ['Connexions avec une clé de sécurité', (r) => r.security.security_key_sign_ins],
  ['Échecs de clé de sécurité', (r) => r.security.security_key_failures],
  ['Réinitialisations de la double authentification', (r) => r.security.mfa_resets],
]);

/**
 * One line per value of a closed list, in its order, zero when absent (a report frozen
 * before field reports existed).
 * @param {Readonly<Record<string, string>>} labels
 * @param {Record<string, number> | undefined} counts
 * @returns {Array<[string, number]>}
 */
function fieldReportRows(labels, counts) {
  return Object.entries(labels).map(([value, label]) => [label, counts?.[value] ?? 0]);
}

/** A referral's outcomes: every status but the first, which the openings by motive count. */
const REFERRAL_OUTCOME_LABELS = Object.freeze(
  Object.fromEntries(Object.entries(REFERRAL_STATUS_LABELS).filter(([status]) => status !== 'proposed')),
);

/** @param {HTMLElement} screen */
export function renderReport(screen) {
  const thisYear = new Date().getFullYear();
  const years = Array.from({ length: 5 }, (_, i) => String(thisYear - i));
  const year = selectField({ label: 'Année', name: 'year', options: years.map((y) => ({ value: y, label: y })), value: String(thisYear) });
  const select = /** @type {HTMLSelectElement} */ (year.querySelector('select'));
  const csv = h('a', { class: 'button button-secondary', download: '' }, 'Télécharger le tableau (CSV)');
  const print = h('button', { type: 'button', class: 'button button-secondary' }, 'Imprimer ou enregistrer en PDF');
  print.addEventListener('click', () => window.print());
  const body = h('div', { class: 'report-body' }, h('p', { class: 'loading' }, 'Chargement du bilan…'));
  append(
    screen,
    screenTitle('Bilan annuel'),
    h('p', { class: 'lead' }, 'Des nombres seulement : aucun nom, aucune référence de dossier, aucun contenu (charte, C10 et C14). C’est le bilan présenté en séance plénière du CLSPD.'),
    h('div', { class: 'card stack no-print' }, year, h('div', { class: 'actions' }, csv, print)),
    body,
  );
  const show = async () => {
    const chosen = Number(select.value);
    csv.setAttribute('href', reportsApi.annualCsvUrl(chosen));
    csv.setAttribute('download', `bilan-clspd-${chosen}.csv`);
    replace(body, h('p', { class: 'loading' }, 'Chargement du bilan…'));
    try {
      replace(body, reportView(await reportsApi.annual(chosen), chosen === thisYear));
    } catch (error) {
      replace(body);
      showError(error instanceof Error ? error.message : String(error));
    }
  };
  select.addEventListener('change', show);
  show();
}

/**
 * @param {AnnualReport} report
 * @param {boolean} running The current year: the figures still move.
 */
function reportView(report, running) {
  /**
   * @param {string} title
   * @param {Array<[string, number]>} rows
   * @param {string} [heading] What the first column names.
   */
  const table = (title, rows, heading = 'Indicateur') => {
    // A breakdown (by category, reason, decision, institution) gets a bar per line, scaled
    // to its largest: the plenary sees the shape at a glance, the number stays the data.
    const chart = heading !== 'Indicateur';
    const largest = Math.max(1, ...rows.map(([, value]) => value));
    return h(
      'table',
      { class: 'table report-table' },
      h('caption', {}, title),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, heading), h('th', { scope: 'col' }, 'Nombre'), chart ? h('th', { scope: 'col', class: 'report-bar-heading' }, 'Répartition') : null)),
      h('tbody', {}, rows.map(([label, value]) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, String(value)), chart ? h('td', { class: 'report-bar-cell', 'aria-hidden': 'true' }, bar(value / largest)) : null))),
    );
  };
  /** @param {Array<[string, (r: AnnualReport) => number]>} lines */
  const of = (lines) => /** @type {Array<[string, number]>} */ (lines.map(([label, value]) => [label, value(report)]));
  const members = Object.entries(report.members_by_institution);
  return h(
    'section',
    { class: 'report', 'aria-label': `Bilan ${report.year}` },
    h('h2', {}, `Bilan ${report.year}`),
    h('p', { class: 'hint' }, running ? 'Année en cours : les nombres évoluent jusqu’au 31 décembre.' : 'Année close : ce bilan est figé et ne change plus.'),
    table('Activité', of(ACTIVITY)),
    table('Dispositifs locaux', of(SCHEMES)),
    table('Signalements de terrain des médiateurs, par catégorie', fieldReportRows(FIELD_REPORT_CATEGORY_LABELS, report.field_reports?.by_category), 'Catégorie'),
    table('Signalements de terrain des médiateurs, par étape atteinte dans l’année', fieldReportRows(FIELD_REPORT_STATUS_LABELS, report.field_reports?.by_status), 'Étape'),
    table('Orientations de l’intervenant social, par motif', fieldReportRows(REFERRAL_REASON_LABELS, report.referrals?.by_reason), 'Motif'),
    table(
      'Orientations de l’intervenant social, par issue atteinte dans l’année',
      fieldReportRows(REFERRAL_OUTCOME_LABELS, report.referrals?.by_outcome),
      'Issue',
    ),
    table('Réunions des groupes de travail (cellule de veille, programmes)', [
      ['Réunions tenues', report.meetings?.held ?? 0],
      ['Situations examinées', report.meetings?.situations_reviewed ?? 0],
    ]),
    table('Décisions prises en réunion', fieldReportRows(MEETING_DECISION_LABELS, report.meetings?.by_decision), 'Décision'),
    table('Charte d’échange d’informations', of(CHARTER)),
    members.length
      ? table('Membres des groupes et des dossiers, par institution', members.map(([name, count]) => [name, count]), 'Institution')
      : h('p', {}, 'Aucun membre de groupe ou de dossier pour cette année.'),
    table('Sécurité des connexions', of(SECURITY)),
  );
}

/**
 * A horizontal bar of `share` (0 to 1) of its cell. Its width is set through the CSSOM: the
 * page's CSP forbids style attributes, not style properties set by a script of the page.
 * @param {number} share
 */
function bar(share) {
  const fill = h('span', { class: 'report-bar-fill', 'data-share': share.toFixed(3) });
  fill.style.width = `${Math.round(share * 1000) / 10}%`;
  return h('span', { class: 'report-bar' }, fill);
}
