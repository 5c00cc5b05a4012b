// The login screen: password, then the TOTP code or a passkey / security key (CHARTER.md
// C15). An account without TOTP enrols here on its first login: QR code, secret for
// typing by hand, first code. A passkey kept on the authenticator also signs in alone
// (« Se connecter avec une clé d’accès »).

import { auth } from '../api.js';
import * as webauthn from '../webauthn.js';
import { append, h, replace, screenTitle } from '../dom.js';
import { control, field, form, validate, valueOf, whileBusy } from '../forms.js';
import { showError, showStatus } from '../notices.js';

/** @typedef {import('../types.js').Shell} Shell */
/** @typedef {import('../types.js').LoginChallenge} LoginChallenge */
/** @typedef {import('../types.js').TotpEnrolment} TotpEnrolment */
/** @typedef {import('../types.js').WebauthnCeremony} WebauthnCeremony */
/** @typedef {import('../types.js').SessionOpened} SessionOpened */

const CODE_PATTERN = '\\d{3}\\s?\\d{3}';
const CODE_MESSAGE = 'Le code comporte 6 chiffres, par exemple 123456.';

/**
 * @param {HTMLElement} screen
 * @param {Shell} shell
 */
export function renderLogin(screen, shell) {
  const title = screenTitle('Connexion');
  const body = h('div');
  append(screen, h('section', { class: 'card card-narrow', 'aria-labelledby': 'login-title' }, title, body));
  title.id = 'login-title';
  showPasswordStep('');

  /** @param {string} login Kept when coming back from a later step. */
  function showPasswordStep(login) {
    title.textContent = 'Connexion';
    const passwordForm = form(
      { class: 'stack' },
      h('p', {}, 'Connectez-vous avec l’identifiant et le mot de passe remis par l’administrateur de Passerelle.'),
      field({ label: 'Identifiant', name: 'login', required: true, autocomplete: 'username', spellcheck: false, value: login }),
      field({ label: 'Mot de passe', name: 'password', type: 'password', required: true, autocomplete: 'current-password' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Continuer')),
    );
    passwordForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(passwordForm)) return;
      const password = control(passwordForm, 'password');
      const loginValue = valueOf(passwordForm, 'login');
      const challenge = await whileBusy(passwordForm, () => auth.login(loginValue, password.value));
      if (!challenge) {
        password.value = '';
        password.focus();
        return;
      }
      if (challenge.next === 'webauthn' && challenge.webauthn) {
        showKeyStep(loginValue, challenge.challenge, challenge.webauthn);
      } else if (challenge.next === 'totp_enrolment' && challenge.enrolment) {
        showEnrolmentStep(loginValue, challenge.challenge, challenge.enrolment);
      } else {
        showCodeStep(loginValue, challenge.challenge);
      }
    });
    const passkeyButton = h('button', { type: 'button', class: 'button button-secondary', id: 'passwordless' }, 'Se connecter avec une clé d’accès');
    passkeyButton.addEventListener('click', async () => {
      const opened = await whileBusy(passkeyButton, async () => {
        const ceremony = await auth.passwordless();
        const credential = await webauthn.get(ceremony.options);
        return auth.passwordlessFinish(ceremony.ceremony_id, credential);
      });
      if (opened) signedIn(opened, false);
    });
    const passkeyArea = webauthn.supported()
      ? h(
          'div',
          { class: 'stack passwordless' },
          h('p', { class: 'hint' }, 'Vous avez enregistré une clé d’accès (passkey) sur ce poste, ce téléphone ou une clé USB ? Connectez-vous sans mot de passe :'),
          h('div', { class: 'actions' }, passkeyButton),
        )
      : null;
    replace(body, passwordForm, passkeyArea);
  }

  /**
   * The second step with a passkey or security key.
   * @param {string} login
   * @param {string} challenge
   * @param {WebauthnCeremony} ceremony
   */
  function showKeyStep(login, challenge, ceremony) {
    title.textContent = 'Clé de sécurité';
    const useKey = h('button', { type: 'button', class: 'button', id: 'use-security-key' }, 'Utiliser ma clé de sécurité');
    const useCode = h('button', { type: 'button', class: 'button button-secondary' }, 'Utiliser plutôt le code à 6 chiffres');
    const back = h('button', { type: 'button', class: 'button button-secondary' }, 'Annuler');
    useKey.addEventListener('click', async () => {
      const opened = await whileBusy(
        useKey,
        async () => {
          const credential = await webauthn.get(ceremony.options);
          return auth.webauthn(challenge, ceremony.ceremony_id, credential);
        },
        (error) => {
          // The challenge and the ceremony serve once: start again from the password.
          if (!['invalid_challenge', 'webauthn_expired', 'webauthn_failed', 'webauthn_unknown_credential', 'webauthn_wrong_origin'].includes(error.code)) return false;
          showPasswordStep(login);
          showError(error.message);
          return true;
        },
      );
      if (opened) signedIn(opened, false);
    });
    useCode.addEventListener('click', () => showCodeStep(login, challenge));
    back.addEventListener('click', () => showPasswordStep(login));
    replace(
      body,
      h('p', {}, 'Votre compte est protégé par une clé de sécurité ou une clé d’accès. Appuyez sur le bouton, puis suivez les indications du navigateur (toucher la clé, code PIN, empreinte…).'),
      h('div', { class: 'actions' }, useKey, useCode, back),
    );
    useKey.focus();
  }

  /**
   * After a successful second step.
   * @param {SessionOpened} opened
   * @param {boolean} enrolling
   */
  function signedIn(opened, enrolling) {
    shell.setMe(opened.me);
    if (opened.me.must_register_security_key) {
      shell.navigate('/securite');
      showStatus('Votre rôle exige une clé de sécurité : enregistrez-en une pour continuer.');
      return;
    }
    shell.navigate('/');
    if (enrolling) showStatus('Double authentification activée. Votre application vous donnera un code à chaque connexion.');
  }

  /**
   * @param {string} login
   * @param {string} challenge
   */
  function showCodeStep(login, challenge) {
    title.textContent = 'Code de vérification';
    const codeForm = totpForm(login, challenge, 'Se connecter', false);
    replace(
      body,
      h('p', {}, 'Ouvrez votre application d’authentification et saisissez le code à 6 chiffres affiché pour Passerelle.'),
      codeForm,
    );
    control(codeForm, 'code').focus();
  }

  /**
   * @param {string} login
   * @param {string} challenge
   * @param {TotpEnrolment} enrolment
   */
  function showEnrolmentStep(login, challenge, enrolment) {
    title.textContent = 'Activer la double authentification';
    // The SVG goes through an <img>: whatever it contains is never parsed into the page.
    const qr = h('img', {
      class: 'qr-code',
      src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrolment.qr_svg)}`,
      alt: 'Code QR à scanner avec votre application d’authentification',
      width: 200,
      height: 200,
    });
    replace(
      body,
      h(
        'p',
        {},
        'Pour protéger les informations du CLSPD, chaque connexion demande, en plus du mot de passe, un code à usage unique. Configurez-le une fois pour toutes :',
      ),
      h(
        'ol',
        { class: 'steps' },
        h(
          'li',
          {},
          'Installez une application d’authentification sur votre téléphone professionnel (par exemple FreeOTP, Microsoft Authenticator ou Google Authenticator).',
        ),
        h(
          'li',
          {},
          h('p', {}, 'Scannez ce code QR avec l’application :'),
          h('div', { class: 'qr-frame' }, qr),
          h('p', {}, 'Impossible de scanner ? Ajoutez un compte dans l’application en saisissant cette clé :'),
          h('p', { class: 'totp-secret' }, h('code', { class: 'secret', 'aria-label': 'Clé secrète, à saisir sans les espaces' }, groupBy4(enrolment.secret_base32))),
          h('p', { class: 'hint' }, 'Sur le téléphone où l’application est installée, vous pouvez aussi ', h('a', { href: enrolment.otpauth_uri }, 'ouvrir directement l’application'), '.'),
        ),
        h('li', {}, 'Saisissez ci-dessous le code à 6 chiffres que l’application affiche pour Passerelle.'),
      ),
      totpForm(login, challenge, 'Activer et se connecter', true),
    );
    title.focus();
  }

  /**
   * @param {string} login
   * @param {string} challenge
   * @param {string} submitLabel
   * @param {boolean} enrolling
   */
  function totpForm(login, challenge, submitLabel, enrolling) {
    const back = h('button', { type: 'button', class: 'button button-secondary' }, 'Annuler');
    back.addEventListener('click', () => showPasswordStep(login));
    const codeForm = form(
      { class: 'stack' },
      field({
        label: 'Code à 6 chiffres',
        name: 'code',
        required: true,
        autocomplete: 'one-time-code',
        inputmode: 'numeric',
        maxlength: 7,
        pattern: CODE_PATTERN,
        patternMessage: CODE_MESSAGE,
        spellcheck: false,
      }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, submitLabel), back),
    );
    codeForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(codeForm)) return;
      const code = control(codeForm, 'code');
      const opened = await whileBusy(
        codeForm,
        () => auth.totp(challenge, code.value.replace(/\s/g, '')),
        (error) => {
          if (error.code !== 'invalid_challenge') return false;
          // The challenge lives a few minutes: start again from the password.
          showPasswordStep(login);
          showError(error.message);
          return true;
        },
      );
      if (!opened) {
        if (code.isConnected) {
          code.value = '';
          code.focus();
        }
        return;
      }
      signedIn(opened, enrolling);
    });
    return codeForm;
  }
}

/**
 * « ABCDEFGH » → « ABCD EFGH », easier to copy by hand.
 * @param {string} secret
 */
function groupBy4(secret) {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}
