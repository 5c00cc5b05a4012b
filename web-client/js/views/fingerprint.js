// Comparing security codes in person (PROTOCOL.md §6.1): a colleague's 60-digit
// fingerprint and its QR code, one's own beside it, and marking the identity verified.

import { fingerprint, fingerprintQrPayload, groupDigits } from '../crypto.js';
import { h, replace } from '../dom.js';
import { showError, showStatus } from '../notices.js';
import { qrSvg } from '../qr.js';

/** @typedef {import('../keyring.js').Keyring} Keyring */
/** @typedef {import('../types.js').Me} Me */

/**
 * The fingerprint in three lines of four groups, and its QR code.
 * @param {string} userId
 * @param {Uint8Array<ArrayBuffer>} identityKey
 * @param {string} label For the QR code's text alternative.
 */
export async function fingerprintBlock(userId, identityKey, label) {
  const digits = await fingerprint(identityKey, userId);
  const groups = groupDigits(digits).split(' ');
  const lines = [groups.slice(0, 4), groups.slice(4, 8), groups.slice(8, 12)].map((line) => line.join(' '));
  return {
    digits,
    element: h(
      'div',
      { class: 'fingerprint' },
      h('p', { class: 'fingerprint-digits', 'data-testid': 'fingerprint', 'aria-label': `Code de sécurité : ${groups.join(', ')}` }, lines.map((line) => h('span', { class: 'fingerprint-line' }, line))),
      h('img', {
        class: 'qr-code',
        src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(qrSvg(fingerprintQrPayload(userId, digits)))}`,
        alt: `Code QR du code de sécurité ${label}`,
        width: 200,
        height: 200,
      }),
    ),
  };
}

/**
 * Opens the verification dialog for `userId` (or one's own code).
 * @param {Keyring} keyring
 * @param {Me} me
 * @param {string} userId
 * @param {string} name
 */
export async function openFingerprintDialog(keyring, me, userId, name) {
  const own = userId === me.id;
  const body = h('div', { class: 'stack' }, h('p', { class: 'loading' }, 'Calcul du code de sécurité…'));
  const dialog = h('dialog', { class: 'dialog dialog-wide', 'aria-labelledby': 'empreinte-titre' });
  const close = h('button', { type: 'button', class: 'button button-secondary' }, 'Fermer');
  close.addEventListener('click', () => dialog.close());
  dialog.append(h('h2', { id: 'empreinte-titre' }, own ? 'Votre code de sécurité' : `Vérifier l’identité de ${name}`), body, h('div', { class: 'actions' }, close));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  try {
    const peer = await keyring.peer(userId, { refresh: true });
    if (!peer.identityKey) {
      replace(body, h('p', {}, `${name} n’a pas encore configuré d’appareil : aucun code de sécurité n’existe pour l’instant.`));
      return;
    }
    const theirs = await fingerprintBlock(userId, peer.identityKey, own ? 'personnel' : `de ${name}`);
    if (own) {
      replace(body, h('p', {}, 'Montrez ce code à un collègue qui veut vérifier votre identité : il le compare avec celui que son propre appareil affiche pour vous.'), theirs.element);
      return;
    }
    const status = h('p', { class: peer.verified ? 'badge badge-ok' : 'hint', 'data-testid': 'verification-status' }, peer.verified ? 'Identité vérifiée' : 'Identité pas encore vérifiée');
    const verify = h('button', { type: 'button', class: 'button' }, peer.verified ? 'Retirer la marque « vérifiée »' : 'Les codes sont identiques : marquer comme vérifiée');
    verify.addEventListener('click', async () => {
      try {
        await keyring.setVerified(userId, !peer.verified);
        showStatus(peer.verified ? `Identité de ${name} marquée comme vérifiée.` : `La marque « vérifiée » de ${name} est retirée.`);
        dialog.close();
      } catch (error) {
        showError(error instanceof Error ? error.message : String(error));
      }
    });
    replace(
      body,
      peer.previousKey ? h('p', { class: 'notice notice-warning' }, `La clé d’identité de ${name} a changé depuis votre premier échange. Vérifiez ce nouveau code en personne.`) : null,
      h('p', {}, `Retrouvez ${name} en personne (ou par un appel dont vous reconnaissez la voix). Son appareil affiche son code sous « Mon code de sécurité » : il doit être identique à celui-ci, chiffre pour chiffre, ou son code QR doit correspondre.`),
      theirs.element,
      status,
      h('div', { class: 'actions' }, verify),
    );
  } catch (error) {
    replace(body, h('p', { class: 'notice notice-error' }, error instanceof Error ? error.message : String(error)));
  }
}
