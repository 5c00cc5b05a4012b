// Client-side navigation with the History API. The server answers index.html for every
// path without an extension, so a reload or a bookmark lands on the same screen.

import { h, replace } from './dom.js';
import { clearNotices } from './notices.js';

/**
 * @typedef {object} Screen
 * @property {string} title For the document title (RGAA: each screen has its own).
 * @property {(screen: HTMLElement) => void} render Builds the screen into the element
 *   given; it starts with the screen's <h1> and may fill the rest asynchronously.
 *
 * @typedef {{ redirect: string } | Screen} Resolution
 */

export class Router {
  /**
   * @param {HTMLElement} outlet Where screens are shown.
   * @param {(path: string) => Resolution} resolve Maps a path to a screen or a redirect;
   *   access rules live there.
   * @param {(path: string) => void} onShown Called after each screen is shown (to mark the
   *   current link in the navigation).
   */
  constructor(outlet, resolve, onShown) {
    this.outlet = outlet;
    this.resolve = resolve;
    this.onShown = onShown;
    this.firstRender = true;
    /** @type {string | null} */
    this.current = null;
  }

  /** Shows the screen of the current address and follows later navigation. */
  start() {
    window.addEventListener('popstate', () => {
      // Following an in-page anchor (#comptes) fires popstate too: same screen, keep it.
      if (location.pathname !== this.current) this.show(location.pathname);
    });
    document.addEventListener('click', (event) => this.interceptLink(event));
    this.show(location.pathname, { replace: true });
  }

  /**
   * Goes to `path` and records it in the history.
   * @param {string} path
   * @param {{ replace?: boolean }} [options]
   */
  navigate(path, options = {}) {
    if (options.replace) history.replaceState(null, '', path);
    else if (path !== location.pathname) history.pushState(null, '', path);
    this.show(path, options);
  }

  /**
   * @param {string} path
   * @param {{ replace?: boolean }} [options]
   */
  show(path, options = {}) {
    const resolution = this.resolve(path);
    if ('redirect' in resolution) {
      this.navigate(resolution.redirect, { replace: true });
      return;
    }
    if (options.replace && path !== location.pathname) history.replaceState(null, '', path);
    this.current = path;
    clearNotices();
    // Each screen gets a fresh element: a slow request of a screen already left writes
    // into a detached element instead of the new screen.
    const screen = h('div', { class: 'screen' });
    replace(this.outlet, screen);
    document.title = `${resolution.title} — Passerelle`;
    resolution.render(screen);
    // Moving focus to the new heading tells screen-reader and keyboard users that the
    // screen changed; on the first load the browser's own start is better.
    if (!this.firstRender) screen.querySelector('h1')?.focus();
    this.firstRender = false;
    this.onShown(path);
  }

  /** @param {MouseEvent} event */
  interceptLink(event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    const link = event.target instanceof Element ? event.target.closest('a') : null;
    if (!link || link.target || link.hasAttribute('download') || link.origin !== location.origin) return;
    if (link.pathname.startsWith('/api/')) return;
    // In-page anchors keep the browser's behaviour.
    if (link.pathname === location.pathname && link.hash) return;
    event.preventDefault();
    this.navigate(link.pathname);
  }
}
