// The fields a case of the youth programme needs, wherever one is opened (« Créer un
// canal », an orientation): the person's birth month, which stays on this device and
// only yields the destruction limit (CHARTER.md C11), and the local scheme with its own
// fields (ACTE: the school, the days of exclusion, the host structure; chantier éducatif:
// its period). One module, so that both forms ask and check the same things.

import { h } from '../dom.js';
import { control, field, selectField, valueOf } from '../forms.js';

const SCHEMES = [
  { value: '', label: 'Aucun' },
  { value: 'acte', label: 'ACTE (collégien temporairement exclu)' },
  { value: 'chantier_educatif', label: 'Chantier éducatif (17–25 ans)' },
];

/** The programme whose cases need these fields. */
export const YOUTH_PROGRAMME = 'youth_exposed_to_delinquency';

/**
 * @typedef {object} YouthFields
 * @property {HTMLElement[]} elements To place in the form, in this order.
 * @property {(f: HTMLFormElement, youth: boolean) => void} show Shows the fields that apply.
 */

/**
 * The birth month, the scheme and the scheme's fields, hidden until `show` says the case
 * is of the youth programme.
 * @param {{ value: string, label: string }[]} institutions Every institution of the CLSPD.
 * @param {{ schemes?: string[], school?: string, host?: string }} [options] The schemes
 *   offered (default: all), and the school or host already decided by the form.
 * @returns {YouthFields}
 */
export function youthFields(institutions, options = {}) {
  const offered = SCHEMES.filter((s) => !s.value || !options.schemes || options.schemes.includes(s.value));
  const birthMonth = field({
    label: 'Mois de naissance de la personne',
    name: 'birth_month',
    type: 'month',
    hint: 'Le dossier sera détruit au plus tard à ses 25 ans. Ce mois reste sur votre appareil : seule la date limite qui en découle est envoyée.',
  });
  const scheme = selectField({ label: 'Dispositif local', name: 'scheme', options: offered, hint: 'ACTE et les chantiers éducatifs sont comptés à part dans le bilan annuel.' });
  const choose = (/** @type {string} */ what) => [{ value: '', label: what }, ...institutions];
  const acteBox = h(
    'fieldset',
    { class: 'fieldset' },
    h('legend', {}, 'ACTE'),
    options.school
      ? h('input', { type: 'hidden', name: 'acte_school', value: options.school })
      : selectField({ label: 'Collège', name: 'acte_school', options: choose('Choisissez le collège'), hint: 'Une institution de type Éducation nationale.' }),
    field({ label: 'Premier jour d’exclusion', name: 'acte_from', type: 'date' }),
    field({ label: 'Dernier jour d’exclusion', name: 'acte_until', type: 'date', hint: 'Une exclusion temporaire dure au plus huit jours de classe.' }),
    options.host === undefined
      ? selectField({ label: 'Structure d’accueil', name: 'acte_host', options: choose('Choisissez la structure') })
      : h('p', { class: 'hint' }, 'La structure d’accueil est l’institution destinataire de l’orientation.'),
  );
  const chantierBox = h(
    'fieldset',
    { class: 'fieldset' },
    h('legend', {}, 'Chantier éducatif'),
    field({ label: 'Premier jour du chantier', name: 'chantier_from', type: 'date' }),
    field({ label: 'Dernier jour du chantier', name: 'chantier_until', type: 'date' }),
  );
  return {
    elements: [birthMonth, scheme, acteBox, chantierBox],
    show(f, youth) {
      const chosen = control(f, 'scheme').value;
      birthMonth.hidden = !youth;
      scheme.hidden = !youth;
      acteBox.hidden = !youth || chosen !== 'acte';
      chantierBox.hidden = !youth || chosen !== 'chantier_educatif';
    },
  };
}

/**
 * A day chosen in an input of type date, as the server stores days: midnight UTC.
 * @param {string} day « AAAA-MM-JJ »
 * @returns {number | null}
 */
function dayOf(day) {
  const time = Date.parse(`${day}T00:00:00Z`);
  return Number.isNaN(time) ? null : time;
}

/**
 * What is missing or inconsistent in the youth fields, next to each field.
 * @param {HTMLFormElement} f
 * @param {string} [host] The host structure when the form decides it (an orientation's
 *   destination), else read from the ACTE fields.
 * @returns {Array<[string, string]>}
 */
export function youthProblems(f, host) {
  /** @type {Array<[string, string]>} */
  const problems = [];
  if (twentyFifthBirthday(valueOf(f, 'birth_month')) === null) {
    problems.push(['birth_month', 'Indiquez le mois de naissance de la personne (les 25 dernières années) : le dossier sera détruit au plus tard à ses 25 ans.']);
  }
  const chosen = valueOf(f, 'scheme');
  const period = (/** @type {string} */ from, /** @type {string} */ until, /** @type {number} */ maxDays, /** @type {string} */ tooLong) => {
    const first = dayOf(valueOf(f, from));
    const last = dayOf(valueOf(f, until));
    if (first === null) problems.push([from, 'Indiquez le premier jour.']);
    if (last === null) problems.push([until, 'Indiquez le dernier jour.']);
    if (first !== null && last !== null && last < first) problems.push([until, 'Le dernier jour doit suivre le premier.']);
    else if (first !== null && last !== null && last - first > (maxDays - 1) * 86_400_000) problems.push([until, tooLong]);
  };
  if (chosen === 'acte') {
    const hostChosen = host ?? valueOf(f, 'acte_host');
    if (!valueOf(f, 'acte_school')) problems.push(['acte_school', 'Choisissez le collège qui oriente l’élève.']);
    if (host === undefined && !hostChosen) problems.push(['acte_host', 'Choisissez la structure qui accueille l’élève.']);
    else if (hostChosen && hostChosen === valueOf(f, 'acte_school')) {
      problems.push([host === undefined ? 'acte_host' : 'acte_school', 'La structure d’accueil doit être différente du collège.']);
    }
    period('acte_from', 'acte_until', 14, 'Une exclusion temporaire dure au plus 14 jours de calendrier.');
  }
  if (chosen === 'chantier_educatif') period('chantier_from', 'chantier_until', 366, 'Un chantier éducatif dure au plus un an.');
  return problems;
}

/**
 * The local scheme of the form (CreateCase.scheme, OpenReferral.scheme), or null.
 * @param {HTMLFormElement} f
 * @param {string} [host] The host structure when the form decides it.
 * @returns {import('../types.js').LocalScheme | null}
 */
export function schemeOf(f, host) {
  const chosen = valueOf(f, 'scheme');
  if (chosen === 'acte') {
    return {
      kind: 'acte',
      school_institution: valueOf(f, 'acte_school'),
      excluded_from: dayOf(valueOf(f, 'acte_from')) ?? 0,
      excluded_until: dayOf(valueOf(f, 'acte_until')) ?? 0,
      host_institution: host ?? valueOf(f, 'acte_host'),
    };
  }
  if (chosen === 'chantier_educatif') {
    return { kind: 'chantier_educatif', starts_on: dayOf(valueOf(f, 'chantier_from')) ?? 0, ends_on: dayOf(valueOf(f, 'chantier_until')) ?? 0 };
  }
  return null;
}

/**
 * The destruction limit the birth month of the form yields, or null.
 * @param {HTMLFormElement} f
 */
export function destroyLimitOf(f) {
  return twentyFifthBirthday(valueOf(f, 'birth_month'));
}

/**
 * The destruction limit of a youth-programme case (CHARTER.md C11): the first day of the
 * month the person turns 25, in UTC — the earliest their birthday can fall, so the case
 * never outlives it. Null for a month that is missing, in the future, or 25 years ago or
 * more (the person is already 25).
 * @param {string} month « AAAA-MM », from an input of type month.
 * @returns {number | null}
 */
export function twentyFifthBirthday(month) {
  const match = /^(\d{4})-(\d{2})$/.exec(month);
  if (!match) return null;
  const year = Number(match[1]);
  const index = Number(match[2]) - 1;
  if (index < 0 || index > 11) return null;
  const born = Date.UTC(year, index, 1);
  const limit = Date.UTC(year + 25, index, 1);
  const now = Date.now();
  return born <= now && limit > now ? limit : null;
}
