// The ordered message elements of one room, with their day separators, the
// unread divider and sender runs. Pure DOM bookkeeping: no network, no scroll.
import { h } from '../dom.js';
import { dayKey, formatDay } from '../format.js';

const GROUP_MS = 5 * 60 * 1000; // consecutive messages closer than this share one header

export class MessageList {
  /**
   * @param {HTMLElement} container  holds message and separator elements only
   * @param {(msg:object)=>HTMLElement} render
   */
  constructor(container, render) {
    this.container = container;
    this.render = render;
    this.clear();
  }

  clear() {
    this.messages = []; // ascending by id
    this.nodes = new Map(); // id -> element
    this.unreadFromId = null;
    this.container.replaceChildren();
  }

  get length() { return this.messages.length; }

  first() { return this.messages[0]; }

  last() { return this.messages[this.messages.length - 1]; }

  node(id) { return this.nodes.get(id); }

  indexOf(id) {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i].id === id) return i;
    return -1;
  }

  get(id) { return this.messages[this.indexOf(id)]; }

  /** The newest message matching `pred`. */
  findLast(pred) {
    for (let i = this.messages.length - 1; i >= 0; i--) if (pred(this.messages[i])) return this.messages[i];
    return null;
  }

  /** Show a first page, with the unread divider before `unreadFromId` (or none). */
  reset(list, unreadFromId = null) {
    this.clear();
    this.unreadFromId = unreadFromId;
    this.prepend(list);
  }

  /** Put an older page in front. */
  prepend(older) {
    const frag = document.createDocumentFragment();
    for (const msg of older) {
      const el = this.render(msg);
      this.nodes.set(msg.id, el);
      frag.append(el);
    }
    this.container.prepend(frag);
    this.messages = older.concat(this.messages);
    this.sync();
  }

  /**
   * Insert a new message in id order, or update a known one. `redraw: false`
   * keeps the element (the one being edited). Returns true when it was new.
   */
  upsert(msg, { redraw = true } = {}) {
    const i = this.indexOf(msg.id);
    if (i >= 0) {
      this.messages[i] = msg;
      if (redraw) {
        this.redraw(msg.id);
        this.sync(); // an edit can end a sender run
      }
      return false;
    }
    let pos = this.messages.length;
    while (pos > 0 && this.messages[pos - 1].id > msg.id) pos--;
    this.messages.splice(pos, 0, msg);
    const el = this.render(msg);
    this.nodes.set(msg.id, el);
    const next = this.messages[pos + 1];
    if (next) this.container.insertBefore(el, this.nodes.get(next.id));
    else this.container.append(el);
    this.sync();
    return true;
  }

  /** Rebuild one message's element from its data. */
  redraw(id) {
    const old = this.nodes.get(id);
    const msg = this.get(id);
    if (!old || !msg) return null;
    const el = this.render(msg);
    el.classList.toggle('continued', old.classList.contains('continued'));
    old.replaceWith(el);
    this.nodes.set(id, el);
    return el;
  }

  redrawAll(exceptId = null) {
    for (const msg of this.messages) if (msg.id !== exceptId) this.redraw(msg.id);
    this.sync();
  }

  /**
   * Put day separators and the unread divider where they belong, and mark
   * messages that continue the previous sender's run. Walks the whole list but
   * touches the DOM only where something changed, so scroll positions hold.
   */
  sync() {
    const keep = new Set();
    let prev = null;
    for (const msg of this.messages) {
      const el = this.nodes.get(msg.id);
      const wanted = [];
      const day = dayKey(msg.created_at);
      if (!prev || dayKey(prev.created_at) !== day) wanted.push(['day', day]);
      if (this.unreadFromId === msg.id) wanted.push(['unread', '']);
      let anchor = el;
      for (let i = wanted.length - 1; i >= 0; i--) {
        const [kind, key] = wanted[i];
        let d = anchor.previousElementSibling;
        if (!(d && d.dataset.deco === kind && d.dataset.key === key)) {
          d = decoration(kind, key, msg);
          this.container.insertBefore(d, anchor);
        }
        keep.add(d);
        anchor = d;
      }
      el.classList.toggle('continued', !wanted.length && continues(prev, msg));
      prev = msg;
    }
    for (const d of this.container.querySelectorAll('[data-deco]')) if (!keep.has(d)) d.remove();
  }
}

function decoration(kind, key, msg) {
  if (kind === 'day') {
    return h('div', { class: 'day-sep', role: 'separator', testid: 'day-separator', 'data-deco': 'day', 'data-key': key },
      h('span', {}, formatDay(msg.created_at)));
  }
  return h('div', { class: 'unread-divider', role: 'separator', testid: 'unread-divider', 'data-deco': 'unread', 'data-key': '' },
    h('span', {}, 'New messages'));
}

// An edited message keeps its header, where the "(edited)" marker lives.
function continues(prev, msg) {
  return !!prev && prev.sender_id === msg.sender_id
    && !(msg.is_edited && !msg.is_deleted)
    && prev.message_type !== 'system' && msg.message_type !== 'system'
    && new Date(msg.created_at) - new Date(prev.created_at) < GROUP_MS;
}
