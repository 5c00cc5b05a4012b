// « Identité de la personne » on a case's record (CHARTER.md C7): for the case's
// coordinators and referent only. « Afficher » opens it (the server logs each opening);
// a form records or replaces it. It is sealed in this browser for exactly the current
// readers, and sealed again here when the readers changed (a new referent, a new device).

import { openCaseIdentity, sealCaseIdentity, MAX_IDENTITY_NAME_CHARS } from '../case-identity.js';
import { h, replace } from '../dom.js';
import { field, form, validate, valueOf, whileBusy } from '../forms.js';
import { formatDateTime } from '../labels.js';
import { showStatus } from '../notices.js';

/** @typedef {import('../keyring.js').Keyring} Keyring */
/** @typedef {import('../case-identity.js').IdentityRecord} IdentityRecord */

/**
 * Birth months typed when a youth case was opened, by case id: kept in this page's memory
 * only (never sent, never stored) until the identity record, which the month belongs in
 * (C7), is sealed for the case's readers.
 * @type {Map<string, string>}
 */
const pendingBirthMonths = new Map();

/**
 * Remembers the birth month typed when `caseId` was opened, to offer it in the identity
 * record's form.
 * @param {string} caseId
 * @param {string} month `AAAA-MM`
 */
export function rememberBirthMonth(caseId, month) {
  if (/^\d{4}-\d{2}$/.test(month)) pendingBirthMonths.set(caseId, month);
}

/** @param {string} month `AAAA-MM` → « avril 2011 ». */
const monthLabel = (month) => {
  const [year, number] = month.split('-').map(Number);
  return new Date(year, number - 1, 15).toLocaleDateString('fr-FR', { month: 'long', year: 'numeric' });
};

/**
 * The identity section, or null for a member who may not read it: they see nothing of it.
 * @param {string} caseId
 * @param {any} view The CaseView.
 * @param {Keyring | null} keyring
 * @param {() => void} reload
 * @returns {HTMLElement | null}
 */
export function identitySection(caseId, view, keyring, reload) {
  if (!view.caller_reads_identity || !keyring) return null;
  const status = view.identity;
  const shown = h('div', { 'data-testid': 'case-identity', 'aria-live': 'polite' });
  const show = h('button', { type: 'button', class: 'button button-secondary' }, 'Afficher');
  show.addEventListener('click', async () => {
    const record = await whileBusy(show, () => openCaseIdentity(keyring, caseId));
    if (!record) return;
    replace(
      shown,
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Nom'),
        h('dd', {}, record.name),
        record.birth_month ? h('dt', {}, 'Mois de naissance') : null,
        record.birth_month ? h('dd', {}, monthLabel(record.birth_month)) : null,
      ),
      h('p', { class: 'hint' }, 'Cet affichage est inscrit au journal des accès.'),
    );
    // The readers changed since it was sealed: seal it again for the current ones.
    if (!status.up_to_date) {
      const resealed = await whileBusy(show, () => sealCaseIdentity(keyring, caseId, record));
      if (resealed) {
        showStatus('Identité chiffrée à nouveau pour la coordination et le référent actuels.');
        reload();
      }
    }
  });
  const state = status
    ? h(
        'p',
        {},
        `Enregistrée le ${formatDateTime(status.sealed_at)}, chiffrée pour la seule coordination et le référent du dossier.`,
        status.up_to_date ? '' : ' Les lecteurs ont changé : affichez-la une fois pour la chiffrer à nouveau pour eux.',
      )
    : h('p', {}, 'Non enregistrée.');
  return h(
    'section',
    { class: 'case-identity', 'aria-label': 'Identité de la personne' },
    h('h3', {}, 'Identité de la personne'),
    state,
    status ? h('div', { class: 'actions' }, show) : null,
    shown,
    recordForm(caseId, keyring, Boolean(status), reload),
  );
}

/**
 * The form that records (or replaces) the identity.
 * @param {string} caseId
 * @param {Keyring} keyring
 * @param {boolean} replacing
 * @param {() => void} reload
 */
function recordForm(caseId, keyring, replacing, reload) {
  const title = replacing ? 'Remplacer l’identité' : 'Enregistrer l’identité';
  const pending = pendingBirthMonths.get(caseId);
  const identity = form(
    { class: 'grid-form', 'aria-label': title },
    field({ label: 'Nom et prénom de la personne', name: 'name', required: true, maxlength: MAX_IDENTITY_NAME_CHARS, autocomplete: 'off', spellcheck: false }),
    field({
      label: 'Mois de naissance (facultatif)',
      name: 'birth_month',
      type: 'month',
      value: pending,
      hint: pending
        ? 'Le mois saisi à l’ouverture du dossier : il rejoint l’identité, chiffrée pour la coordination et le référent.'
        : 'Pour le programme jeunesse : la destruction aux 25 ans de la personne.',
    }),
    h('p', { class: 'hint' }, 'Chiffrée sur cet appareil pour la seule coordination et le référent du dossier : les autres membres et le serveur ne peuvent pas la lire.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, title)),
  );
  identity.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!validate(identity)) return;
    /** @type {IdentityRecord} */
    const record = { name: valueOf(identity, 'name').trim() };
    const month = valueOf(identity, 'birth_month');
    if (/^\d{4}-\d{2}$/.test(month)) record.birth_month = month;
    const stored = await whileBusy(identity, () => sealCaseIdentity(keyring, caseId, record));
    if (!stored) return;
    identity.reset();
    pendingBirthMonths.delete(caseId);
    showStatus('Identité de la personne enregistrée, chiffrée pour la coordination et le référent.');
    reload();
  });
  // Open at once when a month typed at the case's opening waits to join the record.
  return h('details', { class: 'disclosure', open: Boolean(pending) && !replacing }, h('summary', {}, title), identity);
}
