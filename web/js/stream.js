// The one Server-Sent-Events connection for all my rooms.
//
// The browser's EventSource reconnects by itself after a network drop and sends
// Last-Event-ID, so the server replays what we missed. We also keep the last id
// in localStorage so that a page reload resumes with ?last_event_id=. Every
// handler is idempotent (messages are keyed by id), so a replayed event that
// the page already knows about does no harm.

const EVENTS = [
  'new_message', 'message_updated', 'message_deleted', 'read',
  'member_joined', 'member_updated', 'member_left', 'room_updated', 'typing', 'me_updated', 'reset',
  'reaction_added', 'reaction_removed', 'presence',
];

const MAX_BACKOFF_MS = 30000;

export class Stream {
  /**
   * @param {object} o
   * @param {number} o.userId      stored ids are per user
   * @param {(name:string, data:any)=>void} o.onEvent
   * @param {(state:'connecting'|'open'|'reconnecting'|'down')=>void} o.onStatus
   * @param {()=>Promise<boolean>} o.checkSession  resolves false when the session is gone
   */
  constructor({ userId, onEvent, onStatus, checkSession }) {
    this.key = `causerie.lastEventId.${userId}`;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.checkSession = checkSession;
    this.es = null;
    this.backoff = 1000;
    this.timer = null;
    this.stopped = false;
  }

  get lastEventId() {
    return localStorage.getItem(this.key) || '';
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.es) this.es.close();
    this.es = null;
  }

  /** Forget where we were: used on `reset` and on logout. */
  forget() {
    localStorage.removeItem(this.key);
  }

  open() {
    if (this.es) this.es.close();
    const last = this.lastEventId;
    const url = '/chat/api/stream' + (last ? `?last_event_id=${encodeURIComponent(last)}` : '');
    const es = new EventSource(url);
    this.es = es;
    this.onStatus('connecting');

    es.addEventListener('open', () => {
      this.backoff = 1000;
      this.onStatus('open');
    });
    es.addEventListener('error', () => {
      if (es !== this.es) return;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (HTTP error, e.g. 401 or 5xx): retry ourselves.
        this.onStatus('down');
        this.scheduleReopen();
      } else {
        this.onStatus('reconnecting');
      }
    });
    for (const name of EVENTS) {
      es.addEventListener(name, (ev) => this.dispatch(es, name, ev));
    }
  }

  dispatch(es, name, ev) {
    if (es !== this.es) return;
    let data = null;
    try { data = ev.data ? JSON.parse(ev.data) : null; } catch { return; }
    if (name === 'reset') {
      // Our id is too old for the server's log: start over from "now" and let
      // the app reload its state. Reopening without an id drops the stale one
      // from the URL so a later reconnect does not ask for it again.
      this.forget();
      if (ev.lastEventId) localStorage.setItem(this.key, ev.lastEventId);
      this.open();
      this.onEvent('reset', data);
      return;
    }
    try {
      this.onEvent(name, data);
    } finally {
      // `typing` has no id line; the browser then repeats the previous id, so
      // storing it is harmless, but skip it anyway to keep the intent clear.
      if (name !== 'typing' && ev.lastEventId) localStorage.setItem(this.key, ev.lastEventId);
    }
  }

  async scheduleReopen() {
    clearTimeout(this.timer);
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.timer = setTimeout(async () => {
      if (this.stopped) return;
      // A closed stream is often an expired session; let the app handle that.
      if (!(await this.checkSession())) return;
      if (!this.stopped) this.open();
    }, delay);
  }
}
