// Reactions under a message: chips (emoji and count, marked when one is mine,
// toggled by a click, who reacted shown on hover and focus) and the small
// picker behind each message's "Add reaction" button.
import { h } from '../dom.js';

const COMMON = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀', '✅', '🔥'];
const RECENT_KEY = 'causerie.recentEmoji';
const RECENT_MAX = 8;

function recent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((e) => typeof e === 'string').slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
}

export function rememberEmoji(emoji) {
  const list = [emoji, ...recent().filter((e) => e !== emoji)].slice(0, RECENT_MAX);
  try { localStorage.setItem(RECENT_KEY, JSON.stringify(list)); } catch { /* private mode: not kept */ }
}

/**
 * @param {object} msg
 * @param {object} ctx  { meId, nameOf(id), onToggleReaction(msg, emoji, mine) }
 */
export function renderReactions(msg, ctx) {
  const reactions = msg.reactions || [];
  if (!reactions.length || msg.is_deleted) return null;
  return h('ul', { class: 'reactions', testid: 'reactions', 'aria-label': 'Reactions' }, reactions.map((r) => {
    const mine = r.user_ids.includes(ctx.meId);
    const names = r.user_ids.map((id) => (id === ctx.meId ? 'you' : ctx.nameOf(id))).join(', ');
    return h('li', {},
      h('button', {
        // Out of the tab order until their message has focus, like its actions (see chat.js).
        class: `reaction-chip${mine ? ' mine' : ''}`, type: 'button', tabindex: '-1', testid: 'reaction-chip',
        'data-emoji': r.emoji, 'aria-pressed': mine ? 'true' : 'false',
        'aria-label': `${r.emoji} ${r.count}, by ${names}`,
        onclick: () => ctx.onToggleReaction(msg, r.emoji, mine),
      }, h('span', { 'aria-hidden': 'true' }, r.emoji), h('span', { class: 'reaction-count', 'aria-hidden': 'true' }, String(r.count)),
      h('span', { class: 'reaction-names', role: 'tooltip', 'aria-hidden': 'true' }, names)));
  }));
}

let openPicker = null;

function closePicker() {
  if (!openPicker) return;
  const { el, anchor, onDocClick } = openPicker;
  openPicker = null;
  el.remove();
  document.removeEventListener('mousedown', onDocClick, true);
  anchor.setAttribute('aria-expanded', 'false');
}

/** The picker below `anchor`: common and recently used emoji, each a button named by its emoji. */
export function togglePicker(anchor, onPick) {
  const wasThis = openPicker && openPicker.anchor === anchor;
  closePicker();
  if (wasThis) return;
  const choices = [...new Set([...recent(), ...COMMON])];
  const pick = (emoji) => {
    closePicker();
    rememberEmoji(emoji);
    onPick(emoji);
    anchor.focus();
  };
  const el = h('div', { class: 'emoji-picker', role: 'group', 'aria-label': 'Choose a reaction', testid: 'emoji-picker' },
    choices.map((emoji) => h('button', {
      class: 'emoji-option', type: 'button', 'aria-label': emoji, title: emoji, onclick: () => pick(emoji),
    }, emoji)));
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      closePicker();
      anchor.focus();
    }
  });
  const onDocClick = (e) => {
    if (!el.contains(e.target) && e.target !== anchor && !anchor.contains(e.target)) closePicker();
  };
  document.addEventListener('mousedown', onDocClick, true);
  anchor.setAttribute('aria-expanded', 'true');
  anchor.closest('.msg-body, .msg')?.append(el);
  openPicker = { el, anchor, onDocClick };
  el.querySelector('button')?.focus();
}
