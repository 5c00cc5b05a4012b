// Form building blocks: labelled fields with hints and error texts wired through
// aria-describedby, French validation (the browser's own bubbles would speak the
// browser's language, and vanish), and a busy state while a request runs.

import { ApiError, messageFor } from './api.js';
import { h, uid } from './dom.js';
import { clearNotices, showError } from './notices.js';
import { fr } from './typography.js';

/**
 * @typedef {object} FieldOptions
 * @property {string} label
 * @property {string} name
 * @property {string} [type] Defaults to `text`.
 * @property {string} [hint] Shown under the label and read with the field.
 * @property {boolean} [required]
 * @property {string} [autocomplete]
 * @property {string} [inputmode]
 * @property {string} [value]
 * @property {number} [maxlength]
 * @property {string} [pattern] Checked by {@link validate}, with `patternMessage`.
 * @property {string} [patternMessage]
 * @property {boolean} [spellcheck]
 */

/**
 * A labelled text input.
 * @param {FieldOptions} options
 * @returns {HTMLDivElement}
 */
export function field(options) {
  const id = uid(`champ-${options.name}`);
  const hintId = `${id}-aide`;
  const errorId = `${id}-erreur`;
  const input = h('input', {
    id,
    name: options.name,
    type: options.type ?? 'text',
    required: options.required ?? false,
    autocomplete: options.autocomplete,
    inputmode: options.inputmode,
    maxlength: options.maxlength,
    'data-pattern': options.pattern,
    'data-pattern-message': options.patternMessage,
    spellcheck: options.spellcheck === false ? 'false' : undefined,
    autocapitalize: options.spellcheck === false ? 'none' : undefined,
    'aria-describedby': [options.hint ? hintId : '', errorId].join(' ').trim(),
  });
  if (options.value !== undefined) input.value = options.value;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, fr(options.label), options.required ? requiredMark() : null),
    options.hint ? h('p', { class: 'hint', id: hintId }, fr(options.hint)) : null,
    h('p', { class: 'field-error', id: errorId, hidden: true }),
    input,
  );
}

/**
 * A labelled select.
 * @param {{ label: string, name: string, options: { value: string, label: string }[], hint?: string, required?: boolean, value?: string }} options
 * @returns {HTMLDivElement}
 */
export function selectField(options) {
  const id = uid(`champ-${options.name}`);
  const hintId = `${id}-aide`;
  const errorId = `${id}-erreur`;
  const select = h(
    'select',
    {
      id,
      name: options.name,
      required: options.required ?? false,
      'aria-describedby': [options.hint ? hintId : '', errorId].join(' ').trim(),
    },
    options.options.map((option) =>
      h('option', { value: option.value, selected: option.value === options.value }, option.label),
    ),
  );
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, fr(options.label), options.required ? requiredMark() : null),
    options.hint ? h('p', { class: 'hint', id: hintId }, fr(options.hint)) : null,
    h('p', { class: 'field-error', id: errorId, hidden: true }),
    select,
  );
}

/**
 * A checkbox with its label and an optional hint.
 * @param {{ label: string, name: string, hint?: string, checked?: boolean }} options
 * @returns {HTMLDivElement}
 */
export function checkboxField(options) {
  const id = uid(`case-${options.name}`);
  const hintId = `${id}-aide`;
  return h(
    'div',
    { class: 'checkbox' },
    h('input', {
      id,
      type: 'checkbox',
      name: options.name,
      checked: options.checked ?? false,
      'aria-describedby': options.hint ? hintId : undefined,
    }),
    h('label', { for: id }, fr(options.label)),
    options.hint ? h('p', { class: 'hint', id: hintId }, fr(options.hint)) : null,
  );
}

function requiredMark() {
  return h('span', { class: 'required' }, ' (obligatoire)');
}

/**
 * A form that validates in French rather than with the browser's bubbles.
 * @param {Record<string, unknown>} attrs
 * @param {...(Node | null | false | undefined)} children
 * @returns {HTMLFormElement}
 */
export function form(attrs, ...children) {
  return h('form', { ...attrs, novalidate: true }, ...children);
}

/**
 * The named control of a form.
 * @param {HTMLFormElement} formElement
 * @param {string} name
 * @returns {HTMLInputElement}
 */
export function control(formElement, name) {
  const element = formElement.elements.namedItem(name);
  if (!(element instanceof HTMLInputElement || element instanceof HTMLSelectElement)) {
    throw new Error(`no control named ${name}`);
  }
  return /** @type {HTMLInputElement} */ (element);
}

/**
 * The trimmed value of a named control (passwords are taken as typed).
 * @param {HTMLFormElement} formElement
 * @param {string} name
 */
export function valueOf(formElement, name) {
  const element = control(formElement, name);
  return element.type === 'password' ? element.value : element.value.trim();
}

/**
 * Shows or clears the error text of one control.
 * @param {HTMLInputElement | HTMLSelectElement} element
 * @param {string | null} message
 */
export function setFieldError(element, message) {
  const errorId = `${element.id}-erreur`;
  const errorText = document.getElementById(errorId);
  if (!errorText) return;
  errorText.textContent = message ?? '';
  errorText.hidden = message === null;
  if (message === null) element.removeAttribute('aria-invalid');
  else element.setAttribute('aria-invalid', 'true');
}

/**
 * Checks required fields and patterns; shows each problem next to its field, announces
 * a summary and focuses the first faulty field.
 * @param {HTMLFormElement} formElement
 * @param {(formElement: HTMLFormElement) => Array<[string, string]>} [extra] More checks:
 *   [control name, message] pairs.
 * @returns {boolean} whether the form may be sent
 */
export function validate(formElement, extra) {
  /** @type {Array<[HTMLInputElement | HTMLSelectElement, string]>} */
  const problems = [];
  for (const element of formElement.querySelectorAll('input, select')) {
    if (!(element instanceof HTMLInputElement || element instanceof HTMLSelectElement)) continue;
    if (element.type === 'checkbox') continue;
    setFieldError(element, null);
    const label = formElement.querySelector(`label[for="${element.id}"]`)?.firstChild?.textContent ?? element.name;
    const value = element.value.trim();
    if (element.required && value === '') {
      problems.push([element, `Renseignez le champ « ${label} ».`]);
    } else if (element.dataset.pattern && value !== '' && !new RegExp(`^(?:${element.dataset.pattern})$`).test(value)) {
      problems.push([element, element.dataset.patternMessage ?? `Le champ « ${label} » n’a pas le bon format.`]);
    }
  }
  for (const [name, message] of extra ? extra(formElement) : []) {
    const element = control(formElement, name);
    if (!problems.some(([faulty]) => faulty === element)) problems.push([element, message]);
  }
  for (const [element, message] of problems) setFieldError(element, message);
  if (problems.length === 0) return true;
  showError(
    problems.length === 1
      ? `Le formulaire contient une erreur : ${problems[0][1]}`
      : `Le formulaire contient ${problems.length} erreurs. Corrigez les champs signalés.`,
  );
  problems[0][0].focus();
  return false;
}

/**
 * Runs a request while `element` (a form or a button) is busy: its buttons are disabled
 * so that a double click sends nothing twice. A failure is shown in the error region.
 * @template T
 * @param {HTMLFormElement | HTMLButtonElement} element
 * @param {() => Promise<T>} action
 * @param {(error: ApiError) => boolean} [onError] Returns true when it handled the error itself.
 * @returns {Promise<T | undefined>} undefined when the action failed
 */
export async function whileBusy(element, action, onError) {
  const buttons = element instanceof HTMLButtonElement ? [element] : [...element.querySelectorAll('button')];
  clearNotices();
  element.setAttribute('aria-busy', 'true');
  for (const button of buttons) button.disabled = true;
  try {
    return await action();
  } catch (caught) {
    const error =
      caught instanceof ApiError ? caught : new ApiError('internal_error', messageFor('internal_error'), 0);
    if (!(caught instanceof ApiError)) console.error(caught);
    if (!onError?.(error)) showError(error.message);
    return undefined;
  } finally {
    element.removeAttribute('aria-busy');
    for (const button of buttons) button.disabled = false;
  }
}
