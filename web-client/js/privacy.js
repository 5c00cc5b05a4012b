// The check practice-analysis sessions run before sending (CHARTER.md C9): they are
// anonymous by rule, so a likely name, birth date, phone number or address is pointed
// out and the user confirms or rewrites. It is a reminder, not a filter: it runs only
// in the browser, on the text being sent.

/**
 * @typedef {object} Finding
 * @property {'name' | 'date' | 'phone' | 'address'} kind
 * @property {string} label French, for the warning.
 * @property {string} excerpt What was found.
 */

const TITLES = '(?:M\\.|Mr|Mme|Mlle|Monsieur|Madame|Mademoiselle|Me|Dr|docteur|famille|le petit|la petite|l[’\']enfant)';
const NAME_WORD = '[A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜ][a-zà-öø-ÿ’\'-]+';
const PATTERNS = /** @type {const} */ ([
  {
    kind: 'name',
    label: 'un nom de personne',
    // A title followed by a capitalised word, or an all-capitals surname after a first name.
    regex: new RegExp(`\\b${TITLES}\\s+${NAME_WORD}|\\b${NAME_WORD}\\s+[A-ZÀÂÇÉÈÊËÎÏÔÙÛ]{2,}\\b`, 'gu'),
  },
  {
    kind: 'date',
    label: 'une date (de naissance ?)',
    regex: /\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)?\d{2}|(?:né|née|naissance)\s+(?:le\s+)?\d{1,2}\s+\p{L}+\s+\d{4})\b/giu,
  },
  {
    kind: 'phone',
    label: 'un numéro de téléphone',
    regex: /(?:\+33\s?|0)[1-9](?:[\s.-]?\d{2}){4}\b/g,
  },
  {
    kind: 'address',
    label: 'une adresse',
    regex: /\b\d{1,4}\s?(?:bis|ter)?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|impasse|allée|chemin|route|quai|cours|square|résidence|cité)\b[^,.\n]*/giu,
  },
]);

/**
 * What in `text` looks like identifying information.
 * @param {string} text
 * @returns {Finding[]}
 */
export function findPersonalData(text) {
  /** @type {Finding[]} */
  const findings = [];
  for (const pattern of PATTERNS) {
    for (const match of text.matchAll(pattern.regex)) {
      findings.push({ kind: pattern.kind, label: pattern.label, excerpt: match[0].trim() });
    }
  }
  return findings;
}
