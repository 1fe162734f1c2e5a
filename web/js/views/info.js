// The info panel of the open room: members and roles (managed by room
// admins), the room's files, mute and leave.
import { $, h, icon, avatar, toast } from '../dom.js';
import { api, describeError } from '../api.js';
import { state, can, mergeRoom, removeRoom } from '../state.js';
import { formatSize, safeHref } from '../format.js';
import { confirmDialog, promptDialog } from './dialogs.js';
import { addMemberDialog } from './room-dialogs.js';
import { openLightbox } from './lightbox.js';
import { fileCard } from './message.js';
import { presenceDot } from '../presence.js';
import * as notify from '../notify.js';

const NOTIFY_LEVELS = [['all', 'All new messages'], ['mentions', 'Mentions only'], ['none', 'Nothing']];

const ROLES = ['member', 'moderator', 'admin'];
const ROLE_ORDER = { admin: 0, moderator: 1, member: 2 };

let panel = null;
let room = null;
let members = new Map();
let filesList = null;
let filesMore = null;
let filesSeq = 0;
let filesTimer = null;
let pinsList = null;
let pinsSeq = 0;
let hooks = { onLeft: () => {}, onClose: () => {} };

export function initInfo(callbacks) {
  hooks = { ...hooks, ...callbacks };
  panel = $('info');
}

export function clear() {
  room = null;
  members = new Map();
  filesSeq++;
  pinsSeq++;
  pinsList = null;
  panel.replaceChildren(h('p', { class: 'muted info-empty' }, 'No room selected.'));
}

function canManage() {
  return room && room.room_type !== 'direct' && room.my_role === 'admin' && can('chat.manage_rooms');
}

/** (Re)draw the panel for a room and its members. */
export function showRoom(r, memberMap) {
  const sameRoom = room && r && room.id === r.id;
  room = r;
  members = memberMap;
  if (!room) {
    clear();
    return;
  }
  const kind = { direct: 'Direct message', group: 'Group', channel: 'Channel' }[room.room_type] || '';
  const sortedMembers = [...members.values()].sort((a, b) => (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3)
    || String(a.display_name).localeCompare(String(b.display_name)));

  const muteBtn = h('button', {
    class: `btn switch${room.is_muted ? ' on' : ''}`, type: 'button', role: 'switch', testid: 'mute-toggle',
    'aria-checked': room.is_muted ? 'true' : 'false', onclick: toggleMute,
  }, icon(room.is_muted ? 'bellOff' : 'bell', 16), room.is_muted ? 'Muted' : 'Mute');
  const leaveBtn = h('button', { class: 'btn btn-danger-outline', type: 'button', testid: 'leave-room', onclick: leave }, 'Leave');

  // Keep the already loaded files when only members or the name changed.
  const keepFiles = sameRoom && filesList;
  const keepPins = sameRoom && pinsList;
  if (!keepPins) pinsList = h('ul', { class: 'pin-list', testid: 'room-pins', 'aria-label': 'Pinned messages' });
  if (!keepFiles) {
    filesList = h('ul', { class: 'file-list', testid: 'room-files' });
    filesMore = h('button', { class: 'btn btn-small', type: 'button', testid: 'room-files-more', hidden: true }, 'Load more');
  }

  panel.replaceChildren(
    h('div', { class: 'info-head' },
      h('div', { class: 'info-title-row' },
        h('h2', { class: 'info-title', testid: 'info-title' }, room.name),
        canManage() ? h('button', {
          class: 'icon-btn', type: 'button', testid: 'rename-room', 'aria-label': 'Rename room', title: 'Rename', onclick: rename,
        }, icon('edit', 16)) : null,
        h('button', {
          class: 'icon-btn info-close', type: 'button', testid: 'info-close', 'aria-label': 'Close details',
          onclick: () => hooks.onClose(),
        }, icon('x'))),
      h('p', { class: 'muted small' }, kind)),
    h('div', { class: 'info-actions' }, muteBtn, leaveBtn),
    notifySetting(),
    h('section', { class: 'info-section', 'aria-labelledby': 'members-heading' },
      h('div', { class: 'section-head' },
        h('h3', { id: 'members-heading' }, `Members (${members.size})`),
        canManage() ? h('button', {
          class: 'btn btn-small', type: 'button', testid: 'add-member',
          onclick: () => addMemberDialog(room, [...members.keys()], () => {}),
        }, icon('plus', 14), 'Add') : null),
      h('ul', { class: 'member-list', testid: 'member-list' }, sortedMembers.map(memberItem))),
    h('section', { class: 'info-section', 'aria-labelledby': 'pins-heading', testid: 'pinned-section' },
      h('div', { class: 'section-head' }, h('h3', { id: 'pins-heading' }, 'Pinned')),
      pinsList),
    h('section', { class: 'info-section', 'aria-labelledby': 'files-heading' },
      h('div', { class: 'section-head' }, h('h3', { id: 'files-heading' }, 'Files')),
      filesList, filesMore));

  if (!keepPins) loadPins();
  if (!keepFiles) {
    filesMore.addEventListener('click', () => loadFiles(true));
    loadFiles(false);
  }
}

function memberItem(m) {
  const isMe = m.user_id === state.me.id;
  let role;
  if (canManage() && !isMe) {
    const id = `role-${m.user_id}`;
    role = h('span', { class: 'member-role' },
      h('label', { for: id, class: 'sr-only' }, `Role of ${m.display_name}`),
      h('select', {
        id, testid: 'member-role', 'data-user-id': m.user_id,
        onchange: (e) => changeRole(m, e.target.value, e.target),
      }, ROLES.map((r) => h('option', { value: r, selected: r === m.role }, r))));
  } else {
    role = m.role !== 'member' ? h('span', { class: 'role-badge', testid: 'member-role-label' }, m.role) : null;
  }
  return h('li', { class: 'member', testid: 'member-item', 'data-user-id': m.user_id },
    avatar(m.display_name, m.display_name, 'sm'),
    presenceDot(m.user_id),
    h('span', { class: 'member-name' }, m.display_name, isMe ? h('span', { class: 'muted' }, ' (you)') : null),
    role,
    canManage() && !isMe ? h('button', {
      class: 'icon-btn', type: 'button', testid: 'member-remove', 'aria-label': `Remove ${m.display_name}`,
      title: 'Remove from room', onclick: () => removeMember(m),
    }, icon('x', 16)) : null);
}

async function changeRole(member, role, select) {
  try {
    await api.patch(`/rooms/${room.id}/members/${member.user_id}`, { role });
    member.role = role;
  } catch (err) {
    select.value = member.role;
    toast(describeError(err));
  }
}

async function removeMember(member) {
  const ok = await confirmDialog(`Remove ${member.display_name} from ${room.name}?`, { okLabel: 'Remove', danger: true, title: 'Remove member' });
  if (!ok) return;
  try {
    await api.del(`/rooms/${room.id}/members/${member.user_id}`);
  } catch (err) {
    toast(describeError(err));
  }
}

/** My notification level in this room, and the button that asks for desktop notifications. */
function notifySetting() {
  const me = members.get(state.me.id);
  const fallback = room.room_type === 'channel' ? 'mentions' : 'all';
  const level = room.is_muted ? 'none' : (me?.notify || fallback);
  notify.setLevel(room.id, me?.notify);
  const select = h('select', {
    id: 'notify-level', testid: 'notify-level', disabled: room.is_muted,
    title: room.is_muted ? 'Unmute the room to choose' : null,
    onchange: (e) => changeNotify(e.target.value, e.target),
  }, NOTIFY_LEVELS.map(([value, label]) => h('option', { value, selected: value === level }, label)));
  const enable = notify.canAsk() ? h('button', {
    class: 'btn btn-small', type: 'button', testid: 'enable-notifications',
    onclick: async () => {
      await notify.askPermission();
      showRoom(room, members);
    },
  }, icon('bell', 14), 'Enable desktop notifications') : null;
  return h('div', { class: 'notify-setting' },
    h('label', { for: 'notify-level' }, 'Notify me of'), select, enable);
}

async function changeNotify(level, select) {
  const me = members.get(state.me.id);
  try {
    const updated = await api.patch(`/rooms/${room.id}/members/${state.me.id}`, { notify: level });
    members.set(state.me.id, { ...(me || {}), ...updated });
    notify.setLevel(room.id, updated.notify);
  } catch (err) {
    select.value = me?.notify || 'all';
    toast(describeError(err));
  }
}

async function toggleMute() {
  const next = !room.is_muted;
  try {
    await api.patch(`/rooms/${room.id}/members/${state.me.id}`, { is_muted: next });
    room = mergeRoom({ id: room.id, is_muted: next });
    showRoom(room, members);
    panel.querySelector('[data-testid="mute-toggle"]')?.focus();
  } catch (err) {
    toast(describeError(err));
  }
}

async function leave() {
  const r = room;
  const ok = await confirmDialog(`Leave ${r.name}? You will stop receiving its messages.`, { okLabel: 'Leave', danger: true, title: 'Leave room' });
  if (!ok) return;
  state.leaving.add(r.id);
  try {
    await api.del(`/rooms/${r.id}/members/${state.me.id}`);
    removeRoom(r.id);
    hooks.onLeft(r.id);
    toast(`You left ${r.name}.`);
  } catch (err) {
    state.leaving.delete(r.id);
    toast(describeError(err));
  }
}

async function rename() {
  const name = await promptDialog('Rename room', 'New name', room.name);
  if (!name || name === room.name) return;
  try {
    const updated = await api.patch(`/rooms/${room.id}`, { name });
    room = mergeRoom(updated);
    showRoom(room, members);
  } catch (err) {
    toast(describeError(err));
  }
}

/** A message was pinned, unpinned or deleted: reload the pinned list. */
export function refreshPins() {
  if (room) loadPins();
}

async function loadPins() {
  const seq = ++pinsSeq;
  const list = pinsList;
  let pins;
  try {
    pins = await api.get(`/rooms/${room.id}/pins`);
  } catch (err) {
    if (seq === pinsSeq) list.replaceChildren(h('li', { class: 'muted small' }, describeError(err)));
    return;
  }
  if (seq !== pinsSeq) return;
  list.replaceChildren(...(pins || []).map((m) => h('li', { class: 'pin-item', testid: 'pin-item', 'data-message-id': m.id },
    h('span', { class: 'pin-sender' }, m.sender_name),
    h('span', { class: 'pin-text' }, m.content || (m.attachments?.length ? m.attachments.map((a) => a.file_name).join(', ') : '')))));
  if (!list.children.length) list.append(h('li', { class: 'muted small' }, 'Nothing pinned yet.'));
}

/** New files appeared in the room: reload the list soon (batched). */
export function refreshFiles() {
  if (!room) return;
  clearTimeout(filesTimer);
  filesTimer = setTimeout(() => loadFiles(false), 400);
}

async function loadFiles(more) {
  if (!room) return;
  const seq = ++filesSeq;
  const list = filesList;
  const last = more ? list.lastElementChild?.dataset.attachmentId : null;
  const query = last ? `?before=${encodeURIComponent(last)}` : '';
  let page;
  try {
    page = await api.get(`/rooms/${room.id}/attachments${query}`);
  } catch (err) {
    if (seq !== filesSeq) return;
    // 404: this server has no file listing (yet); the panel just stays quiet.
    if (!more) list.replaceChildren(h('li', { class: 'muted small' }, err.status === 404 ? 'No files shared yet.' : describeError(err)));
    filesMore.hidden = true;
    return;
  }
  if (seq !== filesSeq) return;
  const atts = Array.isArray(page) ? page : (page?.attachments || page?.items || []);
  const items = atts.map(fileItem);
  if (more) list.append(...items);
  else list.replaceChildren(...items);
  if (!list.children.length) list.append(h('li', { class: 'muted small' }, 'No files shared yet.'));
  // The listing may be a bare array or a page object; without has_more, a full
  // looking page offers "Load more" (an empty answer then hides it).
  const hasMore = page && !Array.isArray(page) && 'has_more' in page ? page.has_more === true : atts.length >= 20;
  filesMore.hidden = !hasMore;
}

function fileItem(att) {
  if (att.thumbnail_url) {
    return h('li', { class: 'file-item image', testid: 'file-item', 'data-attachment-id': att.id },
      h('button', {
        class: 'file-thumb', type: 'button', 'aria-label': `Open image ${att.file_name}`, onclick: () => openLightbox(att),
      }, h('img', { src: safeHref(att.thumbnail_url), alt: '', loading: 'lazy' })),
      h('span', { class: 'file-meta' },
        h('a', { href: safeHref(att.url), download: att.file_name, class: 'file-name' }, att.file_name),
        h('span', { class: 'muted small' }, formatSize(att.file_size))));
  }
  const card = fileCard(att);
  card.setAttribute('data-testid', 'attachment-file');
  return h('li', { class: 'file-item', testid: 'file-item', 'data-attachment-id': att.id }, card);
}
