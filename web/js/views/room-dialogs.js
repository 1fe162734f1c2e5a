// Dialogs that create or join rooms, and add people to one.
import { h, icon } from '../dom.js';
import { api, describeError } from '../api.js';
import { mergeRoom } from '../state.js';
import { openDialog, userPicker } from './dialogs.js';

/** Creates (or, for a direct room, finds) a room, then closes the dialog and opens it; a
 *  refusal is shown in the dialog in words. */
async function createRoom(body, dlg, error, onOpened) {
  error.hidden = true;
  try {
    const room = await api.post('/rooms', body);
    mergeRoom(room);
    dlg.close();
    onOpened(room.id);
  } catch (err) {
    error.textContent = describeError(err);
    error.hidden = false;
  }
}

/** New direct conversation: pick one person. */
export function newDirectDialog(onOpened) {
  const error = h('p', { class: 'form-error', role: 'alert', testid: 'dialog-error', hidden: true });
  const picker = userPicker({
    label: 'Who do you want to write to?',
    onPick: async (user) => {
      await createRoom({ room_type: 'direct', member_ids: [user.id] }, dlg, error, onOpened);
    },
  });
  const dlg = openDialog({ title: 'New conversation', body: [picker.el, error], testid: 'new-direct-dialog' });
  picker.input.focus();
}

/** New group or channel (needs chat.manage_rooms): a name, a kind, members. */
export function newRoomDialog(onOpened) {
  const chosen = new Map(); // id -> user
  const name = h('input', { id: 'new-room-name', testid: 'new-room-name', maxlength: 80, required: true, autocomplete: 'off' });
  const kind = (value, label, hint, checked) => h('label', { class: 'radio' },
    h('input', { type: 'radio', name: 'room_type', value, testid: `new-room-type-${value}`, checked }),
    h('span', {}, h('strong', {}, label), h('span', { class: 'muted small' }, hint)));
  const chips = h('ul', { class: 'chips', testid: 'new-room-members', 'aria-label': 'Chosen members' });
  const error = h('p', { class: 'form-error', role: 'alert', testid: 'dialog-error', hidden: true });

  function renderChips() {
    chips.replaceChildren(...[...chosen.values()].map((u) => h('li', { class: 'chip' }, u.display_name,
      h('button', {
        class: 'chip-remove', type: 'button', 'aria-label': `Remove ${u.display_name}`,
        onclick: () => { chosen.delete(u.id); renderChips(); },
      }, icon('x', 14)))));
  }
  const picker = userPicker({
    label: 'Add members (optional)',
    onPick: (user) => { chosen.set(user.id, user); renderChips(); picker.input.value = ''; picker.input.focus(); },
  });

  const form = h('form', { class: 'stack', testid: 'new-room-form', novalidate: true },
    h('label', { for: 'new-room-name' }, 'Name'), name,
    h('fieldset', { class: 'radios' }, h('legend', {}, 'Kind'),
      kind('group', 'Group', 'Private: only the members you add', true),
      kind('channel', 'Channel', 'Open: anyone can find and join it', false)),
    picker.el, chips, error,
    h('div', { class: 'dialog-actions' },
      h('button', { class: 'btn', type: 'button', onclick: () => dlg.close() }, 'Cancel'),
      h('button', { class: 'btn btn-primary', type: 'submit', testid: 'new-room-submit' }, 'Create')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const roomName = name.value.trim();
    if (!roomName) {
      error.textContent = 'Give the room a name.';
      error.hidden = false;
      name.focus();
      return;
    }
    await createRoom({
      room_type: form.elements.room_type.value,
      name: roomName,
      member_ids: [...chosen.keys()],
    }, dlg, error, onOpened);
  });
  const dlg = openDialog({ title: 'New room', body: form, testid: 'new-room-dialog' });
  name.focus();
}

/** Channels I could join (GET /channels), each with a Join button. */
export function browseChannelsDialog(onOpened) {
  const list = h('ul', { class: 'pick-list', testid: 'channel-list', 'aria-label': 'Channels' });
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading…');
  const dlg = openDialog({ title: 'Browse channels', body: [status, list], testid: 'browse-dialog' });

  api.get('/channels').then((channels) => {
    status.textContent = channels.length ? '' : 'There are no other channels to join.';
    list.replaceChildren(...channels.map((room) => {
      const join = h('button', {
        class: 'btn btn-primary btn-small', type: 'button', testid: 'channel-join', 'aria-label': `Join ${room.name}`,
      }, 'Join');
      join.addEventListener('click', async () => {
        join.disabled = true;
        try {
          const joined = await api.post(`/rooms/${room.id}/join`);
          mergeRoom(joined);
          dlg.close();
          onOpened(joined.id);
        } catch (err) {
          join.disabled = false;
          status.textContent = describeError(err);
        }
      });
      return h('li', { class: 'channel-item', testid: 'channel-item', 'data-room-id': room.id, 'data-room-name': room.name },
        h('span', { class: 'room-icon' }, icon('hash', 16)),
        h('span', { class: 'pick-name' }, room.name),
        h('span', { class: 'muted small' }, memberCount(room.member_count ?? 0)),
        join);
    }));
  }).catch((err) => { status.textContent = describeError(err); });
}

/** Add someone to a room (room admins). */
export function addMemberDialog(room, memberIds, onAdded) {
  const error = h('p', { class: 'form-error', role: 'alert', testid: 'dialog-error', hidden: true });
  const picker = userPicker({
    label: `Add someone to ${room.name}`,
    exclude: new Set(memberIds),
    onPick: async (user) => {
      error.hidden = true;
      try {
        const member = await api.post(`/rooms/${room.id}/members`, { user_id: user.id });
        dlg.close();
        onAdded(member);
      } catch (err) {
        error.textContent = describeError(err);
        error.hidden = false;
      }
    },
  });
  const dlg = openDialog({ title: 'Add member', body: [picker.el, error], testid: 'add-member-dialog' });
  picker.input.focus();
}

export function memberCount(n) {
  return `${n} member${n === 1 ? '' : 's'}`;
}
