// The chat area of the open room: loading and lazy loading of messages,
// scrolling, read marks, "seen by", typing, and the stream events that touch
// them. Only the open room's messages are held in memory.
import { $, h, toast } from '../dom.js';
import { api, describeError } from '../api.js';
import { state, can, mergeRoom, removeRoom, setUnread, roomsChanged } from '../state.js';
import { renderMessage } from './message.js';
import { MessageList } from './message-list.js';
import { openEditor } from './message-editor.js';
import { openLightbox } from './lightbox.js';
import { confirmDialog } from './dialogs.js';
import * as composer from './composer.js';
import * as info from './info.js';
import { learn, setDirectPeer } from '../presence.js';

const PAGE = 50;
const TYPING_SHOWN_MS = 6000;

let roomId = null;
let list = null; // MessageList of the open room
let members = new Map(); // user id -> Member
let hasMore = false;
let loadingOlder = null; // promise while a page is loading
let openSeq = 0; // bumps on every room switch; stale responses compare against it
let pending = null; // stream events that arrived while the room was loading
let markedUpTo = 0;
let editingId = null;
let atBottom = true;
let seenBy = null; // { id, names }
let seenTimer = null;
let markTimer = null;
let markTarget = null; // { roomId, messageId } waiting to be sent
const typers = new Map(); // user id -> { name, timer }

let scroller; let olderStatus; let jumpBtn; let typingEl;

export function initChat() {
  scroller = $('message-scroller');
  olderStatus = $('older-status');
  jumpBtn = $('jump-latest');
  typingEl = $('typing-indicator');
  const items = $('message-items');
  list = new MessageList(items, (msg) => renderMessage(msg, renderCtx()));

  scroller.addEventListener('scroll', () => {
    atBottom = isNearBottom();
    jumpBtn.hidden = atBottom;
    if (scroller.scrollTop < 300) loadOlder();
    maybeMarkRead();
  }, { passive: true });
  // Touch screens: a tap on a message (not on a link or button) shows its actions.
  items.addEventListener('click', (e) => {
    if (!window.matchMedia('(hover: none)').matches) return;
    if (e.target.closest('a, button, textarea, input, select')) return;
    const msg = e.target.closest('.msg');
    for (const el of items.querySelectorAll('.msg.selected')) if (el !== msg) el.classList.remove('selected');
    msg?.classList.toggle('selected');
  });
  initKeyboard(items);
  // Escape in the message box (with nothing there to cancel) goes to the newest message:
  // one key from writing to reading. Handled on the form, after the box's own keys.
  $('composer').addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented || e.target.id !== 'composer-input') return;
    const last = list.last();
    if (!last) return;
    e.preventDefault();
    const el = list.node(last.id);
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: 'nearest' });
  });
  jumpBtn.addEventListener('click', () => {
    scrollToBottom();
    composer.focus();
  });
  document.addEventListener('visibilitychange', maybeMarkRead);
  window.addEventListener('resize', () => { if (atBottom) scrollToBottom(); });
}

/**
 * Keyboard: the list is one tab stop. Arrow keys move between messages, Home
 * and End jump to the ends, Tab reaches the focused message's actions, Escape
 * goes back to the composer.
 */
function initKeyboard(items) {
  scroller.addEventListener('keydown', (e) => {
    if (e.target.closest('textarea, input, select')) return;
    const all = [...items.querySelectorAll('.msg')];
    if (!all.length) return;
    const current = e.target.closest('.msg');
    let next = null;
    if (e.key === 'ArrowUp') next = current ? all[all.indexOf(current) - 1] : all[all.length - 1];
    else if (e.key === 'ArrowDown') next = current ? all[all.indexOf(current) + 1] : null;
    else if (e.key === 'Home' && (current || e.ctrlKey)) next = all[0];
    else if (e.key === 'End' && (current || e.ctrlKey)) next = all[all.length - 1];
    else if (e.key === 'Escape' && current) {
      e.preventDefault();
      composer.focus();
      return;
    }
    if (next) {
      e.preventDefault();
      next.focus({ preventScroll: true });
      next.scrollIntoView({ block: 'nearest' });
      if (next === all[0]) loadOlder();
    }
  });
  // The focused message's actions join the tab order; the others stay out.
  items.addEventListener('focusin', (e) => {
    const msg = e.target.closest('.msg');
    if (msg) for (const b of msg.querySelectorAll('.msg-actions button, .reaction-chip')) b.tabIndex = 0;
  });
  items.addEventListener('focusout', (e) => {
    const msg = e.target.closest('.msg');
    if (msg && !msg.contains(e.relatedTarget)) {
      for (const b of msg.querySelectorAll('.msg-actions button, .reaction-chip')) b.tabIndex = -1;
    }
  });
}

/** The open room's members (user id -> Member), for mention suggestions. */
export function currentMembers() {
  return members;
}

export function currentRoomId() {
  return roomId;
}

/** Show no room: the empty state. */
export function closeRoom() {
  openSeq++;
  composer.setRoom(null);
  resetRoomState();
  state.currentRoomId = null;
  roomsChanged();
  $('chat-title').textContent = 'causerie';
  $('chat-subtitle').textContent = '';
  $('chat-empty').hidden = false;
  scroller.hidden = true;
  $('info-button').hidden = true;
  info.clear();
}

function resetRoomState() {
  flushMark();
  roomId = null;
  list.clear();
  members = new Map();
  hasMore = false;
  loadingOlder = null;
  pending = null;
  markedUpTo = 0;
  editingId = null;
  seenBy = null;
  atBottom = true;
  for (const t of typers.values()) clearTimeout(t.timer);
  typers.clear();
  renderTyping();
  olderStatus.textContent = '';
  jumpBtn.hidden = true;
}

export async function openRoom(id) {
  const seq = ++openSeq;
  composer.setRoom(null);
  resetRoomState();
  roomId = id;
  state.currentRoomId = id;
  roomsChanged();
  pending = [];
  const known = state.rooms.get(id);
  renderHeader(known);
  $('chat-empty').hidden = true;
  scroller.hidden = false;
  olderStatus.textContent = 'Loading…';

  let details;
  let page;
  try {
    [details, page] = await Promise.all([
      api.get(`/rooms/${id}`),
      api.get(`/rooms/${id}/messages?limit=${PAGE}`),
    ]);
  } catch (err) {
    if (seq !== openSeq) return;
    if (err.status === 404) {
      removeRoom(id);
      closeRoom();
      toast('That room does not exist, or you are not a member.');
    } else if (err.status !== 401) {
      olderStatus.replaceChildren(h('span', {}, describeError(err)), ' ',
        h('button', { class: 'btn btn-small', type: 'button', onclick: () => openRoom(id) }, 'Retry'));
    }
    return;
  }
  if (seq !== openSeq) return;

  const unreadBefore = known ? (known.unread_count || 0) : (details.unread_count || 0);
  const { members: memberList = [], ...roomFields } = details;
  const room = mergeRoom(roomFields);
  members = new Map(memberList.map((m) => [m.user_id, m]));
  learn(memberList);
  if (room.room_type === 'direct') {
    const peer = memberList.find((m) => m.user_id !== state.me.id);
    if (peer) setDirectPeer(room.id, peer.user_id);
  }
  const messages = page.messages || [];
  hasMore = !!page.has_more;
  noteDeletedQuotes(messages);
  list.reset(messages, firstUnreadId(messages, unreadBefore));
  // Nothing unread: there is nothing to mark until a new message arrives.
  if (!unreadBefore && messages.length) markedUpTo = list.last().id;
  updateOlderStatus();

  // Events that raced the initial load are applied now; each handler is idempotent.
  const queued = pending;
  pending = null;
  for (const [fn, data] of queued) fn(data);

  renderHeader(room);
  $('info-button').hidden = false;
  info.showRoom(room, members);
  composer.setRoom(room);

  const divider = scroller.querySelector('[data-deco="unread"]');
  if (divider) {
    scroller.scrollTop = Math.max(0, divider.offsetTop - 16);
    atBottom = isNearBottom();
    jumpBtn.hidden = atBottom;
  } else {
    scrollToBottom();
  }
  maybeMarkRead();
  refreshSeenBy();
  fillViewport();
}

function renderHeader(room) {
  $('chat-title').textContent = room ? room.name : '…';
  if (!room) {
    $('chat-subtitle').textContent = '';
    return;
  }
  const kind = { direct: 'Direct message', group: 'Group', channel: 'Channel' }[room.room_type] || '';
  const count = members.size || room.member_count;
  const parts = [kind];
  if (room.room_type !== 'direct' && count) parts.push(`${count} member${count === 1 ? '' : 's'}`);
  if (room.is_muted) parts.push('muted');
  $('chat-subtitle').textContent = parts.join(' · ');
}

/** Divider before the first message I have not read, counted from the unread badge. */
function firstUnreadId(messages, unread) {
  if (!unread) return null;
  const others = messages.filter((m) => m.sender_id !== state.me.id);
  if (!others.length) return null;
  return others[Math.max(0, others.length - unread)].id;
}

function renderCtx() {
  const room = state.rooms.get(roomId);
  const moderator = room && (room.my_role === 'admin' || room.my_role === 'moderator');
  const meId = state.me.id;
  return {
    meId,
    canReply: can('chat.create'),
    canEdit: (m) => m.sender_id === meId && can('chat.update'),
    canDelete: (m) => can('chat.delete') && (m.sender_id === meId || moderator),
    onReply: (m) => composer.setReply(m),
    onEdit: startEdit,
    onDelete: deleteMessage,
    onQuote: jumpToMessage,
    onImage: openLightbox,
    canReact: can('chat.create'),
    onReact: (m, emoji) => setReaction(m, emoji, true),
    onToggleReaction: (m, emoji, mine) => { if (can('chat.create')) setReaction(m, emoji, !mine); },
    nameOf: (id) => members.get(id)?.display_name || 'someone',
    canPin: (m) => m.message_type !== 'system' && (moderator || room?.room_type === 'direct'),
    onPin: togglePin,
  };
}

/** Insert or update a message. Returns true when it was new to the list. */
function upsert(msg) {
  // Older than the loaded window: it will come with its page when scrolled to.
  if (hasMore && list.length && msg.id < list.first().id) return false;
  const isNew = list.upsert(msg, { redraw: editingId !== msg.id });
  if (seenBy) placeSeenBy();
  // The first message of an empty room replaces "No messages yet".
  if (isNew && list.length === 1) updateOlderStatus();
  return isNew;
}

function updateOlderStatus() {
  olderStatus.textContent = hasMore ? '' : (list.length ? 'This is the beginning of the conversation.' : 'No messages yet. Say hello!');
}

// ---------------------------------------------------------------- scrolling

function isNearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
  atBottom = true;
  jumpBtn.hidden = true;
  maybeMarkRead();
}

/** Load the page before the oldest loaded message, keeping what is on screen still. */
export function loadOlder() {
  if (loadingOlder) return loadingOlder;
  if (!hasMore || !list.length || pending) return Promise.resolve();
  const seq = openSeq;
  const before = list.first().id;
  olderStatus.textContent = 'Loading older messages…';
  scroller.setAttribute('aria-busy', 'true');
  loadingOlder = api.get(`/rooms/${roomId}/messages?before=${before}&limit=${PAGE}`).then((page) => {
    if (seq !== openSeq) return;
    const older = (page.messages || []).filter((m) => m.id < before && list.indexOf(m.id) < 0);
    const prevHeight = scroller.scrollHeight;
    const prevTop = scroller.scrollTop;
    noteDeletedQuotes(older);
    list.prepend(older);
    for (const m of older) if (m.is_deleted) updateQuotes(m.id, { excerpt: '', is_deleted: true });
    hasMore = !!page.has_more && older.length > 0;
    scroller.scrollTop = prevTop + (scroller.scrollHeight - prevHeight);
    updateOlderStatus();
  }).catch((err) => {
    if (seq === openSeq) olderStatus.textContent = describeError(err);
  }).finally(() => {
    if (seq === openSeq) {
      loadingOlder = null;
      scroller.removeAttribute('aria-busy');
    }
  });
  return loadingOlder;
}

/** On a tall screen the first page may not scroll at all: load until it does. */
async function fillViewport() {
  const seq = openSeq;
  while (seq === openSeq && hasMore && scroller.scrollHeight <= scroller.clientHeight + 10) {
    await loadOlder();
  }
}

/** Show a message, loading older pages until it is there (reply quotes). */
export async function jumpToMessage(id) {
  const seq = openSeq;
  for (let guard = 0; !list.node(id) && hasMore && guard < 200 && seq === openSeq; guard++) {
    await loadOlder();
  }
  const el = list.node(id);
  if (!el || seq !== openSeq) {
    toast('The original message is no longer available.');
    return;
  }
  el.scrollIntoView({ block: 'center' });
  el.classList.remove('flash');
  void el.offsetWidth; // restart the animation
  el.classList.add('flash');
  el.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- read state

/**
 * Mark read what the user has seen: every message up to the newest one whose top is on
 * screen (or was scrolled past), while the tab is visible. The badge counts what is left.
 */
export function maybeMarkRead() {
  if (!roomId || pending || document.visibilityState !== 'visible' || scroller.hidden) return;
  const seen = lastSeen();
  if (!seen || seen.id <= markedUpTo) return;
  markedUpTo = seen.id;
  setUnread(roomId, list.messages.filter((m) => m.id > seen.id && m.sender_id !== state.me.id
    && !m.is_deleted && m.message_type !== 'system').length);
  // What I wrote myself was marked by the server when I sent it.
  if (seen.sender_id === state.me.id && seen.message_type !== 'system') return;
  markTarget = { roomId, messageId: seen.id };
  if (!markTimer) markTimer = setTimeout(flushMark, 300);
}

/** The newest loaded message whose top is above the bottom of the list's view. */
function lastSeen() {
  const bottom = scroller.getBoundingClientRect().bottom;
  for (let i = list.messages.length - 1; i >= 0; i--) {
    const m = list.messages[i];
    const el = list.node(m.id);
    if (el && el.getBoundingClientRect().top < bottom - 4) return m;
  }
  return null;
}

/** Sends the waiting read mark now (a room switch does not lose it). */
function flushMark() {
  clearTimeout(markTimer);
  markTimer = null;
  const target = markTarget;
  markTarget = null;
  if (!target) return;
  api.post(`/rooms/${target.roomId}/read`, { message_id: target.messageId }).catch(() => {
    if (target.roomId === roomId) markedUpTo = 0; // try again on the next scroll or message
  });
}

/** After a deletion, focus stays in the list: on the next message, else the previous. */
function focusNeighbour(id) {
  const i = list.indexOf(id);
  const next = list.messages[i + 1] || list.messages[i - 1] || list.messages[i];
  const el = next && list.node(next.id);
  if (el) el.focus({ preventScroll: true });
}

function refreshSeenBy() {
  clearTimeout(seenTimer);
  seenTimer = setTimeout(loadSeenBy, 250);
}

async function loadSeenBy() {
  const seq = openSeq;
  const mine = list.findLast((m) => m.sender_id === state.me.id && !m.is_deleted && m.message_type !== 'system');
  if (!mine) {
    seenBy = null;
    placeSeenBy();
    return;
  }
  let reads;
  try {
    reads = await api.get(`/messages/${mine.id}/reads`);
  } catch {
    return;
  }
  if (seq !== openSeq) return;
  const names = (reads || []).filter((r) => r.user_id !== state.me.id).map((r) => r.display_name);
  seenBy = names.length ? { id: mine.id, names } : null;
  placeSeenBy();
}

/** "Seen by …" under my last message; re-placed whenever that element is redrawn. */
function placeSeenBy() {
  scroller.querySelector('.seen-by')?.remove();
  const el = seenBy && list.node(seenBy.id);
  if (!el) return;
  const { names } = seenBy;
  const text = names.length > 3
    ? `Seen by ${names.slice(0, 3).join(', ')} and ${names.length - 3} more`
    : `Seen by ${names.join(', ')}`;
  const wasAtBottom = isNearBottom();
  (el.querySelector('.msg-body') || el).append(h('p', { class: 'seen-by', testid: 'seen-by', title: names.join(', ') }, text));
  if (wasAtBottom) scrollToBottom();
}

// ---------------------------------------------------------------- stream events

function queued(fn, data) {
  if (!pending) return false;
  pending.push([fn, data]);
  return true;
}

export function onNewMessage(msg) {
  if (msg.room_id !== roomId || queued(onNewMessage, msg)) return;
  if (typers.delete(msg.sender_id)) renderTyping();
  // The server moved my mark to what I sent, from whichever tab or client.
  if (msg.sender_id === state.me.id && msg.message_type !== 'system') markedUpTo = Math.max(markedUpTo, msg.id);
  // Whoever writes has read the room: they have seen my last message too.
  else if (msg.message_type !== 'system' && !(seenBy?.names || []).includes(msg.sender_name)) refreshSeenBy();
  const wasAtBottom = isNearBottom();
  const isNew = upsert(msg);
  const mine = msg.sender_id === state.me.id;
  if (isNew && (mine || wasAtBottom)) scrollToBottom();
  else if (isNew) jumpBtn.hidden = false;
  if (isNew && msg.attachments?.length) info.refreshFiles();
  if (mine) refreshSeenBy();
  maybeMarkRead();
}

export function onMessageUpdated(msg) {
  if (msg.room_id !== roomId || queued(onMessageUpdated, msg)) return;
  const old = list.get(msg.id);
  if (list.indexOf(msg.id) >= 0) upsert(msg);
  if ((old?.pinned_at ?? null) !== (msg.pinned_at ?? null) || (!old && msg.pinned_at !== undefined)) info.refreshPins();
  updateQuotes(msg.id, { excerpt: excerpt(msg.content), is_deleted: false });
}

/** reaction_added / reaction_removed: a set change, so a replayed event changes nothing. */
export function onReaction(kind, ev) {
  if (ev.room_id !== roomId || queued((d) => onReaction(kind, d), ev)) return;
  const msg = list.get(ev.message_id);
  if (!msg) return;
  const reactions = (msg.reactions || []).map((r) => ({ ...r, user_ids: [...r.user_ids] }));
  let r = reactions.find((x) => x.emoji === ev.emoji);
  if (kind === 'reaction_added') {
    if (!r) {
      r = { emoji: ev.emoji, count: 0, user_ids: [] };
      reactions.push(r);
    }
    if (!r.user_ids.includes(ev.user_id)) r.user_ids.push(ev.user_id);
  } else if (r) {
    r.user_ids = r.user_ids.filter((id) => id !== ev.user_id);
  }
  for (const x of reactions) x.count = x.user_ids.length;
  const focused = document.activeElement?.closest?.('[data-testid="reaction-chip"]')?.dataset.emoji;
  upsert({ ...msg, reactions: reactions.filter((x) => x.count > 0) });
  if (focused) list.node(msg.id)?.querySelector(`[data-testid="reaction-chip"][data-emoji="${CSS.escape(focused)}"]`)?.focus();
}

async function setReaction(msg, emoji, on) {
  const path = `/messages/${msg.id}/reactions/${encodeURIComponent(emoji)}`;
  try {
    if (on) await api.put(path);
    else await api.del(path);
  } catch (err) {
    toast(describeError(err));
  }
}

async function togglePin(msg) {
  try {
    if (msg.pinned_at) await api.del(`/messages/${msg.id}/pin`);
    else await api.put(`/messages/${msg.id}/pin`);
  } catch (err) {
    toast(describeError(err));
  }
}

/** Replies quote the first characters of their original, as the server does. */
function excerpt(content) {
  const chars = [...String(content || '')];
  return chars.length > 100 ? `${chars.slice(0, 100).join('')}…` : chars.join('');
}

/** A quote of a loaded message that is deleted says so (the server's quote just has no text). */
function noteDeletedQuotes(msgs) {
  const deleted = new Set([...list.messages, ...msgs].filter((m) => m.is_deleted).map((m) => m.id));
  for (const m of msgs) {
    if (m.reply_to && deleted.has(m.reply_to.id)) m.reply_to = { ...m.reply_to, is_deleted: true };
  }
}

/** Reply quotes follow their original's edits and deletion live. */
function updateQuotes(originalId, change) {
  for (const m of list.messages) {
    if (m.reply_to && m.reply_to.id === originalId) {
      m.reply_to = { ...m.reply_to, ...change };
      if (editingId !== m.id) list.redraw(m.id);
    }
  }
  if (seenBy) placeSeenBy();
}

export function onMessageDeleted({ id, room_id: rid }) {
  if (rid !== roomId || queued(onMessageDeleted, { id, room_id: rid })) return;
  const old = list.get(id);
  if (!old) return;
  if (editingId === id) editingId = null;
  upsert({ ...old, is_deleted: true, content: '', attachments: [], reactions: [], pinned_at: null, pinned_by_id: null });
  if (old.pinned_at) info.refreshPins();
  updateQuotes(id, { excerpt: '', is_deleted: true });
  composer.forgetReply(id);
  info.refreshFiles();
  if (seenBy && seenBy.id === id) refreshSeenBy();
}

export function onRead(ev) {
  if (ev.room_id !== roomId || queued(onRead, ev)) return;
  if (ev.user_id === state.me.id) {
    markedUpTo = Math.max(markedUpTo, ev.message_id);
    return;
  }
  const member = members.get(ev.user_id);
  if (member) member.last_read_at = ev.read_at;
  refreshSeenBy();
}

export function onTyping(ev) {
  if (ev.room_id !== roomId || ev.user_id === state.me.id) return;
  const old = typers.get(ev.user_id);
  if (old) clearTimeout(old.timer);
  const timer = setTimeout(() => { typers.delete(ev.user_id); renderTyping(); }, TYPING_SHOWN_MS);
  typers.set(ev.user_id, { name: ev.display_name, timer });
  renderTyping();
}

function renderTyping() {
  const names = [...typers.values()].map((t) => t.name);
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  typingEl.textContent = text;
}

/** member_joined / member_updated / member_left for the open room. */
export function onMemberEvent(kind, { room_id: rid, member }) {
  if (rid !== roomId || queued((d) => onMemberEvent(kind, d), { room_id: rid, member })) return;
  learn([member]);
  if (kind === 'member_left') members.delete(member.user_id);
  else members.set(member.user_id, { ...(members.get(member.user_id) || {}), ...member });
  const room = state.rooms.get(roomId);
  if (room) {
    room.member_count = members.size;
    renderHeader(room);
  }
  info.showRoom(room, members);
  // My own role decides which delete buttons I get.
  if (member.user_id === state.me.id) {
    list.redrawAll(editingId);
    placeSeenBy();
  }
}

/** The room itself changed (rename, mute, my role). */
export function onRoomChanged(id) {
  if (id !== roomId) return;
  const room = state.rooms.get(id);
  renderHeader(room);
  info.showRoom(room, members);
  composer.setRoomName(room.name);
}

/** My permissions changed (an administrator, live): redraw what depends on them. */
export function onPermissionsChanged() {
  if (!roomId) return;
  const room = state.rooms.get(roomId);
  list.redrawAll(editingId);
  placeSeenBy();
  if (room) info.showRoom(room, members);
  composer.refreshPermissions();
}

/** My own message came back from POST /messages (the stream will echo it too). */
export function onSent(msg) {
  onNewMessage(msg);
}

// ---------------------------------------------------------------- edit / delete

function startEdit(msg) {
  if (editingId) cancelEdit();
  const el = list.node(msg.id);
  if (!el) return;
  editingId = msg.id;
  openEditor(el, msg, {
    save: async (content) => {
      const updated = await api.patch(`/messages/${msg.id}`, { content });
      if (editingId === msg.id) editingId = null;
      upsert(updated);
      composer.focus();
    },
    cancel: () => {
      cancelEdit();
      composer.focus();
    },
  });
}

function cancelEdit() {
  const id = editingId;
  editingId = null;
  if (id && list.redraw(id)) {
    list.sync();
    placeSeenBy();
  }
}

/** Arrow-up in an empty composer edits my last message. */
export function editLast() {
  const mine = list.findLast((m) => m.sender_id === state.me.id && m.message_type !== 'system');
  if (!mine || mine.is_deleted || !can('chat.update')) return;
  list.node(mine.id)?.scrollIntoView({ block: 'nearest' });
  startEdit(mine);
}

async function deleteMessage(msg) {
  const ok = await confirmDialog('Delete this message? Everyone in the room will see that a message was deleted.',
    { okLabel: 'Delete', danger: true, title: 'Delete message' });
  if (!ok) return;
  try {
    await api.del(`/messages/${msg.id}`);
    onMessageDeleted({ id: msg.id, room_id: msg.room_id });
    focusNeighbour(msg.id);
  } catch (err) {
    toast(describeError(err));
  }
}
