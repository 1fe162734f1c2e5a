// The sign-in page.
import { $ } from '../dom.js';
import { api, describeError, retryText } from '../api.js';

let onSignedIn = null;

export function initLogin(signedIn) {
  onSignedIn = signedIn;
  const form = $('login-form');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    if (!username || !password) {
      showError('Enter your username and password.');
      return;
    }
    const submit = $('login-submit');
    submit.disabled = true;
    showError('');
    try {
      // quiet401: a wrong password must not be treated as "session expired".
      await api.post('/auth/login', { username, password }, { quiet401: true });
      $('login-password').value = '';
      await onSignedIn();
    } catch (err) {
      if (err.status === 401) showError('Wrong username or password.');
      else if (err.status === 429) showError(`Too many sign-in attempts. ${retryText(err.retryAfter)}`);
      else showError(describeError(err));
      $('login-password').select();
    } finally {
      submit.disabled = false;
    }
  });
}

function showError(text) {
  const el = $('login-error');
  el.textContent = text;
  el.hidden = !text;
}

/** Show the login page; `notice` explains why (e.g. the session ended). */
export function showLogin(notice = '') {
  $('app').hidden = true;
  $('login').hidden = false;
  document.title = 'Sign in · causerie';
  const n = $('login-notice');
  n.textContent = notice;
  n.hidden = !notice;
  showError('');
  const user = $('login-username');
  (user.value ? $('login-password') : user).focus();
}

export function hideLogin() {
  $('login').hidden = true;
  $('app').hidden = false;
}
