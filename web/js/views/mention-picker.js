// Mention suggestions in the composer: typing `@` and letters lists the room's
// members whose username or display name starts with them, as a listbox of
// options. Arrow keys move, Enter or Tab picks, Escape closes.
import { h } from '../dom.js';
import { state } from '../state.js';

const MAX = 8;
const TOKEN = /(^|[^A-Za-z0-9._@+-])@([A-Za-z0-9._-]+)$/;

let input = null;
let list = null;
let membersOf = () => new Map();
let options = [];
let active = 0;
let token = null; // { start, end } of the `@name` being typed

export function initMentionPicker(textarea, getMembers) {
  input = textarea;
  membersOf = getMembers || membersOf;
  list = h('ul', {
    id: 'mention-list', class: 'mention-list', role: 'listbox', testid: 'mention-list',
    'aria-label': 'Mention suggestions', hidden: true,
  });
  input.closest('.composer-row')?.before(list);
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', 'mention-list');
  input.addEventListener('input', update);
  // Closed a moment after the box loses focus (a click on an option comes first), unless
  // the focus came back meanwhile.
  input.addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== input) close(); }, 150));
  input.addEventListener('click', update);
}

function update() {
  const caret = input.selectionStart;
  if (caret !== input.selectionEnd) return close();
  const match = TOKEN.exec(input.value.slice(0, caret));
  if (!match) return close();
  const typed = match[2].toLowerCase();
  token = { start: caret - typed.length - 1, end: caret };
  const me = state.me?.id;
  options = [...membersOf().values()]
    .filter((m) => m.user_id !== me)
    .filter((m) => String(m.username).toLowerCase().startsWith(typed)
      || String(m.display_name).toLowerCase().split(/\s+/).some((w) => w.startsWith(typed)))
    .sort((a, b) => String(a.username).localeCompare(String(b.username)))
    .slice(0, MAX);
  if (!options.length) return close();
  active = 0;
  render();
}

function render() {
  list.replaceChildren(...options.map((m, i) => h('li', {
    id: `mention-option-${m.user_id}`, role: 'option', testid: 'mention-option',
    'aria-selected': i === active ? 'true' : 'false', 'data-username': m.username,
    onmousedown: (e) => { e.preventDefault(); pick(i); },
  }, h('strong', {}, m.display_name), ' ', h('span', { class: 'muted small' }, `@${m.username}`))));
  list.hidden = false;
  input.setAttribute('aria-activedescendant', `mention-option-${options[active].user_id}`);
}

export function close() {
  if (!list || list.hidden) return;
  list.hidden = true;
  list.replaceChildren();
  options = [];
  token = null;
  input.removeAttribute('aria-activedescendant');
}

function pick(i) {
  const m = options[i];
  if (!m || !token) return;
  const before = input.value.slice(0, token.start);
  const after = input.value.slice(token.end);
  const insert = `@${m.username} `;
  input.value = before + insert + after.replace(/^ /, '');
  const caret = before.length + insert.length;
  input.setSelectionRange(caret, caret);
  close();
  input.dispatchEvent(new Event('input', { bubbles: true }));
  input.focus();
}

/** Composer keydown: true when the picker used the key. */
export function onKeydown(e) {
  if (!list || list.hidden || !options.length) return false;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    const step = e.key === 'ArrowDown' ? 1 : -1;
    active = (active + step + options.length) % options.length;
    render();
    return true;
  }
  if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
    e.preventDefault();
    pick(active);
    return true;
  }
  if (e.key === 'Escape') {
    e.preventDefault();
    close();
    return true;
  }
  return false;
}
