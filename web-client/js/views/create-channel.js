// Coordinators create channels: a working group, a case (named by a random reference,
// closed lists only, CHARTER.md C7–C8), a practice-analysis session (anonymous, time-
// bound, C9) or a direct conversation. Members come from the directory. The title of a
// case or a session is sealed here for its members (docs/PROTOCOL.md §24): the server
// keeps ciphertext and shows a reference; a group's name is institutional, in clear.

import { cases as casesApi, channels as channelsApi } from '../api.js';
import { append, h, replace, screenTitle, uid } from '../dom.js';
import { confirmAction } from '../dialog.js';
import { checkboxField, control, field, form, selectField, validate, valueOf, whileBusy } from '../forms.js';
import { findPersonalData } from '../privacy.js';
import { rememberBirthMonth } from './case-identity.js';
import { offerNoticeOnOpen } from './notice-templates.js';
import { showError, showStatus } from '../notices.js';
import { RULES_TEMPLATE } from './charter.js';
import { REGIME_LABELS, messengerFor } from './messaging.js';
import { currentKeyring } from '../session.js';
import { YOUTH_PROGRAMME, destroyLimitOf, schemeOf, youthFields, youthProblems } from './youth-fields.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').DirectoryEntry} DirectoryEntry */

const PROGRAMMES = [
  { value: 'youth_exposed_to_delinquency', label: 'Jeunes exposés à la délinquance' },
  { value: 'violence_against_women_and_domestic_violence', label: 'Violences faites aux femmes, violences intrafamiliales et aide aux victimes' },
  { value: 'public_tranquillity', label: 'Tranquillité publique' },
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
  const groupOnly = shell.me.role !== 'coordinator';
  append(screen, screenTitle('Créer un canal'), h('p', { class: 'lead' }, 'Chaque canal a ses membres nommés, une liste d’institutions autorisées et un régime juridique. Les membres sont affichés par institution.'), area);
  Promise.all([channelsApi.directory(), channelsApi.list(), channelsApi.institutions()])
    .then(([directory, mine, all]) => {
      const groups = mine.filter((c) => c.kind === 'working_group' && c.status === 'active');
      // A member named coordinator of working groups opens cases and sessions there only.
      const coordinated = shell.me.coordinated_groups ?? [];
      replace(area, buildForm(directory.filter((e) => e.user_id !== shell.me.id), groupOnly ? groups.filter((g) => coordinated.includes(g.id)) : groups, all));
    })
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
    const kinds = groupOnly ? KINDS.filter((k) => k.value === 'case' || k.value === 'practice_session') : KINDS;
    const kind = selectField({
      label: 'Type de canal',
      name: 'kind',
      options: kinds,
      value: kinds[0].value,
      required: true,
      hint: groupOnly ? 'Coordinateur de groupe, vous ouvrez des dossiers et des séances dans les groupes que vous coordonnez.' : undefined,
    });
    const name = field({ label: 'Nom', name: 'name', maxlength: 120, hint: 'Un thème, jamais le nom d’une personne. Le nom d’un groupe est institutionnel (en clair) ; le titre d’un dossier (facultatif) ou d’une séance est chiffré pour ses membres, le serveur n’en voit qu’une référence.' });
    const regime = selectField({ label: 'Régime juridique', name: 'regime', required: true, options: Object.entries(REGIME_LABELS).map(([value, label]) => ({ value, label })) });
    const programme = selectField({ label: 'Programme', name: 'programme', options: PROGRAMMES });
    const institutionOptions = everyInstitution.map((i) => ({ value: i.id, label: i.name }));
    const youthBox = youthFields(institutionOptions);
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
    const created = form({ class: 'stack card' }, kind, name, regime, programme, ...youthBox.elements, reporting, group, startsAt, endsAt, instBox, memberBox, publishRules, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Créer le canal')));

    const show = () => {
      const value = control(created, 'kind').value;
      name.hidden = value === 'direct';
      programme.hidden = value !== 'case';
      youthBox.show(created, value === 'case' && control(created, 'programme').value === YOUTH_PROGRAMME);
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
        if (value === 'case' && valueOf(f, 'programme') === YOUTH_PROGRAMME) problems.push(...youthProblems(f));
        if (groupOnly && !valueOf(f, 'group_id')) problems.push(['group_id', 'Choisissez un groupe que vous coordonnez : le dossier ou la séance y est rattaché.']);
        return problems;
      });
      if (!ok) return;
      // The anonymity reminder on a sealed title: the server cannot check what it cannot read.
      const title = value === 'case' || value === 'practice_session' ? valueOf(created, 'name').trim() : '';
      const findings = findPersonalData(title);
      if (
        findings.length > 0 &&
        !(await confirmAction(
          'Ce titre semble identifier une personne',
          `Un titre ne nomme jamais la personne (charte, C7 à C9). Il paraît contenir : ${findings.map((f) => `${f.label} (« ${f.excerpt} »)`).join(' ; ')}. Reformulez-le, ou confirmez s’il s’agit d’une fausse alerte.`,
          'Créer quand même',
          'Modifier le titre',
        ))
      ) {
        control(created, 'name').focus();
        return;
      }
      const messenger = title ? messengerFor(shell) : null;
      if (title && !messenger) {
        showError('Le titre est chiffré par cet appareil : activez d’abord le chiffrement (Paramètres).');
        return;
      }
      const regimeValue = value === 'direct' ? 'clspd_confidential' : valueOf(created, 'regime');
      const groupId = valueOf(created, 'group_id') || null;
      memberError.hidden = true;
      for (const box of memberBox.querySelectorAll('input[aria-invalid]')) box.removeAttribute('aria-invalid');
      const channel = await whileBusy(created, async () => {
        if (value === 'case') {
          const programmeValue = valueOf(created, 'programme');
          const destroyLimit = programmeValue === YOUTH_PROGRAMME ? destroyLimitOf(created) : null;
          const localScheme = programmeValue === YOUTH_PROGRAMME ? schemeOf(created) : null;
          return (await casesApi.create({ programme: programmeValue, reporting_institution: valueOf(created, 'reporting_institution'), regime: regimeValue, group_id: groupId, institutions: allowed, members, destroy_limit: destroyLimit, scheme: localScheme })).channel;
        }
        if (value === 'practice_session') {
          return (
            await casesApi.createPracticeSession({
              name: '',
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
      // The channel's signed membership log starts here (§22); if it cannot, the first
      // signed change starts it.
      await currentKeyring()?.signMembershipChange(channel.id, null).catch(() => null);
      let shown = channel.name;
      if (title && messenger) {
        try {
          await messenger.titles.seal(channel.id, title);
          shown = title;
        } catch (error) {
          showError(`Le canal est créé sous la référence ${channel.name}, mais son titre n’a pas pu être chiffré : ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      if (channel.kind === 'case') offerNoticeOnOpen(channel.id);
      if (channel.kind === 'case' && valueOf(created, 'programme') === YOUTH_PROGRAMME) rememberBirthMonth(channel.id, valueOf(created, 'birth_month'));
      shell.navigate(`/canal/${channel.id}`);
      showStatus(channel.kind === 'case' ? `Dossier ${shown === channel.name ? shown : `« ${shown} » (${channel.name})`} créé.` : `Canal « ${shown || 'conversation directe'} » créé.`);
    });
    return created;
  }
}
