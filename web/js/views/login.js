// The sign-in page.
import { $ } from '../dom.js';
import { api, describeError } from '../api.js';

let onSignedIn = null;
let lockTimer = null;

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
    clearInterval(lockTimer);
    showError('');
    try {
      // quiet401: a wrong password must not be treated as "session expired".
      await api.post('/auth/login', { username, password }, { quiet401: true });
      $('login-password').value = '';
      await onSignedIn();
    } catch (err) {
      if (err.status === 401) showError('Wrong username or password.');
      else if (err.status === 429) lockedOut(err.retryAfter);
      else showError(describeError(err));
      $('login-password').select();
    } finally {
      submit.disabled = false;
    }
  });
}

/** A lockout says when it ends, counted down to the second, then that it has. */
function lockedOut(retryAfter) {
  const secs = parseInt(retryAfter, 10);
  if (!Number.isFinite(secs)) {
    showError('Too many sign-in attempts. Try again in a moment.');
    return;
  }
  const until = Date.now() + secs * 1000;
  const at = new Intl.DateTimeFormat(navigator.languages, { timeStyle: 'medium' }).format(until);
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left > 0) {
      showError(`Too many sign-in attempts. Try again in ${left} s (at ${at}).`);
    } else {
      clearInterval(lockTimer);
      showError('You can try again now.');
    }
  };
  clearInterval(lockTimer);
  lockTimer = setInterval(tick, 1000);
  tick();
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
