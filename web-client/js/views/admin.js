// The admin console: institutions and accounts. The admin manages who exists; they read
// no message (end-to-end encryption) and no access log (the auditor's duty).

import { admin, charter as charterApi, keys } from '../api.js';
import { confirmAction, openDialog } from '../dialog.js';
import { append, h, replace, screenTitle, srOnly, uid } from '../dom.js';
import { checkboxField, control, field, form, selectField, validate, valueOf, whileBusy } from '../forms.js';
import { ATTRIBUTE_LABELS, attributeList, formatDate, formatDateTime, INSTITUTION_KIND_LABELS, ROLE_DESCRIPTIONS, ROLE_LABELS, ROLES } from '../labels.js';
import { showError, showStatus } from '../notices.js';
import { showInvitationLink } from './invitation-link.js';

/** @typedef {import('../types.js').UserShell} UserShell */
/** @typedef {import('../types.js').Institution} Institution */
/** @typedef {import('../types.js').Account} Account */
/** @typedef {import('../types.js').AccountWithPassword} AccountWithPassword */
/** @typedef {import('../types.js').Role} Role */
/** @typedef {import('../types.js').Attributes} Attributes */

const collator = new Intl.Collator('fr', { sensitivity: 'base' });

/**
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderAdmin(screen, shell) {
  new AdminConsole(screen, shell.me.id).start();
}

class AdminConsole {
  /**
   * @param {HTMLElement} screen
   * @param {string} myId The admin's own account: they may not disable themselves by mistake.
   */
  constructor(screen, myId) {
    this.screen = screen;
    this.myId = myId;
    /** @type {Institution[]} */
    this.institutions = [];
    /** @type {Account[]} */
    this.accounts = [];
    this.institutionTable = h('div', { class: 'table-area' }, h('p', { class: 'loading' }, 'Chargement…'));
    this.accountTable = h('div', { class: 'table-area' }, h('p', { class: 'loading' }, 'Chargement…'));
    this.accountCount = h('p', { class: 'hint', 'aria-live': 'polite' });
    this.oneTime = h('div');
    /** @type {HTMLElement | undefined} */
    this.charterCurrent = undefined;
    this.filter = h('input', { type: 'search', id: uid('filtre'), autocomplete: 'off', spellcheck: 'false' });
    this.institutionSelect = selectField({
      label: 'Institution',
      name: 'institution_id',
      required: true,
      options: [{ value: '', label: 'Choisissez une institution' }],
    });
  }

  start() {
    this.filter.addEventListener('input', () => this.showAccounts());
    append(
      this.screen,
      screenTitle('Administration'),
      h(
        'p',
        { class: 'lead' },
        'Vous gérez les institutions du CLSPD et les comptes de leurs professionnels. Votre rôle ne donne accès à aucun message ni au journal des accès.',
      ),
      h(
        'nav',
        { class: 'page-nav', 'aria-label': 'Sections de l’administration' },
        h(
          'ul',
          {},
          h('li', {}, h('a', { href: '#comptes' }, 'Comptes')),
          h('li', {}, h('a', { href: '#institutions' }, 'Institutions')),
          h('li', {}, h('a', { href: '#charte' }, 'Charte')),
        ),
      ),
      this.accountsSection(),
      this.institutionsSection(),
      this.charterSection(),
    );
    this.reload();
    this.showCharter();
  }

  async reload() {
    try {
      const [institutions, accounts] = await Promise.all([admin.institutions(), admin.accounts()]);
      this.institutions = institutions.sort((a, b) => collator.compare(a.name, b.name));
      this.accounts = accounts.sort((a, b) => collator.compare(a.display_name, b.display_name));
    } catch (error) {
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    this.showInstitutions();
    this.showAccounts();
  }

  // ---- Institutions -------------------------------------------------------------------

  institutionsSection() {
    const create = form(
      { class: 'inline-form', 'aria-label': 'Créer une institution' },
      field({ label: 'Nom de la nouvelle institution', name: 'name', required: true, maxlength: 200, hint: 'Par exemple : « Collège Jean-Moulin » ou « Association de prévention spécialisée ».' }),
      selectField({
        label: 'Type d’institution',
        name: 'kind',
        required: true,
        hint: 'Le type décide des attributs que ses professionnels peuvent recevoir : un policier ne peut pas être déclaré professionnel de l’action sociale.',
        options: [
          { value: '', label: 'Choisissez un type' },
          ...Object.entries(INSTITUTION_KIND_LABELS).map(([value, label]) => ({ value, label })),
        ],
      }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Créer l’institution')),
    );
    create.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(create)) return;
      const name = valueOf(create, 'name');
      const kind = valueOf(create, 'kind');
      const created = await whileBusy(create, () => admin.createInstitution(name, kind));
      if (!created) return;
      create.reset();
      await this.reload();
      showStatus(`Institution « ${created.name} » créée.`);
    });
    return h(
      'section',
      { class: 'card', id: 'institutions', 'aria-labelledby': 'institutions-title' },
      h('h2', { id: 'institutions-title' }, 'Institutions'),
      h('p', {}, 'Chaque compte appartient à une seule institution. Les canaux n’admettent que les institutions de leur liste.'),
      create,
      this.institutionTable,
    );
  }

  showInstitutions() {
    /** @type {Map<string, number>} */
    const counts = new Map();
    for (const account of this.accounts) counts.set(account.institution_id, (counts.get(account.institution_id) ?? 0) + 1);
    replace(
      this.institutionTable,
      h(
        'table',
        { class: 'table' },
        h('caption', { class: 'visually-hidden' }, 'Institutions du CLSPD'),
        h('thead', {}, h('tr', {}, ['Nom', 'Type', 'Comptes', 'Créée le'].map((label) => h('th', { scope: 'col' }, label)))),
        h(
          'tbody',
          {},
          this.institutions.map((institution) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row', 'data-label': 'Nom' }, institution.name),
              h('td', { 'data-label': 'Type' }, INSTITUTION_KIND_LABELS[institution.kind] ?? institution.kind),
              h('td', { 'data-label': 'Comptes' }, String(counts.get(institution.id) ?? 0)),
              h('td', { 'data-label': 'Créée le' }, formatDate(institution.created_at)),
            ),
          ),
        ),
      ),
    );
    // Keep the account form's list in step, and its choice if it still exists.
    const select = /** @type {HTMLSelectElement} */ (this.institutionSelect.querySelector('select'));
    const chosen = select.value;
    replace(
      select,
      h('option', { value: '' }, 'Choisissez une institution'),
      this.institutions.map((institution) => h('option', { value: institution.id }, institution.name)),
    );
    select.value = this.institutions.some((institution) => institution.id === chosen) ? chosen : '';
  }

  // ---- Accounts -----------------------------------------------------------------------

  accountsSection() {
    const roleField = selectField({
      label: 'Rôle',
      name: 'role',
      required: true,
      value: 'member',
      hint: ROLE_DESCRIPTIONS.member,
      options: ROLES.map((role) => ({ value: role, label: ROLE_LABELS[role] })),
    });
    const roleSelect = /** @type {HTMLSelectElement} */ (roleField.querySelector('select'));
    const roleHint = /** @type {HTMLElement} */ (roleField.querySelector('.hint'));
    roleSelect.addEventListener('change', () => {
      roleHint.textContent = ROLE_DESCRIPTIONS[/** @type {Role} */ (roleSelect.value)];
    });
    const create = form(
      { class: 'grid-form', 'aria-label': 'Créer un compte' },
      field({
        label: 'Identifiant',
        name: 'login',
        required: true,
        spellcheck: false,
        autocomplete: 'off',
        maxlength: 64,
        hint: 'De 3 à 64 caractères : lettres, chiffres, « . », « - » ou « _ ». Par exemple : prenom.nom',
      }),
      field({ label: 'Nom affiché', name: 'display_name', required: true, maxlength: 200, autocomplete: 'off', hint: 'Prénom et nom, tels que les collègues les verront.' }),
      this.institutionSelect,
      roleField,
      attributesFieldset({ bound_by_professional_secrecy: false, social_action_professional: false }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Créer le compte')),
    );
    create.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(create)) return;
      const created = await whileBusy(create, () =>
        admin.createAccount({
          login: valueOf(create, 'login'),
          display_name: valueOf(create, 'display_name'),
          institution_id: valueOf(create, 'institution_id'),
          role: /** @type {Role} */ (valueOf(create, 'role')),
          attributes: readAttributes(create),
        }),
      );
      if (!created) return;
      create.reset();
      roleHint.textContent = ROLE_DESCRIPTIONS.member;
      await this.reload();
      this.showOneTimePassword(created, 'created');
    });
    return h(
      'section',
      { class: 'card', id: 'comptes', 'aria-labelledby': 'accounts-title' },
      h('h2', { id: 'accounts-title' }, 'Comptes'),
      this.oneTime,
      h(
        'details',
        { class: 'disclosure' },
        h('summary', {}, 'Créer un compte'),
        h(
          'p',
          { class: 'hint' },
          'Un mot de passe provisoire est généré et affiché une seule fois. À sa première connexion, la personne configure sa double authentification.',
        ),
        create,
      ),
      this.importForm(),
      h('div', { class: 'field field-search' }, h('label', { for: this.filter.id }, 'Filtrer les comptes (nom, identifiant, institution)'), this.filter),
      this.accountCount,
      this.accountTable,
    );
  }

  showAccounts() {
    const names = new Map(this.institutions.map((institution) => [institution.id, institution.name]));
    const needle = this.filter.value.trim().toLocaleLowerCase('fr');
    const shown = this.accounts.filter(
      (account) =>
        needle === '' ||
        [account.display_name, account.login, names.get(account.institution_id) ?? ''].some((text) =>
          text.toLocaleLowerCase('fr').includes(needle),
        ),
    );
    this.accountCount.textContent =
      shown.length === this.accounts.length
        ? `${this.accounts.length} comptes.`
        : `${shown.length} comptes affichés sur ${this.accounts.length}.`;
    replace(
      this.accountTable,
      h(
        'table',
        { class: 'table' },
        h('caption', { class: 'visually-hidden' }, 'Comptes'),
        h(
          'thead',
          {},
          h('tr', {}, ['Nom', 'Institution', 'Rôle', 'Habilitations', 'État', 'Actions'].map((label) => h('th', { scope: 'col' }, label))),
        ),
        h(
          'tbody',
          {},
          shown.map((account) => this.accountRow(account, names.get(account.institution_id) ?? 'Institution inconnue')),
        ),
      ),
    );
  }

  /**
   * @param {Account} account
   * @param {string} institutionName
   */
  accountRow(account, institutionName) {
    const attributes = attributeList(account.attributes);
    return h(
      'tr',
      { 'data-login': account.login },
      h(
        'th',
        { scope: 'row', 'data-label': 'Nom' },
        h('span', { class: 'account-name' }, account.display_name),
        h('span', { class: 'account-login' }, account.login),
      ),
      h('td', { 'data-label': 'Institution' }, institutionName),
      h('td', { 'data-label': 'Rôle' }, ROLE_LABELS[account.role]),
      h('td', { 'data-label': 'Habilitations' }, attributes.length ? attributes.join(', ') : '—'),
      h('td', { 'data-label': 'État' }, statusBadges(account)),
      h('td', { 'data-label': 'Actions' }, this.actionsMenu(account)),
    );
  }

  /** @param {Account} account */
  actionsMenu(account) {
    const who = account.display_name;
    /**
     * @param {string} label
     * @param {() => Promise<void>} run
     * @param {boolean} [danger]
     */
    const item = (label, run, danger = false) => {
      const button = h('button', { type: 'button', class: danger ? 'menu-item menu-item-danger' : 'menu-item' }, label, srOnly(` (${who})`));
      button.addEventListener('click', run);
      return h('li', {}, button);
    };
    const self = account.id === this.myId;
    return h(
      'details',
      { class: 'menu' },
      h('summary', {}, 'Actions', srOnly(` pour ${who}`)),
      h(
        'ul',
        { class: 'menu-items' },
        item('Modifier le rôle ou les habilitations', () => this.edit(account)),
        account.totp_enrolled ? null : item('Créer un lien d’invitation', () => this.invite(account)),
        item('Adresse e-mail des avis', () => this.email(account)),
        item('Appareils', () => this.devices(account)),
        item('Réinitialiser le mot de passe', () => this.resetPassword(account), true),
        item('Réinitialiser la double authentification', () => this.resetMfa(account), true),
        account.locked ? item('Déverrouiller', () => this.simpleAction(account, 'unlock')) : null,
        account.disabled
          ? item('Réactiver le compte', () => this.simpleAction(account, 'enable'))
          : self
            ? null
            : item('Désactiver le compte', () => this.disable(account), true),
      ),
    );
  }

  /** @param {Account} account */
  async edit(account) {
    const roleField = selectField({
      label: 'Rôle',
      name: 'role',
      required: true,
      value: account.role,
      options: ROLES.map((role) => ({ value: role, label: ROLE_LABELS[role] })),
    });
    const answer = await openDialog({
      title: `Modifier le compte de ${account.display_name}`,
      body: [
        field({ label: 'Nom affiché', name: 'display_name', required: true, maxlength: 200, value: account.display_name }),
        roleField,
        attributesFieldset(account.attributes),
      ],
      confirmLabel: 'Enregistrer',
      check: (dialogForm) => validate(dialogForm),
    });
    if (!answer) return;
    const updated = await this.run(account, () =>
      admin.updateAccount(account.id, {
        display_name: valueOf(answer, 'display_name'),
        role: /** @type {Role} */ (valueOf(answer, 'role')),
        attributes: readAttributes(answer),
      }),
    );
    if (updated) showStatus(`Le compte de ${updated.display_name} a été modifié.`);
  }

  /**
   * A one-time link with which the person chooses their password, instead of a
   * provisional one handed over in person; shown once.
   * @param {Account} account
   */
  async invite(account) {
    const result = await this.run(account, () => admin.invite(account.id));
    if (!result) return;
    await showInvitationLink(account.display_name, result);
  }

  /**
   * The address offline notices go to (an e-mail that says only that messages wait);
   * the person sees it on their account page. Empty removes it.
   * @param {Account} account
   */
  async email(account) {
    const answer = await openDialog({
      title: `Adresse e-mail de ${account.display_name}`,
      body: [
        h('p', {}, 'Passerelle y envoie seulement l’avis « Vous avez de nouveaux messages sur Passerelle », sans contenu, quand la personne n’est pas connectée. Laissez vide pour ne plus rien envoyer.'),
        field({ label: 'Adresse e-mail', name: 'email', type: 'email', maxlength: 254, autocomplete: 'off', spellcheck: false }),
      ],
      confirmLabel: 'Enregistrer',
      check: (dialogForm) => validate(dialogForm),
    });
    if (!answer) return;
    const email = valueOf(answer, 'email').trim();
    const saved = await this.run(account, async () => {
      await admin.setEmail(account.id, email === '' ? null : email);
      return true;
    });
    if (saved) {
      showStatus(email === '' ? `L’adresse e-mail de ${account.display_name} est retirée.` : `L’adresse e-mail de ${account.display_name} est enregistrée.`);
    }
  }

  /** @param {Account} account */
  async resetPassword(account) {
    const confirmed = await confirmAction(
      `Réinitialiser le mot de passe de ${account.display_name} ?`,
      'Son mot de passe actuel cessera de fonctionner. Un mot de passe provisoire sera affiché une seule fois, à lui remettre en main propre.',
      'Réinitialiser le mot de passe',
    );
    if (!confirmed) return;
    const result = await this.run(account, () => admin.resetPassword(account.id));
    if (result) this.showOneTimePassword(result, 'reset');
  }

  /** @param {Account} account */
  async resetMfa(account) {
    const confirmed = await confirmAction(
      `Réinitialiser la double authentification de ${account.display_name} ?`,
      'Ses clés de sécurité sont retirées et toutes ses sessions fermées. À sa prochaine connexion, la personne devra configurer à nouveau son application d’authentification, puis, si son rôle l’exige, enregistrer une nouvelle clé de sécurité (téléphone ou clé perdus ou changés).',
      'Réinitialiser',
    );
    if (!confirmed) return;
    if (await this.run(account, () => admin.resetMfa(account.id))) {
      showStatus(`Double authentification réinitialisée pour ${account.display_name}.`);
    }
  }

  /** @param {Account} account */
  async disable(account) {
    const confirmed = await confirmAction(
      `Désactiver le compte de ${account.display_name} ?`,
      'La personne ne pourra plus se connecter. Le compte pourra être réactivé plus tard.',
      'Désactiver le compte',
    );
    if (!confirmed) return;
    if (await this.run(account, () => admin.disable(account.id))) {
      showStatus(`Le compte de ${account.display_name} est désactivé.`);
    }
  }

  /**
   * @param {Account} account
   * @param {'enable' | 'unlock'} action
   */
  async simpleAction(account, action) {
    if (await this.run(account, () => admin[action](account.id))) {
      showStatus(
        action === 'enable'
          ? `Le compte de ${account.display_name} est réactivé.`
          : `Le compte de ${account.display_name} est déverrouillé.`,
      );
    }
  }

  // ---- Devices (a lost or stolen device) ------------------------------------------------

  /**
   * Lists the account's devices in a dialog, each with « Révoquer » while it is active.
   * @param {Account} account
   */
  async devices(account) {
    /** @type {import('../types.js').UserKeys} */
    let userKeys;
    try {
      userKeys = await keys.user(account.id);
    } catch (error) {
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    const devices = [...userKeys.devices].sort((a, b) => b.created_at - a.created_at);
    /** @type {{ id: string, name: string } | null} */
    let chosen = null;
    const list = devices.length
      ? h(
          'table',
          { class: 'table' },
          h('caption', {}, `Appareils de ${account.display_name}`),
          h('thead', {}, h('tr', {}, ['Nom', 'Ajouté le', 'État', 'Action'].map((label) => h('th', { scope: 'col' }, label)))),
          h(
            'tbody',
            {},
            devices.map((device) => {
              const id = String(device.certificate?.device_id ?? '');
              let action = /** @type {Node | string} */ ('—');
              if (device.revoked_at === null && id) {
                const revoke = h('button', { type: 'submit', class: 'button button-danger' }, 'Révoquer', srOnly(` l’appareil ${device.name}`));
                revoke.addEventListener('click', () => {
                  chosen = { id, name: device.name };
                });
                action = revoke;
              }
              return h(
                'tr',
                { 'data-device': device.name },
                h('th', { scope: 'row', 'data-label': 'Nom' }, device.name),
                h('td', { 'data-label': 'Ajouté le' }, formatDateTime(device.created_at)),
                h(
                  'td',
                  { 'data-label': 'État' },
                  device.revoked_at === null
                    ? h('span', { class: 'badge badge-ok' }, 'Actif')
                    : h('span', { class: 'badge badge-danger' }, `Révoqué le ${formatDate(device.revoked_at)}`),
                ),
                h('td', { 'data-label': 'Action' }, action),
              );
            }),
          ),
        )
      : h('p', {}, 'Ce compte n’a encore configuré aucun appareil.');
    const answer = await openDialog({
      title: `Appareils de ${account.display_name}`,
      body: [
        'Chaque navigateur configuré détient ses propres clés. Révoquez un appareil perdu, volé ou remplacé : il perd aussitôt l’accès aux canaux.',
        list,
      ],
      confirmLabel: 'Fermer',
      check: () => true,
    });
    const target = /** @type {{ id: string, name: string } | null} */ (chosen);
    if (!answer || !target) return;
    const confirmed = await confirmAction(
      `Révoquer l’appareil « ${target.name} » de ${account.display_name} ?`,
      'L’appareil perd l’accès immédiatement : il ne reçoit plus aucune clé ni aucun message, et ne peut plus en envoyer. Ses clés ne seront plus utilisées pour les nouveaux messages. Cette action est définitive ; la personne pourra configurer un nouvel appareil.',
      'Révoquer l’appareil',
    );
    if (!confirmed) return;
    try {
      await keys.revokeDevice(target.id);
    } catch (error) {
      showError(error instanceof Error ? error.message : String(error));
      return;
    }
    showStatus(`L’appareil « ${target.name} » de ${account.display_name} est révoqué.`);
    await this.devices(account);
  }

  // ---- Charter ------------------------------------------------------------------------

  charterSection() {
    this.charterCurrent = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading' }, 'Chargement…'));
    const textId = uid('charte-texte');
    const hintId = uid('charte-aide');
    const textarea = h('textarea', {
      id: textId,
      name: 'text',
      rows: '12',
      required: true,
      maxlength: 100000,
      'aria-describedby': hintId,
    });
    const publish = form(
      { class: 'grid-form', 'aria-label': 'Publier une nouvelle version de la charte' },
      h(
        'div',
        { class: 'field' },
        h('label', { for: textId }, 'Texte de la nouvelle version'),
        h('p', { class: 'hint', id: hintId }, 'En français, au format Markdown (titres « # », listes « - »).'),
        textarea,
      ),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Publier la nouvelle version')),
    );
    publish.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(publish)) return;
      const text = /** @type {HTMLTextAreaElement} */ (textarea).value;
      if (!text.trim()) return;
      const confirmed = await confirmAction(
        'Publier une nouvelle version de la charte ?',
        'Elle remplace aussitôt la version en vigueur. Tous les comptes devront l’accepter à nouveau avant d’accéder aux canaux. Cette publication est enregistrée au journal des accès.',
        'Publier la charte',
      );
      if (!confirmed) return;
      const published = await whileBusy(publish, () => admin.publishCharter(text));
      if (!published) return;
      publish.reset();
      showStatus(`Charte publiée (version ${published.version}). Chacun devra l’accepter à nouveau.`);
      await this.showCharter();
    });
    return h(
      'section',
      { class: 'card', id: 'charte', 'aria-labelledby': 'charter-title' },
      h('h2', { id: 'charter-title' }, 'Charte d’échange d’informations'),
      this.charterCurrent,
      h('details', { class: 'disclosure' }, h('summary', {}, 'Publier une nouvelle version'), publish),
    );
  }

  async showCharter() {
    const area = this.charterCurrent;
    if (!area) return;
    try {
      const status = await charterApi.status();
      const current = status.current;
      replace(
        area,
        current
          ? [
              h('p', {}, `Version en vigueur : ${current.version}, publiée le ${formatDateTime(current.published_at)}.`),
              h('details', { class: 'disclosure' }, h('summary', {}, 'Lire la version en vigueur'), h('pre', { class: 'charter-source' }, current.text)),
            ]
          : h('p', {}, 'Aucune charte n’a encore été publiée : les canaux restent fermés tant qu’il n’y en a pas.'),
      );
    } catch (error) {
      replace(area, h('p', {}, 'La charte n’a pas pu être chargée.'));
      showError(error instanceof Error ? error.message : String(error));
    }
  }

  /**
   * Runs an account action, then shows the fresh list with the keyboard focus back on
   * that account's menu (the button that had it is gone with the old list).
   * @template T
   * @param {Account} account
   * @param {() => Promise<T>} action
   * @returns {Promise<T | undefined>}
   */
  async run(account, action) {
    let result;
    try {
      result = await action();
    } catch (error) {
      showError(error instanceof Error ? error.message : String(error));
      return undefined;
    }
    await this.reload();
    const menu = this.accountTable.querySelector(`tr[data-login="${CSS.escape(account.login)}"] summary`);
    if (menu instanceof HTMLElement) menu.focus();
    return result;
  }

  /**
   * « Importer une liste »: the newcomers of a school year or of a service in one file, all
   * or none; each refused line is listed under the file field.
   */
  importForm() {
    const problems = h('ul', { class: 'field-error import-problems', role: 'alert', hidden: true });
    const file = h('input', { type: 'file', id: uid('liste'), name: 'csv', accept: '.csv,text/csv', required: true, 'aria-describedby': 'import-aide' });
    const imported = form(
      { class: 'stack', 'aria-label': 'Importer une liste de comptes' },
      h('label', { for: file.id }, 'Fichier CSV (UTF-8)'),
      h(
        'p',
        { class: 'hint', id: 'import-aide' },
        'Première ligne : login,name,institution,role,secrecy,social_action (les deux dernières colonnes sont facultatives, oui ou non). Une ligne par personne ; l’institution par son nom exact ; le rôle : member, coordinator, admin, auditor ou external.',
      ),
      file,
      problems,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Importer la liste')),
    );
    imported.addEventListener('submit', async (event) => {
      event.preventDefault();
      replace(problems);
      problems.hidden = true;
      const chosen = file.files?.[0];
      if (!chosen) {
        problems.append(h('li', {}, 'Choisissez le fichier de la liste.'));
        problems.hidden = false;
        return;
      }
      const result = await whileBusy(
        imported,
        async () => admin.importAccounts(await chosen.text()),
        (error) => {
          if (error.code !== 'invalid_file') return false;
          // The first line says nothing was created; each other line names a refused line.
          problems.append(...error.message.split('\n').map((line) => h('li', {}, line)));
          problems.hidden = false;
          return true;
        },
      );
      if (!result) return;
      imported.reset();
      await this.reload();
      this.showImported(result.accounts);
    });
    return h('details', { class: 'disclosure' }, h('summary', {}, 'Importer une liste (CSV)'), imported);
  }

  /**
   * The accounts an import created, with their provisional passwords, shown once.
   * @param {AccountWithPassword[]} accounts
   */
  showImported(accounts) {
    const titleId = uid('import-titre');
    const dismiss = h('button', { type: 'button', class: 'button' }, 'J’ai noté les mots de passe : les masquer');
    const panel = h(
      'section',
      { class: 'one-time', 'aria-labelledby': titleId, tabindex: '-1' },
      h('h3', { id: titleId }, `${accounts.length} compte(s) créé(s)`),
      h(
        'p',
        { class: 'warning' },
        h('strong', {}, 'Ces mots de passe ne seront plus jamais affichés. '),
        'Remettez chacun en main propre à la personne — jamais par courriel ni par messagerie. Chacun devra être changé à la première connexion.',
      ),
      h(
        'table',
        { class: 'table' },
        h('caption', { class: 'visually-hidden' }, 'Comptes importés et mots de passe provisoires'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Nom'), h('th', { scope: 'col' }, 'Identifiant'), h('th', { scope: 'col' }, 'Mot de passe provisoire'))),
        h(
          'tbody',
          {},
          accounts.map(({ account, password }) =>
            h('tr', {}, h('th', { scope: 'row' }, account.display_name), h('td', {}, h('code', { class: 'one-time-login' }, account.login)), h('td', {}, h('code', { class: 'one-time-password' }, password))),
          ),
        ),
      ),
      h('div', { class: 'actions' }, dismiss),
    );
    dismiss.addEventListener('click', () => {
      replace(this.oneTime);
      this.filter.focus();
    });
    replace(this.oneTime, panel);
    panel.focus();
    showStatus(`${accounts.length} compte(s) créé(s). Leurs mots de passe provisoires sont affichés.`);
  }

  /**
   * The generated password, shown once with what to do with it.
   * @param {AccountWithPassword} result
   * @param {'created' | 'reset'} why
   */
  showOneTimePassword({ account, password }, why) {
    const titleId = uid('mot-de-passe-titre');
    const copy = h('button', { type: 'button', class: 'button button-secondary' }, 'Copier le mot de passe');
    const dismiss = h('button', { type: 'button', class: 'button' }, 'J’ai noté le mot de passe : le masquer');
    const panel = h(
      'section',
      { class: 'one-time', 'aria-labelledby': titleId, tabindex: '-1' },
      h('h3', { id: titleId }, why === 'created' ? `Compte créé : ${account.display_name}` : `Nouveau mot de passe de ${account.display_name}`),
      h(
        'p',
        { class: 'warning' },
        h('strong', {}, 'Ce mot de passe ne sera plus jamais affiché. '),
        'Notez-le maintenant et remettez-le en main propre à la personne — jamais par courriel ni par messagerie. ',
        account.totp_enrolled
          ? 'Elle se connectera ensuite avec son code de double authentification habituel.'
          : 'À sa première connexion, elle configurera sa double authentification.',
      ),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Identifiant'),
        h('dd', {}, h('code', { class: 'one-time-login' }, account.login)),
        h('dt', {}, 'Mot de passe provisoire'),
        h('dd', {}, h('code', { class: 'one-time-password' }, password)),
      ),
      h('div', { class: 'actions' }, copy, dismiss),
    );
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(password);
        showStatus('Mot de passe copié dans le presse-papiers.');
      } catch {
        showError('La copie a échoué : notez le mot de passe à la main.');
      }
    });
    dismiss.addEventListener('click', () => {
      replace(this.oneTime);
      this.filter.focus();
    });
    replace(this.oneTime, panel);
    panel.focus();
    showStatus(why === 'created' ? `Compte ${account.login} créé. Son mot de passe provisoire est affiché.` : 'Mot de passe réinitialisé. Le mot de passe provisoire est affiché.');
  }
}

/** @param {Account} account */
function statusBadges(account) {
  const badges = [];
  if (account.disabled) badges.push(h('span', { class: 'badge badge-danger' }, 'Désactivé'));
  if (account.locked) badges.push(h('span', { class: 'badge badge-warning' }, 'Verrouillé'));
  if (!account.disabled && !account.locked) badges.push(h('span', { class: 'badge badge-ok' }, 'Actif'));
  if (!account.totp_enrolled) badges.push(h('span', { class: 'badge badge-info' }, 'Double authentification à configurer'));
  return h('span', { class: 'badges' }, badges);
}

/** @param {Attributes} attributes */
function attributesFieldset(attributes) {
  return h(
    'fieldset',
    { class: 'fieldset' },
    h('legend', {}, 'Habilitations (régimes juridiques)'),
    /** @type {(keyof Attributes)[]} */ (Object.keys(ATTRIBUTE_LABELS)).map((key) =>
      checkboxField({ name: key, label: ATTRIBUTE_LABELS[key].label, hint: ATTRIBUTE_LABELS[key].hint, checked: attributes[key] }),
    ),
  );
}

/**
 * @param {HTMLFormElement} formElement
 * @returns {Attributes}
 */
function readAttributes(formElement) {
  return {
    bound_by_professional_secrecy: control(formElement, 'bound_by_professional_secrecy').checked,
    social_action_professional: control(formElement, 'social_action_professional').checked,
  };
}
