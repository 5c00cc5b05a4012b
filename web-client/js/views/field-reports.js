// The mediators' field reports (docs/PROTOCOL.md §16): « Signaler » for a mediator (place,
// category, date, description, photo), and the list of reports with their status — the
// mediator's own, or those addressed to a professional's groups, who take them in charge
// and answer. The place, the description, the photo and the answer are sealed for the
// group on this device: the server never reads them (reports filed before places were
// sealed keep their clear place).

import { channels as channelsApi, fieldReports as reportsApi } from '../api.js';
import { openPlace, sealPlace } from '../channel-titles.js';
import * as c from '../crypto.js';
import { h, replace, screenTitle, uid } from '../dom.js';
import { field, form, selectField, validate, valueOf, whileBusy } from '../forms.js';
import { FIELD_REPORT_CATEGORY_LABELS, FIELD_REPORT_STATUS_LABELS, formatDate, formatDateTime } from '../labels.js';
import { showError, showStatus } from '../notices.js';
import { messengerFor } from './messaging.js';

const CATEGORY_LABELS = FIELD_REPORT_CATEGORY_LABELS;
const STATUS_LABELS = FIELD_REPORT_STATUS_LABELS;

/** Longest place, as the sealing client checks it (the server cannot read it). */
const MAX_PLACE_CHARS = 120;

/** @param {string} value « AAAA-MM-JJ » → unix ms at local noon, never in the future. */
const dayToMs = (value) => Math.min(new Date(`${value}T12:00:00`).getTime(), Date.now());

/** @param {number} ms */
const msToDay = (ms) => {
  const date = new Date(ms);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
};

/**
 * A labelled text area.
 * @param {{ label: string, name: string, hint?: string, required?: boolean }} options
 */
function textArea(options) {
  const id = uid(`champ-${options.name}`);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, options.label),
    options.hint ? h('p', { class: 'hint', id: `${id}-aide` }, options.hint) : null,
    h('textarea', { id, name: options.name, rows: 4, class: 'textarea', required: options.required ?? false, 'aria-describedby': options.hint ? `${id}-aide` : undefined }),
  );
}

/**
 * The field reports screen.
 * @param {HTMLElement} screen
 * @param {import('../types.js').UserShell} shell
 */
export function renderFieldReports(screen, shell) {
  const messenger = messengerFor(shell);
  if (!messenger) {
    shell.navigate('/appareil', { replace: true });
    return;
  }
  const active = messenger;
  const keyring = active.keyring;
  // Mediators are external accounts: they file, the professionals of the group answer.
  const reporter = shell.me.role === 'external';
  const list = h('div', { 'aria-live': 'polite', 'data-testid': 'field-report-list' }, h('p', { class: 'loading' }, 'Chargement des signalements…'));
  const formSlot = h('div', {});
  replace(
    screen,
    screenTitle('Signalements de terrain'),
    h(
      'p',
      { class: 'hint' },
      reporter
        ? 'Signalez ce que vous observez sur le terrain à l’un de vos groupes : un lieu, jamais le nom d’une personne. La description et la photo sont chiffrées pour les membres du groupe.'
        : 'Les signalements des médiateurs adressés à vos groupes : prenez-les en charge, puis répondez quand ils sont traités.',
    ),
    formSlot,
    h('h2', {}, reporter ? 'Vos signalements' : 'Signalements reçus'),
    list,
  );

  /**
   * Seals a content for a group's current epoch (creating it when needed).
   * @param {string} groupId
   * @param {{ text: string, reply_to: null, attachments: any[] }} content
   */
  async function seal(groupId, content) {
    const epoch = await active.ensureEpoch(groupId);
    return keyring.seal(groupId, epoch, c.uuid(), content);
  }

  async function reportForm() {
    const groups = (await channelsApi.list()).filter((ch) => ch.kind === 'working_group' && ch.status === 'active');
    if (groups.length === 0) {
      replace(formSlot, h('p', { class: 'notice' }, 'Vous n’êtes membre d’aucun groupe de travail : demandez à la coordination du CLSPD de vous y ajouter pour pouvoir signaler.'));
      return;
    }
    const photo = h('input', { type: 'file', name: 'photo', accept: 'image/*', id: uid('champ-photo') });
    const report = form(
      { class: 'grid-form', 'aria-label': 'Signaler' },
      selectField({ label: 'Groupe destinataire', name: 'group_id', required: true, options: groups.map((g) => ({ value: g.id, label: g.name })) }),
      selectField({ label: 'Catégorie', name: 'category', required: true, options: Object.entries(CATEGORY_LABELS).map(([value, label]) => ({ value, label })) }),
      field({ label: 'Lieu', name: 'place', required: true, maxlength: MAX_PLACE_CHARS, hint: 'Une rue, un bâtiment, une entrée : jamais le nom d’une personne.' }),
      field({ label: 'Date de l’observation', name: 'observed_at', type: 'date', required: true, value: msToDay(Date.now()) }),
      textArea({ label: 'Description', name: 'description', required: true, hint: 'Chiffrée pour les membres du groupe : le serveur ne la lit pas.' }),
      h('div', { class: 'field' }, h('label', { for: photo.id }, 'Photo (facultatif)'), photo),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Envoyer le signalement')),
    );
    report.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(report)) return;
      const groupId = valueOf(report, 'group_id');
      const text = /** @type {HTMLTextAreaElement} */ (report.querySelector('textarea')).value.trim();
      const files = [...(/** @type {HTMLInputElement} */ (photo).files ?? [])];
      const filed = await whileBusy(report, async () => {
        const attachments = files.length > 0 ? await active.uploadFiles(groupId, files, () => {}) : [];
        const description = await seal(groupId, { text, reply_to: null, attachments });
        const sealedPlace = await sealPlace(keyring, groupId, description, valueOf(report, 'place').trim());
        return reportsApi.file({
          group_id: groupId,
          category: valueOf(report, 'category'),
          sealed_place: sealedPlace,
          observed_at: dayToMs(valueOf(report, 'observed_at')),
          description,
        });
      });
      if (!filed) return;
      report.reset();
      showStatus('Signalement envoyé au groupe.');
      await load();
    });
    replace(formSlot, h('details', { class: 'disclosure', open: true }, h('summary', {}, 'Signaler'), report));
  }

  /**
   * Decrypts a sealed text of a report as a message of its group.
   * @param {any} report
   * @param {string} sender
   * @param {object} envelope
   */
  async function open(report, sender, envelope) {
    const opened = await keyring.open({ channel_id: report.group_id, seq: 0, sender, envelope, ts: report.filed_at });
    return opened.content;
  }

  /**
   * Appends the report's description, and its photos behind a button, to `body`.
   * @param {HTMLElement} body
   * @param {any} report
   */
  async function describe(body, report) {
    if (!report.description) {
      body.append(h('p', { class: 'hint', 'data-testid': 'field-report-description' }, 'Signalement d’exemple de la démonstration : sans description.'));
      return;
    }
    try {
      const content = await open(report, report.author, report.description);
      body.append(h('p', { 'data-testid': 'field-report-description' }, content.text));
      for (const attachment of content.attachments) {
        const show = h('button', { type: 'button', class: 'button button-small button-secondary' }, `Voir la photo « ${attachment.name} »`);
        show.addEventListener('click', async () => {
          try {
            // Decrypted here, shown from memory: the photo never leaves this page.
            const blob = await active.fetchAttachment(attachment, () => {});
            show.replaceWith(h('img', { src: URL.createObjectURL(blob), alt: `Photo jointe : ${attachment.name}`, class: 'attachment-preview' }));
          } catch (error) {
            showError(error instanceof Error && 'status' in error ? error.message : 'La photo n’a pas pu être déchiffrée : elle a peut-être été altérée.');
          }
        });
        body.append(show);
      }
    } catch {
      body.append(h('p', { class: 'hint' }, 'Description illisible sur cet appareil (clé du groupe manquante).'));
    }
  }

  /** @param {any} report */
  async function card(report) {
    const place = await openPlace(keyring, report).catch(() => 'lieu illisible sur cet appareil');
    const body = h('div', { class: 'field-report-body' });
    await describe(body, report);
    if (report.answer && report.answered_by) {
      let answer = 'Réponse illisible sur cet appareil.';
      try {
        answer = (await open(report, report.answered_by, report.answer)).text;
      } catch {
        // Shown as unreadable.
      }
      body.append(h('p', { class: 'field-report-answer', 'data-testid': 'field-report-answer' }, h('strong', {}, 'Réponse : '), answer));
    }
    const actions = h('div', { class: 'actions' });
    if (!reporter && report.status === 'new') {
      const take = h('button', { type: 'button', class: 'button' }, 'Prendre en charge');
      take.addEventListener('click', async () => {
        const taken = await whileBusy(take, () => reportsApi.update(report.id, { status: 'in_progress' }));
        if (!taken) return;
        showStatus('Signalement pris en charge.');
        await load();
      });
      actions.append(take);
    }
    if (!reporter && report.status === 'in_progress') {
      const answerForm = form(
        { class: 'grid-form', 'aria-label': 'Répondre au signalement' },
        textArea({ label: 'Réponse au médiateur', name: 'answer', required: true, hint: 'Ce qui a été fait ou prévu ; chiffrée pour le groupe.' }),
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Marquer comme traité')),
      );
      answerForm.addEventListener('submit', async (event) => {
        event.preventDefault();
        if (!validate(answerForm)) return;
        const text = /** @type {HTMLTextAreaElement} */ (answerForm.querySelector('textarea')).value.trim();
        const done = await whileBusy(answerForm, async () => {
          const answer = await seal(report.group_id, { text, reply_to: null, attachments: [] });
          return reportsApi.update(report.id, { status: 'done', answer });
        });
        if (!done) return;
        showStatus('Signalement traité : la réponse est envoyée au médiateur.');
        await load();
      });
      actions.append(answerForm);
    }
    return h(
      'article',
      { class: 'card field-report', 'data-testid': 'field-report', 'data-status': report.status },
      h(
        'h3',
        {},
        `${CATEGORY_LABELS[/** @type {keyof typeof CATEGORY_LABELS} */ (report.category)] ?? report.category} — ${place}`,
      ),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Statut'),
        h('dd', { 'data-testid': 'field-report-status' }, STATUS_LABELS[/** @type {keyof typeof STATUS_LABELS} */ (report.status)] ?? report.status),
        h('dt', {}, 'Observé le'),
        h('dd', {}, formatDate(report.observed_at)),
        h('dt', {}, 'Groupe'),
        h('dd', {}, report.group_name),
        h('dt', {}, 'Signalé par'),
        h('dd', {}, `${report.author_name}, le ${formatDateTime(report.filed_at)}`),
        report.handled_by_name ? h('dt', {}, 'Pris en charge par') : null,
        report.handled_by_name ? h('dd', {}, report.handled_by_name) : null,
      ),
      body,
      actions,
    );
  }

  async function load() {
    let reports;
    try {
      reports = await reportsApi.list();
    } catch (error) {
      replace(list, h('p', {}, 'Les signalements n’ont pas pu être chargés.'));
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    if (reports.length === 0) {
      replace(list, h('p', { class: 'empty' }, reporter ? 'Vous n’avez encore envoyé aucun signalement.' : 'Aucun signalement adressé à vos groupes.'));
      return;
    }
    replace(list, ...(await Promise.all(reports.map(card))));
  }

  if (reporter) reportForm().catch((error) => showError(error instanceof Error ? error.message : String(error)));
  load();
}
