// Who is online: filled from the `online` field of members and users and kept
// current by `presence` events. Dots carry their user id, so an event updates
// every dot of that person on the page without re-rendering anything.
import { h } from './dom.js';

const online = new Map(); // user id -> bool
const directPeers = new Map(); // direct room id -> the other person's user id

export function isOnline(userId) {
  return online.get(userId) === true;
}

/** Learn from members or users as the API returned them. */
export function learn(people) {
  for (const p of people || []) {
    const id = p.user_id ?? p.id;
    if (typeof p.online === 'boolean') setOnline(id, p.online);
  }
}

export function setOnline(userId, on) {
  online.set(userId, on);
  for (const dot of document.querySelectorAll(`.presence-dot[data-user-id="${CSS.escape(String(userId))}"]`)) {
    paint(dot, on);
  }
}

function paint(dot, on) {
  dot.dataset.online = on ? 'true' : 'false';
  dot.title = on ? 'Online' : 'Offline';
  dot.firstChild.textContent = on ? 'online' : 'offline';
}

/** A dot beside a person, with a text alternative for screen readers. */
export function presenceDot(userId) {
  const dot = h('span', { class: 'presence-dot', testid: 'presence-dot', 'data-user-id': userId },
    h('span', { class: 'sr-only' }, ''));
  paint(dot, isOnline(userId));
  return dot;
}

export function setDirectPeer(roomId, userId) {
  directPeers.set(roomId, userId);
}

export function directPeer(roomId) {
  return directPeers.get(roomId);
}
