// `/reunions`: the meetings of the cellule de veille and of the programmes' groups
// (docs/PROTOCOL.md §18) — the list (à venir / tenues), scheduling one with its agenda of
// situations picked among the group's cases, the meeting screen (attendance, a decision,
// a note and the next review per situation, the minutes, closing), and a printable version.
// Notes and minutes are sealed for the group on this device: the server never reads them.

import { channels as channelsApi, meetings as meetingsApi } from '../api.js';
import * as c from '../crypto.js';
import { h, replace, screenTitle, uid } from '../dom.js';
import { field, form, selectField, validate, valueOf, whileBusy } from '../forms.js';
import { MEETING_DECISION_LABELS, formatDate, formatDateTime } from '../labels.js';
import { showError, showStatus } from '../notices.js';
import { confirmAction } from '../dialog.js';
import { messengerFor } from './messaging.js';

const DECISIONS = MEETING_DECISION_LABELS;

/** Roles that schedule meetings and record what they decide (server/src/policy.rs). */
const ORGANISERS = ['coordinator', 'member'];

/** @param {string} value « AAAA-MM-JJ » → unix ms at local noon. */
const dayToMs = (value) => new Date(`${value}T12:00:00`).getTime();

/** @param {number} ms → « AAAA-MM-JJTHH:MM » for a datetime-local input. */
const msToLocal = (ms) => {
  const date = new Date(ms);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
};

/** @param {string} decision */
const decisionLabel = (decision) => DECISIONS[/** @type {keyof typeof DECISIONS} */ (decision)] ?? decision;

/**
 * A labelled text area.
 * @param {{ label: string, name: string, hint?: string, value?: string, rows?: number }} options
 */
function textArea(options) {
  const id = uid(`champ-${options.name}`);
  const area = h('textarea', { id, name: options.name, rows: options.rows ?? 3, class: 'textarea', 'aria-describedby': options.hint ? `${id}-aide` : undefined });
  area.value = options.value ?? '';
  return h('div', { class: 'field' }, h('label', { for: id }, options.label), options.hint ? h('p', { class: 'hint', id: `${id}-aide` }, options.hint) : null, area);
}

/**
 * The meetings screen.
 * @param {HTMLElement} screen
 * @param {import('../types.js').UserShell} shell
 */
export function renderMeetings(screen, shell) {
  const messenger = messengerFor(shell);
  if (!messenger) {
    shell.navigate('/appareil', { replace: true });
    return;
  }
  const active = messenger;
  const keyring = active.keyring;
  const organiser = ORGANISERS.includes(shell.me.role);
  const body = h('div', { 'aria-live': 'polite' });
  replace(screen, screenTitle('Réunions'), body);

  /**
   * Seals a text for a group's current epoch (creating it when needed).
   * @param {string} groupId
   * @param {string} text
   */
  async function seal(groupId, text) {
    const epoch = await active.ensureEpoch(groupId);
    return keyring.seal(groupId, epoch, c.uuid(), { text, reply_to: null, attachments: [] });
  }

  /**
   * Decrypts a sealed text of a meeting as a message of its group.
   * @param {any} meeting
   * @param {string} sender
   * @param {object} envelope
   * @returns {Promise<string>}
   */
  async function open(meeting, sender, envelope) {
    try {
      const opened = await keyring.open({ channel_id: meeting.group_id, seq: 0, sender, envelope, ts: meeting.scheduled_at });
      return opened.content.text;
    } catch {
      return 'Texte illisible sur cet appareil (clé du groupe manquante).';
    }
  }

  /** @param {any} meeting */
  async function texts(meeting) {
    /** @type {Map<string, string>} */
    const notes = new Map();
    for (const item of meeting.agenda) {
      if (item.note && item.decided_by) notes.set(item.case_id, await open(meeting, item.decided_by, item.note));
    }
    const minutes = meeting.minutes && meeting.minutes_by ? await open(meeting, meeting.minutes_by, meeting.minutes) : '';
    return { notes, minutes };
  }

  // ---- The list and the scheduling form -----------------------------------------------

  async function showList() {
    replace(body, h('p', { class: 'loading' }, 'Chargement des réunions…'));
    let meetings;
    let channels;
    try {
      [meetings, channels] = await Promise.all([meetingsApi.list(), channelsApi.list()]);
      await active.titles.openAll(channels);
    } catch (error) {
      replace(body, h('p', {}, 'Les réunions n’ont pas pu être chargées.'));
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    const upcoming = meetings.filter((m) => m.status === 'scheduled');
    const held = meetings.filter((m) => m.status === 'held').reverse();
    /**
     * @param {string} title
     * @param {any[]} rows
     * @param {string} empty
     */
    const section = (title, rows, empty) => {
      const id = uid('titre-reunions');
      return h(
        'section',
        { 'aria-labelledby': id, 'data-testid': title === 'À venir' ? 'meetings-upcoming' : 'meetings-held' },
        h('h2', { id }, title),
        rows.length
          ? h(
              'ul',
              { class: 'meeting-list' },
              rows.map((meeting) => {
                const openButton = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Ouvrir', h('span', { class: 'visually-hidden' }, ` la réunion du ${formatDateTime(meeting.scheduled_at)}`));
                openButton.addEventListener('click', () => showMeeting(meeting.id));
                return h(
                  'li',
                  { class: 'card meeting-summary', 'data-testid': 'meeting' },
                  h('p', {}, h('strong', {}, meeting.group_name), ` — ${formatDateTime(meeting.scheduled_at)} — ${meeting.agenda.length} situation(s)`),
                  openButton,
                );
              }),
            )
          : h('p', { class: 'empty' }, empty),
      );
    };
    replace(
      body,
      h('p', { class: 'hint' }, 'Les réunions de vos groupes de travail (cellule de veille, groupes des programmes) : l’ordre du jour nomme les situations par leur référence ; les notes et les comptes rendus sont chiffrés pour les membres du groupe.'),
      await rulesToAccept(channels),
      organiser ? scheduleForm(channels) : null,
      section('À venir', upcoming, 'Aucune réunion prévue.'),
      section('Tenues', held, 'Aucune réunion tenue pour l’instant.'),
    );
  }

  /**
   * The groups whose meetings stay hidden until their internal rules are accepted (the
   * charter gate), with the way to accept them: otherwise a meeting waiting in such a
   * group would look missing.
   * @param {import('../types.js').Channel[]} channels
   */
  async function rulesToAccept(channels) {
    const groups = channels.filter((ch) => ch.kind === 'working_group' && ch.status === 'active');
    const statuses = await Promise.all(groups.map((g) => channelsApi.rules(g.id).catch(() => null)));
    const pending = groups.filter((_, i) => {
      const status = statuses[i];
      return status !== null && status.current !== null && status.current !== undefined && status.accepted_version !== status.current.version;
    });
    if (pending.length === 0) return null;
    return h(
      'div',
      { class: 'notice', role: 'status', 'data-testid': 'meetings-rules-pending' },
      h('p', {}, 'Les réunions de ces groupes s’afficheront une fois leur règlement intérieur accepté. Ouvrez le groupe pour le lire et l’accepter :'),
      h('ul', {}, pending.map((g) => h('li', {}, h('a', { href: `/canal/${g.id}` }, g.name)))),
    );
  }

  /** @param {import('../types.js').Channel[]} channels */
  function scheduleForm(channels) {
    const groups = channels.filter((ch) => ch.kind === 'working_group' && ch.status === 'active');
    if (groups.length === 0) return h('p', { class: 'notice' }, 'Vous n’êtes membre d’aucun groupe de travail : une réunion se tient dans un groupe.');
    const cases = channels.filter((ch) => ch.kind === 'case' && ch.status === 'active');
    const groupField = selectField({ label: 'Groupe de travail', name: 'group_id', required: true, options: groups.map((g) => ({ value: g.id, label: g.name })) });
    const groupSelect = /** @type {HTMLSelectElement} */ (groupField.querySelector('select'));
    const agenda = h('fieldset', { class: 'fieldset', 'data-testid': 'meeting-agenda' });
    const fillAgenda = () => {
      // The group's cases; a coordinator may also bring the cases they follow elsewhere.
      const eligible = cases.filter((ch) => ch.group_id === groupSelect.value || shell.me.role === 'coordinator');
      replace(
        agenda,
        h('legend', {}, 'Ordre du jour : situations à examiner'),
        eligible.length
          ? eligible.map((ch) => {
              const id = uid('situation');
              return h('div', { class: 'checkbox' }, h('input', { id, type: 'checkbox', name: 'agenda', value: ch.id }), h('label', { for: id }, `Situation ${active.titles.labelled(ch)}`));
            })
          : h('p', { class: 'hint' }, 'Aucune situation rattachée à ce groupe que vous suivez.'),
      );
    };
    groupSelect.addEventListener('change', fillAgenda);
    fillAgenda();
    const schedule = form(
      { class: 'grid-form', 'aria-label': 'Programmer une réunion' },
      groupField,
      field({ label: 'Date et heure', name: 'scheduled_at', type: 'datetime-local', required: true, value: msToLocal(Date.now() + 3_600_000) }),
      agenda,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Programmer la réunion')),
    );
    schedule.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(schedule)) return;
      const picked = [.../** @type {NodeListOf<HTMLInputElement>} */ (agenda.querySelectorAll('input[name="agenda"]:checked'))].map((box) => box.value);
      if (picked.length === 0) {
        showError('Choisissez au moins une situation pour l’ordre du jour.');
        return;
      }
      const meeting = await whileBusy(schedule, () =>
        meetingsApi.schedule({ group_id: groupSelect.value, scheduled_at: new Date(valueOf(schedule, 'scheduled_at')).getTime(), agenda: picked }),
      );
      if (!meeting) return;
      showStatus('Réunion programmée.');
      await showMeeting(meeting.id);
    });
    return h('details', { class: 'disclosure' }, h('summary', {}, 'Programmer une réunion'), schedule);
  }

  // ---- The meeting screen -------------------------------------------------------------

  /** @param {string} id */
  async function showMeeting(id) {
    replace(body, h('p', { class: 'loading' }, 'Chargement de la réunion…'));
    let meeting;
    let detail;
    /** @type {import('../types.js').Channel[]} */
    let channels = [];
    try {
      meeting = await meetingsApi.get(id);
      [detail, channels] = await Promise.all([channelsApi.detail(meeting.group_id), channelsApi.list()]);
      await active.titles.openAll(channels);
    } catch (error) {
      replace(body, h('p', {}, 'La réunion n’a pas pu être chargée.'));
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    const { notes, minutes } = await texts(meeting);
    const open = meeting.status === 'scheduled';
    const editable = open && organiser;
    const present = new Set(meeting.attendees.map((/** @type {any} */ a) => a.user_id));

    /**
     * Runs a change and shows the meeting as it now stands.
     * @param {HTMLFormElement | HTMLButtonElement} element
     * @param {() => Promise<any>} action
     * @param {string} done
     */
    const change = async (element, action, done) => {
      const result = await whileBusy(element, action);
      if (!result) return;
      await showMeeting(id);
      showStatus(done);
    };

    const attendance = form(
      { class: 'stack', 'aria-label': 'Présences' },
      h(
        'fieldset',
        { class: 'fieldset', disabled: !editable },
        h('legend', {}, 'Présents'),
        detail.members.map((/** @type {any} */ member) => {
          const boxId = uid('present');
          return h(
            'div',
            { class: 'checkbox' },
            h('input', { id: boxId, type: 'checkbox', name: 'present', value: member.user_id, checked: present.has(member.user_id) }),
            h('label', { for: boxId }, `${member.display_name} (${member.institution.name})`),
          );
        }),
      ),
      editable ? h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, 'Enregistrer les présences')) : null,
    );
    attendance.addEventListener('submit', (event) => {
      event.preventDefault();
      const ids = [.../** @type {NodeListOf<HTMLInputElement>} */ (attendance.querySelectorAll('input[name="present"]:checked'))].map((box) => box.value);
      change(attendance, () => meetingsApi.attendance(id, ids), 'Présences enregistrées.');
    });

    /** @param {any} item An agenda item: its case's title when this device opens it. */
    const situationLabel = (item) => {
      const channel = channels.find((ch) => ch.id === item.case_id);
      return channel ? active.titles.labelled(channel) : item.reference;
    };
    /** @type {string[]} */
    const agendaIds = meeting.agenda.map((/** @type {any} */ item) => item.case_id);
    const situations = meeting.agenda.map((/** @type {any} */ item) => {
      const headingId = uid('situation');
      const facts = h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Décision'),
        h('dd', { 'data-testid': 'situation-decision' }, item.decision ? decisionLabel(item.decision) : 'À décider'),
        h('dt', {}, 'Prochaine revue'),
        h('dd', {}, item.next_review_at ? formatDate(item.next_review_at) : '—'),
        notes.has(item.case_id) ? h('dt', {}, 'Note') : null,
        notes.has(item.case_id) ? h('dd', { 'data-testid': 'situation-note', class: 'pre-wrap' }, notes.get(item.case_id)) : null,
      );
      let decide = null;
      if (editable) {
        const decisionForm = form(
          { class: 'grid-form', 'aria-label': `Décision pour la situation ${item.reference}` },
          selectField({
            label: 'Décision',
            name: 'decision',
            required: true,
            value: item.decision ?? '',
            options: [{ value: '', label: 'Choisir…' }, ...Object.entries(DECISIONS).map(([value, label]) => ({ value, label }))],
          }),
          textArea({ label: 'Note (chiffrée pour le groupe)', name: 'note', value: notes.get(item.case_id) ?? '', hint: 'Pas de nom : la situation est désignée par sa référence. 4 000 caractères environ au plus.' }),
          field({ label: 'Prochaine revue', name: 'next_review_at', type: 'date', hint: 'Par défaut, dans la durée maximale entre deux revues.' }),
          h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, 'Enregistrer la décision')),
        );
        decisionForm.addEventListener('submit', (event) => {
          event.preventDefault();
          if (!validate(decisionForm)) return;
          const text = /** @type {HTMLTextAreaElement} */ (decisionForm.querySelector('textarea')).value.trim();
          const review = valueOf(decisionForm, 'next_review_at');
          change(
            decisionForm,
            async () =>
              meetingsApi.decide(id, {
                case_id: item.case_id,
                decision: valueOf(decisionForm, 'decision'),
                ...(text ? { note: await seal(meeting.group_id, text) } : {}),
                ...(review ? { next_review_at: dayToMs(review) } : {}),
              }),
            `Décision enregistrée pour la situation ${item.reference}.`,
          );
        });
        decide = decisionForm;
      }
      // A situation not decided yet may leave the agenda before the meeting closes.
      /** @type {HTMLButtonElement | null} */
      let remove = null;
      if (editable && !item.decision && meeting.agenda.length > 1) {
        const button = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Retirer de l’ordre du jour'));
        remove = button;
        button.addEventListener('click', () =>
          change(
            button,
            () => meetingsApi.changeAgenda(id, agendaIds.filter((caseId) => caseId !== item.case_id)),
            `Situation ${item.reference} retirée de l’ordre du jour.`,
          ),
        );
      }
      return h('section', { class: 'card situation', 'aria-labelledby': headingId, 'data-testid': 'situation', 'data-case': item.reference }, h('h3', { id: headingId }, `Situation ${situationLabel(item)}`), facts, decide, remove);
    });

    // Situations of the group not on the agenda yet (a coordinator may bring the cases
    // they follow elsewhere, as when scheduling).
    const addable = channels.filter(
      (ch) => ch.kind === 'case' && ch.status === 'active' && !agendaIds.includes(ch.id) && (ch.group_id === meeting.group_id || shell.me.role === 'coordinator'),
    );
    let addForm = null;
    if (editable && addable.length > 0) {
      addForm = form(
        { class: 'grid-form', 'aria-label': 'Ajouter une situation à l’ordre du jour' },
        selectField({ label: 'Situation à ajouter', name: 'case_id', required: true, options: addable.map((ch) => ({ value: ch.id, label: `Situation ${active.titles.labelled(ch)}` })) }),
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, 'Ajouter à l’ordre du jour')),
      );
      const added = addForm;
      added.addEventListener('submit', (event) => {
        event.preventDefault();
        const caseId = valueOf(added, 'case_id');
        const name = addable.find((ch) => ch.id === caseId)?.name ?? '';
        change(added, () => meetingsApi.changeAgenda(id, [...agendaIds, caseId]), `Situation ${name} ajoutée à l’ordre du jour.`);
      });
    }

    const minutesForm = form(
      { class: 'stack', 'aria-label': 'Compte rendu' },
      textArea({ label: 'Compte rendu (chiffré pour le groupe)', name: 'minutes', value: minutes, rows: 6 }),
      editable ? h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, 'Enregistrer le compte rendu')) : null,
    );
    const minutesArea = /** @type {HTMLTextAreaElement} */ (minutesForm.querySelector('textarea'));
    minutesArea.readOnly = !editable;
    minutesForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = minutesArea.value.trim();
      if (!text) {
        showError('Écrivez le compte rendu avant de l’enregistrer.');
        return;
      }
      change(minutesForm, async () => meetingsApi.minutes(id, await seal(meeting.group_id, text)), 'Compte rendu enregistré.');
    });

    const actions = h('div', { class: 'actions' });
    if (editable) {
      const close = h('button', { type: 'button', class: 'button' }, 'Clore la réunion');
      close.addEventListener('click', () => change(close, () => meetingsApi.close(id), 'Réunion close : ses décisions sont figées.'));
      actions.append(close);
    }
    if (editable && meeting.agenda.every((/** @type {any} */ item) => !item.decision)) {
      const cancel = h('button', { type: 'button', class: 'button button-secondary' }, 'Annuler la réunion');
      cancel.addEventListener('click', async () => {
        const sure = await confirmAction(
          `Annuler la réunion du ${formatDateTime(meeting.scheduled_at)} ?`,
          'Elle disparaît des réunions du groupe, avec son ordre du jour, les présences et le compte rendu déjà saisis. Le journal des accès garde la trace de l’annulation.',
          'Annuler la réunion',
          'Garder la réunion',
        );
        if (!sure) return;
        const done = await whileBusy(cancel, async () => {
          await meetingsApi.cancel(id);
          return true;
        });
        if (!done) return;
        await showList();
        showStatus('Réunion annulée.');
      });
      actions.append(cancel);
    }
    const printable = h('button', { type: 'button', class: 'button button-secondary' }, 'Version imprimable');
    printable.addEventListener('click', () => showPrintable(meeting, detail, notes, minutes));
    const back = h('button', { type: 'button', class: 'button button-secondary' }, 'Retour aux réunions');
    back.addEventListener('click', () => showList());
    actions.append(printable, back);

    replace(
      body,
      h('h2', {}, `${meeting.group_name} — ${formatDateTime(meeting.scheduled_at)}`),
      h(
        'p',
        { class: 'lead', 'data-testid': 'meeting-status' },
        open ? 'Réunion prévue : présences, décisions et compte rendu peuvent être enregistrés pendant ou après la séance.' : `Réunion tenue et close le ${formatDateTime(meeting.held_at)} : ses décisions ne changent plus.`,
      ),
      h('h3', {}, 'Présences'),
      attendance,
      h('h3', {}, 'Situations examinées'),
      situations,
      addForm,
      h('h3', {}, 'Compte rendu'),
      minutesForm,
      actions,
    );
  }

  // ---- The printable version ----------------------------------------------------------

  /**
   * @param {any} meeting
   * @param {any} detail
   * @param {Map<string, string>} notes
   * @param {string} minutes
   */
  function showPrintable(meeting, detail, notes, minutes) {
    const names = new Map(detail.members.map((/** @type {any} */ m) => [m.user_id, `${m.display_name} (${m.institution.name})`]));
    const print = h('button', { type: 'button', class: 'button' }, 'Imprimer');
    print.addEventListener('click', () => window.print());
    const back = h('button', { type: 'button', class: 'button button-secondary' }, 'Retour à la réunion');
    back.addEventListener('click', () => showMeeting(meeting.id));
    replace(
      body,
      h('div', { class: 'actions no-print' }, print, back),
      h(
        'article',
        { class: 'meeting-print', 'data-testid': 'meeting-print' },
        h('h2', {}, `Compte rendu de réunion — ${meeting.group_name}`),
        h('p', {}, `Réunion du ${formatDateTime(meeting.scheduled_at)} · ${meeting.status === 'held' ? `close le ${formatDateTime(meeting.held_at)}` : 'non close'}`),
        h('p', { class: 'hint' }, 'Document confidentiel (charte du CLSPD) : à ne pas diffuser hors du groupe.'),
        h('h3', {}, 'Présents'),
        meeting.attendees.length
          ? h('ul', {}, meeting.attendees.map((/** @type {any} */ a) => h('li', {}, names.get(a.user_id) ?? a.name)))
          : h('p', {}, 'Présences non renseignées.'),
        h('h3', {}, 'Décisions'),
        h(
          'table',
          { class: 'table meeting-print-table' },
          h('caption', { class: 'visually-hidden' }, 'Décisions par situation'),
          h('thead', {}, h('tr', {}, ['Situation', 'Décision', 'Prochaine revue', 'Note'].map((title) => h('th', { scope: 'col' }, title)))),
          h(
            'tbody',
            {},
            meeting.agenda.map((/** @type {any} */ item) =>
              h(
                'tr',
                {},
                h('th', { scope: 'row' }, item.reference),
                h('td', {}, item.decision ? decisionLabel(item.decision) : 'À décider'),
                h('td', {}, item.next_review_at ? formatDate(item.next_review_at) : '—'),
                h('td', { class: 'pre-wrap' }, notes.get(item.case_id) ?? ''),
              ),
            ),
          ),
        ),
        h('h3', {}, 'Compte rendu'),
        h('p', { class: 'pre-wrap', 'data-testid': 'meeting-print-minutes' }, minutes || 'Aucun compte rendu.'),
      ),
    );
  }

  showList();
}
