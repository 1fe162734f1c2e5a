// Desktop notifications (Notification API) for new messages that match my
// notify level in their room, shown only while the page is hidden. Permission
// is asked for only when the user clicks "Enable desktop notifications".
import { api } from './api.js';
import { state } from './state.js';
import { mentionsMe } from './rich.js';
import { messagePreview } from './format.js';

const levels = new Map(); // room id -> 'all' | 'mentions' | 'none'
const asking = new Map(); // room id -> Promise of its level

export function supported() {
  return typeof window.Notification === 'function';
}

/** Whether the user may still be asked (never asked, never refused). */
export function canAsk() {
  return supported() && Notification.permission === 'default';
}

/** Called from a click: asks the browser for permission. */
export async function askPermission() {
  if (!canAsk()) return supported() ? Notification.permission : 'unsupported';
  try {
    return await Notification.requestPermission();
  } catch {
    return 'denied';
  }
}

export function forgetLevels() {
  levels.clear();
  asking.clear();
}

/** My level in a room changed, or a member list showed it. */
export function setLevel(roomId, level) {
  if (level) levels.set(roomId, level);
}

async function levelOf(roomId) {
  if (levels.has(roomId)) return levels.get(roomId);
  if (!asking.has(roomId)) {
    asking.set(roomId, api.get(`/rooms/${roomId}/members`).then((members) => {
      const me = members.find((m) => m.user_id === state.me?.id);
      const level = me?.notify || 'all';
      levels.set(roomId, level);
      return level;
    }).catch(() => 'none').finally(() => asking.delete(roomId)));
  }
  return asking.get(roomId);
}

export function matches(level, msg, meId) {
  if (level === 'all') return true;
  if (level === 'mentions') return mentionsMe(msg, meId);
  return false;
}

/** A new message from the stream: notify if the page is hidden and it matches my level. */
export async function onNewMessage(msg, onOpen) {
  if (!supported() || Notification.permission !== 'granted' || document.visibilityState !== 'hidden') return;
  const me = state.me?.id;
  if (!me || msg.sender_id === me || msg.message_type === 'system' || msg.is_deleted) return;
  const room = state.rooms.get(msg.room_id);
  if (!room) return;
  const level = room.is_muted ? 'none' : await levelOf(msg.room_id);
  if (!matches(level, msg, me)) return;
  const title = room.room_type === 'direct' ? msg.sender_name : `${msg.sender_name} in ${room.name}`;
  try {
    const n = new Notification(title, { body: messagePreview(msg).slice(0, 200), tag: `causerie-${msg.room_id}` });
    n.onclick = () => {
      window.focus();
      onOpen(msg.room_id);
      n.close();
    };
  } catch {
    // Some browsers only allow notifications from a service worker: none then.
  }
}
