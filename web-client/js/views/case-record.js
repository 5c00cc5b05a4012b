// A case's record: programme, follow-up status, how the person was informed (CHARTER.md
// C13), the person's identity for the coordinators and the referent only (C7), and, for its
// coordinators, « Mettre fin au suivi » (archiving, then destruction at the latest three
// years after the end of the follow-up).

import { cases as casesApi, channels as channelsApi } from '../api.js';
import { confirmAction, openDialog } from '../dialog.js';
import { h, replace, uid } from '../dom.js';
import { field, form, selectField, validate, valueOf, whileBusy } from '../forms.js';
import { formatDate, formatDateTime } from '../labels.js';
import { showError, showStatus } from '../notices.js';
import { openCaseIdentity, sealCaseIdentity } from '../case-identity.js';
import { openNote, resealNoteIfOld, sealNote } from '../channel-titles.js';
import { identitySection } from './case-identity.js';
import { noticeSection, takeJustOpened } from './notice-templates.js';

/** @typedef {import('../keyring.js').Keyring} Keyring */

/** Closed lists of shared/src/protocol/v1/cases.rs, with their French labels. */
export const PROGRAMME_LABELS = Object.freeze({
  youth_exposed_to_delinquency: 'Jeunes exposés à la délinquance',
  violence_against_women_and_domestic_violence: 'Violences faites aux femmes, violences intrafamiliales et aide aux victimes',
  public_tranquillity: 'Tranquillité publique',
});
export const FOLLOW_UP_LABELS = Object.freeze({
  reported: 'Situation signalée',
  assessment: 'En cours d’évaluation',
  support: 'Accompagnement en cours',
  referred: 'Orientée vers le droit commun',
});
export const METHOD_LABELS = Object.freeze({ in_person: 'Entretien', letter: 'Courrier', phone: 'Téléphone' });
export const INFORMED_LABELS = Object.freeze({
  person: 'La personne concernée',
  guardians: 'Les représentants légaux',
  person_and_guardians: 'La personne et ses représentants légaux',
});
export const NOT_INFORMED_LABELS = Object.freeze({
  child_interest: 'Intérêt de l’enfant',
  risk_to_person: 'Risque pour la personne ou pour autrui',
  unreachable: 'Personne injoignable malgré les tentatives',
});

const DAY = 86_400_000;

/**
 * @param {Readonly<Record<string, string>>} labels
 * @returns {{ value: string, label: string }[]}
 */
const optionsOf = (labels) => Object.entries(labels).map(([value, label]) => ({ value, label }));

/**
 * @param {Readonly<Record<string, string>>} labels
 * @param {unknown} value
 */
const labelOf = (labels, value) => (typeof value === 'string' && value in labels ? labels[value] : String(value ?? '—'));

/** @param {string} value « AAAA-MM-JJ » → unix ms at local noon (no time-zone slip). */
const dayToMs = (value) => new Date(`${value}T12:00:00`).getTime();

/** @param {number} ms */
const msToDay = (ms) => {
  const date = new Date(ms);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
};

/**
 * The panel of a case, for its members: the forms for its coordinators, the identity for
 * them and the referent.
 * @param {string} channelId
 * @param {string} myId
 * @param {() => void} onArchived
 * @param {Keyring | null} [keyring]
 * @param {((channelId: string) => Promise<number>) | null} [ensureEpoch] The epoch to
 *   seal a note under (creating one if due): the messenger's.
 * @returns {HTMLElement}
 */
export function caseRecordPanel(channelId, myId, onArchived, keyring = null, ensureEpoch = null) {
  const titleId = uid('dossier-titre');
  // A case just created opens on the notice templates (C13).
  const justOpened = takeJustOpened(channelId);
  const content = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading' }, 'Chargement du dossier…'));
  const panel = h(
    'details',
    { class: 'disclosure case-record' },
    h('summary', { id: titleId }, 'Fiche du dossier'),
    content,
  );
  if (justOpened) panel.setAttribute('open', '');

  async function load() {
    /** @type {any} */
    let view;
    try {
      view = await casesApi.get(channelId);
    } catch (error) {
      replace(content, h('p', {}, 'La fiche du dossier n’a pas pu être chargée.'));
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    const active = view.channel?.status === 'active';
    const coordinates = view.caller_coordinates === true;
    const end = h('button', { type: 'button', class: 'button button-danger' }, 'Mettre fin au suivi');
    end.addEventListener('click', () => endFollowUp());
    const review = h('button', { type: 'button', class: 'button button-secondary' }, 'Situation revue');
    review.addEventListener('click', async () => {
      const reviewed = await whileBusy(review, () => casesApi.update(channelId, { reviewed: true }));
      if (!reviewed) return;
      await load();
      showStatus(`Revue enregistrée : prochaine revue le ${formatDate(reviewed.next_review_at)}.`);
    });
    const overdue =
      active && view.closing_proposed_at
        ? h(
            'p',
            { class: 'notice notice-warning', role: 'status' },
            `Cette situation n’a pas été revue à temps : elle est proposée à la clôture depuis le ${formatDate(view.closing_proposed_at)} et sera archivée automatiquement si personne ne la revoit. Si le suivi continue, cliquez sur « Situation revue ».`,
          )
        : null;
    replace(
      content,
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Programme'),
        h('dd', {}, labelOf(PROGRAMME_LABELS, view.programme)),
        h('dt', {}, 'Suivi'),
        h('dd', {}, labelOf(FOLLOW_UP_LABELS, view.follow_up_status), active ? '' : ' · archivé'),
        h('dt', {}, 'Référent'),
        h('dd', { 'data-testid': 'case-referent' }, view.referent_user_id ? 'Chargement…' : 'Aucun'),
        h('dt', {}, 'Information de la personne (charte, C13)'),
        h('dd', { 'data-testid': 'case-information' }, describeInformation(view), sealedNote(view)),
        view.scheme ? h('dt', {}, 'Dispositif local') : null,
        view.scheme ? h('dd', { 'data-testid': 'case-scheme' }, describeScheme(view.scheme, new Map())) : null,
        view.destroy_limit ? h('dt', {}, 'Destruction au plus tard le') : null,
        view.destroy_limit ? h('dd', {}, formatDate(view.destroy_limit)) : null,
        active && view.next_review_at ? h('dt', {}, 'Prochaine revue (charte, C11)') : null,
        active && view.next_review_at ? h('dd', { 'data-testid': 'case-next-review' }, formatDate(view.next_review_at)) : null,
      ),
      overdue,
      active ? identitySection(channelId, view, keyring, () => load()) : null,
      active && coordinates ? followUpForm(view) : null,
      active && coordinates && !view.information ? noticeSection(view, justOpened) : null,
      active && coordinates ? informationForm() : null,
      active && coordinates ? h('div', { class: 'actions' }, review, end) : null,
    );
    // The scheme's school and host structure by name.
    if (view.scheme?.kind === 'acte') {
      const scheme = view.scheme;
      channelsApi
        .institutions()
        .then((all) => {
          const cell = content.querySelector('[data-testid="case-scheme"]');
          if (cell) replace(cell, describeScheme(scheme, new Map(all.map((i) => [i.id, i.name]))));
        })
        .catch(() => {});
    }
    // The referent by name, among the case's members.
    channelsApi
      .detail(channelId)
      .then((detail) => {
        const referent = detail.members.find((m) => m.user_id === view.referent_user_id);
        const cell = content.querySelector('[data-testid="case-referent"]');
        if (cell) replace(cell, referent ? referent.display_name : view.referent_user_id ? 'Ancien membre' : 'Aucun');
        const select = content.querySelector('select[name="referent_user_id"]');
        if (select) {
          for (const member of detail.members) {
            select.append(h('option', { value: member.user_id, selected: member.user_id === view.referent_user_id }, member.display_name));
          }
        }
      })
      .catch(() => {});
  }

  /**
   * The follow-up's status and its referent, changed by the coordinator.
   * @param {any} view
   */
  function followUpForm(view) {
    const status = selectField({ label: 'Étape du suivi', name: 'follow_up_status', required: true, value: view.follow_up_status, options: optionsOf(FOLLOW_UP_LABELS) });
    const referent = selectField({ label: 'Référent du dossier', name: 'referent_user_id', options: [{ value: '', label: 'Inchangé' }] });
    const update = form(
      { class: 'grid-form', 'aria-label': 'Modifier le suivi' },
      status,
      referent,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, 'Enregistrer le suivi')),
    );
    update.addEventListener('submit', async (event) => {
      event.preventDefault();
      /** @type {{ follow_up_status?: string, referent_user_id?: string, record?: object }} */
      const body = { follow_up_status: valueOf(update, 'follow_up_status') };
      const chosen = valueOf(update, 'referent_user_id');
      const changed = Boolean(chosen) && chosen !== view.referent_user_id;
      if (changed) body.referent_user_id = chosen;
      const ok = await whileBusy(update, async () => {
        // The referent is named by a record this coordinator signs (§19, §22.1): the
        // readers of the identity are then taken from the signed log, not from the
        // server. Choosing the current referent again signs them into a log that does
        // not name them yet.
        if (chosen && keyring && view.caller_coordinates) {
          const log = await keyring.membershipLog(channelId, { refresh: true });
          if (changed || log?.referent !== chosen) {
            body.referent_user_id = chosen;
            body.record = (await keyring.signMembershipChange(channelId, { kind: 'role_changed', role: 'referent', subjects: [chosen] })) ?? undefined;
          }
        }
        await casesApi.update(channelId, body);
        return true;
      });
      if (!ok) return;
      showStatus('Suivi du dossier enregistré.');
      if (changed && view.identity && view.caller_reads_identity && keyring) await resealIdentity(keyring);
      await load();
    });
    return h('details', { class: 'disclosure' }, h('summary', {}, 'Modifier le suivi'), update);
  }

  /**
   * The referent changed: the former one lost the identity's key on the server; it is
   * sealed again here, under a new key, for the new readers (C7).
   * @param {Keyring} keys
   */
  async function resealIdentity(keys) {
    try {
      const record = await openCaseIdentity(keys, channelId);
      await sealCaseIdentity(keys, channelId, record);
      showStatus('Suivi du dossier enregistré ; identité de la personne chiffrée à nouveau pour le nouveau référent.');
    } catch (error) {
      showError(error instanceof Error ? error.message : String(error));
    }
  }

  /** @param {any} view */
  function describeInformation(view) {
    const record = view.information;
    if (!record) return 'Non renseignée';
    const when = view.information_recorded_at ? ` (enregistré le ${formatDateTime(view.information_recorded_at)})` : '';
    if (record.outcome === 'informed') {
      return `Informée le ${formatDate(record.informed_at)} — ${labelOf(METHOD_LABELS, record.method)} — ${labelOf(INFORMED_LABELS, record.informed)}${when}`;
    }
    return `Non informée : ${labelOf(NOT_INFORMED_LABELS, record.reason)}${record.note ? ` — ${record.note}` : ''}${when}`;
  }

  /**
   * The sealed note, opened here (§24): the server keeps it as ciphertext.
   * @param {any} view
   */
  function sealedNote(view) {
    const envelope = view.information?.sealed_note;
    if (!envelope) return null;
    const note = h('span', { 'data-testid': 'case-information-note' }, ' — note chiffrée…');
    if (!keyring) return note;
    const keys = keyring;
    openNote(keys, channelId, envelope, view.note_sealed_by ?? view.information_recorded_by)
      .then(async (text) => {
        replace(note, ` — ${text}`);
        // Sealed under an older epoch: sealed again here for the members who joined since.
        await resealNoteIfOld(keys, channelId, view, text).catch((error) => console.warn('the case note could not be sealed again', error));
      })
      .catch(() => replace(note, ' — note chiffrée illisible sur cet appareil'));
    return note;
  }

  function informationForm() {
    const outcome = selectField({
      label: 'La personne a-t-elle été informée ?',
      name: 'outcome',
      required: true,
      value: 'informed',
      options: [
        { value: 'informed', label: 'Oui, elle a été informée' },
        { value: 'not_informed', label: 'Non, pour un motif documenté' },
      ],
    });
    const informedPart = h(
      'div',
      {},
      field({ label: 'Date de l’information', name: 'informed_at', type: 'date', required: true, value: msToDay(Date.now()) }),
      selectField({ label: 'Moyen', name: 'method', required: true, options: optionsOf(METHOD_LABELS) }),
      selectField({ label: 'Personne informée', name: 'informed', required: true, options: optionsOf(INFORMED_LABELS) }),
    );
    const notInformedPart = h(
      'div',
      { hidden: true },
      selectField({ label: 'Motif', name: 'reason', options: optionsOf(NOT_INFORMED_LABELS) }),
      field({ label: 'Justification courte', name: 'note', maxlength: 280, hint: 'Chiffrée pour les membres du dossier. Sans nom, sans infraction, sans donnée de santé.' }),
    );
    const record = form(
      { class: 'grid-form', 'aria-label': 'Enregistrer l’information de la personne' },
      outcome,
      informedPart,
      notInformedPart,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, 'Enregistrer l’information')),
    );
    const select = /** @type {HTMLSelectElement} */ (outcome.querySelector('select'));
    const dateInput = /** @type {HTMLInputElement} */ (informedPart.querySelector('input'));
    select.addEventListener('change', () => {
      const informed = select.value === 'informed';
      informedPart.hidden = !informed;
      notInformedPart.hidden = informed;
      dateInput.required = informed;
    });
    record.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(record)) return;
      const body =
        select.value === 'informed'
          ? { outcome: 'informed', informed_at: Math.min(dayToMs(valueOf(record, 'informed_at')), Date.now()), method: valueOf(record, 'method'), informed: valueOf(record, 'informed'), informed_by: myId }
          : { outcome: 'not_informed', reason: valueOf(record, 'reason'), decided_by: myId };
      const note = select.value === 'informed' ? '' : valueOf(record, 'note').trim();
      const done = await whileBusy(record, async () => {
        // The note is sealed here for the case's members; the server never reads it.
        if (note) {
          if (!keyring || !ensureEpoch) throw new Error('La note est chiffrée par cet appareil : activez d’abord le chiffrement.');
          const epoch = await ensureEpoch(channelId);
          Object.assign(body, { sealed_note: await sealNote(keyring, channelId, epoch, note) });
        }
        await casesApi.recordInformation(channelId, body);
        return true;
      });
      if (done === undefined) return;
      showStatus('Information de la personne enregistrée.');
      await load();
    });
    return h('details', { class: 'disclosure' }, h('summary', {}, 'Enregistrer l’information de la personne'), record);
  }

  async function endFollowUp() {
    const answer = await openDialog({
      title: 'Mettre fin au suivi de ce dossier ?',
      body: [
        'Le dossier est archivé : plus aucun message ne peut y être envoyé, et sa consultation exige un motif inscrit au journal des accès. Il est détruit trois ans après la fin du suivi, ou plus tôt à la date limite indiquée.',
        field({ label: 'Date de fin du suivi', name: 'end_date', type: 'date', required: true, value: msToDay(Date.now()) }),
        field({ label: 'Date limite de destruction (facultatif)', name: 'destroy_by', type: 'date', hint: 'Par exemple, les 25 ans de la personne pour le programme jeunesse.' }),
      ],
      confirmLabel: 'Mettre fin au suivi',
      danger: true,
      check: (dialogForm) => validate(dialogForm),
    });
    if (!answer) return;
    const endDay = valueOf(answer, 'end_date');
    const destroyDay = valueOf(answer, 'destroy_by');
    // The end of the follow-up may not be in the future: today means now.
    const endDate = Math.min(dayToMs(endDay), Date.now());
    const confirmed = await confirmAction(
      'Confirmer la fin du suivi ?',
      `Fin du suivi le ${formatDate(endDate)}. Destruction au plus tard le ${formatDate(destroyDay ? Math.min(dayToMs(destroyDay), endDate + 3 * 365 * DAY) : endDate + 3 * 365 * DAY)}. Cette action ne peut pas être annulée.`,
      'Archiver le dossier',
    );
    if (!confirmed) return;
    try {
      await channelsApi.archive(channelId, { end_date: endDate, destroy_by: destroyDay ? dayToMs(destroyDay) : null });
    } catch (error) {
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    showStatus('Suivi terminé : le dossier est archivé.');
    onArchived();
  }

  load();
  return panel;
}

/**
 * A local scheme in words: ACTE with its school, dates and host; a chantier with its period.
 * @param {import('../types.js').LocalScheme} scheme
 * @param {Map<string, string>} names Institution names by id (empty while they load).
 */
export function describeScheme(scheme, names) {
  if (scheme.kind === 'acte') {
    const school = names.get(scheme.school_institution) ?? 'un collège';
    const host = names.get(scheme.host_institution) ?? 'une structure d’accueil';
    return `ACTE : exclusion temporaire du ${formatDate(scheme.excluded_from)} au ${formatDate(scheme.excluded_until)}, orientée par ${school}, accueil par ${host}`;
  }
  return `Chantier éducatif du ${formatDate(scheme.starts_on)} au ${formatDate(scheme.ends_on)}`;
}
