// The application shell: finds out who is logged in, keeps the header in step with it,
// and maps each address to its screen with the access rule of that screen.

import { auth, onUnauthenticated } from './api.js';
import { h, replace } from './dom.js';
import { EXCLUSION_MESSAGES, ROLE_LABELS } from './labels.js';
import { showError, showStatus } from './notices.js';
import { Router } from './router.js';
import * as session from './session.js';
import { renderAdmin } from './views/admin.js';
import { renderAudit } from './views/audit.js';
import { renderCharter } from './views/charter.js';
import { renderCreateChannel } from './views/create-channel.js';
import { renderDashboard } from './views/dashboard.js';
import { renderFieldReports } from './views/field-reports.js';
import { renderHome } from './views/home.js';
import { renderLogin } from './views/login.js';
import { renderMeetings } from './views/meetings.js';
import { renderMessaging, retireMessenger, stopMessenger } from './views/messaging.js';
import { renderNewConversation } from './views/new-conversation.js';
import { renderPasswordChange } from './views/password-change.js';
import { renderReferrals } from './views/referrals.js';
import { renderInvitation } from './views/invitation.js';
import { renderReport } from './views/report.js';
import { renderSessions } from './views/sessions.js';
import { renderSettings } from './views/settings.js';
import { renderSetup } from './views/setup.js';

/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').Shell} Shell */
/** @typedef {import('./types.js').UserShell} UserShell */

/**
 * @typedef {object} Route
 * @property {string} title
 * @property {'public' | 'user' | 'admin' | 'auditor' | 'channels' | 'directory' | 'coordinator' | 'creator' | 'report' | 'referrals'} access
 *   `public`: only when logged out (the login screen); `user`: any logged-in account;
 *   `admin`, `auditor`: that role only; `channels`: the roles that use channels (members,
 *   coordinators, externals); `directory`: those who may also browse the directory and
 *   start a direct conversation (members, coordinators); `coordinator`: coordinators only;
 *   `referrals`: those who refer or receive referrals (members, coordinators).
 * @property {boolean} [gated] Needs this browser's device and the charter accepted first.
 * @property {boolean} [app] Shown as an application (the page's full height, nothing
 *   scrolls but the panes), not as a document: the messaging screens.
 * @property {(screen: HTMLElement, shell: any, param: string | null) => void} render
 */

/** @type {Record<string, Route>} */
const ROUTES = {
  '/connexion': { title: 'Connexion', access: 'public', render: renderLogin },
  '/invitation': { title: 'Invitation', access: 'public', render: renderInvitation },
  '/': { title: 'Vos échanges', access: 'user', render: renderHome },
  '/canal/:id': { title: 'Conversation', access: 'channels', gated: true, app: true, render: renderMessaging },
  '/nouvelle-conversation': { title: 'Écrire à un collègue', access: 'directory', gated: true, render: renderNewConversation },
  '/nouveau-canal': { title: 'Créer un canal', access: 'creator', gated: true, render: renderCreateChannel },
  '/tableau-de-bord': { title: 'Tableau de bord', access: 'coordinator', gated: true, render: renderDashboard },
  '/appareil': { title: 'Configurer cet appareil', access: 'channels', render: renderSetup },
  '/charte': { title: 'Charte d’échange d’informations', access: 'channels', render: renderCharter },
  '/signalements': { title: 'Signalements de terrain', access: 'channels', gated: true, render: renderFieldReports },
  '/orientations': { title: 'Orientations', access: 'referrals', gated: true, render: renderReferrals },
  '/reunions': { title: 'Réunions', access: 'channels', gated: true, render: renderMeetings },
  '/securite': { title: 'Sécurité du compte', access: 'user', render: renderSessions },
  '/reglages': { title: 'Réglages', access: 'channels', render: renderSettings },
  '/mot-de-passe': { title: 'Choisissez votre mot de passe', access: 'user', render: renderPasswordChange },
  '/administration': { title: 'Administration', access: 'admin', render: renderAdmin },
  '/audit': { title: 'Journal des accès', access: 'auditor', render: renderAudit },
  '/bilan': { title: 'Bilan annuel', access: 'report', render: renderReport },
};

/** The messaging screen replaces the plain home for those who use channels. */
const MESSAGING_HOME = { title: 'Vos échanges', access: /** @type {const} */ ('channels'), gated: true, app: true, render: renderMessaging };

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
  endSession,
};

/**
 * The route of a path, with its parameter (`/canal/<id>`).
 * @param {string} path
 * @returns {{ route: Route, param: string | null } | null}
 */
function match(path) {
  const channel = /^\/canal\/([0-9A-Za-z-]{1,128})$/.exec(path);
  if (channel) return { route: ROUTES['/canal/:id'], param: channel[1] };
  if (path === '/' && me && session.usesChannels(me.role)) return { route: MESSAGING_HOME, param: null };
  const route = ROUTES[path];
  return route && !path.includes(':') ? { route, param: null } : null;
}

/**
 * @param {string} path
 * @returns {import('./router.js').Resolution}
 */
function resolve(path) {
  const found = match(path);
  if (!found) return { redirect: me ? '/' : '/connexion' };
  const { route, param } = found;
  const resolution = resolveRoute(route, param);
  if ('redirect' in resolution) return resolution;
  return {
    title: resolution.title,
    render: (screen) => {
      document.body.classList.toggle('layout-app', route.app === true);
      resolution.render(screen);
    },
  };
}

/**
 * @param {Route} route
 * @param {string | null} param
 * @returns {import('./router.js').Resolution}
 */
function resolveRoute(route, param) {
  if (route.access === 'public') {
    if (me) return { redirect: '/' };
    return { title: route.title, render: (screen) => route.render(screen, shell, null) };
  }
  if (!me) return { redirect: '/connexion' };
  // A provisional password: the server refuses everything else until it is replaced.
  if ((me.password_change_required === true) !== (route === ROUTES['/mot-de-passe'])) {
    return { redirect: me.password_change_required ? '/mot-de-passe' : '/' };
  }
  // A role that requires a security key, and none registered yet: the server allows
  // nothing else until one is (« Mes clés de sécurité » on the security page).
  if (me.must_register_security_key && route !== ROUTES['/securite']) return { redirect: '/securite' };
  const allowed =
    route.access === 'user' ||
    (route.access === 'admin' && me.role === 'admin') ||
    (route.access === 'auditor' && me.role === 'auditor') ||
    (route.access === 'channels' && session.usesChannels(me.role)) ||
    (route.access === 'directory' && session.browsesDirectory(me.role)) ||
    (route.access === 'coordinator' && me.role === 'coordinator') ||
    (route.access === 'creator' && session.createsChannels(me)) ||
    (route.access === 'referrals' && session.usesReferrals(me.role)) ||
    (route.access === 'report' && session.readsReport(me.role));
  if (!allowed) return { redirect: '/' };
  /** @type {UserShell} */
  const userShell = { ...shell, me };
  if (!route.gated) return { title: route.title, render: (screen) => route.render(screen, userShell, param) };
  return { title: route.title, render: (screen) => gated(screen, userShell, route, param) };
}

/**
 * Shows a screen that needs this browser's device and the accepted charter, or leads to
 * what is missing first.
 * @param {HTMLElement} screen
 * @param {UserShell} userShell
 * @param {Route} route
 * @param {string | null} param
 */
function gated(screen, userShell, route, param) {
  screen.append(h('p', { class: 'loading' }, 'Chargement de vos clés…'));
  session
    .readiness(userShell.me)
    .then((ready) => {
      if (!screen.isConnected) return;
      if (!ready.keyring) {
        router.navigate('/appareil', { replace: true });
      } else if (session.charterPending(ready.charter) || !ready.charter.current) {
        router.navigate('/charte', { replace: true });
      } else {
        screen.replaceChildren();
        route.render(screen, userShell, param);
        screen.querySelector('h1')?.focus();
      }
    })
    .catch((error) => showError(error instanceof Error ? error.message : String(error)));
}

/**
 * Records who is logged in and shows it in the header.
 * @param {Me | null} account
 */
function setMe(account) {
  me = account;
  byId('app-nav').hidden = !account || account.password_change_required === true;
  byId('app-user').hidden = !account;
  byId('nav-admin').hidden = account?.role !== 'admin';
  byId('nav-audit').hidden = account?.role !== 'auditor';
  byId('nav-dashboard').hidden = account?.role !== 'coordinator';
  byId('nav-report').hidden = !account || !session.readsReport(account.role);
  byId('nav-charter').hidden = !account || !session.usesChannels(account.role);
  byId('nav-reports').hidden = !account || !session.usesChannels(account.role);
  byId('nav-referrals').hidden = !account || !session.usesReferrals(account.role);
  byId('nav-meetings').hidden = !account || !session.usesChannels(account.role);
  if (!account) {
    stopMessenger();
    session.reset();
  }
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

/**
 * Leaves a session the server ended: this page forgets the account and says why on the
 * login screen. The first report counts (the socket's close and a refused request often
 * tell the same story), but a refused request only knows that the session is gone: the
 * socket's close that follows it (`late`) says why, and replaces its message.
 * @param {string} why French, for people.
 * @param {boolean} [late]
 */
function endSession(why, late = false) {
  if (late) {
    // Nobody logged in since: the login screen of that session is still shown.
    if (!me && location.pathname === '/connexion') showError(why);
    return;
  }
  if (!me) return;
  setMe(null);
  router.navigate('/connexion', { replace: true });
  showError(why);
}

async function logout() {
  const button = /** @type {HTMLButtonElement} */ (byId('logout'));
  button.disabled = true;
  // Closed first: the server's own close of this session's socket (4004, logged_out) is
  // the logout asked for here, not news to report.
  stopMessenger();
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
    retireMessenger();
    endSession(EXCLUSION_MESSAGES[error.code] ?? error.message);
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
