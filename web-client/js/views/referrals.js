// `/orientations`: the referrals of the intervenant social au commissariat (docs/PROTOCOL.md
// §17). The intervenant social refers a person to another institution (reason, consent,
// target, proposed referent, a short note); the professionals of that institution accept
// (a case opens) or decline; the referent follows, then closes. The note is sealed on
// this device for the direct conversation with its reader: the server never reads it,
// and there is no field for the person's name.

import { channels as channelsApi, referrals as referralsApi } from '../api.js';
import * as c from '../crypto.js';
import { h, replace, screenTitle, uid } from '../dom.js';
import { control, form, selectField, validate, valueOf, whileBusy } from '../forms.js';
import {
  DECLINE_REASON_LABELS,
  REFERRAL_REASON_LABELS,
  REFERRAL_STATUS_LABELS,
  WITHOUT_CONSENT_LABELS,
  formatDateTime,
} from '../labels.js';
import { showError, showStatus } from '../notices.js';
import { METHOD_LABELS, PROGRAMME_LABELS, describeScheme } from './case-record.js';
import { messengerFor } from './messaging.js';
import { YOUTH_PROGRAMME, destroyLimitOf, schemeOf, youthFields, youthProblems } from './youth-fields.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').DirectoryEntry} DirectoryEntry */

/** Longest note, as the server's minimisation rule states it (C8). */
const MAX_NOTE_CHARS = 280;

const PROGRAMMES = Object.entries(PROGRAMME_LABELS);

/**
 * @param {Readonly<Record<string, string>>} labels
 * @param {string} value
 */
const labelOf = (labels, value) => labels[value] ?? value;

/** @param {Readonly<Record<string, string>>} labels */
const optionsOf = (labels) => Object.entries(labels).map(([value, label]) => ({ value, label }));

/**
 * A labelled text area for a short note.
 * @param {{ label: string, name: string, hint: string }} options
 */
function noteArea(options) {
  const id = uid(`champ-${options.name}`);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, options.label),
    h('p', { class: 'hint', id: `${id}-aide` }, options.hint),
    h('textarea', { id, name: options.name, rows: 3, class: 'textarea', maxlength: MAX_NOTE_CHARS, 'aria-describedby': `${id}-aide` }),
  );
}

/** @param {HTMLFormElement} element */
const noteOf = (element) => /** @type {HTMLTextAreaElement} */ (element.querySelector('textarea')).value.trim();

/**
 * The referrals screen.
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderReferrals(screen, shell) {
  const messenger = messengerFor(shell);
  if (!messenger) {
    shell.navigate('/appareil', { replace: true });
    return;
  }
  const active = messenger;
  const me = shell.me;
  const formSlot = h('div', {});
  const lists = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading' }, 'Chargement des orientations…'));
  replace(
    screen,
    screenTitle('Orientations'),
    h(
      'p',
      { class: 'hint' },
      'L’intervenant social au commissariat oriente une personne vers le professionnel d’une autre institution ; un collège oriente ses élèves temporairement exclus vers une structure d’accueil (ACTE). L’institution destinataire accepte (un dossier s’ouvre, sous une référence aléatoire) ou refuse en donnant un motif. Aucun nom n’est demandé : la note est chiffrée pour son destinataire.',
    ),
    formSlot,
    lists,
  );

  /** @type {DirectoryEntry[]} */
  let directory = [];
  /** @type {import('../types.js').Channel[]} */
  let myChannels = [];
  let formShown = false;
  /** @type {Map<string, string>} Every institution's name, by id: an ACTE referral names two. */
  let institutionNames = new Map();

  /**
   * The active direct conversation with `userId`, created if there is none: the channel a
   * note for them is sealed for.
   * @param {string} userId
   */
  async function conversationWith(userId) {
    const direct = (await channelsApi.list()).filter((ch) => ch.kind === 'direct' && ch.status === 'active');
    for (const channel of direct) {
      const detail = await channelsApi.detail(channel.id);
      if (detail.members.some((/** @type {{ user_id: string }} */ m) => m.user_id === userId)) return channel.id;
    }
    const created = await channelsApi.create({ kind: 'direct', name: '', regime: 'clspd_confidential', institutions: [], members: [userId] });
    // Its signed membership log starts here (§22.4): nothing is sealed for it before.
    await active.keyring.signMembershipChange(created.id, null);
    return created.id;
  }

  /**
   * Seals a short text for the conversation with `userId`.
   * @param {string} userId
   * @param {string} text
   */
  async function sealFor(userId, text) {
    const channelId = await conversationWith(userId);
    const epoch = await active.ensureEpoch(channelId);
    return active.keyring.seal(channelId, epoch, c.uuid(), { text, reply_to: null, attachments: [] });
  }

  /**
   * Opens a sealed note as a message of its channel.
   * @param {any} envelope
   * @param {string} sender
   * @param {number} ts
   */
  async function openNote(envelope, sender, ts) {
    try {
      const opened = await active.keyring.open({ channel_id: envelope.channel_id, seq: 0, sender, envelope, ts });
      return opened.content.text;
    } catch {
      return null;
    }
  }

  /** @param {string} institutionId */
  const professionalsOf = (institutionId) =>
    directory.filter((entry) => entry.institution.id === institutionId && (entry.role === 'member' || entry.role === 'coordinator'));

  /**
   * The form to refer a person. A school refers only its excluded pupils, under ACTE
   * (`onlyActe`): the programme, the scheme and the school are then decided.
   * @param {boolean} onlyActe
   */
  async function referralForm(onlyActe) {
    const every = await channelsApi.institutions();
    const institutions = every.filter((i) => i.id !== me.institution.id);
    const youth = youthFields(
      every.map((i) => ({ value: i.id, label: i.name })),
      onlyActe ? { schemes: ['acte'], school: me.institution.id, host: '' } : { host: '' },
    );
    const referentSlot = h('div', {});
    const target = selectField({
      label: 'Institution destinataire',
      name: 'target_institution',
      required: true,
      options: [{ value: '', label: 'Choisissez une institution' }, ...institutions.map((i) => ({ value: i.id, label: i.name }))],
    });
    const showReferents = () => {
      const chosen = /** @type {HTMLSelectElement} */ (target.querySelector('select')).value;
      replace(
        referentSlot,
        selectField({
          label: 'Référent proposé (facultatif)',
          name: 'proposed_referent',
          options: [{ value: '', label: 'Aucun : l’institution choisira' }, ...professionalsOf(chosen).map((e) => ({ value: e.user_id, label: e.display_name }))],
          hint: 'Un professionnel de l’institution destinataire. Nécessaire pour joindre une note.',
        }),
      );
    };
    target.querySelector('select')?.addEventListener('change', showReferents);
    showReferents();
    const referral = form(
      { class: 'grid-form', 'aria-label': 'Orienter une personne' },
      target,
      referentSlot,
      selectField({
        label: 'Motif',
        name: 'reason',
        required: true,
        options: optionsOf(REFERRAL_REASON_LABELS).filter((o) => !onlyActe || o.value === 'schooling'),
      }),
      selectField({
        label: 'Programme du dossier',
        name: 'programme',
        required: true,
        options: PROGRAMMES.filter(([value]) => !onlyActe || value === YOUTH_PROGRAMME).map(([value, label]) => ({ value, label })),
        // Most referrals of the intervenant social are not about a young person: the
        // youth programme's fields appear only when it is chosen.
        value: onlyActe ? YOUTH_PROGRAMME : PROGRAMMES.find(([value]) => value !== YOUTH_PROGRAMME)?.[0],
      }),
      ...youth.elements,
      selectField({
        label: 'Consentement de la personne',
        name: 'consent',
        required: true,
        options: [
          { value: 'consented', label: 'Informée, elle consent à l’orientation' },
          { value: 'informed_without_consent', label: 'Informée, orientée sans son consentement' },
        ],
        hint: 'La personne est toujours informée de l’orientation (charte, C13).',
      }),
      selectField({ label: 'Informée par', name: 'method', required: true, options: optionsOf(METHOD_LABELS) }),
      selectField({
        label: 'Motif de l’orientation sans consentement',
        name: 'without_consent_reason',
        options: [{ value: '', label: 'Sans objet (la personne consent)' }, ...optionsOf(WITHOUT_CONSENT_LABELS)],
      }),
      noteArea({
        label: 'Note pour le destinataire (facultatif)',
        name: 'note',
        hint: `${MAX_NOTE_CHARS} caractères au plus, sans nom, sans infraction ni donnée de santé. Chiffrée pour votre conversation avec le référent proposé : le serveur ne la lit pas.`,
      }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Envoyer l’orientation')),
    );
    const showYouth = () => youth.show(referral, control(referral, 'programme').value === YOUTH_PROGRAMME);
    control(referral, 'programme').addEventListener('change', showYouth);
    control(referral, 'scheme').addEventListener('change', showYouth);
    if (onlyActe) control(referral, 'scheme').value = 'acte';
    showYouth();
    referral.addEventListener('submit', async (event) => {
      event.preventDefault();
      const host = valueOf(referral, 'target_institution');
      const isYouth = valueOf(referral, 'programme') === YOUTH_PROGRAMME;
      if (!validate(referral, (f) => (isYouth ? youthProblems(f, host) : []))) return;
      const consent = valueOf(referral, 'consent');
      const withoutReason = valueOf(referral, 'without_consent_reason');
      const referent = valueOf(referral, 'proposed_referent');
      const note = noteOf(referral);
      if (consent === 'informed_without_consent' && !withoutReason) {
        showError('Indiquez pourquoi la personne est orientée sans son consentement.');
        return;
      }
      if (note && !referent) {
        showError('Proposez un référent pour joindre une note : elle est chiffrée pour votre conversation avec lui.');
        return;
      }
      const method = valueOf(referral, 'method');
      const sent = await whileBusy(referral, async () =>
        referralsApi.open({
          client_id: c.uuid(),
          reason: valueOf(referral, 'reason'),
          consent: consent === 'consented' ? { outcome: 'consented', method } : { outcome: 'informed_without_consent', method, reason: withoutReason },
          programme: valueOf(referral, 'programme'),
          destroy_limit: isYouth ? destroyLimitOf(referral) : null,
          scheme: isYouth ? schemeOf(referral, host) : null,
          target_institution: host,
          proposed_referent: referent || null,
          note: note ? await sealFor(referent, note) : null,
        }),
      );
      if (!sent) return;
      referral.reset();
      if (onlyActe) control(referral, 'scheme').value = 'acte';
      showReferents();
      showYouth();
      showStatus('Orientation envoyée à l’institution destinataire.');
      await load();
    });
    replace(formSlot, h('details', { class: 'disclosure', open: true }, h('summary', {}, 'Orienter une personne'), referral));
  }

  /**
   * What the caller may do with a referral, as the server decides it (policy.rs): shown
   * only where the server would let it through.
   * @param {any} referral
   */
  function decisions(referral) {
    const coordinator = me.role === 'coordinator';
    const ofTarget = referral.target_institution === me.institution.id && referral.referrer !== me.id;
    const actions = h('div', { class: 'stack' });
    if (referral.status === 'proposed' && (coordinator || ofTarget)) {
      actions.append(acceptForm(referral), declineForm(referral));
    }
    if ((coordinator || referral.referent === me.id) && (referral.status === 'accepted' || referral.status === 'followed')) {
      const next = referral.status === 'accepted' ? 'followed' : 'closed';
      const button = h('button', { type: 'button', class: 'button' }, next === 'followed' ? 'Marquer comme suivie' : 'Clore l’orientation');
      button.addEventListener('click', async () => {
        const done = await whileBusy(button, () => referralsApi.advance(referral.id, next));
        if (!done) return;
        showStatus(next === 'followed' ? 'Orientation marquée comme suivie.' : 'Orientation close.');
        await load();
      });
      actions.append(h('div', { class: 'actions' }, button));
    }
    return actions;
  }

  /**
   * What names one referral among others on the page, for the names of its forms.
   * @param {any} referral
   */
  const nameOf = (referral) => `${labelOf(REFERRAL_REASON_LABELS, referral.reason)}, ${referral.referrer_name}, ${formatDateTime(referral.opened_at)}`;

  /** @param {any} referral */
  function acceptForm(referral) {
    const referents = professionalsOf(referral.target_institution);
    const preferred = referral.proposed_referent ?? (referral.target_institution === me.institution.id ? me.id : '');
    const groups = myChannels.filter((ch) => ch.kind === 'working_group' && ch.status === 'active');
    const accept = form(
      { class: 'grid-form', 'aria-label': `Accepter l’orientation (${nameOf(referral)})` },
      selectField({
        label: 'Référent du dossier',
        name: 'referent_user_id',
        required: true,
        value: preferred,
        options: [{ value: '', label: 'Choisissez le référent' }, ...referents.map((e) => ({ value: e.user_id, label: e.user_id === me.id ? 'Vous' : e.display_name }))],
      }),
      selectField({
        label: 'Règlement intérieur suivi (facultatif)',
        name: 'group_id',
        options: [{ value: '', label: 'Un règlement propre au dossier (publié par la coordination)' }, ...groups.map((g) => ({ value: g.id, label: g.name }))],
        hint: 'Le groupe de travail dont le dossier suit le règlement.',
      }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Accepter et ouvrir le dossier')),
    );
    accept.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(accept)) return;
      const groupId = valueOf(accept, 'group_id');
      const accepted = await whileBusy(accept, () =>
        referralsApi.accept(referral.id, { referent_user_id: valueOf(accept, 'referent_user_id'), ...(groupId ? { group_id: groupId } : {}) }),
      );
      if (!accepted) return;
      showStatus(`Orientation acceptée : le dossier ${accepted.case_reference ?? ''} est ouvert.`);
      await load();
    });
    return accept;
  }

  /** @param {any} referral */
  function declineForm(referral) {
    const decline = form(
      { class: 'grid-form', 'aria-label': `Refuser l’orientation (${nameOf(referral)})` },
      selectField({ label: 'Motif du refus', name: 'reason', required: true, options: optionsOf(DECLINE_REASON_LABELS) }),
      noteArea({ label: 'Note pour l’intervenant social (facultatif)', name: 'decline_note', hint: 'Chiffrée pour votre conversation avec lui ; aucun nom.' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, 'Refuser l’orientation')),
    );
    decline.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(decline)) return;
      const note = noteOf(decline);
      const declined = await whileBusy(decline, async () =>
        referralsApi.decline(referral.id, { reason: valueOf(decline, 'reason'), ...(note ? { note: await sealFor(referral.referrer, note) } : {}) }),
      );
      if (!declined) return;
      showStatus('Orientation refusée : l’intervenant social voit le motif.');
      await load();
    });
    return h('details', { class: 'disclosure' }, h('summary', {}, 'Refuser'), decline);
  }

  /** @param {any} referral */
  async function card(referral) {
    const note = referral.note ? await openNote(referral.note, referral.referrer, referral.opened_at) : null;
    const declineNote = referral.decline_note && referral.decided_by ? await openNote(referral.decline_note, referral.decided_by, referral.decided_at ?? 0) : null;
    const consent =
      referral.consent.outcome === 'consented'
        ? `La personne consent (informée : ${labelOf(METHOD_LABELS, referral.consent.method)})`
        : `Sans consentement — ${labelOf(WITHOUT_CONSENT_LABELS, referral.consent.reason)} (informée : ${labelOf(METHOD_LABELS, referral.consent.method)})`;
    const facts = [
      ['Statut', h('span', { 'data-testid': 'referral-status' }, labelOf(REFERRAL_STATUS_LABELS, referral.status))],
      ['Vers', referral.target_institution_name],
      ['Orientée par', `${referral.referrer_name}, le ${formatDateTime(referral.opened_at)}`],
      ['Consentement', consent],
      ['Programme', labelOf(PROGRAMME_LABELS, referral.programme)],
      referral.scheme ? ['Dispositif', h('span', { 'data-testid': 'referral-scheme' }, describeScheme(referral.scheme, institutionNames))] : null,
      referral.proposed_referent_name ? ['Référent proposé', referral.proposed_referent_name] : null,
      referral.decline_reason ? ['Motif du refus', labelOf(DECLINE_REASON_LABELS, referral.decline_reason)] : null,
      referral.referent_name ? ['Référent', referral.referent_name] : null,
      referral.case_id
        ? ['Dossier', h('a', { href: `/canal/${referral.case_id}`, 'data-testid': 'referral-case' }, referral.case_reference ?? 'Ouvrir le dossier')]
        : null,
    ].filter((fact) => fact !== null);
    return h(
      'article',
      { class: 'card referral', 'data-testid': 'referral', 'data-status': referral.status },
      h('h3', {}, labelOf(REFERRAL_REASON_LABELS, referral.reason)),
      h('dl', { class: 'facts' }, facts.flatMap((fact) => [h('dt', {}, /** @type {string} */ (fact?.[0])), h('dd', {}, fact?.[1] ?? '')])),
      referral.note ? h('p', { 'data-testid': 'referral-note' }, h('strong', {}, 'Note : '), note ?? 'illisible sur cet appareil.') : null,
      referral.decline_note ? h('p', {}, h('strong', {}, 'Note du refus : '), declineNote ?? 'illisible sur cet appareil.') : null,
      decisions(referral),
    );
  }

  /**
   * @param {string} title
   * @param {any[]} items
   * @param {string} empty
   * @param {string} testId
   */
  async function section(title, items, empty, testId) {
    return h(
      'section',
      { 'data-testid': testId },
      h('h2', {}, title),
      items.length ? h('div', { class: 'stack' }, ...(await Promise.all(items.map(card)))) : h('p', { class: 'empty' }, empty),
    );
  }

  async function load() {
    let listed;
    try {
      let institutions;
      [listed, directory, myChannels, institutions] = await Promise.all([referralsApi.list(), channelsApi.directory(), channelsApi.list(), channelsApi.institutions()]);
      institutionNames = new Map(institutions.map((i) => [i.id, i.name]));
    } catch (error) {
      replace(lists, h('p', {}, 'Les orientations n’ont pas pu être chargées.'));
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    if (listed.may_refer && !formShown) {
      formShown = true;
      await referralForm(Boolean(listed.only_acte)).catch((error) => showError(error instanceof Error ? error.message : String(error)));
    }
    const all = /** @type {any[]} */ (listed.referrals);
    const sent = all.filter((r) => r.referrer === me.id);
    const received = all.filter((r) => r.referrer !== me.id && r.target_institution === me.institution.id);
    const others = all.filter((r) => r.referrer !== me.id && r.target_institution !== me.institution.id);
    replace(
      lists,
      ...(await Promise.all([
        listed.may_refer || sent.length ? section('Orientations envoyées', sent, 'Vous n’avez encore orienté personne.', 'referrals-sent') : null,
        section('Orientations reçues par votre institution', received, 'Aucune orientation adressée à votre institution.', 'referrals-received'),
        me.role === 'coordinator' ? section('Autres orientations du CLSPD', others, 'Aucune autre orientation.', 'referrals-others') : null,
      ])),
    );
  }

  load();
}
