// `/invitation#<token>`: the link an administrator sent. The person chooses their password
// here, once; at their first login they then set up their authentication application.
// The token stays in the fragment (never sent to the server with the page, nor kept in a
// proxy's log) and is removed from the address bar once used.

import { invitations } from '../api.js';
import { append, h, replace, screenTitle } from '../dom.js';
import { control, field, form, validate, whileBusy } from '../forms.js';
import { showStatus } from '../notices.js';

const MIN_PASSWORD_CHARS = 12;

/** @param {HTMLElement} screen */
export function renderInvitation(screen) {
  const token = decodeURIComponent(location.hash.replace(/^#/, ''));
  const card = h('div', { class: 'card card-narrow' }, screenTitle('Bienvenue sur Passerelle'));
  append(screen, card);
  if (!token) {
    card.append(
      h('p', {}, 'Ce lien d’invitation est incomplet. Ouvrez le lien exact que l’administrateur de Passerelle vous a envoyé, ou demandez-en un nouveau.'),
      h('p', {}, h('a', { href: '/connexion' }, 'Aller à la connexion')),
    );
    return;
  }
  const passwordForm = form(
    { class: 'stack', 'aria-label': 'Votre mot de passe' },
    field({
      label: 'Mot de passe',
      name: 'new',
      type: 'password',
      required: true,
      autocomplete: 'new-password',
      hint: `${MIN_PASSWORD_CHARS} caractères au moins. Une phrase de plusieurs mots est plus sûre et plus facile à retenir.`,
    }),
    field({ label: 'Confirmation du mot de passe', name: 'confirm', type: 'password', required: true, autocomplete: 'new-password' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Enregistrer mon mot de passe')),
  );
  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const valid = validate(passwordForm, (f) => {
      /** @type {Array<[string, string]>} */
      const problems = [];
      const chosen = control(f, 'new').value;
      if (chosen && [...chosen].length < MIN_PASSWORD_CHARS) {
        problems.push(['new', `Le mot de passe doit comporter au moins ${MIN_PASSWORD_CHARS} caractères.`]);
      }
      if (control(f, 'confirm').value && control(f, 'confirm').value !== chosen) {
        problems.push(['confirm', 'La confirmation ne correspond pas au mot de passe.']);
      }
      return problems;
    });
    if (!valid) return;
    const done = await whileBusy(passwordForm, async () => {
      await invitations.accept(token, control(passwordForm, 'new').value);
      return true;
    });
    if (!done) return;
    // The link has served: it leaves the address bar and the history.
    history.replaceState(null, '', '/invitation');
    replace(
      card,
      screenTitle('Mot de passe enregistré'),
      h('p', {}, 'Votre mot de passe est enregistré : vous seul(e) le connaissez. À votre première connexion, vous configurerez votre application d’authentification (le second facteur).'),
      h('p', {}, h('a', { class: 'button', href: '/connexion' }, 'Se connecter')),
    );
    showStatus('Mot de passe enregistré. Connectez-vous pour continuer.');
  });
  card.append(
    h('p', { class: 'lead' }, 'Un administrateur a créé votre compte. Choisissez votre mot de passe : ce lien ne sert qu’une fois et expire au bout d’une semaine.'),
    passwordForm,
  );
}
