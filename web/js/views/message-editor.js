// Inline editing of a message: its text is swapped for a textarea in place.
import { h } from '../dom.js';
import { describeError } from '../api.js';

/**
 * @param {HTMLElement} el   the message element
 * @param {object} msg       the message being edited
 * @param {object} o
 * @param {(content:string)=>Promise<void>} o.save   throws an ApiError on refusal
 * @param {()=>void} o.cancel                        puts the message back as it was
 */
export function openEditor(el, msg, { save, cancel }) {
  const input = h('textarea', { class: 'edit-input', testid: 'edit-input', 'aria-label': 'Edit message', rows: 2 });
  input.value = msg.content;
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', { class: 'edit-form', testid: 'edit-form' }, input, error,
    h('div', { class: 'edit-actions' },
      // Keys are named only where there is a keyboard to press them.
      window.matchMedia('(hover: hover) and (pointer: fine)').matches
        ? h('span', { class: 'muted small', testid: 'edit-hint' }, 'Enter to save · Escape to cancel') : h('span', { class: 'muted small' }),
      h('button', { type: 'button', class: 'btn btn-small', testid: 'edit-cancel', onclick: cancel }, 'Cancel'),
      h('button', { type: 'submit', class: 'btn btn-primary btn-small', testid: 'edit-save' }, 'Save')));

  const fail = (text) => {
    error.textContent = text;
    error.hidden = false;
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const content = input.value.trim();
    if (content === msg.content.trim()) return cancel();
    if (!content && !msg.attachments?.length) return fail('A message cannot be empty. Delete it instead.');
    try {
      await save(content);
    } catch (err) {
      fail(describeError(err));
    }
    return undefined;
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      cancel();
    }
  });

  const text = el.querySelector('.msg-text');
  if (text) text.replaceWith(form);
  else el.querySelector('.msg-body').append(form);
  el.classList.add('editing');
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}
