// The wording of membership notes in a conversation (PROTOCOL.md §21): who added, removed
// or named whom, and whose new device receives the keys from now on, in French. Names are shown exactly as typed; only the interface's own
// words go through the typography helper.

import { fr } from './typography.js';

/** @typedef {import('./types.js').MembershipEvent} MembershipEvent */
/** @typedef {import('./types.js').PersonRef} PersonRef */

/**
 * A person's name for the note; a former member whose account the server no longer names
 * stays anonymous.
 * @param {PersonRef} person
 * @param {Map<string, string>} names names known from the members list
 */
function nameOf(person, names) {
  return person.display_name ?? names.get(person.user_id) ?? 'un ancien membre';
}

/** @param {string} text */
function capitalised(text) {
  return text.charAt(0).toLocaleUpperCase('fr') + text.slice(1);
}

/**
 * The sentence of a membership note.
 * @param {MembershipEvent} event
 * @param {string} meId the reader's account: their own actions say « Vous »
 * @param {Map<string, string>} [names]
 * @returns {string}
 */
export function membershipNote(event, meId, names = new Map()) {
  const member = nameOf(event.member, names);
  const actor = event.actor ? nameOf(event.actor, names) : null;
  const mine = event.actor?.user_id === meId;
  const aboutMe = event.member.user_id === meId;
  switch (event.change) {
    case 'created':
      return mine ? 'Vous avez créé le canal.' : `${capitalised(actor ?? member)} a créé le canal.`;
    case 'added':
      if (!actor) return `${capitalised(member)}${fr(' a été ajouté(e) au canal.')}`;
      if (mine) return `Vous avez ajouté ${member}.`;
      if (aboutMe) return `${capitalised(actor)} vous a ajouté(e) au canal.`;
      return `${capitalised(actor)} a ajouté ${member}.`;
    case 'left':
      return aboutMe ? 'Vous avez quitté le canal.' : `${capitalised(member)} a quitté le canal.`;
    case 'removed': {
      if (event.reason === 'regime_lost' || !actor) {
        const why = event.reason === 'regime_lost' ? fr(' (motif : son compte ne remplit plus les conditions du régime du canal)') : '';
        return `${capitalised(member)} a été retiré(e) automatiquement${why}.`;
      }
      if (mine) return `Vous avez retiré ${member}.`;
      if (aboutMe) return `${capitalised(actor)} vous a retiré(e) du canal.`;
      return `${capitalised(actor)} a retiré ${member}.`;
    }
    case 'role_changed': {
      const who = mine ? 'Vous avez' : `${capitalised(actor ?? 'le serveur')} a`;
      return event.role === 'coordinator'
        ? `${who} nommé ${member} parmi les coordinateurs du groupe.`
        : `${who} retiré ${member} des coordinateurs du groupe.`;
    }
    case 'device_added':
      return aboutMe ? 'Nouvel appareil sur votre compte.' : `Nouvel appareil de ${member}.`;
    default:
      return `La composition du canal a changé (${member}).`;
  }
}
