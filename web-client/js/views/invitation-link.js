// The one-time invitation link, shown once to whoever asked for it (an admin, or a
// coordinator for the people of their groups): as text to copy into a message, and as a
// QR code that the person scans from their phone across the desk. Both are drawn here, in
// the page: the link never goes to another service.

import { openDialog } from '../dialog.js';
import { h } from '../dom.js';
import { formatDateTime } from '../labels.js';
import { qrSvg } from '../qr.js';

/**
 * @param {string} displayName whom the link is for
 * @param {{ link: string, expires_at: number }} invitation
 */
export async function showInvitationLink(displayName, invitation) {
  const linkField = h('input', { type: 'text', readonly: true, value: invitation.link, id: 'lien-invitation', class: 'input', 'aria-describedby': 'lien-invitation-aide' });
  await openDialog({
    title: `Lien d’invitation de ${displayName}`,
    body: [
      h('label', { for: 'lien-invitation' }, 'Lien à transmettre à la personne'),
      linkField,
      h('img', {
        class: 'qr-code',
        'data-testid': 'invitation-qr',
        src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(qrSvg(invitation.link))}`,
        alt: `Code QR du lien d’invitation de ${displayName}, à scanner avec le téléphone de la personne`,
        width: 200,
        height: 200,
      }),
      h('p', { class: 'hint', id: 'lien-invitation-aide' }, `Il sert une seule fois, jusqu’au ${formatDateTime(invitation.expires_at)}. Transmettez-le à la personne seule, ou faites-lui scanner le code QR : il lui permet de choisir son mot de passe. Un nouveau lien remplace celui-ci.`),
    ],
    confirmLabel: 'J’ai transmis le lien',
  });
}
