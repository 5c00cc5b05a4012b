// The home screen: who you are, and the place where your exchanges will be listed.
// Channels arrive with the messaging part; until then this says so plainly.

import { append, h, screenTitle } from '../dom.js';
import { attributeList, ROLE_LABELS } from '../labels.js';

/** @typedef {import('../types.js').UserShell} UserShell */

/**
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderHome(screen, { me }) {
  const attributes = attributeList(me.attributes);
  append(
    screen,
    screenTitle(`Bonjour, ${me.display_name}`),
    h(
      'div',
      { class: 'columns' },
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'exchanges-title' },
        h('h2', { id: 'exchanges-title' }, 'Vos échanges'),
        h(
          'p',
          {},
          'Les canaux d’échange chiffrés de bout en bout arrivent bientôt : groupes de travail, situations individuelles, analyses de pratiques et conversations directes. Ils s’afficheront ici, regroupés par type.',
        ),
        h(
          'p',
          { class: 'hint' },
          'Avant d’y accéder, vous accepterez la charte d’échange d’informations du CLSPD.',
        ),
        roleHint(me.role),
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'account-title' },
        h('h2', { id: 'account-title' }, 'Votre compte'),
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'Nom'),
          h('dd', { 'data-testid': 'me-name' }, me.display_name),
          h('dt', {}, 'Identifiant'),
          h('dd', {}, me.login),
          h('dt', {}, 'Institution'),
          h('dd', { 'data-testid': 'me-institution' }, me.institution.name),
          h('dt', {}, 'Rôle'),
          h('dd', { 'data-testid': 'me-role' }, ROLE_LABELS[me.role]),
          attributes.length > 0 ? [h('dt', {}, 'Habilitations'), h('dd', {}, attributes.join(', '))] : null,
        ),
        h('p', {}, h('a', { href: '/securite' }, 'Gérer vos sessions et votre mot de passe')),
      ),
    ),
  );
}

/**
 * What this role will find here, or where to go instead.
 * @param {import('../types.js').Role} role
 */
function roleHint(role) {
  switch (role) {
    case 'admin':
      return h(
        'p',
        {},
        'Votre rôle d’administration ne donne accès à aucun message. Gérez les institutions et les comptes depuis la ',
        h('a', { href: '/administration' }, 'console d’administration'),
        '.',
      );
    case 'auditor':
      return h('p', {}, 'La console d’audit du journal des accès (filtres, export, vérification d’intégrité) s’affichera ici.');
    case 'coordinator':
      return h('p', {}, 'En tant que coordinatrice ou coordinateur, vous pourrez créer les canaux et en gérer les membres.');
    default:
      return null;
  }
}
