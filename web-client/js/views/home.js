// The home screen of the roles that read no message (administration, the DPO's audit):
// who you are, and the way to the work of your role. Those who use channels land on their
// conversations instead (app.js, MESSAGING_HOME).

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
      roleCard(me.role),
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
        h('p', {}, h('a', { href: '/securite' }, 'Gérer vos appareils, vos sessions et votre mot de passe')),
      ),
    ),
  );
}

/**
 * What this role does here, and the way to it.
 * @param {import('../types.js').Role} role
 */
function roleCard(role) {
  if (role === 'auditor') {
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'role-title', 'data-testid': 'home-role' },
      h('h2', { id: 'role-title' }, 'Journal des accès'),
      h('p', {}, 'Vous consultez le journal des accès du CLSPD : qui a fait quoi, quand, sur quel canal ou quel dossier. Vous en vérifiez l’intégrité et l’exportez pour un contrôle.'),
      h('p', {}, 'Votre rôle ne donne accès à aucun message : ils restent chiffrés pour leurs seuls destinataires.'),
      h('p', { class: 'actions' }, h('a', { href: '/audit', class: 'button' }, 'Ouvrir le journal')),
    );
  }
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'role-title', 'data-testid': 'home-role' },
    h('h2', { id: 'role-title' }, 'Administration'),
    h('p', {}, 'Vous gérez les institutions du CLSPD, les comptes de leurs professionnels, les invitations et les importations de listes.'),
    h('p', {}, 'Votre rôle d’administration ne donne accès à aucun message : ils restent chiffrés pour leurs seuls destinataires.'),
    h(
      'p',
      { class: 'actions' },
      h('a', { href: '/administration', class: 'button' }, 'Ouvrir la console d’administration'),
      h('a', { href: '/bilan', class: 'button button-secondary' }, 'Voir le bilan de l’année'),
    ),
  );
}
