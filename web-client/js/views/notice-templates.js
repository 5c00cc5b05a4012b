// « Informer la personne » on a case's record (CHARTER.md C13): the notice templates the
// server offers, one chosen, its text shown with the passages to complete between
// brackets (the case's reference already filled in), to copy or print. Offered open right
// after the case is created; how and when the person was informed is then recorded below.

import { cases as casesApi } from '../api.js';
import { h, replace, uid } from '../dom.js';
import { selectField } from '../forms.js';
import { showError, showStatus } from '../notices.js';

/** @typedef {{ id: string, title: string, audience: string, text: string }} NoticeTemplate */

/** Cases created in this tab whose record opens on the templates. */
const justOpened = new Set();

/**
 * Asks the record of `caseId` to offer the templates open, once: the case was just created.
 * @param {string} caseId
 */
export function offerNoticeOnOpen(caseId) {
  justOpened.add(caseId);
}

/**
 * Whether the case was just created here (and forgets it).
 * @param {string} caseId
 */
export function takeJustOpened(caseId) {
  return justOpened.delete(caseId);
}

/**
 * The template's text, with what the screen knows filled in.
 * @param {NoticeTemplate} template
 * @param {string} reference
 */
export function fillTemplate(template, reference) {
  return template.text.replaceAll('[référence du dossier]', reference);
}

/**
 * @param {any} view The CaseView.
 * @param {boolean} open Shown open (the case was just created).
 * @returns {HTMLElement}
 */
export function noticeSection(view, open) {
  const area = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading' }, 'Chargement des modèles…'));
  const section = h(
    'details',
    { class: 'disclosure notice-templates', open, 'data-testid': 'notice-templates' },
    h('summary', {}, 'Informer la personne : modèles de notice'),
    h('p', { class: 'hint' }, 'La charte (C13) demande d’informer la personne, ou ses représentants légaux, de l’échange d’informations la concernant. Choisissez un modèle, complétez les passages entre crochets, puis notez ci-dessous quand et comment elle a été informée.'),
    area,
  );
  casesApi
    .noticeTemplates()
    .then((templates) => replace(area, ...chooser(templates, view.channel?.name ?? '')))
    .catch((error) => {
      replace(area, h('p', {}, 'Les modèles n’ont pas pu être chargés.'));
      showError(error instanceof Error ? error.message : String(error));
    });
  return section;
}

/**
 * @param {NoticeTemplate[]} templates
 * @param {string} reference
 * @returns {HTMLElement[]}
 */
function chooser(templates, reference) {
  const pick = selectField({ label: 'Modèle de notice', name: 'notice_template', options: templates.map((t) => ({ value: t.id, label: t.title })) });
  const select = /** @type {HTMLSelectElement} */ (pick.querySelector('select'));
  const textId = uid('notice-texte');
  const text = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: textId, class: 'notice-text', rows: 14, readonly: true, 'aria-label': 'Texte du modèle' }));
  const printable = h('div', { class: 'notice-print', 'data-testid': 'notice-print' });
  const show = () => {
    const template = templates.find((t) => t.id === select.value) ?? templates[0];
    if (!template) return;
    text.value = fillTemplate(template, reference);
    replace(printable, ...text.value.split('\n\n').map((paragraph) => h('p', {}, paragraph.replace(/^# /, ''))));
  };
  select.addEventListener('change', show);
  show();
  const copy = h('button', { type: 'button', class: 'button button-secondary' }, 'Copier le texte');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text.value);
      showStatus('Texte du modèle copié : collez-le dans votre courrier et complétez les passages entre crochets.');
    } catch {
      text.focus();
      text.select();
      showStatus('Texte sélectionné : copiez-le avec Ctrl+C (ou ⌘+C).');
    }
  });
  const print = h('button', { type: 'button', class: 'button button-secondary' }, 'Imprimer');
  print.addEventListener('click', () => {
    document.body.classList.add('printing-notice');
    window.addEventListener('afterprint', () => document.body.classList.remove('printing-notice'), { once: true });
    window.print();
  });
  return [pick, h('label', { for: textId }, 'Texte, passages à compléter entre crochets'), text, h('div', { class: 'actions' }, copy, print), printable];
}
