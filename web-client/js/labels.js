// French wording of the API's stable values, and date formatting.

/** @typedef {import('./types.js').Role} Role */
/** @typedef {import('./types.js').Attributes} Attributes */

/** @type {Readonly<Record<Role, string>>} */
export const ROLE_LABELS = Object.freeze({
  member: 'Membre (professionnel)',
  coordinator: 'Coordination',
  admin: 'Administration',
  auditor: 'Audit (DPO, référent)',
  external: 'Intervenant extérieur',
});

/** What each role may do, shown when an admin picks one (DESIGN.md §1). */
/** @type {Readonly<Record<Role, string>>} */
export const ROLE_DESCRIPTIONS = Object.freeze({
  member: 'Lit et écrit dans les canaux dont il ou elle est membre.',
  coordinator: 'Comme un membre ; crée aussi les canaux et gère leurs membres.',
  admin: 'Gère les institutions et les comptes ; ne lit ni les messages ni le journal des accès.',
  auditor: 'Consulte, filtre, exporte et vérifie le journal des accès ; rien d’autre.',
  external: 'Association ou médiateur : seulement les canaux où il ou elle a été ajouté.',
});

/** @type {readonly Role[]} */
export const ROLES = Object.freeze(['member', 'coordinator', 'external', 'auditor', 'admin']);

/** @type {Readonly<Record<keyof Attributes, { label: string, hint: string }>>} */
export const ATTRIBUTE_LABELS = Object.freeze({
  bound_by_professional_secrecy: {
    label: 'Tenu au secret professionnel',
    hint: 'Nécessaire pour les canaux de protection de l’enfance (CASF, art. L226-2-2).',
  },
  social_action_professional: {
    label: 'Professionnel de l’action sociale',
    hint: 'Nécessaire pour les canaux de secret partagé social (CASF, art. L121-6-2).',
  },
});

/**
 * The attributes an account holds, in words.
 * @param {Attributes} attributes
 * @returns {string[]}
 */
export function attributeList(attributes) {
  return /** @type {(keyof Attributes)[]} */ (Object.keys(ATTRIBUTE_LABELS))
    .filter((key) => attributes[key])
    .map((key) => ATTRIBUTE_LABELS[key].label);
}

const dateTime = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'medium' });

/**
 * @param {number} ms Unix milliseconds.
 * @returns {string} « 12 mars 2026, 14:05 »
 */
export function formatDateTime(ms) {
  return dateTime.format(new Date(ms));
}

/**
 * @param {number} ms Unix milliseconds.
 * @returns {string} « 12 mars 2026 »
 */
export function formatDate(ms) {
  return dateOnly.format(new Date(ms));
}

/**
 * A short description of a browser from its user agent, for the sessions list.
 * @param {string | null} userAgent
 * @returns {string}
 */
export function describeUserAgent(userAgent) {
  if (!userAgent) return 'Appareil inconnu';
  const browser =
    /Edg\//.test(userAgent) ? 'Edge'
    : /Firefox\//.test(userAgent) ? 'Firefox'
    : /Chrom(e|ium)\//.test(userAgent) ? 'Chrome'
    : /Safari\//.test(userAgent) ? 'Safari'
    : null;
  const system =
    /Android/.test(userAgent) ? 'Android'
    : /iPhone|iPad/.test(userAgent) ? 'iOS'
    : /Windows/.test(userAgent) ? 'Windows'
    : /Mac OS X/.test(userAgent) ? 'macOS'
    : /Linux/.test(userAgent) ? 'Linux'
    : null;
  if (browser && system) return `${browser} sous ${system}`;
  return browser ?? system ?? userAgent.slice(0, 60);
}
