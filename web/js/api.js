// HTTP access to the causerie API (/chat/api). Every failure becomes an
// ApiError carrying the contract's {"error":{"code","message"}} body, so views
// can show the server's own words.

const BASE = '/chat/api';

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

let onUnauthenticated = null;

/** Called whenever a request answers 401: the session is gone. */
export function setUnauthenticatedHandler(fn) {
  onUnauthenticated = fn;
}

function errorFrom(status, body, retryAfter) {
  const e = body && typeof body === 'object' ? body.error : null;
  const code = (e && e.code) || (status === 0 ? 'network' : `http_${status}`);
  const message = (e && e.message) || '';
  return new ApiError(status, code, message, retryAfter);
}

function parseJson(text) {
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

/**
 * Send one request. `body` is sent as JSON. With `quiet401` a 401 is only
 * thrown, not reported to the session handler (used by login and start-up).
 */
export async function request(method, path, body, { quiet401 = false } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, 'network', '');
  }
  const data = parseJson(await res.text().catch(() => ''));
  if (!res.ok) {
    const err = errorFrom(res.status, data, res.headers.get('Retry-After'));
    if (res.status === 401 && !quiet401 && onUnauthenticated) onUnauthenticated(err);
    throw err;
  }
  return res.status === 204 ? null : data;
}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts),
  post: (path, body, opts) => request('POST', path, body, opts),
  patch: (path, body, opts) => request('PATCH', path, body, opts),
  put: (path, body, opts) => request('PUT', path, body, opts),
  del: (path, opts) => request('DELETE', path, undefined, opts),
};

/**
 * Multipart POST /messages. XMLHttpRequest rather than fetch because only XHR
 * reports upload progress. `onProgress` receives 0..1.
 */
export function uploadMessage(formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${BASE}/messages`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      const data = parseJson(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) return resolve(data);
      const err = errorFrom(xhr.status, data, xhr.getResponseHeader('Retry-After'));
      if (xhr.status === 401 && onUnauthenticated) onUnauthenticated(err);
      reject(err);
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', '')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'Upload cancelled.')));
    xhr.send(formData);
  });
}

const FRIENDLY = {
  400: 'The server did not accept this',
  401: 'Your session has ended. Please sign in again',
  403: 'You are not allowed to do that here',
  404: 'This no longer exists, or you cannot see it',
  409: 'That already exists',
  413: 'That is too large for the server',
  415: 'That type of file is not allowed',
  429: 'You are sending too fast',
};

/** A sentence a person can read, built from the status and the server's message. */
export function describeError(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  if (err.status === 0) return err.message || 'Cannot reach the server. Check your connection and try again.';
  let text = FRIENDLY[err.status] || `Something went wrong (error ${err.status})`;
  if (err.message) text += `: ${err.message}`;
  if (!/[.!?]$/.test(text)) text += '.';
  if (err.status === 429) text += ` ${retryText(err.retryAfter)}`;
  return text;
}

export function retryText(retryAfter) {
  const secs = parseInt(retryAfter, 10);
  return Number.isFinite(secs) ? `Try again in ${secs} s.` : 'Try again in a moment.';
}
