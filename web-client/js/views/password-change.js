// `/mot-de-passe`: the first thing an account does when an administrator generated its
// password (a new account, a reset). The server refuses everything else until then
// (CHARTER.md C15): this screen is the only one shown, and says why.

import { auth } from '../api.js';
import { append, h, screenTitle } from '../dom.js';
import { control, field, form, validate, whileBusy } from '../forms.js';
import { showStatus } from '../notices.js';

/** @typedef {import('../types.js').UserShell} UserShell */

const MIN_PASSWORD_CHARS = 12;

/**
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderPasswordChange(screen, shell) {
  const passwordForm = form(
    { class: 'stack', 'aria-label': 'Votre nouveau mot de passe' },
    field({ label: 'Mot de passe provisoire', name: 'current', type: 'password', required: true, autocomplete: 'current-password', hint: 'Celui que l’administrateur vous a remis.' }),
    field({
      label: 'Nouveau mot de passe',
      name: 'new',
      type: 'password',
      required: true,
      autocomplete: 'new-password',
      hint: `${MIN_PASSWORD_CHARS} caractères au moins, différent du mot de passe provisoire. Une phrase de plusieurs mots est plus sûre et plus facile à retenir.`,
    }),
    field({ label: 'Confirmation du nouveau mot de passe', name: 'confirm', type: 'password', required: true, autocomplete: 'new-password' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Enregistrer mon mot de passe')),
  );
  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const valid = validate(passwordForm, (f) => {
      /** @type {Array<[string, string]>} */
      const problems = [];
      const next = control(f, 'new').value;
      if (next && [...next].length < MIN_PASSWORD_CHARS) {
        problems.push(['new', `Le nouveau mot de passe doit comporter au moins ${MIN_PASSWORD_CHARS} caractères.`]);
      } else if (next && next === control(f, 'current').value) {
        problems.push(['new', 'Le nouveau mot de passe doit être différent du mot de passe provisoire.']);
      }
      if (control(f, 'confirm').value && control(f, 'confirm').value !== next) {
        problems.push(['confirm', 'La confirmation ne correspond pas au nouveau mot de passe.']);
      }
      return problems;
    });
    if (!valid) return;
    const me = await whileBusy(passwordForm, async () => {
      await auth.changePassword(control(passwordForm, 'current').value, control(passwordForm, 'new').value);
      return auth.me();
    });
    if (!me) return;
    shell.setMe(me);
    shell.navigate('/', { replace: true });
    showStatus('Votre mot de passe est enregistré. Vous seul(e) le connaissez désormais.');
  });
  append(
    screen,
    h(
      'div',
      { class: 'card card-narrow' },
      screenTitle('Choisissez votre mot de passe'),
      h('p', { class: 'lead' }, 'Votre mot de passe actuel est provisoire : l’administrateur qui l’a créé le connaît. Choisissez-en un que vous seul(e) connaîtrez avant d’accéder à Passerelle.'),
      passwordForm,
    ),
  );
}
