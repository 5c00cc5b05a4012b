// The application shell: finds out who is logged in, keeps the header in step with it,
// and maps each address to its screen with the access rule of that screen.

import { auth, onUnauthenticated } from './api.js';
import { h, replace } from './dom.js';
import { ROLE_LABELS } from './labels.js';
import { showError, showStatus } from './notices.js';
import { Router } from './router.js';
import { renderAdmin } from './views/admin.js';
import { renderHome } from './views/home.js';
import { renderLogin } from './views/login.js';
import { renderSessions } from './views/sessions.js';

/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').Shell} Shell */
/** @typedef {import('./types.js').UserShell} UserShell */

/**
 * @typedef {object} Route
 * @property {string} title
 * @property {'public' | 'user' | 'admin'} access `public`: only when logged out (the login
 *   screen); `user`: any logged-in account; `admin`: the admin role only.
 * @property {(screen: HTMLElement, shell: any) => void} render
 */

/** @type {Record<string, Route>} */
const ROUTES = {
  '/connexion': { title: 'Connexion', access: 'public', render: renderLogin },
  '/': { title: 'Vos échanges', access: 'user', render: renderHome },
  '/securite': { title: 'Sécurité du compte', access: 'user', render: renderSessions },
  '/administration': { title: 'Administration', access: 'admin', render: renderAdmin },
};

/** @param {string} id */
function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing #${id} in index.html`);
  return element;
}

/** Who is logged in; null before login. */
let me = /** @type {Me | null} */ (null);

const outlet = byId('outlet');
const router = new Router(outlet, resolve, markCurrentLink);

/** @type {Shell} */
const shell = {
  navigate: (path, options) => router.navigate(path, options),
  setMe,
};

/**
 * @param {string} path
 * @returns {import('./router.js').Resolution}
 */
function resolve(path) {
  const route = ROUTES[path];
  if (!route) return { redirect: me ? '/' : '/connexion' };
  if (route.access === 'public') {
    if (me) return { redirect: '/' };
    return { title: route.title, render: (screen) => route.render(screen, shell) };
  }
  if (!me) return { redirect: '/connexion' };
  if (route.access === 'admin' && me.role !== 'admin') return { redirect: '/' };
  /** @type {UserShell} */
  const userShell = { ...shell, me };
  return { title: route.title, render: (screen) => route.render(screen, userShell) };
}

/**
 * Records who is logged in and shows it in the header.
 * @param {Me | null} account
 */
function setMe(account) {
  me = account;
  byId('app-nav').hidden = !account;
  byId('app-user').hidden = !account;
  byId('nav-admin').hidden = account?.role !== 'admin';
  replace(byId('app-user-name'), account?.display_name ?? '');
  replace(
    byId('app-user-detail'),
    account ? h('span', {}, `${account.institution.name} · ${ROLE_LABELS[account.role]}`) : '',
  );
}

/** @param {string} path */
function markCurrentLink(path) {
  for (const link of byId('app-nav').querySelectorAll('a')) {
    if (link.pathname === path) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function logout() {
  const button = /** @type {HTMLButtonElement} */ (byId('logout'));
  button.disabled = true;
  try {
    await auth.logout();
  } catch {
    // The session may already be gone; in every case this page forgets it.
  } finally {
    button.disabled = false;
  }
  setMe(null);
  router.navigate('/connexion');
  showStatus('Vous êtes déconnecté. Pensez à fermer le navigateur sur un poste partagé.');
}

async function start() {
  byId('logout').addEventListener('click', logout);
  onUnauthenticated((error) => {
    if (!me) return;
    setMe(null);
    router.navigate('/connexion');
    showError(error.message);
  });
  try {
    setMe(await auth.me());
  } catch (error) {
    // The server is unreachable: show the login screen with the reason.
    setMe(null);
    router.start();
    showError(error instanceof Error ? error.message : String(error));
    return;
  }
  router.start();
}

start();
