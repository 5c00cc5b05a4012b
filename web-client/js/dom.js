// Building the DOM without innerHTML: every text goes through textContent, so nothing a
// server or a colleague sends can ever become markup (and the CSP forbids inline code).

import { fr } from './typography.js';

/**
 * @typedef {Node | string | number | null | undefined | false} Child
 */

/**
 * Creates an element.
 *
 * `attrs`: `class` sets the class list; `on…` keys with a function add an event listener;
 * `true` sets a boolean attribute; `false`, `null` and `undefined` leave it out; anything
 * else is set as an attribute string.
 *
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    } else if (name === 'class') {
      element.className = String(value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, ...children);
  return element;
}

/**
 * Appends children, skipping empty ones; strings become text nodes.
 * @param {Element} parent
 * @param {...(Child | Child[])} children
 */
export function append(parent, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(typeof child === 'number' ? String(child) : child);
  }
}

/**
 * Replaces all children of `parent`.
 * @param {Element} parent
 * @param {...(Child | Child[])} children
 */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, ...children);
}

/**
 * Text only screen-reader users hear (e.g. which account a button acts on).
 * @param {string} text
 */
export function srOnly(text) {
  return h('span', { class: 'visually-hidden' }, text);
}

let counter = 0;

/**
 * A unique id for label/aria references.
 * @param {string} prefix
 */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * The <h1> of a screen; focusable by script so that the router can move focus to it.
 * @param {string} text
 */
export function screenTitle(text) {
  return h('h1', { tabindex: '-1' }, fr(text));
}
