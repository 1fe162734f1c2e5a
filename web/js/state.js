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
  arrivals.clear();
  state.currentRoomId = null;
  roomsChanged();
}

export function setRooms(list) {
  state.rooms.clear();
  arrivals.clear();
  for (const room of list) {
    state.rooms.set(room.id, room);
    arrivalsOf(room.id).upTo = room.last_message?.id ?? 0;
  }
  roomsChanged();
}

/**
 * What the stream brought on top of the counts the server last gave for a room. A room's
 * details answer for one moment (their `last_message`), while the stream goes on
 * delivering: messages that arrived before the answer and are newer than its last message
 * are not in its counts, and an answer to an earlier request can come after a later one.
 * Per room: `upTo`, the newest message the merged counts cover; `since`, the messages from
 * others after it that count as unread (id -> mentions me); `readUpTo`, how far I am known
 * to have read.
 */
const arrivals = new Map();
// A room's details are asked for while at most a few messages arrive; the rest is history.
const KEPT_ARRIVALS = 1000;

function arrivalsOf(roomId) {
  let a = arrivals.get(roomId);
  if (!a) {
    a = { upTo: 0, since: new Map(), readUpTo: 0 };
    arrivals.set(roomId, a);
  }
  return a;
}

/** Whether a message counts as unread for me, as the server counts it. */
function countsAsUnread(msg) {
  return msg.sender_id !== state.me.id && !msg.is_deleted && msg.message_type !== 'system';
}

/**
 * The counts of a room's details, with what the stream brought since the moment they
 * describe. Details older than counts already merged leave those counts alone.
 */
function reconcileCounts(room, old) {
  const a = arrivalsOf(room.id);
  const answered = room.last_message?.id ?? 0;
  if (old && old.unread_count !== undefined && answered < a.upTo) {
    return { unread_count: old.unread_count, mention_count: old.mention_count };
  }
  a.upTo = answered;
  const from = Math.max(answered, a.readUpTo);
  let unread = 0;
  let mentions = 0;
  for (const [id, mention] of a.since) {
    if (id <= from) {
      if (id <= answered) a.since.delete(id);
      continue;
    }
    unread += 1;
    if (mention) mentions += 1;
  }
  // A read mark past the answer's last message read everything the answer counted.
  if (a.readUpTo > answered) return { unread_count: unread, mention_count: mentions };
  return { unread_count: (room.unread_count || 0) + unread, mention_count: (room.mention_count || 0) + mentions };
}

/** I have read a room up to this message (a read mark, or a message I wrote). */
export function readUpTo(roomId, messageId) {
  const a = arrivalsOf(roomId);
  a.readUpTo = Math.max(a.readUpTo, messageId);
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
  if (room.unread_count !== undefined) Object.assign(merged, reconcileCounts(room, old));
  state.rooms.set(room.id, merged);
  roomsChanged();
  return merged;
}

export function removeRoom(id) {
  state.rooms.delete(id);
  arrivals.delete(id);
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
 * when the room is unknown to us, so the caller can fetch it: the message is
 * kept, to be counted on top of the room's details if they do not include it.
 */
export function applyNewMessage(msg) {
  const a = arrivalsOf(msg.room_id);
  if (countsAsUnread(msg)) {
    if (msg.id > a.upTo) {
      a.since.set(msg.id, mentionsMe(msg, state.me.id));
      if (a.since.size > KEPT_ARRIVALS) a.since.delete(a.since.keys().next().value);
    }
  } else if (msg.sender_id === state.me.id && msg.message_type !== 'system') {
    // Whoever writes has read the room up to there (the server moved the mark), from
    // whichever tab, device or token the message came.
    readUpTo(msg.room_id, msg.id);
  }
  const room = state.rooms.get(msg.room_id);
  if (!room) return false;
  const lastId = room.last_message?.id ?? 0;
  if (msg.id > lastId) {
    room.last_message = msg;
    // Only count a message newer than anything we knew, so a replayed event
    // after a reconnect or reload is not counted twice.
    if (countsAsUnread(msg)) {
      room.unread_count = (room.unread_count || 0) + 1;
      if (mentionsMe(msg, state.me.id)) room.mention_count = (room.mention_count || 0) + 1;
    } else if (msg.sender_id === state.me.id && msg.message_type !== 'system') {
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
  // The server no longer counts it: neither do the counts merged later.
  arrivals.get(room_id)?.since.delete(id);
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
