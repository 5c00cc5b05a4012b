// Modal dialogs on the native <dialog> element: it traps focus, closes on Escape and
// gives focus back to the opener by itself, which a hand-made overlay would have to redo.

import { h, uid } from './dom.js';
import { fr } from './typography.js';

/**
 * @typedef {object} DialogOptions
 * @property {string} title
 * @property {(Node | string)[]} body Text, or fields when the dialog is a small form.
 * @property {string} confirmLabel
 * @property {boolean} [danger] The confirm button leaks or destroys something: it is styled
 *   as such, the safe button has the focus when the dialog opens, and Enter never confirms
 *   (a second Enter, pressed out of habit, must not send or delete anything). Such a
 *   dialog is confirmed by a click, or by Space on its button.
 * @property {string} [cancelLabel] The safe button's label (default « Annuler »).
 * @property {(form: HTMLFormElement) => boolean} [check] Runs before closing; false keeps it open.
 */

/**
 * Opens a modal dialog and waits for the answer.
 * @param {DialogOptions} options
 * @returns {Promise<HTMLFormElement | null>} the dialog's form when confirmed, null when cancelled
 */
export function openDialog(options) {
  const titleId = uid('dialogue-titre');
  const cancel = h(
    'button',
    { type: 'button', class: 'button button-secondary', autofocus: options.danger },
    fr(options.cancelLabel ?? 'Annuler'),
  );
  const form = h(
    'form',
    { novalidate: true },
    h('h2', { id: titleId }, fr(options.title)),
    ...options.body.map((part) => (typeof part === 'string' ? h('p', {}, fr(part)) : part)),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: options.danger ? 'button button-danger' : 'button' }, fr(options.confirmLabel)),
      cancel,
    ),
  );
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId }, form);
  document.body.append(dialog);
  return new Promise((resolve) => {
    /** @type {HTMLFormElement | null} */
    let answer = null;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (options.check && !options.check(form)) return;
      answer = form;
      dialog.close();
    });
    cancel.addEventListener('click', () => dialog.close());
    if (options.danger) {
      // Enter on a field submits the form implicitly, and Enter on the confirm button
      // clicks it: both are stopped; Enter on the safe button still cancels.
      form.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && event.target !== cancel && !(event.target instanceof HTMLTextAreaElement)) {
          event.preventDefault();
        }
      });
    }
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    dialog.showModal();
    if (options.danger) cancel.focus();
  });
}

/**
 * Asks to confirm a consequential action; the safe answer is the default (see `danger`).
 * @param {string} title A question: « Désactiver le compte de … ? »
 * @param {string} explanation What will happen.
 * @param {string} confirmLabel The action's verb.
 * @param {string} [cancelLabel] The safe answer, when « Annuler » says it less well.
 * @returns {Promise<boolean>}
 */
export async function confirmAction(title, explanation, confirmLabel, cancelLabel) {
  return (await openDialog({ title, body: [explanation], confirmLabel, cancelLabel, danger: true })) !== null;
}
