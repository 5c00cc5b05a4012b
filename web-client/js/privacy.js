// The check practice-analysis sessions run before sending (CHARTER.md C9): they are
// anonymous by rule, so a likely name, age, birth date, phone number, e-mail address,
// street address or school is pointed out and the user confirms or rewrites. It is a
// reminder, not a filter, and it looks wider than the server's refusal of the texts it
// stores in clear (shared/src/privacy.rs): the person decides. Both are held to the
// hand-labelled sentences of shared/privacy/sentences.json, false alarms counted.

/**
 * @typedef {'name' | 'phone' | 'email' | 'birth' | 'date' | 'age' | 'address' | 'school'} FindingKind
 * @typedef {object} Finding
 * @property {FindingKind} kind
 * @property {string} label French, for the warning.
 * @property {string} excerpt What was found.
 */

/** A capitalised word: a first name, a surname written normally. */
const NAME_WORD = "\\p{Lu}[\\p{Ll}'’-]+";
/** Not preceded by a letter (`\b` knows only ASCII letters in JavaScript). */
const START = '(?<!\\p{L})';
const DATE = '(?:0?[1-9]|[12]\\d|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:19|20)?\\d{2}';

/** Acronyms of the field that follow a capitalised word (« Réunion CLSPD ») and are not surnames. */
const ACRONYMS = new Set([
  'ACTE', 'AED', 'AEMO', 'ASE', 'CADA', 'CAF', 'CCAS', 'CD', 'CDAD', 'CESF', 'CHRS', 'CIO', 'CISPD', 'CLS', 'CLSPD', 'CMP', 'CMPP', 'CPE', 'CRIP', 'CSI', 'DDSP', 'EPCI', 'ESJ',
  'MDPH', 'MJIE', 'MNA', 'ODPE', 'PJJ', 'PMI', 'PRE', 'QPV', 'REP', 'SEGPA', 'SIAO', 'SPIP', 'TGD', 'UDAF', 'ULIS', 'VIF',
]);

/**
 * @typedef {object} Pattern
 * @property {FindingKind} kind
 * @property {string} label
 * @property {RegExp} regex
 * @property {(match: RegExpMatchArray) => boolean} [keep] false for a match that is no finding
 */

/** @type {Pattern[]} */
const PATTERNS = [
  {
    kind: 'name',
    label: 'un nom de personne',
    // A civility before a capitalised word (« Mme Durand », « M. Petit »).
    regex: new RegExp(`(?:${START}M\\.|${START}(?:[Mm]r|[Mm]me|[Mm]lle|[Mm]onsieur|[Mm]adame|[Mm]ademoiselle|[Dd]r|[Dd]octeur)\\.?)\\s+${NAME_WORD}`, 'gu'),
  },
  {
    kind: 'name',
    label: 'un nom de personne',
    // « le jeune Kevin », « la petite Léa », « l’enfant Yanis », « la famille Moreau ».
    regex: new RegExp(`${START}(?:[Ll][ea]\\s+(?:jeune|petite?|mineure?)|[Ll]['’](?:enfant|adolescente?)|[Ff]amille)\\s+${NAME_WORD}`, 'gu'),
  },
  {
    kind: 'name',
    label: 'un nom de personne',
    // A first name before a surname in capitals (« Kevin MARTIN »), not an acronym.
    regex: new RegExp(`${START}${NAME_WORD}\\s+(\\p{Lu}{2,}(?:-\\p{Lu}{2,})*)(?!\\p{L})`, 'gu'),
    keep: (match) => !ACRONYMS.has(match[1] ?? ''),
  },
  {
    kind: 'name',
    label: 'un nom de personne',
    // A first name and an initial (« Thomas R. »), not an article of a code (« L. 132-5 »).
    regex: new RegExp(`${START}${NAME_WORD}\\s+\\p{Lu}\\.(?!\\s*\\d)`, 'gu'),
  },
  {
    kind: 'phone',
    label: 'un numéro de téléphone',
    regex: /(?:\+33\s?|\b0033\s?|\b0)[1-9](?:[\s.-]?\d{2}){4}\b/g,
  },
  {
    kind: 'email',
    label: 'une adresse e-mail',
    regex: /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g,
  },
  {
    kind: 'birth',
    label: 'une date de naissance',
    regex: new RegExp(`${START}(?:née?|naissance)\\s*:?\\s+(?:le\\s+|en\\s+|du\\s+)?(?:${DATE}|\\d{1,2}(?:er)?\\s+\\p{L}+\\s+\\d{4}|\\d{4})`, 'giu'),
  },
  {
    kind: 'date',
    label: 'une date',
    regex: new RegExp(`\\b${DATE}\\b`, 'gu'),
  },
  {
    kind: 'age',
    label: 'un âge',
    regex: /\b\d{1,2}\s?ans\b/gu,
  },
  {
    kind: 'address',
    label: 'une adresse',
    regex: /\b\d{1,4}\s?(?:bis|ter)?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|impasse|allée|chemin|route|quai|cours|square|résidence|cité)(?!\p{L})[^,.\n]*/giu,
  },
  {
    kind: 'school',
    label: 'le nom d’un établissement scolaire',
    regex: new RegExp(`${START}(?:[ÉéEe]cole|[Cc]oll[èe]ge|[Ll]yc[ée]e)\\s+(?:(?:élémentaire|maternelle|primaire)\\s+)?${NAME_WORD}`, 'gu'),
  },
];

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
      if (pattern.keep && !pattern.keep(match)) continue;
      findings.push({ kind: pattern.kind, label: pattern.label, excerpt: match[0].trim() });
    }
  }
  return findings;
}
