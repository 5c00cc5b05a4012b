// The page's two live regions, present from the first paint so that screen readers
// announce what is written into them: errors (assertive, shown in red) and status
// messages (polite). Every view reports through here.

import { h, replace } from './dom.js';
import { fr } from './typography.js';

/** @param {string} id */
function region(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing live region #${id}`);
  return element;
}

/**
 * Shows an error; it stays until the next action clears it.
 * @param {string} message French, for people.
 */
export function showError(message) {
  replace(region('notice-status'));
  replace(region('notice-error'), h('p', { class: 'notice notice-error' }, fr(message)));
}

/**
 * Shows a confirmation or progress message.
 * @param {string} message
 */
export function showStatus(message) {
  replace(region('notice-error'));
  replace(region('notice-status'), h('p', { class: 'notice notice-status' }, fr(message)));
}

/** Clears both regions (a new screen, a new attempt). */
export function clearNotices() {
  replace(region('notice-error'));
  replace(region('notice-status'));
}
