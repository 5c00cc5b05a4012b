// Setting this browser up as a device (PROTOCOL.md §5.5): the first device of an account
// creates its keys and shows the recovery code once, confirmed by typing two of its
// groups back; a later device is either linked from a device already connected (both
// show the same link code) or admitted with the recovery code.

import { ApiError, keys as keysApi } from '../api.js';
import { CryptoError, groupDigits } from '../crypto.js';
import { append, h, replace, screenTitle } from '../dom.js';
import { field, form, validate, valueOf, whileBusy } from '../forms.js';
import { defaultDeviceName, restoreWithRecoveryCode, startEnrolment, startLink } from '../keyring.js';
import { formatDateTime } from '../labels.js';
import { clearNotices, showError, showStatus } from '../notices.js';
import { qrSvg } from '../qr.js';
import * as session from '../session.js';

/** How often the new device asks whether its link request was answered. */
const LINK_POLL_MS = 2_000;

/** @typedef {import('../types.js').UserShell} UserShell */

/**
 * @param {HTMLElement} screen
 * @param {UserShell} shell
 */
export function renderSetup(screen, shell) {
  const body = h('div', { class: 'stack' }, h('p', { class: 'loading' }, 'Vérification de vos clés…'));
  append(screen, h('section', { class: 'card card-narrow', 'aria-labelledby': 'setup-title' }, screenTitle('Configurer cet appareil'), body));
  screen.querySelector('h1')?.setAttribute('id', 'setup-title');
  const { me } = shell;
  /** Whether the account had no identity key when this screen opened (a first enrolment). */
  let firstEnrolment = false;

  start().catch((error) => showError(error instanceof Error ? error.message : String(error)));

  async function start() {
    const ready = await session.readiness(me);
    if (ready.keyring) {
      shell.navigate('/', { replace: true });
      return;
    }
    const mine = await keysApi.user(me.id);
    const liveDevices = mine.devices.filter((d) => d.revoked_at === null).length;
    firstEnrolment = !mine.identity_key;
    const revokedNotice =
      ready.device === 'revoked'
        ? h('p', { class: 'notice notice-error' }, 'L’appareil que ce navigateur utilisait a été révoqué (depuis un autre de vos appareils ou par l’administrateur) : ses clés ont été effacées. Configurez-le à nouveau pour continuer.')
        : null;
    if (mine.identity_key) showRestore(liveDevices, revokedNotice);
    else showEnrolmentIntro(revokedNotice);
  }

  /** @param {HTMLElement | null} notice */
  function showEnrolmentIntro(notice) {
    const intro = form(
      { class: 'stack' },
      notice,
      h('p', {}, 'Vos échanges sont chiffrés de bout en bout : seuls les appareils des membres d’un canal peuvent les lire, jamais le serveur. Ce navigateur va créer vos clés.'),
      h('p', {}, 'Vous recevrez ensuite un ', h('strong', {}, 'code de secours'), ' : il permet d’ouvrir votre historique sur un autre ordinateur. Il ne sera affiché qu’une fois.'),
      field({ label: 'Nom de cet appareil', name: 'name', required: true, maxlength: 100, value: defaultDeviceName(), hint: 'Pour le reconnaître dans la liste de vos appareils, par exemple « Ordinateur du bureau ».' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Créer mes clés')),
    );
    intro.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(intro)) return;
      const name = valueOf(intro, 'name');
      const enrolment = await whileBusy(intro, () => startEnrolment(me, { enrol: firstEnrolment }));
      if (enrolment) showCode(enrolment, name);
    });
    replace(body, intro);
  }

  /**
   * @param {import('../keyring.js').Enrolment} enrolment
   * @param {string} name
   */
  function showCode(enrolment, name) {
    const saved = h('input', { type: 'checkbox', id: 'code-saved', name: 'saved' });
    const next = form(
      { class: 'stack' },
      h(
        'div',
        { class: 'one-time', tabindex: '-1', id: 'recovery-code-box' },
        h('h2', {}, 'Votre code de secours'),
        h('p', {}, h('code', { class: 'recovery-code', 'data-testid': 'recovery-code' }, enrolment.recoveryCode)),
        h('p', { class: 'warning' }, 'Notez-le maintenant sur papier et rangez-le en lieu sûr, hors de l’ordinateur. Il ne sera plus jamais affiché. Sans lui, un nouvel ordinateur ne pourra pas lire vos échanges passés.'),
      ),
      h('div', { class: 'checkbox' }, saved, h('label', { for: 'code-saved' }, 'J’ai noté ce code en lieu sûr')),
      h('p', { class: 'field-error', id: 'code-saved-erreur', hidden: true }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Continuer')),
    );
    next.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!saved.checked) {
        showError('Cochez la case une fois le code noté.');
        saved.focus();
        return;
      }
      showConfirm(enrolment, name);
    });
    replace(body, next);
    /** @type {HTMLElement | null} */ (body.querySelector('#recovery-code-box'))?.focus();
  }

  /**
   * @param {import('../keyring.js').Enrolment} enrolment
   * @param {string} name
   */
  function showConfirm(enrolment, name) {
    const groups = enrolment.recoveryCode.split('-');
    // Two different groups, drawn at random, so that copying the first one is not enough.
    const first = Math.floor(Math.random() * 3);
    const second = 3 + Math.floor(Math.random() * 3);
    const confirm = form(
      { class: 'stack' },
      h('p', {}, 'Pour vérifier que votre code est bien noté, recopiez deux de ses groupes de quatre caractères.'),
      field({ label: `Groupe ${first + 1} du code`, name: 'first', required: true, maxlength: 4, spellcheck: false, autocomplete: 'off' }),
      field({ label: `Groupe ${second + 1} du code`, name: 'second', required: true, maxlength: 4, spellcheck: false, autocomplete: 'off' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Confirmer et activer cet appareil')),
    );
    const restart = h('button', { type: 'button', class: 'button button-secondary' }, 'Je n’ai pas noté le code : recommencer');
    restart.addEventListener('click', () => showEnrolmentIntro(null));
    confirm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const normalise = (/** @type {string} */ v) => v.trim().toUpperCase().replace(/O/g, '0').replace(/[IL]/g, '1');
      const ok = validate(confirm, (f) => {
        /** @type {Array<[string, string]>} */
        const problems = [];
        if (normalise(valueOf(f, 'first')) !== groups[first]) problems.push(['first', `Ce n’est pas le groupe ${first + 1} de votre code.`]);
        if (normalise(valueOf(f, 'second')) !== groups[second]) problems.push(['second', `Ce n’est pas le groupe ${second + 1} de votre code.`]);
        return problems;
      });
      if (!ok) return;
      const keyring = await whileBusy(confirm, () => enrolment.finish(name));
      if (!keyring) return;
      await session.update(me, { keyring });
      shell.navigate('/');
      showStatus('Cet appareil est prêt : vos clés sont créées et sauvegardées sous votre code de secours.');
    });
    replace(body, confirm, h('div', { class: 'actions' }, restart));
  }

  /**
   * The two ways in for an account that already has keys: linking from a device already
   * connected, or the recovery code.
   * @param {number} liveDevices
   * @param {HTMLElement | null} notice
   */
  function showRestore(liveDevices, notice) {
    const link = form(
      { class: 'stack', 'aria-labelledby': 'setup-link-title' },
      h('h2', { id: 'setup-link-title' }, 'Relier à un appareil déjà connecté'),
      h('p', {}, 'Passerelle est ouvert avec votre compte sur un autre appareil (votre ordinateur de bureau, par exemple) ? Il peut autoriser ce navigateur : vous vérifierez qu’un même code s’affiche sur les deux écrans. Vos échanges passés deviennent lisibles ici.'),
      field({ label: 'Nom de cet appareil', name: 'name', required: true, maxlength: 100, value: defaultDeviceName(), hint: 'Il s’affichera sur votre autre appareil, par exemple « Ordinateur portable ».' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Relier à un appareil déjà connecté')),
    );
    link.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!validate(link)) return;
      startLinking(link, valueOf(link, 'name'), liveDevices, notice);
    });
    const restore = form(
      { class: 'stack', 'aria-labelledby': 'setup-restore-title' },
      h('h2', { id: 'setup-restore-title' }, 'Utiliser mon code de secours'),
      h('p', {}, 'Sans autre appareil à portée de main, saisissez le code de secours reçu lors de la première configuration.'),
      field({ label: 'Code de secours', name: 'code', required: true, spellcheck: false, autocomplete: 'off', hint: '26 caractères, par exemple 8973-5T7M-V0GZ-1A8C-99VK-HF96-M0 (24 pour un code plus ancien). Les tirets et les espaces sont facultatifs.' }),
      field({ label: 'Nom de cet appareil', name: 'name', required: true, maxlength: 100, value: defaultDeviceName() }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button' }, 'Activer cet appareil')),
    );
    restore.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!validate(restore)) return;
      const codeInput = /** @type {HTMLInputElement} */ (restore.elements.namedItem('code'));
      const keyring = await whileBusy(restore, () =>
        restoreWithRecoveryCode(me, codeInput.value, valueOf(restore, 'name')).catch((error) => {
          throw error instanceof CryptoError ? new ApiError(error.code, restoreMessage(error), 0) : error;
        }),
      );
      if (!keyring) return;
      codeInput.value = '';
      await session.update(me, { keyring });
      shell.navigate('/');
      showStatus('Cet appareil est activé : votre historique chiffré est de nouveau lisible.');
    });
    replace(
      body,
      notice,
      h(
        'p',
        {},
        liveDevices > 0
          ? 'Votre compte a déjà des clés. Pour lire vos échanges sur ce navigateur, choisissez l’une de ces deux façons de l’activer.'
          : 'Votre compte a déjà des clés. Pour lire vos échanges sur ce navigateur, activez-le avec votre code de secours.',
      ),
      liveDevices > 0 ? link : null,
      restore,
      h(
        'details',
        { class: 'disclosure' },
        h('summary', {}, 'J’ai perdu mon code de secours'),
        h(
          'p',
          {},
          liveDevices > 0
            ? `Votre compte a ${liveDevices} appareil(s) actif(s). Sur l’un d’eux, vos échanges restent lisibles. Si vous n’en avez plus l’usage, demandez à l’administrateur de les révoquer : vous pourrez alors créer de nouvelles clés (l’historique sera perdu et vos collègues verront que votre identité a changé).`
            : 'Aucun appareil actif ne reste sur votre compte : vous pouvez créer de nouvelles clés. L’historique chiffré sous les anciennes sera perdu et vos collègues verront que votre identité a changé.',
        ),
        liveDevices === 0 ? resetButton() : null,
      ),
    );
  }

  /**
   * Posts this device's link request and shows its code until an existing device answers.
   * @param {HTMLFormElement} origin The form that started it (busy meanwhile).
   * @param {string} name
   * @param {number} liveDevices
   * @param {HTMLElement | null} notice
   */
  async function startLinking(origin, name, liveDevices, notice) {
    const started = await whileBusy(origin, async () => {
      const pending = await startLink(me);
      const created = await keysApi.createLinkRequest(pending.request, name);
      return { pending, created };
    });
    if (!started) return;
    const { pending, created } = started;
    const state = h('p', { role: 'status', class: 'link-state', 'data-testid': 'link-state' }, 'En attente de l’autorisation de votre autre appareil…');
    const cancel = h('button', { type: 'button', class: 'button button-secondary' }, 'Annuler la demande');
    let stopped = false;
    cancel.addEventListener('click', async () => {
      stopped = true;
      await keysApi.refuseLink(created.id).catch(() => {});
      showRestore(liveDevices, notice);
    });
    const groups = groupDigits(pending.code).split(' ');
    replace(
      body,
      h(
        'section',
        { class: 'stack link-code-box', 'aria-labelledby': 'link-code-title' },
        h('h2', { id: 'link-code-title', tabindex: '-1' }, 'Votre code de liaison'),
        h('p', { class: 'link-code', 'data-testid': 'link-code', 'aria-label': `Code de liaison : ${groups.join(', ')}` }, groups.join(' ')),
        h('img', {
          class: 'qr-code',
          src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(qrSvg(pending.qrPayload))}`,
          alt: 'Code QR du code de liaison',
          width: 200,
          height: 200,
        }),
        h(
          'ol',
          { class: 'link-steps' },
          h('li', {}, 'Sur un appareil où Passerelle est déjà ouvert avec votre compte, affichez vos échanges : la fenêtre « Un nouvel appareil demande à rejoindre votre compte » s’ouvre.'),
          h('li', {}, `Vérifiez que le code affiché là-bas pour « ${name} » est identique à celui-ci, chiffre pour chiffre.`),
          h('li', {}, 'Si c’est le cas, choisissez « Les codes sont identiques : autoriser ». Sinon, refusez : quelqu’un d’autre a pu s’interposer.'),
        ),
        h('p', { class: 'hint' }, `Cette page se met à jour d’elle-même. La demande expire le ${formatDateTime(created.expires_at)}.`),
        state,
        h('div', { class: 'actions' }, cancel),
      ),
    );
    /** @type {HTMLElement | null} */ (body.querySelector('#link-code-title'))?.focus();

    /** Polls until the request is no longer pending, or this screen is left. */
    const poll = async () => {
      if (stopped || !screen.isConnected) return;
      let current;
      try {
        current = await keysApi.linkRequest(created.id);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          current = { ...created, status: /** @type {const} */ ('expired') };
        } else {
          replace(state, 'Le serveur ne répond pas pour l’instant ; nouvel essai dans un instant…');
          setTimeout(poll, LINK_POLL_MS);
          return;
        }
      }
      if (stopped || !screen.isConnected) return;
      if (current.status === 'pending') {
        replace(state, 'En attente de l’autorisation de votre autre appareil…');
        setTimeout(poll, LINK_POLL_MS);
        return;
      }
      stopped = true;
      if (current.status === 'linked') {
        replace(state, 'Autorisation reçue : activation de cet appareil…');
        cancel.remove();
        try {
          const keyring = await pending.finish();
          await session.update(me, { keyring });
          shell.navigate('/');
          showStatus('Cet appareil est relié à votre compte : vos échanges sont lisibles ici. Il ne détient pas votre code de secours : pour autoriser à son tour un appareil, saisissez-le quand il vous sera proposé.');
        } catch (error) {
          showError(restoreMessage(error));
          showLinkEnded('Ce navigateur n’a pas pu être activé : le certificat reçu ne correspond pas à sa demande.', liveDevices, notice);
        }
        return;
      }
      showLinkEnded(
        current.status === 'refused'
          ? 'La demande a été refusée depuis votre autre appareil (ou annulée). Ce navigateur n’a pas été ajouté à votre compte.'
          : 'La demande a expiré : aucun appareil ne l’a autorisée dans les 10 minutes. Ce navigateur n’a pas été ajouté à votre compte.',
        liveDevices,
        notice,
      );
    };
    setTimeout(poll, LINK_POLL_MS);
  }

  /**
   * The end of a link request that did not succeed, with a way to start again.
   * @param {string} message
   * @param {number} liveDevices
   * @param {HTMLElement | null} notice
   */
  function showLinkEnded(message, liveDevices, notice) {
    const again = h('button', { type: 'button', class: 'button' }, 'Recommencer');
    again.addEventListener('click', () => {
      clearNotices();
      showRestore(liveDevices, notice);
    });
    replace(body, h('p', { class: 'notice notice-error', role: 'alert', 'data-testid': 'link-ended' }, message), h('div', { class: 'actions' }, again));
    again.focus();
  }

  function resetButton() {
    const button = h('button', { type: 'button', class: 'button button-danger' }, 'Créer de nouvelles clés');
    button.addEventListener('click', () => showEnrolmentIntro(null));
    return button;
  }
}

/**
 * A French message for a failure while restoring.
 * @param {unknown} error
 */
export function restoreMessage(error) {
  if (error instanceof ApiError) return error.message;
  if (error instanceof CryptoError) {
    switch (error.code) {
      case 'bad_recovery_code':
        return 'Ce code de secours n’est pas valide : il compte 26 caractères, ou 24 pour un code plus ancien (chiffres et lettres, sans I, L, O ni U). Vérifiez-le.';
      case 'decrypt_failed':
        return 'Ce code de secours ne correspond pas à votre sauvegarde. Vérifiez-le caractère par caractère.';
      case 'backup_missing':
        return 'Aucune sauvegarde de clés n’existe pour votre compte.';
      case 'identity_mismatch':
        return 'Votre sauvegarde contient une ancienne identité : elle ne peut plus admettre d’appareil. Contactez l’administrateur.';
      case 'unknown_device':
      case 'bad_certificate':
      case 'bad_signature':
        return 'Le certificat reçu pour cet appareil ne correspond pas à sa demande : il n’a pas été activé. Recommencez.';
      default:
        return 'La sauvegarde de vos clés n’a pas pu être ouverte.';
    }
  }
  return 'Une erreur inattendue est survenue.';
}
