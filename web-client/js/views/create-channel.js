// Coordinators create channels: a working group, a case (named by a random reference,
// closed lists only, CHARTER.md C7–C8), a practice-analysis session (anonymous, time-
// bound, C9) or a direct conversation. Members come from the directory.

import { cases as casesApi, channels as channelsApi } from '../api.js';
import { append, h, replace, screenTitle, uid } from '../dom.js';
import { checkboxField, control, field, form, selectField, validate, valueOf, whileBusy } from '../forms.js';
import { offerNoticeOnOpen } from './notice-templates.js';
import { showError, showStatus } from '../notices.js';
import { RULES_TEMPLATE } from './charter.js';
import { REGIME_LABELS } from './messaging.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').DirectoryEntry} DirectoryEntry */

const PROGRAMMES = [
  { value: 'youth_exposed_to_delinquency', label: 'Jeunes exposés à la délinquance' },
  { value: 'violence_against_women_and_domestic_violence', label: 'Violences faites aux femmes, violences intrafamiliales et aide aux victimes' },
  { value: 'public_tranquillity', label: 'Tranquillité publique' },
];

const SCHEMES = [
  { value: '', label: 'Aucun' },
  { value: 'acte', label: 'ACTE (collégien temporairement exclu)' },
  { value: 'chantier_educatif', label: 'Chantier éducatif (17–25 ans)' },
];

const KINDS = [
  { value: 'working_group', label: 'Groupe de travail' },
  { value: 'case', label: 'Dossier (situation individuelle)' },
  { value: 'practice_session', label: 'Séance d’analyse de pratiques' },
  { value: 'direct', label: 'Conversation directe' },
];

/**
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderCreateChannel(screen, shell) {
  const area = h('div', {}, h('p', { class: 'loading' }, 'Chargement de l’annuaire…'));
  append(screen, screenTitle('Créer un canal'), h('p', { class: 'lead' }, 'Chaque canal a ses membres nommés, une liste d’institutions autorisées et un régime juridique. Les membres sont affichés par institution.'), area);
  Promise.all([channelsApi.directory(), channelsApi.list(), channelsApi.institutions()])
    .then(([directory, mine, all]) => replace(area, buildForm(directory.filter((e) => e.user_id !== shell.me.id), mine.filter((c) => c.kind === 'working_group' && c.status === 'active'), all)))
    .catch((error) => showError(error instanceof Error ? error.message : String(error)));

  /**
   * @param {DirectoryEntry[]} directory
   * @param {import('../types.js').Channel[]} groups
   * @param {import('../types.js').InstitutionRef[]} everyInstitution Every institution of
   *   the CLSPD: a situation may be reported by one that has no account yet.
   */
  function buildForm(directory, groups, everyInstitution) {
    /** @type {Map<string, string>} */
    const institutions = new Map([[shell.me.institution.id, shell.me.institution.name]]);
    for (const entry of directory) institutions.set(entry.institution.id, entry.institution.name);
    const kind = selectField({ label: 'Type de canal', name: 'kind', options: KINDS, value: 'working_group', required: true });
    const name = field({ label: 'Nom', name: 'name', maxlength: 120, hint: 'Un groupe ou une séance : un thème, jamais le nom d’une personne.' });
    const regime = selectField({ label: 'Régime juridique', name: 'regime', required: true, options: Object.entries(REGIME_LABELS).map(([value, label]) => ({ value, label })) });
    const programme = selectField({ label: 'Programme', name: 'programme', options: PROGRAMMES });
    const birthMonth = field({
      label: 'Mois de naissance de la personne',
      name: 'birth_month',
      type: 'month',
      hint: 'Le dossier sera détruit au plus tard à ses 25 ans. Ce mois reste sur votre appareil : seule la date limite qui en découle est envoyée.',
    });
    const institutionOptions = everyInstitution.map((i) => ({ value: i.id, label: i.name }));
    const scheme = selectField({ label: 'Dispositif local', name: 'scheme', options: SCHEMES, hint: 'ACTE et les chantiers éducatifs sont comptés à part dans le bilan annuel.' });
    const acteBox = h(
      'fieldset',
      { class: 'fieldset' },
      h('legend', {}, 'ACTE'),
      selectField({ label: 'Collège', name: 'acte_school', options: [{ value: '', label: 'Choisissez le collège' }, ...institutionOptions], hint: 'Une institution de type Éducation nationale.' }),
      field({ label: 'Premier jour d’exclusion', name: 'acte_from', type: 'date' }),
      field({ label: 'Dernier jour d’exclusion', name: 'acte_until', type: 'date', hint: 'Une exclusion temporaire dure au plus huit jours de classe.' }),
      selectField({ label: 'Structure d’accueil', name: 'acte_host', options: [{ value: '', label: 'Choisissez la structure' }, ...institutionOptions] }),
    );
    const chantierBox = h(
      'fieldset',
      { class: 'fieldset' },
      h('legend', {}, 'Chantier éducatif'),
      field({ label: 'Premier jour du chantier', name: 'chantier_from', type: 'date' }),
      field({ label: 'Dernier jour du chantier', name: 'chantier_until', type: 'date' }),
    );
    const reporting = selectField({ label: 'Institution qui signale la situation', name: 'reporting_institution', options: institutionOptions, value: shell.me.institution.id });
    const group = selectField({ label: 'Groupe de travail dont le règlement s’applique', name: 'group_id', options: [{ value: '', label: groups.length ? 'Choisissez un groupe' : 'Aucun groupe de travail' }, ...groups.map((g) => ({ value: g.id, label: g.name }))] });
    const startsAt = field({ label: 'Début de la séance', name: 'starts_at', type: 'datetime-local' });
    const endsAt = field({ label: 'Fin de la séance', name: 'ends_at', type: 'datetime-local', hint: 'La séance passe en lecture seule à la fin, puis est détruite quelques jours après.' });
    const instBox = h(
      'fieldset',
      { class: 'fieldset' },
      h('legend', {}, 'Institutions autorisées'),
      [...institutions].map(([id, label]) => checkboxField({ label, name: `inst-${id}`, checked: id === shell.me.institution.id })),
    );
    // A refusal about one of the people checked, shown beside them, by name.
    const memberError = h('p', { class: 'field-error', id: uid('membres-erreur'), role: 'alert', hidden: true });
    const memberBox = h(
      'fieldset',
      { class: 'fieldset' },
      h('legend', {}, 'Membres'),
      h('p', { class: 'hint' }, 'Vous en êtes membre d’office. Une personne doit appartenir à une institution autorisée et remplir les conditions du régime.'),
      directory.map((entry) => checkboxField({ label: `${entry.display_name} — ${entry.institution.name}`, name: `member-${entry.user_id}` })),
      memberError,
    );
    const publishRules = checkboxField({ label: 'Publier tout de suite le règlement intérieur type (modifiable ensuite)', name: 'publish_rules', checked: true, hint: 'Un groupe de travail reste fermé tant que son règlement n’est pas publié puis accepté.' });
    const created = form({ class: 'stack card' }, kind, name, regime, programme, birthMonth, scheme, acteBox, chantierBox, reporting, group, startsAt, endsAt, instBox, memberBox, publishRules, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Créer le canal')));

    const show = () => {
      const value = control(created, 'kind').value;
      name.hidden = value === 'case' || value === 'direct';
      programme.hidden = value !== 'case';
      const youth = value === 'case' && control(created, 'programme').value === 'youth_exposed_to_delinquency';
      birthMonth.hidden = !youth;
      scheme.hidden = !youth;
      acteBox.hidden = !youth || control(created, 'scheme').value !== 'acte';
      chantierBox.hidden = !youth || control(created, 'scheme').value !== 'chantier_educatif';
      reporting.hidden = value !== 'case';
      group.hidden = value !== 'case' && value !== 'practice_session';
      startsAt.hidden = value !== 'practice_session';
      endsAt.hidden = value !== 'practice_session';
      instBox.hidden = value === 'direct';
      publishRules.hidden = value !== 'working_group';
      regime.hidden = value === 'direct';
    };
    control(created, 'kind').addEventListener('change', show);
    control(created, 'programme').addEventListener('change', show);
    control(created, 'scheme').addEventListener('change', show);
    show();

    created.addEventListener('submit', async (event) => {
      event.preventDefault();
      const value = control(created, 'kind').value;
      const members = directory.filter((e) => /** @type {HTMLInputElement} */ (created.elements.namedItem(`member-${e.user_id}`)).checked).map((e) => e.user_id);
      const allowed = [...institutions.keys()].filter((id) => /** @type {HTMLInputElement} */ (created.elements.namedItem(`inst-${id}`)).checked);
      const ok = validate(created, (f) => {
        /** @type {Array<[string, string]>} */
        const problems = [];
        if ((value === 'working_group' || value === 'practice_session') && !valueOf(f, 'name')) problems.push(['name', 'Donnez un nom au canal.']);
        if (value === 'direct' && members.length !== 1) problems.push(['kind', 'Une conversation directe réunit exactement deux personnes : cochez un seul membre.']);
        if (value === 'practice_session' && (!valueOf(f, 'starts_at') || !valueOf(f, 'ends_at'))) problems.push(['starts_at', 'Indiquez le début et la fin de la séance.']);
        if (value === 'case' && valueOf(f, 'programme') === 'youth_exposed_to_delinquency' && twentyFifthBirthday(valueOf(f, 'birth_month')) === null) {
          problems.push(['birth_month', 'Indiquez le mois de naissance de la personne (les 25 dernières années) : le dossier sera détruit au plus tard à ses 25 ans.']);
        }
        if (value === 'case' && valueOf(f, 'programme') === 'youth_exposed_to_delinquency') problems.push(...schemeProblems(f));
        return problems;
      });
      if (!ok) return;
      const regimeValue = value === 'direct' ? 'clspd_confidential' : valueOf(created, 'regime');
      const groupId = valueOf(created, 'group_id') || null;
      memberError.hidden = true;
      for (const box of memberBox.querySelectorAll('input[aria-invalid]')) box.removeAttribute('aria-invalid');
      const channel = await whileBusy(created, async () => {
        if (value === 'case') {
          const programmeValue = valueOf(created, 'programme');
          const destroyLimit = programmeValue === 'youth_exposed_to_delinquency' ? twentyFifthBirthday(valueOf(created, 'birth_month')) : null;
          const localScheme = programmeValue === 'youth_exposed_to_delinquency' ? schemeOf(created) : null;
          return (await casesApi.create({ programme: programmeValue, reporting_institution: valueOf(created, 'reporting_institution'), regime: regimeValue, group_id: groupId, institutions: allowed, members, destroy_limit: destroyLimit, scheme: localScheme })).channel;
        }
        if (value === 'practice_session') {
          return (
            await casesApi.createPracticeSession({
              name: valueOf(created, 'name'),
              starts_at: new Date(valueOf(created, 'starts_at')).getTime(),
              ends_at: new Date(valueOf(created, 'ends_at')).getTime(),
              group_id: groupId,
              institutions: allowed,
              members,
            })
          ).channel;
        }
        const made = await channelsApi.create({
          kind: /** @type {'working_group' | 'direct'} */ (value),
          name: value === 'direct' ? '' : valueOf(created, 'name'),
          regime: regimeValue,
          institutions: allowed,
          members,
        });
        if (value === 'working_group' && /** @type {HTMLInputElement} */ (created.elements.namedItem('publish_rules')).checked) {
          await channelsApi.publishRules(made.id, RULES_TEMPLATE);
        }
        return made;
      }, (error) => {
        const entry = error.about ? directory.find((e) => e.user_id === error.about) : undefined;
        if (!entry) return false;
        const message = `${entry.display_name} (${entry.institution.name}) ne peut pas rejoindre ce canal : ${error.message}`;
        memberError.textContent = message;
        memberError.hidden = false;
        const box = /** @type {HTMLInputElement} */ (created.elements.namedItem(`member-${entry.user_id}`));
        box.setAttribute('aria-invalid', 'true');
        box.setAttribute('aria-describedby', memberError.id);
        showError(message);
        box.focus();
        return true;
      });
      if (!channel) return;
      if (channel.kind === 'case') offerNoticeOnOpen(channel.id);
      shell.navigate(`/canal/${channel.id}`);
      showStatus(channel.kind === 'case' ? `Dossier ${channel.name} créé.` : `Canal « ${channel.name || 'conversation directe'} » créé.`);
    });
    return created;
  }
}

/**
 * A day chosen in an input of type date, as the server stores days: midnight UTC.
 * @param {string} day « AAAA-MM-JJ »
 * @returns {number | null}
 */
function dayOf(day) {
  const time = Date.parse(`${day}T00:00:00Z`);
  return Number.isNaN(time) ? null : time;
}

/**
 * What is missing or inconsistent in the local scheme's fields, next to each field.
 * @param {HTMLFormElement} f
 * @returns {Array<[string, string]>}
 */
function schemeProblems(f) {
  /** @type {Array<[string, string]>} */
  const problems = [];
  const chosen = valueOf(f, 'scheme');
  const period = (/** @type {string} */ from, /** @type {string} */ until, /** @type {number} */ maxDays, /** @type {string} */ tooLong) => {
    const first = dayOf(valueOf(f, from));
    const last = dayOf(valueOf(f, until));
    if (first === null) problems.push([from, 'Indiquez le premier jour.']);
    if (last === null) problems.push([until, 'Indiquez le dernier jour.']);
    if (first !== null && last !== null && last < first) problems.push([until, 'Le dernier jour doit suivre le premier.']);
    else if (first !== null && last !== null && last - first > (maxDays - 1) * 86_400_000) problems.push([until, tooLong]);
  };
  if (chosen === 'acte') {
    if (!valueOf(f, 'acte_school')) problems.push(['acte_school', 'Choisissez le collège qui oriente l’élève.']);
    if (!valueOf(f, 'acte_host')) problems.push(['acte_host', 'Choisissez la structure qui accueille l’élève.']);
    else if (valueOf(f, 'acte_host') === valueOf(f, 'acte_school')) problems.push(['acte_host', 'La structure d’accueil doit être différente du collège.']);
    period('acte_from', 'acte_until', 14, 'Une exclusion temporaire dure au plus 14 jours de calendrier.');
  }
  if (chosen === 'chantier_educatif') period('chantier_from', 'chantier_until', 366, 'Un chantier éducatif dure au plus un an.');
  return problems;
}

/**
 * The local scheme of the form (CreateCase.scheme), or null.
 * @param {HTMLFormElement} f
 * @returns {import('../types.js').LocalScheme | null}
 */
function schemeOf(f) {
  const chosen = valueOf(f, 'scheme');
  if (chosen === 'acte') {
    return {
      kind: 'acte',
      school_institution: valueOf(f, 'acte_school'),
      excluded_from: dayOf(valueOf(f, 'acte_from')) ?? 0,
      excluded_until: dayOf(valueOf(f, 'acte_until')) ?? 0,
      host_institution: valueOf(f, 'acte_host'),
    };
  }
  if (chosen === 'chantier_educatif') {
    return { kind: 'chantier_educatif', starts_on: dayOf(valueOf(f, 'chantier_from')) ?? 0, ends_on: dayOf(valueOf(f, 'chantier_until')) ?? 0 };
  }
  return null;
}

/**
 * The destruction limit of a youth-programme case (CHARTER.md C11): the first day of the
 * month the person turns 25, in UTC — the earliest their birthday can fall, so the case
 * never outlives it. Null for a month that is missing, in the future, or 25 years ago or
 * more (the person is already 25).
 * @param {string} month « AAAA-MM », from an input of type month.
 * @returns {number | null}
 */
export function twentyFifthBirthday(month) {
  const match = /^(\d{4})-(\d{2})$/.exec(month);
  if (!match) return null;
  const year = Number(match[1]);
  const index = Number(match[2]) - 1;
  if (index < 0 || index > 11) return null;
  const born = Date.UTC(year, index, 1);
  const limit = Date.UTC(year + 25, index, 1);
  const now = Date.now();
  return born <= now && limit > now ? limit : null;
}
