// The room list: direct, group and channel rooms, most recent first, with
// unread badges and dimmed muted rooms. Re-rendered from state on every change.
import { $, h, icon, avatar } from '../dom.js';
import { state, can, sortedRooms, onRoomsChanged } from '../state.js';
import { formatListTime, messagePreview } from '../format.js';
import { newDirectDialog, newRoomDialog, browseChannelsDialog } from './room-dialogs.js';
import { directPeer, presenceDot } from '../presence.js';

const TYPE_LABEL = { direct: 'Direct message', group: 'Group', channel: 'Channel' };
const TYPE_ICON = { direct: 'user', group: 'users', channel: 'hash' };

let list = null;
let actions = null;
let meBox = null;
let navigate = null;

export function initSidebar({ onNavigate, onLogout }) {
  navigate = onNavigate;
  list = h('ul', { class: 'room-list', testid: 'room-list' });
  actions = h('div', { class: 'sidebar-actions' });
  meBox = h('div', { class: 'me' });
  $('sidebar').replaceChildren(
    h('div', { class: 'sidebar-head' },
      h('span', { class: 'brand' }, 'causerie'),
      h('span', { id: 'conn-dot', class: 'conn-dot', testid: 'connection-dot', title: 'Connecting…' })),
    actions,
    h('nav', { class: 'room-nav', 'aria-label': 'Rooms' }, list),
    h('div', { class: 'sidebar-foot' }, meBox,
      h('button', {
        class: 'icon-btn', type: 'button', testid: 'logout', 'aria-label': 'Sign out', title: 'Sign out',
        onclick: onLogout,
      }, icon('logout'))));
  onRoomsChanged(renderRooms);
}

/** Rebuild the parts that depend on who I am (permissions, name). */
export function renderMe() {
  const me = state.me;
  meBox.replaceChildren(avatar(me.display_name, me.display_name, 'sm'),
    h('span', { class: 'me-name', testid: 'me-name', title: `@${me.username}` }, me.display_name));
  const button = (testid, iconName, label, onclick) => h('button', {
    class: 'side-btn', type: 'button', testid, onclick,
  }, icon(iconName, 18), h('span', {}, label));
  // A control I may not use is explained where it would be, rather than just missing.
  const missing = (testid, text) => h('p', { class: 'side-note', testid }, text);
  actions.replaceChildren(...[
    can('chat.create') ? button('new-direct', 'message', 'New message', () => newDirectDialog(navigate))
      : missing('new-direct-missing', 'Writing needs the chat.create permission: ask an administrator.'),
    can('chat.manage_rooms') ? button('new-room', 'plus', 'New room', () => newRoomDialog(navigate))
      : missing('new-room-missing', 'Creating rooms needs the chat.manage_rooms permission: ask an administrator.'),
    button('browse-channels', 'compass', 'Browse channels', () => browseChannelsDialog(navigate)),
    me.is_admin && button('admin-page', 'shield', 'People', () => navigate('admin')),
  ].filter(Boolean));
}

export function renderRooms() {
  if (!list) return;
  // Keep keyboard focus on the same room across re-renders.
  const focusedId = document.activeElement?.closest?.('[data-testid="room-item"]')?.dataset.roomId;
  const rooms = sortedRooms();
  if (!rooms.length) {
    list.replaceChildren(h('li', { class: 'muted small empty-rooms' }, 'No conversations yet.'));
    return;
  }
  list.replaceChildren(...rooms.map(roomItem));
  if (focusedId) list.querySelector(`[data-room-id="${CSS.escape(focusedId)}"]`)?.focus();
}

function roomItem(room) {
  const current = room.id === state.currentRoomId;
  const unread = current ? 0 : room.unread_count || 0;
  const last = room.last_message;
  let preview = messagePreview(last);
  if (preview && last && last.sender_id === state.me.id && last.message_type !== 'system') preview = `You: ${preview}`;
  // The link's name is its visible text (the room's name first), with what the eye gets from
  // the icon, badge and dimming added for screen readers at the end.
  const extra = [TYPE_LABEL[room.room_type], unread ? `${unread} unread` : '', room.is_muted ? 'muted' : '']
    .filter(Boolean).join(', ');
  const classes = ['room-item', current && 'current', room.is_muted && 'muted', unread && 'has-unread']
    .filter(Boolean).join(' ');
  return h('li', {},
    h('a', {
      class: classes, href: `#/room/${room.id}`, testid: 'room-item',
      'data-room-id': room.id, 'data-room-name': room.name, 'data-room-type': room.room_type,
      'aria-current': current ? 'page' : null,
      onclick: (e) => { e.preventDefault(); navigate(room.id); },
    },
    room.room_type === 'direct'
      ? h('span', { class: 'avatar-with-dot' }, avatar(room.name, room.name, 'sm'),
        directPeer(room.id) ? presenceDot(directPeer(room.id)) : null)
      : h('span', { class: 'room-icon' }, icon(TYPE_ICON[room.room_type] || 'hash', 16)),
    h('span', { class: 'room-main' },
      h('span', { class: 'room-line' },
        h('span', { class: 'room-name' }, room.name),
        h('span', { class: 'room-time' }, formatListTime(last?.created_at))),
      h('span', { class: 'room-line' },
        h('span', { class: 'room-preview' }, preview),
        room.is_muted ? h('span', { class: 'muted-icon', title: 'Muted' }, icon('bellOff', 14)) : null,
        unread ? h('span', { class: 'badge', testid: 'unread-badge', 'aria-hidden': 'true' }, unread > 99 ? '99+' : String(unread)) : null)),
    h('span', { class: 'sr-only' }, `, ${extra}`)));
}

/** Connection dot in the sidebar header. */
export function setConnectionDot(status) {
  const dot = $('conn-dot');
  if (!dot) return;
  dot.dataset.state = status;
  dot.title = status === 'open' ? 'Connected' : 'Not connected — reconnecting…';
}
