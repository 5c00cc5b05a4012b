// Modal dialogs on the native <dialog> element: it traps focus, closes on Escape and
// gives focus back to the opener by itself, which a hand-made overlay would have to redo.

import { h, uid } from './dom.js';

/**
 * @typedef {object} DialogOptions
 * @property {string} title
 * @property {(Node | string)[]} body Text, or fields when the dialog is a small form.
 * @property {string} confirmLabel
 * @property {boolean} [danger] Styles the confirm button as a destructive action.
 * @property {(form: HTMLFormElement) => boolean} [check] Runs before closing; false keeps it open.
 */

/**
 * Opens a modal dialog and waits for the answer.
 * @param {DialogOptions} options
 * @returns {Promise<HTMLFormElement | null>} the dialog's form when confirmed, null when cancelled
 */
export function openDialog(options) {
  const titleId = uid('dialogue-titre');
  const cancel = h('button', { type: 'button', class: 'button button-secondary' }, 'Annuler');
  const form = h(
    'form',
    { novalidate: true },
    h('h2', { id: titleId }, options.title),
    ...options.body.map((part) => (typeof part === 'string' ? h('p', {}, part) : part)),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: options.danger ? 'button button-danger' : 'button' }, options.confirmLabel),
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
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    dialog.showModal();
  });
}

/**
 * Asks to confirm a consequential action.
 * @param {string} title A question: « Désactiver le compte de … ? »
 * @param {string} explanation What will happen.
 * @param {string} confirmLabel The action's verb.
 * @returns {Promise<boolean>}
 */
export async function confirmAction(title, explanation, confirmLabel) {
  return (await openDialog({ title, body: [explanation], confirmLabel, danger: true })) !== null;
}
