// Start-up and wiring: session, routing (#/room/<id>), the event stream and
// the panels of the responsive layout.
import { $, icon, toast } from './dom.js';
import { api, setUnauthenticatedHandler, describeError } from './api.js';
import { Stream } from './stream.js';
import {
  state, setRooms, mergeRoom, removeRoom, resetState, applyNewMessage, applyMessageUpdate,
  applyMessageDeleted, setUnread, attentionCount, onRoomsChanged, roomsChanged,
} from './state.js';
import * as notify from './notify.js';
import { initLogin, showLogin, hideLogin } from './views/login.js';
import { initSidebar, renderMe, setConnectionDot } from './views/sidebar.js';
import * as chat from './views/chat.js';
import * as composer from './views/composer.js';
import { initInfo } from './views/info.js';
import { initSearch } from './views/search.js';
import { setOnline, learn, directPeer, setDirectPeer } from './presence.js';

const MOBILE = window.matchMedia('(max-width: 767.98px)');
const STREAM_OPEN_WAIT_MS = 3000;

let stream = null;
let signedIn = false;
let ready = false; // the room list is loaded; until then stream events wait in `buffered`
let buffered = [];
const fetching = new Set();
let resolveFirstOpen = null;

function init() {
  $('menu-button').append(icon('menu'));
  $('info-button').append(icon('info'));
  initLogin(signInDone);
  initSidebar({ onNavigate: navigate, onLogout: logout });
  chat.initChat();
  composer.initComposer({
    onSent: (msg) => { applyNewMessage(msg); chat.onSent(msg); },
    onEditLast: chat.editLast,
    members: chat.currentMembers,
  });
  initInfo({ onLeft: () => navigate(null), onClose: () => setPanel(null) });
  initSearch({ openAt: openAtMessage });
  setUnauthenticatedHandler(sessionEnded);
  onRoomsChanged(updateTitle);

  window.addEventListener('hashchange', route);
  $('menu-button').addEventListener('click', () => setPanel(document.body.classList.contains('rooms-open') ? null : 'rooms'));
  $('info-button').addEventListener('click', () => setPanel(document.body.classList.contains('info-open') ? null : 'info'));
  $('backdrop').addEventListener('click', () => setPanel(null));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !document.querySelector('dialog[open]') && $('backdrop').hidden === false) setPanel(null);
  });
  boot();
}

async function boot() {
  try {
    state.me = await api.get('/me', { quiet401: true });
  } catch (err) {
    if (err.status === 401) showLogin();
    else showLogin(`${describeError(err)} Reload the page to try again.`);
    return;
  }
  await enterApp();
}

async function signInDone() {
  state.me = await api.get('/me', { quiet401: true });
  await enterApp();
}

async function enterApp() {
  signedIn = true;
  hideLogin();
  renderMe();
  resetState();
  notify.forgetLevels();
  chat.closeRoom();
  ready = false;
  buffered = [];
  if (stream) stream.stop();
  stream = new Stream({ userId: state.me.id, onEvent, onStatus, checkSession });
  // Subscribe first, then load: whatever happens in between arrives on the
  // stream and is applied on top of the loaded state.
  const opened = new Promise((resolve) => {
    resolveFirstOpen = resolve;
    setTimeout(resolve, STREAM_OPEN_WAIT_MS);
  });
  stream.start();
  await opened;
  await loadRooms();
  route();
}

async function loadRooms() {
  ready = false;
  try {
    setRooms(await api.get('/rooms'));
  } catch (err) {
    if (err.status !== 401) toast(describeError(err));
  }
  ready = true;
  learnDirectPeers();
  const queued = buffered;
  buffered = [];
  for (const [name, data] of queued) handle(name, data);
}

/** Direct rooms show whether the other person is online: find who that is, once per room. */
async function learnDirectPeers() {
  const rooms = [...state.rooms.values()].filter((r) => r.room_type === 'direct' && !directPeer(r.id));
  for (const room of rooms) {
    try {
      const members = await api.get(`/rooms/${room.id}/members`);
      const peer = (members || []).find((m) => m.user_id !== state.me.id);
      if (peer) setDirectPeer(room.id, peer.user_id);
      learn(members);
    } catch {
      // Gone or not visible any more: no dot.
    }
  }
  if (rooms.length) roomsChanged();
}

async function reloadAll() {
  await loadRooms();
  const current = chat.currentRoomId();
  if (current) chat.openRoom(current);
}

// ---------------------------------------------------------------- session

async function checkSession() {
  try {
    await api.get('/me', { quiet401: true });
    return true;
  } catch (err) {
    if (err.status === 401) {
      sessionEnded();
      return false;
    }
    return true; // unreachable server: keep retrying the stream
  }
}

/** Any 401: back to the login page. Drafts stay in localStorage, the URL keeps the room. */
function sessionEnded() {
  if (!signedIn) return;
  signedIn = false;
  if (stream) stream.stop();
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  chat.closeRoom();
  setPanel(null);
  showLogin('Your session has ended. Sign in again — what you were typing is kept.');
}

async function logout() {
  try {
    await api.post('/auth/logout', undefined, { quiet401: true });
  } catch {
    // Signed out on the server already, or unreachable: sign out locally anyway.
  }
  signedIn = false;
  if (stream) {
    stream.stop();
    stream.forget();
  }
  composer.clearDrafts();
  chat.closeRoom();
  resetState();
  setPanel(null);
  history.replaceState(null, '', window.location.pathname);
  state.me = null;
  showLogin('You have signed out.');
}

// ---------------------------------------------------------------- routing

function roomIdFromHash() {
  const m = window.location.hash.match(/^#\/room\/(\d+)$/);
  return m ? Number(m[1]) : null;
}

function route() {
  if (!signedIn) return;
  const id = roomIdFromHash();
  if (id && id !== chat.currentRoomId()) chat.openRoom(id);
  else if (!id && chat.currentRoomId()) chat.closeRoom();
  if (!id && MOBILE.matches) setPanel('rooms');
  updateTitle();
}

function navigate(id) {
  setPanel(null);
  if (id === null) {
    history.pushState(null, '', window.location.pathname);
    route();
  } else if (roomIdFromHash() !== id) {
    window.location.hash = `#/room/${id}`;
  } else if (chat.currentRoomId() !== id) {
    route();
  }
}

/** Opens a room (unless it is open) scrolled to one of its messages: a search result. */
async function openAtMessage(roomId, messageId) {
  setPanel(null);
  if (chat.currentRoomId() !== roomId) {
    history.pushState(null, '', `#/room/${roomId}`);
    await chat.openRoom(roomId);
    updateTitle();
  }
  await chat.jumpToMessage(messageId);
}

/** Overlay panels of the small layouts: 'rooms', 'info' or none. */
function setPanel(which) {
  const body = document.body;
  body.classList.toggle('rooms-open', which === 'rooms');
  body.classList.toggle('info-open', which === 'info');
  $('backdrop').hidden = !which;
  $('menu-button').setAttribute('aria-expanded', String(which === 'rooms'));
  $('info-button').setAttribute('aria-expanded', String(which === 'info'));
  if (which === 'rooms') {
    ($('sidebar').querySelector('[aria-current="page"]') || $('sidebar').querySelector('a, button'))?.focus();
  } else if (which === 'info') {
    $('info').querySelector('button')?.focus();
  }
}

function updateTitle() {
  if (!signedIn) return;
  const n = attentionCount();
  const room = state.rooms.get(chat.currentRoomId());
  document.title = `${n ? `(${n}) ` : ''}${room ? `${room.name} · ` : ''}causerie`;
}

// ---------------------------------------------------------------- stream

function onStatus(status) {
  setConnectionDot(status);
  const banner = $('connection-status');
  banner.dataset.state = status;
  banner.textContent = {
    open: '',
    connecting: 'Connecting…',
    reconnecting: 'Connection lost. Reconnecting…',
    down: 'Connection lost. Reconnecting…',
  }[status] || '';
  if (status === 'open' && resolveFirstOpen) {
    resolveFirstOpen();
    resolveFirstOpen = null;
  }
}

function onEvent(name, data) {
  if (name === 'reset') {
    // A reset during the first load needs nothing: that load is already fresh.
    buffered = [];
    if (ready) reloadAll();
    return;
  }
  if (!ready) buffered.push([name, data]);
  else handle(name, data);
}

function handle(name, data) {
  switch (name) {
    case 'new_message':
      if (!applyNewMessage(data)) fetchRoom(data.room_id);
      chat.onNewMessage(data);
      notify.onNewMessage(data, navigate);
      break;
    case 'message_updated':
      applyMessageUpdate(data);
      chat.onMessageUpdated(data);
      break;
    case 'message_deleted':
      applyMessageDeleted(data);
      chat.onMessageDeleted(data);
      break;
    case 'read':
      if (data.user_id === state.me.id) myReadMark(data);
      chat.onRead(data);
      break;
    case 'member_joined':
    case 'member_updated':
    case 'member_left':
      memberEvent(name, data);
      break;
    case 'room_updated':
      if (state.rooms.has(data.id)) {
        mergeRoom(data);
        chat.onRoomChanged(data.id);
      }
      break;
    case 'typing':
      chat.onTyping(data);
      break;
    case 'reaction_added':
    case 'reaction_removed':
      chat.onReaction(name, data);
      break;
    case 'presence':
      setOnline(data.user_id, data.online);
      break;
    default:
      break;
  }
}

/** I read a room (maybe in another tab): clear or recount its badge. */
function myReadMark({ room_id: roomId, message_id: messageId }) {
  const room = state.rooms.get(roomId);
  if (!room) return;
  if (messageId >= (room.last_message?.id ?? 0)) setUnread(roomId, 0);
  else fetchRoom(roomId);
}

function memberEvent(name, data) {
  const { room_id: roomId, member } = data;
  if (member.user_id === state.me.id) {
    notify.setLevel(roomId, member.notify);
    if (name === 'member_left') {
      removeRoom(roomId);
      if (chat.currentRoomId() === roomId) {
        navigate(null);
        toast('You are no longer a member of that room.');
      }
      return;
    }
    if (name === 'member_joined' || !state.rooms.has(roomId)) fetchRoom(roomId);
    else {
      mergeRoom({ id: roomId, my_role: member.role, is_muted: member.is_muted });
      chat.onRoomChanged(roomId);
    }
  }
  chat.onMemberEvent(name, data);
}

/** A room we did not know about (I was just added): fetch it once. */
async function fetchRoom(id) {
  if (fetching.has(id)) return;
  fetching.add(id);
  try {
    const { members, ...room } = await api.get(`/rooms/${id}`);
    mergeRoom(room);
    learn(members);
    const peer = room.room_type === 'direct' && (members || []).find((m) => m.user_id !== state.me.id);
    if (peer) {
      setDirectPeer(room.id, peer.user_id);
      roomsChanged();
    }
  } catch {
    // Not visible to me (any more): nothing to show.
  } finally {
    fetching.delete(id);
  }
}

init();
