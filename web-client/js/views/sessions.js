// « Sécurité du compte »: the account's security keys (« Mes clés de sécurité »), its
// devices (revoke a lost or replaced one), its open sessions (close a forgotten one) and
// the password change, which closes every other session.

import { auth, keys } from '../api.js';
import { confirmAction } from '../dialog.js';
import { append, h, replace, screenTitle, srOnly } from '../dom.js';
import { control, field, form, validate, whileBusy } from '../forms.js';
import { describeUserAgent, formatDateTime } from '../labels.js';
import { showError, showStatus } from '../notices.js';
import * as session from '../session.js';
import { emailNoticesSection } from './email-notices.js';
import { securityKeysSection } from './security-keys.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').SessionInfo} SessionInfo */
/** @typedef {import('../types.js').DeviceInfo} DeviceInfo */
/** @typedef {import('../types.js').Me} Me */

const MIN_PASSWORD_CHARS = 12;

/**
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderSessions(screen, shell) {
  // Until the key its role requires is registered, nothing else is reachable.
  if (shell.me.must_register_security_key) {
    append(screen, screenTitle('Sécurité du compte'), securityKeysSection(shell));
    return;
  }
  const list = h('div', { class: 'table-area' }, h('p', { class: 'loading' }, 'Chargement des sessions…'));
  append(
    screen,
    screenTitle('Sécurité du compte'),
    securityKeysSection(shell),
    // A revoked device's sessions end with it: the list below is read again.
    session.usesChannels(shell.me.role) ? devicesSection(shell.me, () => loadSessions(list)) : null,
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'sessions-title' },
      h('h2', { id: 'sessions-title', tabindex: '-1' }, 'Sessions ouvertes'),
      h(
        'p',
        {},
        'Chaque navigateur ou programme connecté à votre compte a sa session. Si vous ne reconnaissez pas l’une d’elles, fermez-la, puis changez votre mot de passe.',
      ),
      list,
    ),
    passwordSection(() => loadSessions(list)),
    session.usesChannels(shell.me.role) ? emailNoticesSection() : null,
  );
  loadSessions(list);
}

/** @param {HTMLElement} list */
async function loadSessions(list) {
  try {
    showSessions(list, await auth.sessions());
  } catch (error) {
    replace(list, h('p', {}, 'La liste des sessions n’a pas pu être chargée.'));
    showError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * @param {HTMLElement} list
 * @param {SessionInfo[]} sessions
 */
function showSessions(list, sessions) {
  const sorted = [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || b.last_seen_at - a.last_seen_at);
  replace(
    list,
    h(
      'table',
      { class: 'table' },
      h('caption', { class: 'visually-hidden' }, 'Vos sessions ouvertes'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Appareil', 'Adresse IP', 'Ouverte le', 'Dernière activité', 'Expire le', 'Action'].map((label) =>
            h('th', { scope: 'col' }, label),
          ),
        ),
      ),
      h('tbody', {}, sorted.map((session) => sessionRow(list, session))),
    ),
  );
}

/**
 * @param {HTMLElement} list
 * @param {SessionInfo} session
 */
function sessionRow(list, session) {
  const device = session.kind === 'bearer' ? 'Programme (SDK)' : describeUserAgent(session.user_agent);
  const opened = formatDateTime(session.created_at);
  let action;
  if (session.current) {
    action = h('span', { class: 'badge badge-ok' }, 'Cette session');
  } else {
    const close = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Fermer', srOnly(` la session ${device} ouverte le ${opened}`));
    close.addEventListener('click', async () => {
      const confirmed = await confirmAction(
        'Fermer cette session ?',
        `La session ${device} ouverte le ${opened} sera déconnectée immédiatement.`,
        'Fermer la session',
      );
      if (!confirmed) return;
      const done = await whileBusy(close, async () => {
        await auth.revokeSession(session.id);
        return true;
      });
      if (done) {
        showStatus('La session a été fermée.');
        await loadSessions(list);
        // The button that had the focus is gone with its row.
        document.getElementById('sessions-title')?.focus();
      }
    });
    action = close;
  }
  return h(
    'tr',
    { class: session.current ? 'current' : undefined },
    h('td', { 'data-label': 'Appareil' }, h('span', { title: session.user_agent ?? undefined }, device)),
    h('td', { 'data-label': 'Adresse IP' }, session.ip ?? '—'),
    h('td', { 'data-label': 'Ouverte le' }, opened),
    h('td', { 'data-label': 'Dernière activité' }, formatDateTime(session.last_seen_at)),
    h('td', { 'data-label': 'Expire le' }, formatDateTime(session.expires_at)),
    h('td', { 'data-label': 'Action' }, action),
  );
}

// ---- Devices ------------------------------------------------------------------------

/**
 * « Mes appareils »: each browser set up for the account holds its own keys; a lost,
 * stolen or replaced one is revoked here without waiting for an administrator.
 * @param {Me} me
 * @param {() => void} onRevoked
 */
function devicesSection(me, onRevoked) {
  const list = h('div', { class: 'table-area' }, h('p', { class: 'loading' }, 'Chargement de vos appareils…'));
  loadDevices(list, me, onRevoked);
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'devices-title' },
    h('h2', { id: 'devices-title', tabindex: '-1' }, 'Mes appareils'),
    h(
      'p',
      {},
      'Chaque navigateur configuré détient ses propres clés et peut lire vos échanges. Révoquez un appareil perdu, volé ou que vous n’utilisez plus : il perd aussitôt l’accès à vos canaux.',
    ),
    list,
  );
}

/**
 * @param {HTMLElement} list
 * @param {Me} me
 * @param {() => void} onRevoked
 */
async function loadDevices(list, me, onRevoked) {
  try {
    const [ready, mine] = await Promise.all([session.readiness(me), keys.user(me.id)]);
    showDevices(list, me, mine.devices, ready.keyring?.deviceId ?? null, onRevoked);
  } catch (error) {
    replace(list, h('p', {}, 'La liste de vos appareils n’a pas pu être chargée.'));
    showError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * @param {HTMLElement} list
 * @param {Me} me
 * @param {DeviceInfo[]} devices
 * @param {string | null} currentId This browser's device, when it is set up.
 * @param {() => void} onRevoked
 */
function showDevices(list, me, devices, currentId, onRevoked) {
  if (devices.length === 0) {
    replace(list, h('p', {}, 'Aucun appareil n’est encore configuré pour votre compte.'));
    return;
  }
  /** @param {DeviceInfo} device */
  const idOf = (device) => String(device.certificate?.device_id ?? '');
  // This device first, then the active ones, the most recent first.
  const sorted = [...devices].sort(
    (a, b) =>
      Number(idOf(b) === currentId) - Number(idOf(a) === currentId) ||
      Number(a.revoked_at !== null) - Number(b.revoked_at !== null) ||
      b.created_at - a.created_at,
  );
  replace(
    list,
    h(
      'table',
      { class: 'table', 'data-testid': 'devices' },
      h('caption', { class: 'visually-hidden' }, 'Vos appareils'),
      h('thead', {}, h('tr', {}, ['Appareil', 'Configuré le', 'État', 'Action'].map((label) => h('th', { scope: 'col' }, label)))),
      h(
        'tbody',
        {},
        sorted.map((device) => deviceRow(list, me, device, idOf(device) === currentId, onRevoked)),
      ),
    ),
  );
}

/**
 * @param {HTMLElement} list
 * @param {Me} me
 * @param {DeviceInfo} device
 * @param {boolean} current
 * @param {() => void} onRevoked
 */
function deviceRow(list, me, device, current, onRevoked) {
  const id = String(device.certificate?.device_id ?? '');
  let action = h('span', {}, '—');
  if (current) {
    action = h('span', { class: 'badge badge-ok' }, 'Cet appareil');
  } else if (device.revoked_at === null) {
    const revoke = h('button', { type: 'button', class: 'button button-small button-danger' }, 'Révoquer', srOnly(` l’appareil « ${device.name} »`));
    revoke.addEventListener('click', async () => {
      const confirmed = await confirmAction(
        `Révoquer l’appareil « ${device.name} » ?`,
        'Il perd l’accès immédiatement : il ne reçoit plus aucune clé ni aucun message et ne peut plus en envoyer ; ses sessions sont fermées. C’est définitif : pour l’utiliser à nouveau, il faudra le configurer de nouveau.',
        'Révoquer l’appareil',
      );
      if (!confirmed) return;
      const done = await whileBusy(revoke, async () => {
        await keys.revokeDevice(id);
        return true;
      });
      if (!done) return;
      showStatus(`L’appareil « ${device.name} » est révoqué.`);
      await loadDevices(list, me, onRevoked);
      onRevoked();
      // The button that had the focus is gone with its row.
      document.getElementById('devices-title')?.focus();
    });
    action = revoke;
  }
  return h(
    'tr',
    { class: current ? 'current' : undefined },
    h('td', { 'data-label': 'Appareil' }, device.name),
    h('td', { 'data-label': 'Configuré le' }, formatDateTime(device.created_at)),
    h(
      'td',
      { 'data-label': 'État' },
      device.revoked_at === null
        ? h('span', { class: 'badge badge-ok' }, 'Actif')
        : h('span', { class: 'badge badge-danger' }, `Révoqué le ${formatDateTime(device.revoked_at)}`),
    ),
    h('td', { 'data-label': 'Action' }, action),
  );
}

// ---- Password -----------------------------------------------------------------------

/** @param {() => void} onChanged */
function passwordSection(onChanged) {
  const passwordForm = form(
    { class: 'stack', 'aria-labelledby': 'password-title' },
    field({ label: 'Mot de passe actuel', name: 'current', type: 'password', required: true, autocomplete: 'current-password' }),
    field({
      label: 'Nouveau mot de passe',
      name: 'new',
      type: 'password',
      required: true,
      autocomplete: 'new-password',
      hint: `${MIN_PASSWORD_CHARS} caractères au moins. Une phrase de plusieurs mots est plus sûre et plus facile à retenir.`,
    }),
    field({ label: 'Confirmation du nouveau mot de passe', name: 'confirm', type: 'password', required: true, autocomplete: 'new-password' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Changer le mot de passe')),
  );
  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const valid = validate(passwordForm, (f) => {
      /** @type {Array<[string, string]>} */
      const problems = [];
      const next = control(f, 'new').value;
      if (next && [...next].length < MIN_PASSWORD_CHARS) {
        problems.push(['new', `Le nouveau mot de passe doit comporter au moins ${MIN_PASSWORD_CHARS} caractères.`]);
      }
      if (control(f, 'confirm').value && control(f, 'confirm').value !== next) {
        problems.push(['confirm', 'La confirmation ne correspond pas au nouveau mot de passe.']);
      }
      return problems;
    });
    if (!valid) return;
    const done = await whileBusy(passwordForm, async () => {
      await auth.changePassword(control(passwordForm, 'current').value, control(passwordForm, 'new').value);
      return true;
    });
    if (!done) return;
    passwordForm.reset();
    showStatus('Votre mot de passe a été changé. Vos autres sessions ont été fermées.');
    onChanged();
  });
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'password-title' },
    h('h2', { id: 'password-title' }, 'Changer de mot de passe'),
    h('p', {}, 'Après le changement, toutes vos autres sessions sont fermées.'),
    passwordForm,
  );
}
