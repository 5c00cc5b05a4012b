// On a device already set up: a new device of the same account asks to join it
// (PROTOCOL.md §5.5, §5.5.1). The request arrives as a `link_request` frame, or from the
// list of pending requests when this page connects; a dialog shows the new device's name
// and the link code computed here, from the relayed request and the identity key this
// device holds. The user types the code the new device shows (all but its first group,
// shown here so that they know which request it is); only when the typed digits match is
// the request certified, and the keys of the past epochs re-wrapped for the new device.

import { ApiError, keys as keysApi } from '../api.js';
import { CryptoError, groupDigits, linkCode } from '../crypto.js';
import { h, replace, uid } from '../dom.js';
import { field } from '../forms.js';
import { adoptRecoveryCode, approveLink, shareHistory } from '../keyring.js';
import { formatDateTime } from '../labels.js';
import { showStatus } from '../notices.js';
import { restoreMessage } from './setup.js';

/** @typedef {import('../messenger.js').Messenger} Messenger */
/** @typedef {import('../types.js').LinkRequest} LinkRequest */

/**
 * @typedef {object} Shown
 * @property {HTMLDialogElement} dialog
 * @property {boolean} answering This device is approving or refusing it: the frame that
 *   follows is its own answer.
 * @property {ReturnType<typeof setTimeout>} expiry
 */

/**
 * Shows the account's link requests while the messenger runs: those pending when it
 * connects (again), and each one relayed later.
 * @param {Messenger} messenger
 */
export function watchLinkRequests(messenger) {
  /** @type {Map<string, Shown>} */
  const shown = new Map();
  /** Ids already answered or closed here: not shown again by a late list. */
  const done = new Set();

  /** @param {LinkRequest} link */
  const consider = (link) => {
    if (!link || typeof link.id !== 'string' || link.request?.user_id !== messenger.me.id) return;
    if (link.status === 'pending') {
      if (!shown.has(link.id) && !done.has(link.id) && link.expires_at > Date.now()) {
        open(messenger, link, shown, done).catch((error) => console.warn('a link request could not be shown', error));
      }
      return;
    }
    const entry = shown.get(link.id);
    done.add(link.id);
    if (!entry || entry.answering) return;
    shown.delete(link.id);
    clearTimeout(entry.expiry);
    entry.dialog.close();
    showStatus(
      link.status === 'linked'
        ? `Le nouvel appareil « ${link.name} » a été autorisé depuis un autre de vos appareils.`
        : link.status === 'refused'
          ? `La demande de l’appareil « ${link.name} » a été refusée ou annulée.`
          : `La demande de l’appareil « ${link.name} » a expiré.`,
    );
  };

  messenger.addEventListener('link-request', (event) => consider(/** @type {CustomEvent} */ (event).detail.link));
  // Requests made while this page was away or disconnected.
  messenger.addEventListener('status', (event) => {
    if (/** @type {CustomEvent} */ (event).detail.state !== 'open') return;
    keysApi
      .linkRequests()
      .then((list) => list.requests.forEach(consider))
      .catch(() => {});
  });
}

/**
 * @param {Messenger} messenger
 * @param {LinkRequest} link
 * @param {Map<string, Shown>} shown
 * @param {Set<string>} done
 */
async function open(messenger, link, shown, done) {
  const keyring = messenger.keyring;
  const titleId = uid('liaison-titre');
  const dialog = h('dialog', { class: 'dialog dialog-wide', 'aria-labelledby': titleId, 'data-testid': 'link-dialog' });
  /** @type {Shown} */
  const entry = {
    dialog,
    answering: false,
    // Nobody answered in time: the server refuses it from now on.
    expiry: setTimeout(() => {
      if (entry.answering) return;
      dialog.close();
      showStatus(`La demande de l’appareil « ${link.name} » a expiré sans réponse.`);
    }, Math.max(0, link.expires_at - Date.now())),
  };
  shown.set(link.id, entry);
  const body = h('div', { class: 'stack' });
  dialog.append(h('h2', { id: titleId }, 'Un nouvel appareil demande à rejoindre votre compte'), body);
  dialog.addEventListener('close', () => {
    clearTimeout(entry.expiry);
    shown.delete(link.id);
    done.add(link.id);
    dialog.remove();
  });
  // Escape closes without answering: the request stays pending on the new device until
  // it expires or is cancelled there.
  document.body.append(dialog);
  dialog.showModal();

  const about = h('p', {}, 'Appareil : ', h('strong', { 'data-testid': 'link-device-name' }, `« ${link.name} »`), `, demande faite le ${formatDateTime(link.created_at)}.`);
  const problem = h('p', { class: 'notice notice-error', role: 'alert', hidden: true });
  /** @param {string} message */
  const fail = (message) => {
    problem.hidden = false;
    replace(problem, message);
  };

  const refuse = h('button', { type: 'button', class: 'button button-danger' }, 'Refuser');
  refuse.addEventListener('click', async () => {
    entry.answering = true;
    setBusy(true);
    try {
      await keysApi.refuseLink(link.id);
      dialog.close();
      showStatus(`Demande refusée : l’appareil « ${link.name} » n’a pas accès à votre compte.`);
    } catch (error) {
      entry.answering = false;
      setBusy(false);
      fail(error instanceof ApiError ? error.message : 'La demande n’a pas pu être refusée. Réessayez.');
    }
  });
  const later = h('button', { type: 'button', class: 'button button-secondary' }, 'Plus tard');
  later.addEventListener('click', () => dialog.close());

  /** @param {boolean} busy */
  function setBusy(busy) {
    for (const button of dialog.querySelectorAll('button')) button.disabled = busy;
    dialog.setAttribute('aria-busy', String(busy));
  }

  if (!keyring.holdsIdentityKey) {
    showCannotApprove();
  } else {
    await showCode();
  }

  /** This device can compare and certify: the link code and the two answers. */
  async function showCode() {
    const code = await linkCode(link.request, keyring.device.identityPublic).catch(() => null);
    if (!code) {
      // A request that does not even parse cannot be the user's own device.
      replace(body, about, h('p', { class: 'notice notice-error' }, 'Cette demande n’est pas valide : elle ne peut pas être autorisée. Refusez-la.'), problem, h('div', { class: 'actions' }, refuse, later));
      return;
    }
    const groups = groupDigits(code.digits).split(' ');
    const rest = code.digits.slice(groups[0].length);
    const restField = field({
      label: 'Suite du code affiché sur le nouvel appareil',
      name: 'suite',
      required: true,
      spellcheck: false,
      autocomplete: 'off',
      inputmode: 'numeric',
      hint: `${rest.length} chiffres, sans le début ; les espaces sont ignorés.`,
    });
    const restInput = /** @type {HTMLInputElement} */ (restField.querySelector('input'));
    const approve = h('button', { type: 'submit', class: 'button' }, 'Autoriser cet appareil');
    const progress = h('p', { role: 'status', class: 'hint' });
    const actions = h('div', { class: 'actions' }, approve, refuse, later);
    const typed = h('form', { class: 'stack', novalidate: true, 'aria-label': 'Autoriser le nouvel appareil' }, restField, problem, progress, actions);
    typed.addEventListener('submit', async (event) => {
      event.preventDefault();
      // Typed, not compared at a glance: a server that swapped the request would have to
      // find a key whose code matches these digits before the request expires.
      if (restInput.value.replace(/\s+/g, '') !== rest) {
        fail('Ce code ne correspond pas à la demande reçue ici. Vérifiez-le chiffre pour chiffre sur le nouvel appareil ; s’il diffère vraiment, refusez : quelqu’un tente peut-être d’accéder à vos échanges.');
        restInput.focus();
        return;
      }
      await authorise();
    });
    async function authorise() {
      entry.answering = true;
      setBusy(true);
      problem.hidden = true;
      replace(progress, 'Autorisation du nouvel appareil et partage de votre historique chiffré…');
      let device;
      try {
        device = await approveLink(keyring, link);
      } catch (error) {
        entry.answering = false;
        setBusy(false);
        replace(progress);
        fail(approveMessage(error));
        return;
      }
      await share(device);
    }

    /**
     * Shares the history with the device just admitted; on failure, says so and offers
     * to try again (the device is admitted either way).
     * @param {import('../crypto/identity.js').VerifiedDevice} device
     */
    async function share(device) {
      try {
        const result = await shareHistory(keyring, device);
        dialog.close();
        showStatus(
          `L’appareil « ${link.name} » est autorisé : il peut lire vos échanges.` +
            (result.channelsSkipped > 0 ? ` L’historique de ${result.channelsSkipped} canal(aux) n’a pas pu lui être transmis ; les nouveaux messages le seront.` : ''),
        );
      } catch (error) {
        console.warn('sharing the history failed', error);
        const again = h('button', { type: 'button', class: 'button' }, 'Réessayer le partage de l’historique');
        again.addEventListener('click', async () => {
          again.disabled = true;
          replace(progress, 'Partage de votre historique chiffré…');
          problem.hidden = true;
          await share(device);
        });
        const close = h('button', { type: 'button', class: 'button button-secondary' }, 'Fermer');
        close.addEventListener('click', () => dialog.close());
        replace(progress);
        dialog.setAttribute('aria-busy', 'false');
        fail(`L’appareil « ${link.name} » est autorisé, mais votre historique n’a pas pu lui être transmis (${error instanceof ApiError ? error.message : 'erreur inattendue'}). Les nouveaux messages lui parviendront ; réessayez pour les anciens.`);
        replace(actions, again, close);
        again.focus();
      }
    }
    replace(
      body,
      about,
      h('p', {}, 'Le nouvel appareil affiche un code de liaison de 20 chiffres. Il doit commencer par ', h('strong', { class: 'link-code', 'data-testid': 'link-code-start' }, groups[0]), '. Saisissez la suite, telle qu’elle s’affiche sur le nouvel appareil, et seulement si c’est bien vous qui le configurez.'),
      h('p', { class: 'hint' }, 'Si le début diffère, ou si vous n’êtes pas en train de configurer un appareil, refusez : quelqu’un tente peut-être d’accéder à vos échanges.'),
      typed,
    );
    restInput.focus();
  }

  /**
   * A linked device holds no identity key: it explains so, and offers to enter the
   * recovery code, after which it can approve.
   */
  function showCannotApprove() {
    const codeField = field({
      label: 'Code de secours',
      name: 'code',
      required: true,
      spellcheck: false,
      autocomplete: 'off',
      hint: '26 caractères, par exemple 8973-5T7M-V0GZ-1A8C-99VK-HF96-M0 (24 pour un code plus ancien).',
    });
    const input = /** @type {HTMLInputElement} */ (codeField.querySelector('input'));
    const use = h('button', { type: 'submit', class: 'button' }, 'Utiliser mon code de secours');
    const recovery = h('form', { class: 'stack', novalidate: true }, codeField, h('div', { class: 'actions' }, use, refuse, later));
    recovery.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!input.value.trim()) {
        fail('Saisissez votre code de secours, ou autorisez l’appareil depuis celui qui a créé vos clés.');
        input.focus();
        return;
      }
      setBusy(true);
      problem.hidden = true;
      try {
        await adoptRecoveryCode(keyring, input.value);
        input.value = '';
        setBusy(false);
        await showCode();
      } catch (error) {
        setBusy(false);
        fail(restoreMessage(error instanceof CryptoError || error instanceof ApiError ? error : null));
        input.focus();
      }
    });
    replace(
      body,
      about,
      h('p', {}, 'Cet appareil a lui-même été relié à votre compte par un autre appareil : il ne détient pas votre clé d’identité et ne peut donc pas autoriser un nouvel appareil.'),
      h('p', {}, 'Autorisez-le depuis l’appareil sur lequel vous avez créé vos clés, ou saisissez ici votre code de secours : cet appareil pourra alors l’autoriser, et les suivants.'),
      problem,
      recovery,
    );
    input.focus();
  }
}

/**
 * @param {unknown} error
 * @returns {string}
 */
function approveMessage(error) {
  if (error instanceof ApiError) return error.message;
  if (error instanceof CryptoError) {
    return error.code === 'bad_signature' || error.code === 'bad_certificate'
      ? 'Cette demande n’est pas valide (sa signature ne correspond pas) : elle n’a pas été autorisée. Refusez-la.'
      : 'Le nouvel appareil n’a pas pu être autorisé. Réessayez.';
  }
  console.warn('approving a device failed', error);
  return 'Le nouvel appareil n’a pas pu être autorisé. Réessayez.';
}
