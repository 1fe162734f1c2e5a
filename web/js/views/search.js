// Message search: the box in the header and the panel of results. A click on a
// result opens its room at that message.
import { $, h, clear } from '../dom.js';
import { api, describeError } from '../api.js';
import { state } from '../state.js';
import { formatFull, formatListTime } from '../format.js';

const DEBOUNCE_MS = 350;
const PAGE = 20;

let onOpen = () => {};
let timer = null;
let seq = 0;
let query = '';
let lastId = null;

/** `openAt(roomId, messageId)` shows the room scrolled to the message. */
export function initSearch({ openAt }) {
  onOpen = openAt;
  const input = $('search-input');
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(timer);
    run(input.value);
  });
  input.addEventListener('input', () => {
    clearTimeout(timer);
    if (!input.value.trim()) {
      close();
      return;
    }
    timer = setTimeout(() => run(input.value), DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      input.value = '';
      close();
    } else if (e.key === 'ArrowDown' && !$('search-panel').hidden) {
      e.preventDefault();
      $('search-results').querySelector('button')?.focus();
    }
  });
  $('search-panel').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      close();
      input.focus();
    }
  });
  $('search-close').addEventListener('click', () => {
    close();
    input.focus();
  });
}

export function close() {
  seq++;
  clearTimeout(timer);
  $('search-panel').hidden = true;
  clear($('search-results'));
  $('search-status').textContent = '';
  $('search-more').hidden = true;
}

async function run(text) {
  query = text.trim();
  if (!query) return close();
  lastId = null;
  clear($('search-results'));
  $('search-panel').hidden = false;
  await load();
}

async function load() {
  const mine = ++seq;
  const params = new URLSearchParams({ q: query, limit: String(PAGE) });
  if (lastId) params.set('before', String(lastId));
  const status = $('search-status');
  const more = $('search-more');
  status.textContent = 'Searching…';
  more.hidden = true;
  let page;
  try {
    page = await api.get(`/search?${params}`);
  } catch (err) {
    if (mine === seq) status.textContent = describeError(err);
    return;
  }
  if (mine !== seq) return;
  const list = $('search-results');
  for (const { message, highlight } of page.results || []) list.append(result(message, highlight));
  const results = page.results || [];
  if (results.length) lastId = results[results.length - 1].message.id;
  const shown = list.children.length;
  status.textContent = shown
    ? `${shown}${page.has_more ? '+' : ''} message${shown === 1 ? '' : 's'} found`
    : 'No messages found.';
  more.hidden = !page.has_more;
  more.onclick = () => load();
}

function result(msg, highlight) {
  const room = state.rooms.get(msg.room_id);
  return h('li', { class: 'search-result' },
    h('button', {
      class: 'search-hit', type: 'button', testid: 'search-result', dataset: { messageId: msg.id },
      onclick: () => {
        close();
        onOpen(msg.room_id, msg.id);
      },
    },
    h('span', { class: 'search-meta' },
      h('strong', {}, msg.sender_name),
      room ? h('span', {}, ` in ${room.name}`) : null,
      h('time', { datetime: msg.created_at, title: formatFull(msg.created_at) }, formatListTime(msg.created_at))),
    h('span', { class: 'search-excerpt' }, marked(highlight))));
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };

/**
 * The server's highlight (escaped text with <mark> around matches) as nodes:
 * text nodes and <mark> elements only, never parsed as markup.
 */
function marked(highlight) {
  const nodes = [];
  let inMark = false;
  for (const part of String(highlight).split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>') inMark = true;
    else if (part === '</mark>') inMark = false;
    else if (part) {
      const text = part.replace(/&(amp|lt|gt|quot|#39);/g, (_, e) => ENTITIES[e]);
      nodes.push(inMark ? h('mark', {}, text) : text);
    }
  }
  return nodes;
}
