// Client state shared by the views: who I am and the rooms I am in.
// Messages of the open room live in the chat view; everything here is small.
import { mentionsMe } from './rich.js';

export const state = {
  me: null,
  rooms: new Map(), // id -> Room
  currentRoomId: null,
  leaving: new Set(), // rooms I am leaving by my own hand
};

const listeners = new Set();

/** Views subscribe to be told that the room list changed. */
export function onRoomsChanged(fn) {
  listeners.add(fn);
}

let scheduled = false;
/** Batch change notifications into one render per frame. */
export function roomsChanged() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    for (const fn of listeners) fn();
  });
}

export function can(permission) {
  const me = state.me;
  return !!me && (me.is_admin || (me.permissions || []).includes(permission));
}

export function resetState() {
  state.rooms.clear();
  state.currentRoomId = null;
  roomsChanged();
}

export function setRooms(list) {
  state.rooms.clear();
  for (const room of list) state.rooms.set(room.id, room);
  roomsChanged();
}

/**
 * Merge a room from the server. `room_updated` events carry no my_* fields,
 * so fields missing from the update keep their current value.
 */
export function mergeRoom(room) {
  const old = state.rooms.get(room.id);
  const merged = { ...(old || {}), ...room };
  for (const key of ['my_role', 'is_muted', 'unread_count', 'mention_count', 'last_message']) {
    if (room[key] === undefined && old) merged[key] = old[key];
  }
  if (old && old.last_message && room.last_message && room.last_message.id < old.last_message.id) {
    merged.last_message = old.last_message;
  }
  state.rooms.set(room.id, merged);
  roomsChanged();
  return merged;
}

export function removeRoom(id) {
  state.rooms.delete(id);
  roomsChanged();
}

function activity(room) {
  return room.last_message?.created_at || room.updated_at || room.created_at || '';
}

/** Most recent activity first, as the server sorts them. */
export function sortedRooms() {
  return [...state.rooms.values()].sort((a, b) => {
    const d = activity(b).localeCompare(activity(a));
    return d !== 0 ? d : b.id - a.id;
  });
}

/**
 * A new message arrived (from the stream or from my own send). Returns false
 * when the room is unknown to us, so the caller can fetch it.
 */
export function applyNewMessage(msg) {
  const room = state.rooms.get(msg.room_id);
  if (!room) return false;
  const lastId = room.last_message?.id ?? 0;
  if (msg.id > lastId) {
    room.last_message = msg;
    // Only count a message newer than anything we knew, so a replayed event
    // after a reconnect or reload is not counted twice.
    if (msg.sender_id !== state.me.id) {
      room.unread_count = (room.unread_count || 0) + 1;
      if (mentionsMe(msg, state.me.id)) room.mention_count = (room.mention_count || 0) + 1;
    } else if (msg.message_type !== 'system') {
      // Whoever writes has read the room up to there (the server moved the mark), from
      // whichever tab, device or token the message came.
      room.unread_count = 0;
      room.mention_count = 0;
    }
    roomsChanged();
  }
  return true;
}

export function applyMessageUpdate(msg) {
  const room = state.rooms.get(msg.room_id);
  if (room && room.last_message?.id === msg.id) {
    room.last_message = msg;
    roomsChanged();
  }
}

export function applyMessageDeleted({ id, room_id }) {
  const room = state.rooms.get(room_id);
  if (room && room.last_message?.id === id) {
    room.last_message = { ...room.last_message, is_deleted: true, content: '', attachments: [] };
    roomsChanged();
  }
}

export function setUnread(roomId, count) {
  const room = state.rooms.get(roomId);
  if (room && count === 0 && room.mention_count) {
    room.mention_count = 0;
    roomsChanged();
  }
  if (room && room.unread_count !== count) {
    room.unread_count = count;
    roomsChanged();
  }
}

export function totalUnread() {
  let n = 0;
  for (const room of state.rooms.values()) if (!room.is_muted) n += room.unread_count || 0;
  return n;
}

/** What the page title counts: unread direct messages and unread mentions, muted rooms aside. */
export function attentionCount() {
  let n = 0;
  for (const room of state.rooms.values()) {
    if (room.is_muted) continue;
    n += room.room_type === 'direct' ? (room.unread_count || 0) : (room.mention_count || 0);
  }
  return n;
}
