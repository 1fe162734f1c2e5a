// Start-up and wiring: session, routing (#/room/<id>), the event stream and
// the panels of the responsive layout.
import { $, icon, toast } from './dom.js';
import { api, setUnauthenticatedHandler, describeError } from './api.js';
import { Stream } from './stream.js';
import {
  state, setRooms, mergeRoom, removeRoom, resetState, applyNewMessage, applyMessageUpdate,
  applyMessageDeleted, setUnread, readUpTo, attentionCount, onRoomsChanged, roomsChanged,
} from './state.js';
import * as notify from './notify.js';
import { initLogin, showLogin, hideLogin } from './views/login.js';
import { initSidebar, renderMe, setConnectionDot } from './views/sidebar.js';
import * as chat from './views/chat.js';
import * as composer from './views/composer.js';
import { initInfo } from './views/info.js';
import { initSearch } from './views/search.js';
import { setOnline, learn, directPeer, setDirectPeer } from './presence.js';
import * as admin from './views/admin.js';
import { loadUploadRules } from './views/composer.js';

const MOBILE = window.matchMedia('(max-width: 767.98px)');
// Wide enough for the details panel beside the chat (below, it slides over it).
const DESKTOP = window.matchMedia('(min-width: 1025px)');
const INFO_CLOSED_KEY = 'causerie.infoClosed';
const STREAM_OPEN_WAIT_MS = 3000;

let stream = null;
let signedIn = false;
let ready = false; // the room list is loaded; until then stream events wait in `buffered`
let buffered = [];
const fetching = new Map(); // room id -> asked again while fetching
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
  initInfo({ onLeft: () => navigate(null), onClose: closeInfo });
  initSearch({ openAt: openAtMessage });
  admin.initAdmin();
  setUnauthenticatedHandler(sessionEnded);
  onRoomsChanged(updateTitle);

  window.addEventListener('hashchange', route);
  $('menu-button').addEventListener('click', () => setPanel(document.body.classList.contains('rooms-open') ? null : 'rooms'));
  $('info-button').addEventListener('click', toggleInfo);
  setInfoClosed(localStorage.getItem(INFO_CLOSED_KEY) === '1');
  DESKTOP.addEventListener('change', () => setInfoClosed(document.body.classList.contains('info-closed')));
  // Changes made elsewhere (the command line) are read again when the page comes back.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refreshMe();
  });
  $('backdrop').addEventListener('click', () => setPanel(null));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !document.querySelector('dialog[open]') && $('backdrop').hidden === false) setPanel(null);
  });
  boot();
}

async function boot() {
  try {
    // `optional`: nobody signed in is the expected answer of a first visit (204), not an error.
    state.me = await api.get('/me?optional=true', { quiet401: true });
  } catch (err) {
    if (err.status === 401) showLogin();
    else showLogin(`${describeError(err)} Reload the page to try again.`);
    return;
  }
  if (!state.me) {
    showLogin();
    return;
  }
  await enterApp();
}

async function signInDone() {
  state.me = await api.get('/me', { quiet401: true });
  await enterApp();
}

/** My account as the server has it now: permissions decide which controls show. */
async function refreshMe() {
  if (!signedIn) return;
  try {
    const me = await api.get('/me?optional=true', { quiet401: true });
    if (me && signedIn) meChanged(me);
  } catch {
    // Unreachable for now: the stream's reconnection tries again.
  }
}

function meChanged(me) {
  const before = JSON.stringify([state.me?.is_admin, state.me?.permissions, state.me?.display_name]);
  state.me = { ...state.me, ...me };
  if (before === JSON.stringify([state.me.is_admin, state.me.permissions, state.me.display_name])) return;
  renderMe();
  chat.onPermissionsChanged();
  admin.onPermissionsChanged(navigate);
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
  loadUploadRules();
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
    const me = await api.get('/me?optional=true', { quiet401: true });
    if (me) {
      meChanged(me);
      return true;
    }
    sessionEnded();
    return false;
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
  const adminPage = window.location.hash === '#/admin' && !!state.me?.is_admin;
  document.body.classList.toggle('no-room', !id);
  if (id && id !== chat.currentRoomId()) chat.openRoom(id);
  else if (!id && chat.currentRoomId()) chat.closeRoom();
  admin.show(adminPage);
  if (!id && !adminPage && MOBILE.matches) setPanel('rooms');
  updateTitle();
}

function navigate(id) {
  setPanel(null);
  if (id === 'admin') {
    if (window.location.hash !== '#/admin') window.location.hash = '#/admin';
    else route();
  } else if (id === null) {
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

/** The details panel: an overlay below desktop width, a column beside the chat above it,
 *  which stays closed once closed (remembered in localStorage). */
function toggleInfo() {
  if (DESKTOP.matches) {
    setInfoClosed(!document.body.classList.contains('info-closed'));
    if (!document.body.classList.contains('info-closed')) $('info').querySelector('button')?.focus();
  } else {
    setPanel(document.body.classList.contains('info-open') ? null : 'info');
  }
}

function closeInfo() {
  if (DESKTOP.matches) {
    setInfoClosed(true);
    $('info-button').focus();
  } else {
    setPanel(null);
    $('info-button').focus();
  }
}

function setInfoClosed(closed) {
  document.body.classList.toggle('info-closed', closed);
  if (closed) localStorage.setItem(INFO_CLOSED_KEY, '1');
  else localStorage.removeItem(INFO_CLOSED_KEY);
  if (DESKTOP.matches) $('info-button').setAttribute('aria-expanded', String(!closed));
}

function updateTitle() {
  if (!signedIn) return;
  const n = attentionCount();
  const room = state.rooms.get(chat.currentRoomId());
  const page = room ? room.name : (admin.isShown() ? 'People' : '');
  document.title = `${n ? `(${n}) ` : ''}${page ? `${page} · ` : ''}causerie`;
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
  } else if (status === 'open') {
    refreshMe(); // what changed while the stream was down
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
    case 'me_updated':
      if (data && data.id === state.me.id) meChanged(data);
      break;
    default:
      break;
  }
}

/** I read a room (maybe in another tab): clear or recount its badge. */
function myReadMark({ room_id: roomId, message_id: messageId }) {
  readUpTo(roomId, messageId);
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
      const roomName = state.rooms.get(roomId)?.name;
      removeRoom(roomId);
      // Leaving by my own hand is told by the Leave button; this is someone else's doing.
      if (chat.currentRoomId() === roomId && !state.leaving.has(roomId)) {
        navigate(null);
        toast(roomName ? `You were removed from ${roomName}.` : 'You were removed from that room.');
      }
      state.leaving.delete(roomId);
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

/**
 * A room we did not know about (I was just added): fetch it. Asked again while a fetch is
 * under way (a message came meanwhile), it fetches once more afterwards, so that the
 * unread count includes what the first answer may have missed.
 */
async function fetchRoom(id) {
  if (fetching.has(id)) {
    fetching.set(id, true);
    return;
  }
  fetching.set(id, false);
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
    const again = fetching.get(id);
    fetching.delete(id);
    if (again) fetchRoom(id);
  }
}

init();
