// Message HTML from the server (`content_html`, already sanitized there) copied
// into the page through an allow-list once more: only these tags, only http,
// https and mailto links, which open in a new tab without access to this one.
import { h } from './dom.js';

const TAGS = new Set(['P', 'BR', 'EM', 'STRONG', 'CODE', 'PRE', 'BLOCKQUOTE', 'UL', 'OL', 'LI', 'A']);
const SCHEMES = new Set(['http:', 'https:', 'mailto:']);

function safeLink(raw) {
  try {
    const u = new URL(raw);
    return SCHEMES.has(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}

// Blocks whose whitespace-only text is only the layout of the HTML source.
const BLOCKS = new Set(['BODY', 'UL', 'OL', 'BLOCKQUOTE']);

// Line breaks are shown as the text's own newlines (the message text keeps
// `white-space: pre-wrap`), so copying and reading the text gives what was written.
function copy(node, into) {
  let afterBreak = false;
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) {
      let text = child.data;
      if (BLOCKS.has(node.tagName) && !text.trim()) continue;
      if (afterBreak && text.startsWith('\n')) text = text.slice(1);
      afterBreak = false;
      if (text) into.append(document.createTextNode(text));
    } else if (child.nodeType === Node.ELEMENT_NODE) {
      afterBreak = child.tagName === 'BR';
      if (afterBreak) {
        into.append(document.createTextNode('\n'));
        continue;
      }
      if (!TAGS.has(child.tagName)) {
        copy(child, into);
        continue;
      }
      let el;
      if (child.tagName === 'A') {
        const href = safeLink(child.getAttribute('href') || '');
        el = href
          ? h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' })
          : h('span', {});
      } else if (child.tagName === 'OL' && /^\d+$/.test(child.getAttribute('start') || '')) {
        el = h('ol', { start: child.getAttribute('start') });
      } else {
        el = document.createElement(child.tagName.toLowerCase());
      }
      copy(child, el);
      into.append(el);
    }
  }
}

/** The message's rendered HTML as a DocumentFragment of safe elements. */
export function richText(html) {
  // DOMParser documents are inert: nothing in them loads or runs.
  const doc = new DOMParser().parseFromString(String(html ?? ''), 'text/html');
  const frag = document.createDocumentFragment();
  copy(doc.body, frag);
  return frag;
}

/** Whether a message mentions this user by name or mentions the whole room. */
export function mentionsMe(msg, meId) {
  return !!msg && msg.sender_id !== meId && !msg.is_deleted
    && (msg.mentions_room === true || (msg.mentions || []).includes(meId));
}
