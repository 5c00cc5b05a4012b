// « Mes clés de sécurité »: the account's passkeys and security keys (CHARTER.md C15).
// Register one (optionally as a passkey that signs in without the password), rename it,
// remove it. For the roles that require a key, the first one is registered here before
// anything else, and the last one cannot be removed (the admin's MFA reset is the way
// out when every key is lost).

import { securityKeys } from '../api.js';
import { confirmAction } from '../dialog.js';
import { h, replace, srOnly } from '../dom.js';
import { checkboxField, control, field, form, validate, valueOf, whileBusy } from '../forms.js';
import { formatDateTime } from '../labels.js';
import { showError, showStatus } from '../notices.js';
import * as webauthn from '../webauthn.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').SecurityKey} SecurityKey */

/**
 * The section, loaded.
 * @param {UserShell} shell
 * @returns {HTMLElement}
 */
export function securityKeysSection(shell) {
  const required = !!shell.me.must_register_security_key;
  const list = h('div', { class: 'table-area', id: 'security-keys' }, h('p', { class: 'loading' }, 'Chargement des clés…'));
  const nameField = field({
    label: 'Nom de la clé',
    name: 'name',
    required: true,
    maxlength: 100,
    hint: 'Pour la reconnaître, par exemple « Clé USB bleue » ou « Téléphone professionnel ».',
  });
  const addForm = form(
    { class: 'stack', id: 'add-security-key' },
    nameField,
    checkboxField({
      label: 'Permettre la connexion sans mot de passe (clé d’accès)',
      name: 'passwordless',
      hint: 'La clé garde votre compte en mémoire : elle suffit pour se connecter, avec son code PIN ou votre empreinte.',
    }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Enregistrer une clé')),
  );
  addForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!validate(addForm)) return;
    const name = valueOf(addForm, 'name').trim();
    const passwordless = /** @type {HTMLInputElement} */ (control(addForm, 'passwordless')).checked;
    const added = await whileBusy(addForm, async () => {
      const ceremony = await securityKeys.begin(name, passwordless);
      const credential = await webauthn.create(ceremony.options);
      return securityKeys.finish(ceremony.ceremony_id, credential);
    });
    if (!added) return;
    addForm.reset();
    if (shell.me.must_register_security_key) {
      shell.setMe({ ...shell.me, must_register_security_key: false });
      shell.navigate('/');
      showStatus(`Clé « ${added.name} » enregistrée. Elle vous sera demandée à chaque connexion.`);
      return;
    }
    showStatus(`Clé « ${added.name} » enregistrée.`);
    await load(list);
  });
  load(list);
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'security-keys-title' },
    h('h2', { id: 'security-keys-title', tabindex: '-1' }, 'Mes clés de sécurité'),
    required
      ? h(
          'p',
          { class: 'notice notice-error', role: 'note' },
          'Votre rôle exige une clé de sécurité ou une clé d’accès : enregistrez-en une pour accéder à Passerelle. Elle remplacera le code à 6 chiffres.',
        )
      : null,
    h(
      'p',
      {},
      'Une clé de sécurité (clé USB, téléphone, lecteur d’empreinte de ce poste) protège votre compte même si une fausse page de connexion vous a soutiré votre mot de passe : elle ne répond qu’à la vraie adresse de Passerelle. Enregistrez-en de préférence deux, dont une de secours.',
    ),
    webauthn.supported()
      ? null
      : h('p', { class: 'notice notice-error' }, 'Ce navigateur ne prend pas en charge les clés de sécurité.'),
    list,
    addForm,
  );
}

/** @param {HTMLElement} list */
async function load(list) {
  try {
    show(list, await securityKeys.list());
  } catch (error) {
    replace(list, h('p', {}, 'La liste des clés n’a pas pu être chargée.'));
    showError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * @param {HTMLElement} list
 * @param {SecurityKey[]} keys
 */
function show(list, keys) {
  if (keys.length === 0) {
    replace(list, h('p', { class: 'empty' }, 'Aucune clé de sécurité enregistrée.'));
    return;
  }
  replace(
    list,
    h(
      'table',
      { class: 'table' },
      h('caption', { class: 'visually-hidden' }, 'Vos clés de sécurité'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Nom', 'Type', 'Enregistrée le', 'Dernière utilisation', 'Actions'].map((label) => h('th', { scope: 'col' }, label)),
        ),
      ),
      h('tbody', {}, keys.map((key) => row(list, key))),
    ),
  );
}

/**
 * @param {HTMLElement} list
 * @param {SecurityKey} key
 */
function row(list, key) {
  const rename = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Renommer', srOnly(` la clé ${key.name}`));
  const remove = h('button', { type: 'button', class: 'button button-small button-secondary' }, 'Retirer', srOnly(` la clé ${key.name}`));
  const nameCell = h('td', { 'data-label': 'Nom' }, key.name);
  rename.addEventListener('click', () => {
    const renameForm = form(
      { class: 'inline-form' },
      field({ label: 'Nouveau nom', name: 'name', required: true, maxlength: 100, value: key.name }),
      h('button', { type: 'submit', class: 'button button-small' }, 'Enregistrer'),
    );
    renameForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(renameForm)) return;
      const name = valueOf(renameForm, 'name').trim();
      const done = await whileBusy(renameForm, async () => {
        await securityKeys.rename(key.id, name);
        return true;
      });
      if (done) {
        showStatus('La clé a été renommée.');
        await load(list);
      }
    });
    replace(nameCell, renameForm);
    control(renameForm, 'name').focus();
  });
  remove.addEventListener('click', async () => {
    const confirmed = await confirmAction(
      'Retirer cette clé ?',
      `La clé « ${key.name} » ne permettra plus de vous connecter.`,
      'Retirer la clé',
    );
    if (!confirmed) return;
    const done = await whileBusy(remove, async () => {
      await securityKeys.remove(key.id);
      return true;
    });
    if (done) {
      showStatus(`La clé « ${key.name} » a été retirée.`);
      await load(list);
      document.getElementById('security-keys-title')?.focus();
    }
  });
  return h(
    'tr',
    {},
    nameCell,
    h('td', { 'data-label': 'Type' }, key.passwordless ? 'Clé d’accès (sans mot de passe)' : 'Clé de sécurité'),
    h('td', { 'data-label': 'Enregistrée le' }, formatDateTime(key.created_at)),
    h('td', { 'data-label': 'Dernière utilisation' }, key.last_used_at ? formatDateTime(key.last_used_at) : 'Jamais'),
    h('td', { 'data-label': 'Actions' }, h('div', { class: 'actions' }, rename, remove)),
  );
}
