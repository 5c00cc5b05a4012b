// French typography for the interface's own texts: a narrow no-break space (U+202F)
// before « ; : ! ? » and inside guillemets, so that a line never starts with « : » or
// « ? » and guillemets never part from their words. Never applied to what people write
// (messages, names): that text is shown exactly as typed.

const NNBSP = '\u202F';

/**
 * @param {string} text French interface text.
 * @returns {string}
 */
export function fr(text) {
  return text
    .replace(/[ \u00A0\u202F]*([;:!?])(?=\s|$)/g, (match, mark, offset) => (offset === 0 && match === mark ? mark : `${NNBSP}${mark}`))
    .replace(/«[ \u00A0\u202F]*/g, `«${NNBSP}`)
    .replace(/[ \u00A0\u202F]*»/g, `${NNBSP}»`);
}
