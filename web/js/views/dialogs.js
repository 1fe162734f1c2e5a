// Modal dialogs built on the native <dialog> element: it traps focus, closes
// on Escape and is announced as a dialog by screen readers.
import { h, icon } from '../dom.js';
import { api, describeError } from '../api.js';
import { state } from '../state.js';
import { learn, presenceDot } from '../presence.js';

let dialogCount = 0;

/**
 * Open a modal. `body` is a node or list of nodes; `actions` a list of buttons.
 * Returns { el, close }. Focus goes back where it was when the dialog closes.
 */
export function openDialog({ title, body, actions = [], testid = 'dialog', onClose, className = '' }) {
  const titleId = `dialog-title-${++dialogCount}`;
  const previous = document.activeElement;
  const el = h('dialog', { class: `dialog ${className}`, testid, 'aria-labelledby': titleId },
    h('header', { class: 'dialog-head' },
      h('h2', { id: titleId, class: 'dialog-title' }, title),
      h('button', {
        class: 'icon-btn', type: 'button', 'aria-label': 'Close', testid: 'dialog-close',
        onclick: () => close(),
      }, icon('x'))),
    h('div', { class: 'dialog-body' }, body),
    actions.length ? h('footer', { class: 'dialog-actions' }, actions) : null);
  let closed = false;
  function close() {
    if (closed) return;
    closed = true;
    if (el.open) el.close();
    el.remove();
    if (onClose) onClose();
    if (previous && previous.isConnected && typeof previous.focus === 'function') previous.focus();
  }
  el.addEventListener('close', close);
  // A click on the backdrop lands on the <dialog> element itself.
  el.addEventListener('click', (e) => { if (e.target === el) close(); });
  document.body.append(el);
  el.showModal();
  return { el, close };
}

export function confirmDialog(message, { okLabel = 'OK', danger = false, title = 'Please confirm' } = {}) {
  return new Promise((resolve) => {
    let answer = false;
    const ok = h('button', {
      class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, type: 'button', testid: 'confirm-ok',
      onclick: () => { answer = true; dlg.close(); },
    }, okLabel);
    const cancel = h('button', {
      class: 'btn', type: 'button', testid: 'confirm-cancel', onclick: () => dlg.close(),
    }, 'Cancel');
    const dlg = openDialog({
      title, body: h('p', {}, message), actions: [cancel, ok], testid: 'confirm-dialog',
      onClose: () => resolve(answer),
    });
    ok.focus();
  });
}

/** Ask for one line of text; resolves to the text or null. */
export function promptDialog(title, label, value = '', { maxLength = 80 } = {}) {
  return new Promise((resolve) => {
    let answer = null;
    const input = h('input', { id: 'prompt-input', testid: 'prompt-input', value, maxlength: maxLength, required: true });
    const form = h('form', {
      class: 'stack',
      onsubmit: (e) => { e.preventDefault(); answer = input.value.trim() || null; dlg.close(); },
    }, h('label', { for: 'prompt-input' }, label), input,
    h('div', { class: 'dialog-actions' },
      h('button', { class: 'btn', type: 'button', onclick: () => dlg.close() }, 'Cancel'),
      h('button', { class: 'btn btn-primary', type: 'submit', testid: 'prompt-ok' }, 'Save')));
    const dlg = openDialog({ title, body: form, testid: 'prompt-dialog', onClose: () => resolve(answer) });
    input.focus();
    input.select();
  });
}

/**
 * A searchable list of users (GET /users?q=). Calls onPick(user) when one is
 * chosen. `exclude` is a set of user ids not to offer (me, existing members).
 */
export function userPicker({ exclude = new Set(), onPick, label = 'Find people' }) {
  const inputId = `user-search-${++dialogCount}`;
  const input = h('input', {
    id: inputId, type: 'search', testid: 'user-picker-input', placeholder: 'Name or username',
    autocomplete: 'off', spellcheck: 'false',
  });
  const list = h('ul', { class: 'pick-list', testid: 'user-picker-results', 'aria-label': 'People' });
  const status = h('p', { class: 'muted small', role: 'status' });
  let seq = 0;
  let timer = null;

  async function search() {
    const mine = ++seq;
    status.textContent = 'Searching…';
    try {
      const users = await api.get(`/users?q=${encodeURIComponent(input.value.trim())}`);
      if (mine !== seq) return;
      const shown = (users || []).filter((u) => !exclude.has(u.id) && u.id !== state.me.id);
      learn(shown);
      list.replaceChildren(...shown.map((u) => h('li', {},
        h('button', {
          class: 'pick-item', type: 'button', testid: 'user-option',
          'data-user-id': u.id, 'data-username': u.username,
          onclick: () => onPick(u),
        }, presenceDot(u.id), h('span', { class: 'pick-name' }, u.display_name), h('span', { class: 'muted small' }, `@${u.username}`)))));
      status.textContent = shown.length ? '' : 'Nobody found.';
    } catch (err) {
      if (mine === seq) status.textContent = describeError(err);
    }
  }
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  // Enter picks the first result, so the picker works from the keyboard alone.
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      const first = list.querySelector('button');
      if (first) first.click();
    } else if (e.key === 'ArrowDown') {
      e.preventDefault();
      list.querySelector('button')?.focus();
    }
  });
  list.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const buttons = [...list.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    const next = e.key === 'ArrowDown' ? buttons[i + 1] : (i <= 0 ? input : buttons[i - 1]);
    next?.focus();
  });
  search();
  const el = h('div', { class: 'user-picker' },
    h('label', { for: inputId }, label), input, status, list);
  return { el, input, refresh: search };
}
