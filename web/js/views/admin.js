// People management for administrators (#/admin): list and search accounts, create one
// with a generated first password, reset a password, grant and revoke permissions, make
// an administrator, disable and enable. Everything goes through the admin endpoints.
import { $, h, icon, avatar, toast } from '../dom.js';
import { api, describeError } from '../api.js';
import { state } from '../state.js';
import { openDialog, confirmDialog } from './dialogs.js';

/** The permissions and what each allows (the README says the same). */
export const PERMISSIONS = [
  ['chat.read', 'Read', 'see their rooms and messages, get live updates, find people, browse and join channels'],
  ['chat.create', 'Write', 'send messages and files, start direct conversations'],
  ['chat.update', 'Edit', 'edit their own messages'],
  ['chat.delete', 'Delete', 'delete their own messages, and others\u2019 in rooms where they moderate'],
  ['chat.manage_rooms', 'Manage rooms', 'create groups and channels; rename rooms and manage members where they are a room admin'],
];
const DEFAULT_PERMISSIONS = ['chat.read', 'chat.create', 'chat.update', 'chat.delete'];
const PASSWORD_ALPHABET = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

let view = null;
let list = null;
let search = null;
let status = null;
let users = [];
let shown = false;
let loadSeq = 0;

export function initAdmin() {
  search = h('input', {
    id: 'admin-search', type: 'search', testid: 'admin-search', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'Name or username',
  });
  search.addEventListener('input', render);
  status = h('p', { class: 'muted small', role: 'status', testid: 'admin-status' });
  list = h('ul', { class: 'people-list', testid: 'people-list', 'aria-label': 'People' });
  view = h('section', { id: 'admin-view', class: 'admin-view', testid: 'admin-view', hidden: true },
    h('div', { class: 'admin-tools' },
      h('div', { class: 'admin-search' }, h('label', { for: 'admin-search' }, 'Search people'), search),
      h('button', { class: 'btn btn-primary', type: 'button', testid: 'admin-new-user', onclick: createDialog },
        icon('plus', 16), 'New person')),
    status, list);
  $('chat').insertBefore(view, $('chat-empty'));
}

export function isShown() {
  return shown;
}

/** Show or hide the page (the router decides; only administrators get it). */
export function show(on) {
  const was = shown;
  shown = !!on;
  document.body.classList.toggle('admin-open', shown);
  view.hidden = !shown;
  if (!shown) {
    if (was && !state.currentRoomId) {
      $('chat-empty').hidden = false;
      $('chat-title').textContent = 'causerie';
      $('chat-subtitle').textContent = '';
    }
    return;
  }
  $('chat-empty').hidden = true;
  $('chat-title').textContent = 'People';
  $('chat-subtitle').textContent = 'Accounts, passwords and permissions';
  load();
}

/** My own admin right changed: leave the page if it was taken away. */
export function onPermissionsChanged(navigate) {
  if (shown && !state.me.is_admin) {
    navigate(null);
    toast('You are no longer an administrator.');
  }
}

async function load() {
  const seq = ++loadSeq;
  status.textContent = 'Loading…';
  try {
    const all = await api.get('/admin/users');
    if (seq !== loadSeq) return;
    users = all;
    render();
  } catch (err) {
    if (seq === loadSeq) status.textContent = describeError(err);
  }
}

function render() {
  const q = search.value.trim().toLowerCase();
  const found = users
    .filter((u) => !q || u.username.includes(q) || u.display_name.toLowerCase().includes(q))
    .sort((a, b) => a.display_name.localeCompare(b.display_name));
  status.textContent = found.length === users.length
    ? `${users.length} ${users.length === 1 ? 'person' : 'people'}`
    : `${found.length} of ${users.length} people match`;
  list.replaceChildren(...found.map(personItem));
}

function personItem(u) {
  const me = u.id === state.me.id;
  const badges = [
    u.is_admin ? h('span', { class: 'role-badge', testid: 'person-admin' }, 'Administrator') : null,
    u.disabled ? h('span', { class: 'role-badge disabled-badge', testid: 'person-disabled' }, 'Disabled') : null,
  ];
  const held = u.is_admin ? 'All permissions'
    : (PERMISSIONS.filter(([p]) => (u.permissions || []).includes(p)).map(([, name]) => name).join(', ') || 'No permissions');
  const button = (testid, text, onclick, extra = {}) => h('button', {
    class: 'btn btn-small', type: 'button', testid, onclick, 'aria-label': `${text}: ${u.display_name}`, ...extra,
  }, text);
  return h('li', {
    class: `person${u.disabled ? ' is-disabled' : ''}`, testid: 'person', 'data-username': u.username, 'data-user-id': u.id,
  },
  avatar(u.display_name, u.display_name, 'sm'),
  h('div', { class: 'person-main' },
    h('p', { class: 'person-name' }, h('strong', {}, u.display_name), ' ',
      h('span', { class: 'muted small' }, `@${u.username}`), me ? h('span', { class: 'muted small' }, ' (you)') : null, ...badges),
    h('p', { class: 'muted small person-perms', testid: 'person-permissions' }, held)),
  h('div', { class: 'person-actions' },
    button('person-permissions-edit', 'Permissions', () => permissionsDialog(u)),
    button('person-reset-password', 'Reset password', () => resetPassword(u)),
    me ? null : (u.disabled
      ? button('person-enable', 'Enable', () => setDisabled(u, false))
      : button('person-disable', 'Disable', () => setDisabled(u, true), { class: 'btn btn-small btn-danger-outline' }))));
}

function replaceUser(updated) {
  users = users.map((u) => (u.id === updated.id ? updated : u));
  if (updated.id === state.me.id) state.me = { ...state.me, ...updated };
  render();
}

/** A password to hand over once: 16 characters without look-alikes, from the browser's CSPRNG. */
export function generatePassword(length = 16) {
  const out = [];
  const bytes = new Uint8Array(length * 2);
  while (out.length < length) {
    crypto.getRandomValues(bytes);
    for (const b of bytes) {
      // Rejection sampling keeps every character equally likely.
      if (b < 256 - (256 % PASSWORD_ALPHABET.length) && out.length < length) out.push(PASSWORD_ALPHABET[b % PASSWORD_ALPHABET.length]);
    }
  }
  return out.join('');
}

/** Shows a new password once, with a button to copy it. */
function showPassword(title, who, password) {
  const field = h('input', {
    id: 'generated-password', testid: 'generated-password', readonly: true, value: password, class: 'mono',
    spellcheck: 'false', autocomplete: 'off',
  });
  const copied = h('p', { class: 'muted small', role: 'status' });
  const copy = h('button', {
    class: 'btn', type: 'button', testid: 'copy-password',
    onclick: async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(password);
        copied.textContent = 'Copied.';
      } catch {
        copied.textContent = 'Select the password and copy it.';
      }
    },
  }, 'Copy');
  const done = h('button', { class: 'btn btn-primary', type: 'button', testid: 'password-done', onclick: () => dlg.close() }, 'Done');
  const dlg = openDialog({
    title,
    testid: 'password-dialog',
    body: [
      h('p', {}, `The password of ${who}. It is shown this once: give it to them, and they can sign in with it.`),
      h('label', { for: 'generated-password' }, 'Password'),
      h('div', { class: 'password-row' }, field, copy), copied],
    actions: [done],
  });
  field.focus();
  field.select();
}

function permissionBoxes(prefix, held, disabled) {
  return h('fieldset', { class: 'checks' }, h('legend', {}, 'Permissions'),
    PERMISSIONS.map(([p, name, allows]) => {
      const id = `${prefix}-${p.replace('.', '-')}`;
      return h('div', { class: 'check' },
        h('input', { type: 'checkbox', id, name: 'permission', value: p, checked: held.includes(p), disabled, testid: `permission-${p}` }),
        h('label', { for: id }, h('span', {}, `${name} (${p})`), h('span', { class: 'muted small' }, allows)));
    }));
}

function chosenPermissions(form) {
  return [...form.querySelectorAll('input[name="permission"]')].filter((c) => c.checked).map((c) => c.value);
}

function adminBox(prefix, checked, disabled) {
  const id = `${prefix}-is-admin`;
  return h('div', { class: 'check' },
    h('input', { type: 'checkbox', id, name: 'is_admin', checked, disabled, testid: 'permission-admin' }),
    h('label', { for: id }, h('span', {}, 'Administrator'),
      h('span', { class: 'muted small' }, 'holds every permission and manages people on this page')));
}

function createDialog() {
  const error = h('p', { class: 'form-error', role: 'alert', testid: 'dialog-error', hidden: true });
  const username = h('input', {
    id: 'new-user-username', testid: 'new-user-username', maxlength: 32, autocomplete: 'off', autocapitalize: 'none',
    spellcheck: 'false', required: true, 'aria-describedby': 'new-user-username-hint',
  });
  const displayName = h('input', { id: 'new-user-display-name', testid: 'new-user-display-name', maxlength: 80, autocomplete: 'off' });
  const form = h('form', { class: 'stack', testid: 'new-user-form', novalidate: true },
    h('label', { for: 'new-user-username' }, 'Username'), username,
    h('p', { id: 'new-user-username-hint', class: 'muted small' }, '1-32 of a-z, 0-9, dot, underscore and hyphen.'),
    h('label', { for: 'new-user-display-name' }, 'Display name'), displayName,
    permissionBoxes('new-user', DEFAULT_PERMISSIONS, false),
    adminBox('new-user', false, false),
    h('p', { class: 'muted small' }, 'A first password is made for them and shown once when you create the account.'),
    error,
    h('div', { class: 'dialog-actions' },
      h('button', { class: 'btn', type: 'button', onclick: () => dlg.close() }, 'Cancel'),
      h('button', { class: 'btn btn-primary', type: 'submit', testid: 'new-user-submit' }, 'Create')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const name = username.value.trim().toLowerCase();
    if (!name) {
      error.textContent = 'Give the account a username.';
      error.hidden = false;
      username.focus();
      return;
    }
    const password = generatePassword();
    const body = {
      username: name,
      password,
      display_name: displayName.value.trim() || name,
      permissions: chosenPermissions(form),
      is_admin: form.elements.is_admin.checked,
    };
    try {
      const user = await api.post('/admin/users', body);
      users.push(user);
      render();
      dlg.close();
      showPassword('Account created', `${user.display_name} (@${user.username})`, password);
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    }
  });
  const dlg = openDialog({ title: 'New person', body: form, testid: 'new-user-dialog' });
  username.focus();
}

function permissionsDialog(u) {
  const me = u.id === state.me.id;
  const error = h('p', { class: 'form-error', role: 'alert', testid: 'dialog-error', hidden: true });
  const form = h('form', { class: 'stack', testid: 'permissions-form' },
    // An administrator holds everything: the boxes then say so and wait.
    permissionBoxes(`perm-${u.id}`, u.is_admin ? PERMISSIONS.map(([p]) => p) : (u.permissions || []), u.is_admin),
    // Administrators cannot take their own right away (the server refuses it too).
    adminBox(`perm-${u.id}`, u.is_admin, me),
    me ? h('p', { class: 'muted small' }, 'You cannot remove your own administrator right.') : null,
    error,
    h('div', { class: 'dialog-actions' },
      h('button', { class: 'btn', type: 'button', onclick: () => dlg.close() }, 'Cancel'),
      h('button', { class: 'btn btn-primary', type: 'submit', testid: 'permissions-save' }, 'Save')));
  const adminCheck = form.elements.is_admin;
  adminCheck.addEventListener('change', () => {
    for (const box of form.querySelectorAll('input[name="permission"]')) {
      box.disabled = adminCheck.checked;
      if (adminCheck.checked) box.checked = true;
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const body = { is_admin: adminCheck.checked };
    if (!adminCheck.checked) body.permissions = chosenPermissions(form);
    if (me) delete body.is_admin;
    try {
      replaceUser(await api.patch(`/admin/users/${u.id}`, body));
      dlg.close();
      toast(`Permissions of ${u.display_name} saved.`);
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    }
  });
  const dlg = openDialog({ title: `Permissions of ${u.display_name}`, body: form, testid: 'permissions-dialog' });
  form.querySelector('input:not([disabled])')?.focus();
}

async function resetPassword(u) {
  const ok = await confirmDialog(
    `Give ${u.display_name} a new password? Their sessions and tokens end, and they sign in with the new one.`,
    { okLabel: 'Reset password', title: 'Reset password' },
  );
  if (!ok) return;
  const password = generatePassword();
  try {
    replaceUser(await api.patch(`/admin/users/${u.id}`, { password }));
    showPassword('New password', `${u.display_name} (@${u.username})`, password);
  } catch (err) {
    toast(describeError(err));
  }
}

async function setDisabled(u, disabled) {
  if (disabled) {
    const ok = await confirmDialog(
      `Disable ${u.display_name}? They are signed out everywhere and cannot sign in until enabled again.`,
      { okLabel: 'Disable', danger: true, title: 'Disable account' },
    );
    if (!ok) return;
  }
  try {
    replaceUser(await api.patch(`/admin/users/${u.id}`, { disabled }));
    toast(disabled ? `${u.display_name} is disabled.` : `${u.display_name} is enabled again.`);
    list.querySelector(`[data-user-id="${u.id}"] button`)?.focus();
  } catch (err) {
    toast(describeError(err));
  }
}
