// The message composer: text, reply, files (button, drag and drop, paste),
// upload progress and server errors. Drafts are kept per user and room in
// localStorage so that nothing typed is lost when the session expires.
import { $, h, icon } from '../dom.js';
import { api, uploadMessage, describeError, ApiError } from '../api.js';
import { state, can } from '../state.js';
import { formatSize, messagePreview } from '../format.js';
import * as mentionPicker from './mention-picker.js';

const TYPING_EVERY_MS = 3000;
const MAX_CHARS = 10000;

let roomId = null;
let replyTo = null;
let files = [];
let sending = false;
let lastTypingAt = 0;
let uploadRules = null; // GET /uploads/rules: what the server accepts
let hooks = { onSent: () => {}, onEditLast: () => {}, members: () => new Map() };

let form; let input; let fileInput; let sendBtn;

export function initComposer(callbacks) {
  hooks = { ...hooks, ...callbacks };
  form = $('composer');
  input = $('composer-input');
  fileInput = $('composer-file-input');
  sendBtn = $('composer-send');
  $('composer-attach').append(icon('paperclip'));
  sendBtn.append(icon('send'));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  mentionPicker.initMentionPicker(input, () => hooks.members());
  input.addEventListener('keydown', (e) => {
    if (mentionPicker.onKeydown(e)) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === 'Escape' && replyTo) {
      e.preventDefault();
      setReply(null);
    } else if (e.key === 'ArrowUp' && !input.value) {
      e.preventDefault();
      hooks.onEditLast();
    }
  });
  input.addEventListener('input', () => {
    showError('');
    autoGrow();
    saveDraft();
    updateSendState();
    sendTyping();
  });
  input.addEventListener('paste', (e) => {
    const pasted = e.clipboardData?.files;
    if (pasted && pasted.length) {
      e.preventDefault();
      addFiles(pasted);
    }
  });
  $('composer-attach').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    addFiles(fileInput.files);
    fileInput.value = '';
  });
  initDragAndDrop();
}

function initDragAndDrop() {
  const area = $('chat');
  const overlay = $('drop-overlay');
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
  const allowed = () => roomId && can('chat.create');
  area.addEventListener('dragenter', (e) => {
    if (!hasFiles(e) || !allowed()) return;
    e.preventDefault();
    depth++;
    overlay.hidden = false;
  });
  area.addEventListener('dragover', (e) => {
    if (!hasFiles(e) || !allowed()) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  area.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  area.addEventListener('drop', (e) => {
    if (!hasFiles(e) || !allowed()) return;
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    addFiles(e.dataTransfer.files);
  });
}

function draftKey(id) {
  return `causerie.draft.${state.me?.id}.${id}`;
}

function saveDraft() {
  if (!roomId || !state.me) return;
  if (input.value.trim()) localStorage.setItem(draftKey(roomId), input.value);
  else localStorage.removeItem(draftKey(roomId));
}

/** Forget every draft of the signed-in user (explicit sign-out). */
export function clearDrafts() {
  const prefix = `causerie.draft.${state.me?.id}.`;
  for (const key of Object.keys(localStorage)) if (key.startsWith(prefix)) localStorage.removeItem(key);
  input.value = '';
}

/** Switch the composer to another room (or none); saves and restores drafts. */
export function setRoom(room) {
  saveDraft();
  roomId = room ? room.id : null;
  mentionPicker.close();
  replyTo = null;
  files = [];
  renderReply();
  renderFiles();
  showError('');
  form.hidden = !room;
  if (!room) return;
  const allowed = can('chat.create');
  input.disabled = !allowed;
  $('composer-attach').disabled = !allowed;
  setRoomName(room.name);
  if (!allowed) input.placeholder = 'You can read this room but not write in it.';
  input.value = localStorage.getItem(draftKey(room.id)) || '';
  autoGrow();
  updateSendState();
  if (allowed && window.matchMedia('(min-width: 768px)').matches) input.focus({ preventScroll: true });
}

let shownName = '';
export function setRoomName(name) {
  shownName = name;
  if (can('chat.create')) input.placeholder = `Message ${name}`;
}

export function focus() {
  if (!form.hidden && !input.disabled) input.focus({ preventScroll: true });
}

export function setReply(msg) {
  replyTo = msg;
  renderReply();
  if (msg) focus();
}

/** The message being replied to was deleted: drop the reply. */
export function forgetReply(id) {
  if (replyTo && replyTo.id === id) setReply(null);
}

function renderReply() {
  const bar = $('reply-preview');
  bar.hidden = !replyTo;
  if (!replyTo) {
    bar.replaceChildren();
    return;
  }
  bar.replaceChildren(
    h('span', { class: 'reply-icon' }, icon('reply', 16)),
    h('span', { class: 'reply-main' },
      h('span', { class: 'reply-label' }, 'Replying to ', h('strong', {}, replyTo.sender_name)),
      h('span', { class: 'reply-excerpt' }, messagePreview(replyTo))),
    h('button', {
      class: 'icon-btn', type: 'button', testid: 'reply-cancel', 'aria-label': 'Cancel reply',
      onclick: () => { setReply(null); focus(); },
    }, icon('x', 16)));
}

/** The server's upload rules, asked once per sign-in; until they come, the server decides. */
export async function loadUploadRules() {
  try {
    uploadRules = await api.get('/uploads/rules');
    fileInput.accept = (uploadRules.extensions || []).map((e) => `.${e}`).join(',');
  } catch {
    uploadRules = null;
  }
}

/** A file the server would refuse for its type or size, in the server's own words. */
function refusal(file) {
  if (!uploadRules) return null;
  const m = /\.([^./\\]+)$/.exec(file.name);
  const ext = m && m[1].toLowerCase();
  if (!ext || !uploadRules.extensions.includes(ext)) {
    const what = ext ? `'.${ext}' files` : 'files without an extension';
    return describeError(new ApiError(415, 'unsupported_media_type', `${what} are not accepted; allowed: ${uploadRules.allowed}`));
  }
  if (file.size > uploadRules.max_file_bytes) {
    return describeError(new ApiError(413, 'too_large', `${file.name} is larger than ${formatSize(uploadRules.max_file_bytes)}`));
  }
  return null;
}

export function addFiles(list) {
  if (!roomId || !can('chat.create')) return;
  const refused = [];
  const accepted = [];
  for (const file of list) {
    const why = refusal(file);
    if (why) refused.push(why);
    else accepted.push(file);
  }
  files = files.concat(accepted);
  renderFiles();
  updateSendState();
  showError([...new Set(refused)].join(' '));
  focus();
}

/** My permissions changed while the room is open. */
export function refreshPermissions() {
  const allowed = can('chat.create');
  input.disabled = !allowed;
  $('composer-attach').disabled = !allowed;
  input.placeholder = allowed ? `Message ${shownName}` : 'You can read this room but not write in it.';
  updateSendState();
}

function renderFiles() {
  const ul = $('composer-files');
  ul.hidden = !files.length;
  ul.replaceChildren(...files.map((file, i) => h('li', { class: 'chip file-chip', testid: 'composer-file' },
    icon('file', 14),
    h('span', { class: 'chip-name' }, file.name),
    h('span', { class: 'muted small' }, formatSize(file.size)),
    h('button', {
      class: 'chip-remove', type: 'button', testid: 'composer-file-remove', 'aria-label': `Remove ${file.name}`,
      onclick: () => { files.splice(i, 1); renderFiles(); updateSendState(); showError(''); focus(); },
    }, icon('x', 14)))));
}

function autoGrow() {
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

function updateSendState() {
  sendBtn.disabled = sending || (!input.value.trim() && !files.length);
}

function showError(text) {
  const el = $('composer-error');
  el.textContent = text;
  el.hidden = !text;
}

function sendTyping() {
  if (!roomId || !input.value.trim()) return;
  const now = Date.now();
  if (now - lastTypingAt < TYPING_EVERY_MS) return;
  lastTypingAt = now;
  api.post(`/rooms/${roomId}/typing`).catch(() => {});
}

async function send() {
  const content = input.value.trim();
  if (sending || !roomId || (!content && !files.length)) return;
  if (content.length > MAX_CHARS) {
    showError(`That message is too long: ${content.length} characters, the limit is ${MAX_CHARS}.`);
    return;
  }
  const target = roomId;
  sending = true;
  updateSendState();
  showError('');
  const progress = $('composer-progress');
  try {
    let msg;
    if (files.length) {
      const body = new FormData();
      body.append('room_id', String(target));
      body.append('content', content);
      if (replyTo) body.append('reply_to_id', String(replyTo.id));
      for (const file of files) body.append('files', file, file.name);
      progress.value = 0;
      progress.hidden = false;
      msg = await uploadMessage(body, (p) => { progress.value = Math.round(p * 100); });
    } else {
      const body = { room_id: target, content };
      if (replyTo) body.reply_to_id = replyTo.id;
      msg = await api.post('/messages', body);
    }
    lastTypingAt = 0;
    if (roomId === target) {
      input.value = '';
      files = [];
      replyTo = null;
      renderFiles();
      renderReply();
      autoGrow();
    }
    localStorage.removeItem(draftKey(target));
    if (msg) hooks.onSent(msg);
  } catch (err) {
    // On 401 the app shows the login page; the draft stays in localStorage.
    if (err.status !== 401) showError(describeError(err));
  } finally {
    sending = false;
    progress.hidden = true;
    updateSendState();
  }
}
