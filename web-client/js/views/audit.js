// The auditor's console (docs/ARCHITECTURE.md, CHARTER.md C12), in words: actions in
// French, people, institutions and channels by their names (resolved by the server),
// the newest events first, filters by institution name and case reference, a detail
// panel for one event; the integrity of the hash chain, CSV and JSON exports (unchanged),
// and a chart of events per day drawn by hand in SVG. Every query the auditor makes is
// itself logged by the server.

import { audit as auditApi, channels as channelsApi } from '../api.js';
import { append, h, replace, screenTitle, srOnly } from '../dom.js';
import { field, form, selectField, valueOf, whileBusy } from '../forms.js';
import { AUDIT_ACTIONS, auditActionLabel, formatDateTime } from '../labels.js';
import { showError } from '../notices.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').AuditEvent} AuditEvent */

const FILTERS = ['user', 'institution', 'target', 'action', 'outcome', 'from', 'to'];
const OUTCOMES = [
  { value: '', label: 'Tous' },
  { value: 'success', label: 'Réussite' },
  { value: 'failure', label: 'Échec' },
  { value: 'denied', label: 'Refus' },
];
const OUTCOME_LABELS = /** @type {Record<string, string>} */ ({ success: 'Réussite', failure: 'Échec', denied: 'Refus' });
/** Days drawn in the chart at most (the latest ones that have events). */
const CHART_DAYS = 31;
const SVG = 'http://www.w3.org/2000/svg';

/**
 * @param {HTMLElement} screen
 * @param {UserShell} _shell
 */
export function renderAudit(screen, _shell) {
  const integrity = h('section', { class: 'card', 'aria-labelledby': 'integrite-titre', 'data-testid': 'integrity' }, h('h2', { id: 'integrite-titre' }, 'Intégrité du journal'), h('p', { class: 'loading' }, 'Vérification de la chaîne…'));
  const chart = h('section', { class: 'card', 'aria-labelledby': 'graphe-titre' }, h('h2', { id: 'graphe-titre' }, 'Événements par jour'));
  const results = h('section', { class: 'card', 'aria-labelledby': 'resultats-titre' }, h('h2', { id: 'resultats-titre' }, 'Événements'));
  const exports = h('p', { class: 'exports' });
  const collator = new Intl.Collator('fr', { sensitivity: 'base' });
  const actionOptions = Object.entries(AUDIT_ACTIONS)
    .map(([value, label]) => ({ value, label }))
    .sort((a, b) => collator.compare(a.label, b.label));
  const institutionSelect = selectField({ label: 'Institution', name: 'institution', options: [{ value: '', label: 'Toutes' }] });
  const detail = h('section', { class: 'card audit-detail', 'aria-labelledby': 'detail-titre', hidden: true, 'data-testid': 'audit-detail' });
  const filters = form(
    { class: 'grid-form card', 'aria-label': 'Filtres du journal' },
    field({ label: 'Personne (identifiant)', name: 'user', spellcheck: false }),
    institutionSelect,
    field({ label: 'Dossier ou cible', name: 'target', spellcheck: false, hint: 'La référence d’un dossier (par exemple 2025-017), ou l’identifiant d’un canal ou d’un compte.' }),
    selectField({ label: 'Action', name: 'action', options: [{ value: '', label: 'Toutes' }, ...actionOptions] }),
    selectField({ label: 'Résultat', name: 'outcome', options: OUTCOMES }),
    field({ label: 'Du', name: 'from', type: 'date' }),
    field({ label: 'Au (inclus)', name: 'to', type: 'date' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Filtrer')),
  );
  append(
    screen,
    screenTitle('Journal des accès'),
    h('p', { class: 'lead' }, 'Le journal est chaîné par empreintes et signé : toute modification, suppression ou inversion est détectée. Vos consultations et exports y sont eux-mêmes inscrits.'),
    integrity,
    filters,
    exports,
    detail,
    results,
    chart,
  );
  // The institutions by name; the server turns the name into the log's id.
  channelsApi
    .institutions()
    .then((institutions) => {
      const select = institutionSelect.querySelector('select');
      if (!select) return;
      for (const institution of institutions) select.append(h('option', { value: institution.name }, institution.name));
    })
    .catch((error) => showError(error instanceof Error ? error.message : String(error)));

  /** @type {Record<string, string>} */
  let current = {};
  filters.addEventListener('submit', async (event) => {
    event.preventDefault();
    current = Object.fromEntries(FILTERS.map((name) => [name, valueOf(filters, name)]).filter(([, v]) => v !== ''));
    await whileBusy(filters, () => search(current));
  });
  verify();
  search(current).catch((error) => showError(error instanceof Error ? error.message : String(error)));

  async function verify() {
    try {
      const report = await auditApi.verify();
      replace(
        integrity,
        h('h2', { id: 'integrite-titre' }, 'Intégrité du journal'),
        report.intact
          ? h('p', { class: 'badge badge-ok integrity-status' }, 'Chaîne intacte')
          : h('p', { class: 'badge badge-danger integrity-status', role: 'alert' }, `Chaîne rompue à l’événement n° ${report.first_break?.seq ?? '?'} (${breakLabel(report.first_break?.kind ?? '')})`),
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'Événements vérifiés'),
          h('dd', {}, report.events_checked.toLocaleString('fr-FR')),
          h('dt', {}, 'Points de contrôle signés vérifiés'),
          h('dd', {}, report.checkpoints_checked.toLocaleString('fr-FR')),
          h('dt', {}, 'Clé de signature'),
          h('dd', {}, h('code', {}, report.key_id)),
        ),
      );
    } catch (error) {
      replace(integrity, h('h2', { id: 'integrite-titre' }, 'Intégrité du journal'), h('p', { class: 'notice notice-error' }, error instanceof Error ? error.message : String(error)));
    }
  }

  /** @param {Record<string, string>} filter */
  async function search(filter) {
    replace(
      exports,
      'Exporter les événements filtrés : ',
      h('a', { href: auditApi.exportUrl(filter, 'csv'), download: 'journal-des-acces.csv' }, 'CSV'),
      ' · ',
      h('a', { href: auditApi.exportUrl(filter, 'json'), download: 'journal-des-acces.json' }, 'JSON'),
    );
    await showPage(filter, undefined);
    await drawChart(filter);
  }

  /**
   * One page of events, the newest first.
   * @param {Record<string, string>} filter
   * @param {number | undefined} beforeSeq
   */
  async function showPage(filter, beforeSeq) {
    const page = await auditApi.events({ ...filter, order: 'desc', limit: '50', ...(beforeSeq ? { before_seq: String(beforeSeq) } : {}) });
    const older = h('button', { type: 'button', class: 'button button-secondary' }, 'Événements plus anciens');
    older.addEventListener('click', () => showPage(filter, page.next_before_seq ?? undefined));
    const newest = h('button', { type: 'button', class: 'button button-secondary' }, 'Revenir aux plus récents');
    newest.addEventListener('click', () => showPage(filter, undefined));
    replace(
      results,
      h('h2', { id: 'resultats-titre' }, 'Événements, du plus récent au plus ancien'),
      h('p', { class: 'hint', 'data-testid': 'audit-total' }, `${page.total.toLocaleString('fr-FR')} événement(s) correspondent.`),
      h(
        'div',
        { class: 'table-area' },
        h(
          'table',
          { class: 'table' },
          h('caption', { class: 'visually-hidden' }, 'Événements du journal des accès, du plus récent au plus ancien'),
          h('thead', {}, h('tr', {}, ['Date', 'Personne', 'Institution', 'Action', 'Cible', 'Résultat', 'Détail'].map((label) => h('th', { scope: 'col' }, label)))),
          h('tbody', {}, page.events.map((event) => eventRow(event, page.names, showDetail))),
        ),
      ),
      h('div', { class: 'actions' }, beforeSeq ? newest : null, page.next_before_seq ? older : null),
    );
  }

  /**
   * The detail panel of one event: every field in words, its hash for the record.
   * @param {AuditEvent} event
   * @param {Record<string, string>} names
   * @param {HTMLButtonElement} opener
   */
  function showDetail(event, names, opener) {
    const close = h('button', { type: 'button', class: 'button button-secondary' }, 'Fermer le détail');
    close.addEventListener('click', () => {
      detail.hidden = true;
      opener.focus();
    });
    const title = h('h2', { id: 'detail-titre', tabindex: '-1' }, `Événement n° ${event.seq} : ${auditActionLabel(event.action)}`);
    const entries = Object.entries(event.details ?? {});
    replace(
      detail,
      title,
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Date'),
        h('dd', {}, formatDateTime(event.time_ms)),
        h('dt', {}, 'Personne'),
        h('dd', {}, personOf(event, names)),
        h('dt', {}, 'Institution'),
        h('dd', {}, event.actor.institution_id ? names[event.actor.institution_id] ?? event.actor.institution_id : '—'),
        h('dt', {}, 'Action'),
        h('dd', {}, auditActionLabel(event.action), ' ', h('code', {}, event.action)),
        h('dt', {}, 'Cible'),
        h('dd', {}, targetOf(event, names)),
        h('dt', {}, 'Résultat'),
        h('dd', {}, OUTCOME_LABELS[event.outcome] ?? event.outcome),
        h('dt', {}, 'Adresse'),
        h('dd', {}, event.actor.ip ?? '—'),
        h('dt', {}, 'Session'),
        h('dd', {}, event.actor.session_id ? h('code', {}, event.actor.session_id) : '—'),
        entries.length > 0
          ? entries.flatMap(([key, value]) => [h('dt', {}, DETAIL_LABELS[key] ?? key), h('dd', {}, detailValue(value, names))])
          : [h('dt', {}, 'Précisions'), h('dd', {}, 'aucune')],
        h('dt', {}, 'Empreinte'),
        h('dd', {}, h('code', { class: 'audit-details' }, event.hash)),
      ),
      h('div', { class: 'actions' }, close),
    );
    detail.hidden = false;
    title.focus();
  }

  /** @param {Record<string, string>} filter */
  async function drawChart(filter) {
    const { days: counted } = await auditApi.daily(filter);
    /** @type {[string, number][]} */
    const days = counted.slice(-CHART_DAYS).map(({ day, count }) => [day, count]);
    const truncated = counted.length > CHART_DAYS;
    replace(
      chart,
      h('h2', { id: 'graphe-titre' }, 'Événements par jour'),
      days.length === 0 ? h('p', { class: 'hint' }, 'Aucun événement pour ces filtres.') : barChart(days),
      truncated ? h('p', { class: 'hint' }, `Graphique limité aux ${CHART_DAYS} derniers jours ayant des événements : précisez les dates pour remonter plus loin.`) : null,
      days.length > 0
        ? h('table', { class: 'visually-hidden' }, h('caption', {}, 'Événements par jour'), h('tbody', {}, days.map(([day, count]) => h('tr', {}, h('th', { scope: 'row' }, day), h('td', {}, String(count))))))
        : null,
    );
  }
}

/** The details' usual keys, in words. */
const DETAIL_LABELS = /** @type {Record<string, string>} */ ({
  reason: 'Motif',
  member: 'Membre',
  role: 'Rôle',
  institution_id: 'Institution',
  sessions_closed: 'Sessions fermées',
  path: 'Adresse demandée',
  device_id: 'Appareil',
  epoch: 'Clé n°',
  count: 'Nombre',
  from_seq: 'À partir du message',
  to_seq: 'Jusqu’au message',
  format: 'Format',
  provisional_password: 'Mot de passe provisoire',
  was_provisional: 'Remplaçait un mot de passe provisoire',
});

/**
 * @param {unknown} value
 * @param {Record<string, string>} names
 * @returns {string}
 */
function detailValue(value, names) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'oui' : 'non';
  if (typeof value === 'string') return names[value] ?? value;
  if (typeof value === 'number') return value.toLocaleString('fr-FR');
  return JSON.stringify(value);
}

/**
 * @param {AuditEvent} event
 * @param {Record<string, string>} names
 */
function personOf(event, names) {
  const name = event.actor.user_id ? names[event.actor.user_id] : undefined;
  if (name) return event.actor.login ? `${name} (${event.actor.login})` : name;
  return event.actor.login ?? (event.actor.ip ? `Inconnu (${event.actor.ip})` : '—');
}

/**
 * @param {AuditEvent} event
 * @param {Record<string, string>} names
 */
function targetOf(event, names) {
  if (!event.target) return '—';
  return names[event.target] ?? event.target;
}

/**
 * @param {AuditEvent} event
 * @param {Record<string, string>} names
 * @param {(event: AuditEvent, names: Record<string, string>, opener: HTMLButtonElement) => void} onDetail
 */
function eventRow(event, names, onDetail) {
  const open = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Voir', srOnly(` le détail de l’événement n° ${event.seq}`));
  open.addEventListener('click', () => onDetail(event, names, open));
  return h(
    'tr',
    {},
    h('th', { scope: 'row', 'data-label': 'Date' }, formatDateTime(event.time_ms)),
    h('td', { 'data-label': 'Personne' }, personOf(event, names)),
    h('td', { 'data-label': 'Institution' }, event.actor.institution_id ? names[event.actor.institution_id] ?? '—' : '—'),
    h('td', { 'data-label': 'Action', 'data-action': event.action }, auditActionLabel(event.action)),
    h('td', { 'data-label': 'Cible' }, targetOf(event, names)),
    h('td', { 'data-label': 'Résultat' }, h('span', { class: `badge ${event.outcome === 'success' ? 'badge-ok' : event.outcome === 'denied' ? 'badge-danger' : 'badge-warning'}` }, OUTCOME_LABELS[event.outcome] ?? event.outcome)),
    h('td', { 'data-label': 'Détail' }, open),
  );
}

/** @param {string} kind */
function breakLabel(kind) {
  return (
    { edited: 'événement modifié', deleted: 'événement supprimé', inserted: 'événement inséré', reordered: 'ordre modifié', rewritten: 'chaîne réécrite', bad_signature: 'signature invalide' }[kind] ?? kind
  );
}

/**
 * A bar chart in SVG, drawn with DOM calls (no library, no inline style).
 * @param {Array<[string, number]>} days
 */
function barChart(days) {
  const width = 720;
  const height = 240;
  const margin = { top: 16, right: 12, bottom: 48, left: 44 };
  const max = Math.max(...days.map(([, count]) => count));
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const step = plotWidth / days.length;
  /**
   * @param {string} tag
   * @param {Record<string, string | number>} attrs
   * @param {string} [text]
   */
  const el = (tag, attrs, text) => {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': `Nombre d’événements par jour, du ${days[0][0]} au ${days[days.length - 1][0]} ; au plus ${max} par jour.` });
  for (const fraction of [0, 0.5, 1]) {
    const y = margin.top + plotHeight * (1 - fraction);
    svg.append(el('line', { x1: margin.left, x2: width - margin.right, y1: y, y2: y, class: 'chart-grid' }));
    svg.append(el('text', { x: margin.left - 6, y: y + 4, 'text-anchor': 'end', class: 'chart-label' }, String(Math.round(max * fraction))));
  }
  days.forEach(([day, count], index) => {
    const barHeight = max === 0 ? 0 : (count / max) * plotHeight;
    const x = margin.left + index * step + step * 0.15;
    const bar = el('rect', { x, y: margin.top + plotHeight - barHeight, width: Math.max(1, step * 0.7), height: barHeight, class: 'chart-bar' });
    bar.append(el('title', {}, `${day} : ${count} événement(s)`));
    svg.append(bar);
    if (days.length <= 16 || index % Math.ceil(days.length / 16) === 0) {
      svg.append(el('text', { x: x + step * 0.35, y: height - margin.bottom + 16, 'text-anchor': 'middle', class: 'chart-label' }, day.slice(5).split('-').reverse().join('/')));
    }
  });
  return svg;
}
