// A small Markdown reader for the charter and the groups' internal rules: headings,
// paragraphs, lists, **bold** and *emphasis*. It builds DOM nodes with text only, so
// the published text can never inject markup.

import { h } from './dom.js';

/**
 * @param {string} text
 * @returns {(Node | string)[]}
 */
function inline(text) {
  /** @type {(Node | string)[]} */
  const out = [];
  const pattern = /\*\*([^*]+)\*\*|\*([^*]+)\*/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(match[1] !== undefined ? h('strong', {}, match[1]) : h('em', {}, match[2]));
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/**
 * Renders Markdown into a container; headings start at `level` (the page has its h1).
 * @param {string} markdown
 * @param {number} [level]
 * @returns {HTMLDivElement}
 */
export function renderMarkdown(markdown, level = 2) {
  const root = h('div', { class: 'markdown' });
  /** @type {HTMLElement | null} */
  let list = null;
  /** @type {string[]} */
  let paragraph = [];
  const flush = () => {
    if (paragraph.length > 0) root.append(h('p', {}, ...inline(paragraph.join(' '))));
    paragraph = [];
  };
  for (const raw of markdown.split('\n')) {
    const line = raw.trim();
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    const ordered = /^\d+[.)]\s+(.*)$/.exec(line);
    const bullet = /^[-*]\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      list = null;
      const tag = /** @type {'h2' | 'h3' | 'h4' | 'h5'} */ (`h${Math.min(5, level + heading[1].length - 1)}`);
      root.append(h(tag, {}, ...inline(heading[2])));
    } else if (ordered || bullet) {
      flush();
      const tag = ordered ? 'ol' : 'ul';
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = h(tag);
        root.append(list);
      }
      list.append(h('li', {}, ...inline((ordered ?? bullet)?.[1] ?? '')));
    } else if (line === '') {
      flush();
      list = null;
    } else if (list && raw.startsWith(' ')) {
      list.lastElementChild?.append(' ', ...inline(line));
    } else {
      list = null;
      paragraph.push(line);
    }
  }
  flush();
  return root;
}
