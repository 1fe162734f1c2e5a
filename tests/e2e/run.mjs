// End-to-end tests of the web client: the real server binary on a free port,
// Debian's Chromium driven by playwright-core, two users in two browser
// contexts. Run: cd tests/e2e && npm install && node --test run.mjs
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
// The binary under test: CAUSERIE_BIN, else the release build of this checkout
// (CARGO_TARGET_DIR, then ./target), else the shared /work/target.
const BIN = process.env.CAUSERIE_BIN
  || [process.env.CARGO_TARGET_DIR, path.join(REPO, 'target'), '/work/target']
    .filter(Boolean).map((dir) => path.join(dir, 'release', 'causerie')).find((p) => fs.existsSync(p))
  || '/work/target/release/causerie';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = path.join(HERE, 'screenshots');
const ADMIN_PASSWORD = 'e2e-admin-secret';
const PASSWORD = 'correct-horse-battery';
const STEP_MS = 90_000;

// Whatever happens, the run ends: a hung browser or server cannot keep it alive.
const watchdog = setTimeout(() => {
  console.error('e2e: overall time limit reached, stopping');
  cleanup().finally(() => process.exit(1));
}, 15 * 60_000);
watchdog.unref();

let tmp;
let server;
let serverLog;
let port;
let proxy;
let browser;
const pageErrors = [];
const api = {}; // per-user cookie jars for seeding through the API
const ids = {}; // rooms and users created by the seed

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function eventually(check, { timeout = 15_000, interval = 100, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let lastError = null;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${message}${lastError ? `: ${lastError.message}` : ''}`);
    }
    await sleep(interval);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address();
      srv.close(() => resolve(p));
    });
  });
}

/**
 * One HTTP call straight to the server (no browser, so no CSRF headers), on a connection
 * of its own: node's shared agent keeps idle connections for as long as the server does
 * (5 s), and one reused as the server closes it fails with "socket hang up".
 */
function call(method, pathname, { body, cookie } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request({
      host: '127.0.0.1', port, method, path: pathname, timeout: 10_000, agent: false,
      headers: {
        Accept: 'application/json',
        ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}),
        ...(cookie ? { Cookie: cookie } : {}),
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, json, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathname} timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function expectStatus(promise, status, what) {
  const res = await promise;
  assert.equal(res.status, status, `${what}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  return res.json;
}

async function apiLogin(username, password) {
  const res = await call('POST', '/chat/api/auth/login', { body: { username, password } });
  assert.equal(res.status, 200, `login ${username}: HTTP ${res.status} ${res.text}`);
  const cookies = [].concat(res.headers['set-cookie'] || []).map((c) => c.split(';')[0]);
  assert.ok(cookies.length, `login ${username} set no cookie`);
  return cookies.join('; ');
}

function postMessage(who, roomId, content, extra = {}) {
  return expectStatus(call('POST', '/chat/api/messages', { cookie: api[who], body: { room_id: roomId, content, ...extra } }),
    201, `post message as ${who}`);
}

/**
 * A TCP relay between the browsers and the server. `cut()` drops every open
 * connection (the event stream included) and refuses new ones until
 * `restore()`: a real network outage as the browser sees it.
 */
function startProxy(targetPort) {
  const sockets = new Set();
  let down = false;
  const srv = net.createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => resolve({
      port: srv.address().port,
      cut() {
        down = true;
        for (const s of sockets) s.destroy();
        sockets.clear();
      },
      restore() { down = false; },
      close() {
        for (const s of sockets) s.destroy();
        return new Promise((r) => srv.close(() => r()));
      },
    }));
  });
}

/** A small valid PNG (RGB gradient), built here so the test needs no fixture file. */
function makePng(width, height) {
  const crcTable = new Int32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const crc32 = (buf) => {
    let c = -1;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ -1) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = Math.round((x / width) * 255);
      raw[row + 2 + x * 3] = Math.round((y / height) * 255);
      raw[row + 3 + x * 3] = 160;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------- page helpers

const sel = (testid) => `[data-testid="${testid}"]`;
const messages = (page) => page.locator(sel('message'));
// Messages whose own text (not a quote of another) matches.
const messageWith = (page, text) => messages(page).filter({ has: page.locator(sel('message-text'), { hasText: text }) });
const roomItem = (page, name) => page.locator(`${sel('room-item')}[data-room-name="${name}"]`);

async function newPage(name) {
  const context = await browser.newContext({ baseURL: `http://127.0.0.1:${proxy.port}`, viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  return page;
}

async function signIn(page, username, password = PASSWORD) {
  await page.goto('/');
  await page.locator(sel('login-username')).fill(username);
  await page.locator(sel('login-password')).fill(password);
  await page.locator(sel('login-password')).press('Enter');
}

async function openRoom(page, name) {
  await roomItem(page, name).click();
  await eventually(async () => (await page.locator(sel('chat-title')).textContent()) === name, { message: `room ${name} open` });
  await page.locator(sel('composer-input')).waitFor();
}

async function send(page, text) {
  const input = page.locator(sel('composer-input'));
  await input.fill(text);
  await input.press('Enter');
  await eventually(async () => (await input.inputValue()) === '', { message: 'composer cleared after send' });
}

async function waitForMessage(page, text, { timeout = 15_000 } = {}) {
  await eventually(async () => (await messageWith(page, text).count()) > 0, { timeout, message: `message "${text}"` });
  return messageWith(page, text).last();
}

async function streamState(page) {
  return page.locator(sel('connection-status')).getAttribute('data-state');
}

const who = new Map(); // page -> username

/**
 * Brings a page to a known state whatever an earlier step left behind (a dialog, an
 * edit, a phone-sized window, a signed-out page), so that one failing step does not
 * fail every later one: the desktop size, nothing open, signed in, and `room` open.
 */
async function ready(page, room) {
  await page.setViewportSize({ width: 1280, height: 800 });
  for (const dialog of await page.locator('dialog[open]').all()) {
    await dialog.evaluate((el) => el.close()).catch(() => {});
  }
  const editing = page.locator(sel('edit-input'));
  if (await editing.count()) await editing.press('Escape').catch(() => {});
  if (page.url() === 'about:blank') await page.goto('/');
  const signedIn = page.locator(sel('me-name'));
  const signedOut = page.locator(sel('login-form'));
  const state = await eventually(async () => {
    if (await signedOut.isVisible()) return 'out';
    return (await signedIn.isVisible()) ? 'in' : null;
  }, { message: 'the page signed in or out' });
  if (state === 'out') {
    await signIn(page, who.get(page));
    await signedIn.waitFor();
  }
  if (room) {
    await openRoom(page, room);
    const attached = page.locator(sel('composer-file-remove'));
    for (let n = await attached.count(); n > 0; n--) await attached.first().click();
    assert.equal(await attached.count(), 0, 'no file left attached');
    const input = page.locator(sel('composer-input'));
    await input.fill('');
    await input.press('Escape');
  }
}

/** The pixel size of an element as shown, 0 when hidden or off screen. */
function shownWidth(page, testid) {
  return page.locator(sel(testid)).evaluate((el) => {
    const r = el.getBoundingClientRect();
    const visible = getComputedStyle(el).visibility !== 'hidden' && r.right > 0 && r.left < window.innerWidth;
    return visible ? Math.round(r.width) : 0;
  });
}

async function widthBecomes(page, testid, expected, message) {
  await eventually(async () => (await shownWidth(page, testid)) === expected,
    { message: `${message || testid}: width ${expected} (now ${await shownWidth(page, testid).catch((e) => e.message)})` });
}

// ---------------------------------------------------------------- lifecycle

async function startServer(logName = 'server.log', env = {}) {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'causerie-e2e-'));
  fs.mkdirSync(SHOTS, { recursive: true });
  port = await freePort();
  assert.ok(fs.existsSync(BIN), `server binary not found at ${BIN} (set CAUSERIE_BIN)`);
  serverLog = fs.createWriteStream(path.join(SHOTS, logName));
  server = spawn(BIN, [
    'serve', '--bind', `127.0.0.1:${port}`,
    '--database', `sqlite://${tmp}/e2e.db`, '--uploads', path.join(tmp, 'uploads'),
  ], {
    // The client built into the binary: what users get.
    env: { ...process.env, ...env, CAUSERIE_ADMIN_PASSWORD: ADMIN_PASSWORD },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.pipe(serverLog);
  server.stderr.pipe(serverLog);
  let exited = null;
  server.on('exit', (code, signal) => { exited = `exited with ${code ?? signal}`; });
  await eventually(async () => {
    if (exited) throw new Error(`server ${exited}; see tests/e2e/screenshots/${logName}`);
    return (await call('GET', '/healthz')).status === 200;
  }, { timeout: 60_000, interval: 250, message: 'GET /healthz' }).catch((err) => {
    if (exited) err.message = `server ${exited} before answering /healthz; see tests/e2e/screenshots/${logName}`;
    throw err;
  });
}

/** The admin signs in and makes alice (who may manage rooms) and bob; all three get a cookie jar. */
async function seedPeople() {
  api.admin = await apiLogin('admin', ADMIN_PASSWORD);
  const mkUser = (username, display_name, permissions) => expectStatus(call('POST', '/chat/api/admin/users', {
    cookie: api.admin,
    body: { username, password: PASSWORD, display_name, ...(permissions ? { permissions } : {}) },
  }), 201, `create user ${username}`);
  ids.alice = await mkUser('alice', 'Alice Martin',
    ['chat.read', 'chat.create', 'chat.update', 'chat.delete', 'chat.manage_rooms']);
  ids.bob = await mkUser('bob', 'Bob Durand');
  api.alice = await apiLogin('alice', PASSWORD);
  api.bob = await apiLogin('bob', PASSWORD);
}

async function seed() {
  await seedPeople();

  const mkRoom = (name, room_type, member_ids) => expectStatus(call('POST', '/chat/api/rooms', {
    cookie: api.alice, body: { room_type, name, member_ids },
  }), 201, `create room ${name}`);
  ids.archive = await mkRoom('Archive', 'group', [ids.bob.id]);
  ids.announcements = await mkRoom('Announcements', 'channel', []);
  ids.side = await mkRoom('Side', 'group', [ids.bob.id]);
  ids.project = await mkRoom('Project', 'group', [ids.bob.id]);

  // 120 messages to page through, then a reply to the very first one.
  let first = null;
  for (let i = 1; i <= 120; i++) {
    const msg = await postMessage(i % 3 ? 'alice' : 'bob', ids.archive.id, `archive message ${i}`);
    if (i === 1) first = msg;
  }
  await postMessage('bob', ids.archive.id, 'replying to the very first one', { reply_to_id: first.id });
  await postMessage('alice', ids.announcements.id, 'Welcome to the announcements channel');
  await postMessage('alice', ids.project.id, 'Project kick-off notes are in the wiki');
}

/**
 * What every describe starts from: its own server (`env` set for that server only, its
 * output in `logName`), the data `prepare` makes through the API, the relay and Chromium.
 * Registers the start as the describe's first `before` and the stop as its `after`.
 */
function useStack({ logName, env, prepare } = {}) {
  before(async () => {
    await startServer(logName, env);
    if (prepare) await prepare();
    proxy = await startProxy(port);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 60_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  }, { timeout: 180_000 });
  after(() => cleanup(), { timeout: 30_000 });
}

/** Stops what `useStack` started. */
async function cleanup() {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
  browser = null;
  if (proxy) await proxy.close().catch(() => {});
  proxy = null;
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    const stopped = await Promise.race([
      new Promise((r) => server.once('exit', () => r(true))),
      sleep(5000).then(() => false),
    ]);
    if (!stopped) server.kill('SIGKILL');
  }
  server = null;
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  tmp = null;
}
process.on('exit', () => { if (server && server.exitCode === null) server.kill('SIGKILL'); });

// ---------------------------------------------------------------- the tests

describe('causerie web client', { timeout: 12 * 60_000 }, () => {
  let alice;
  let bob;

  useStack({ prepare: seed });
  before(async () => {
    alice = await newPage('alice');
    bob = await newPage('bob');
    who.set(alice, 'alice');
    who.set(bob, 'bob');
  }, { timeout: 60_000 });

  it('refuses wrong credentials with a clear message', { timeout: STEP_MS }, async () => {
    await signIn(alice, 'alice', 'not-the-password');
    const error = alice.locator(sel('login-error'));
    await error.waitFor();
    assert.match(await error.textContent(), /wrong username or password/i);
  });

  it('signs both users in and lists their rooms, most recent first', { timeout: STEP_MS }, async () => {
    await signIn(alice, 'alice');
    await signIn(bob, 'bob');
    for (const page of [alice, bob]) {
      await roomItem(page, 'Project').waitFor();
      await roomItem(page, 'Archive').waitFor();
      const names = await page.locator(sel('room-item')).evaluateAll((els) => els.map((e) => e.dataset.roomName));
      assert.ok(names.indexOf('Project') < names.indexOf('Side'), `Project (newest activity) before Side: ${names}`);
    }
    assert.equal(await roomItem(bob, 'Announcements').count(), 0, 'bob is not in the channel yet');
    assert.equal(await alice.locator(sel('me-name')).textContent(), 'Alice Martin');
  });

  it('shows messages live to the other user, with line breaks kept', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    await waitForMessage(bob, 'Project kick-off notes');
    await send(alice, 'Hello Bob, are you there?');
    const live = await waitForMessage(bob, 'Hello Bob, are you there?');
    assert.equal(await live.locator(sel('message-sender')).textContent(), 'Alice Martin');

    const input = bob.locator(sel('composer-input'));
    await input.fill('');
    await input.type('Line one');
    await input.press('Shift+Enter');
    await input.type('Line two');
    await input.press('Enter');
    const multi = await waitForMessage(alice, 'Line one');
    assert.equal(await multi.locator(sel('message-text')).textContent(), 'Line one\nLine two');
    const box = await multi.locator(sel('message-text')).boundingBox();
    assert.ok(box.height > 30, 'two lines are displayed on two lines');
  });

  it('renders markup as text and makes only http(s) links clickable', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    const evil = 'Look <img src=x onerror="window.__xss=1"> at https://example.com/docs?a=1. Not javascript:alert(1)';
    await send(alice, evil);
    for (const page of [alice, bob]) {
      const msg = await waitForMessage(page, 'Look <img src=x');
      const text = msg.locator(sel('message-text'));
      assert.equal(await text.textContent(), evil);
      assert.equal(await text.locator('img').count(), 0, 'no <img> element was created');
      const links = text.locator('a');
      assert.equal(await links.count(), 1, 'exactly one link');
      assert.equal(await links.getAttribute('href'), 'https://example.com/docs?a=1');
      assert.equal(await page.evaluate(() => window.__xss), undefined, 'the onerror handler never ran');
    }
  });

  it('replies with a quote of the original', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    await postMessage('alice', ids.project.id, 'Can somebody reply to this?');
    const original = await waitForMessage(bob, 'Can somebody reply to this?');
    await original.hover();
    await original.locator(sel('action-reply')).click();
    await bob.locator(sel('reply-preview')).waitFor();
    assert.match(await bob.locator(sel('reply-preview')).textContent(), /Alice Martin/);
    await send(bob, 'Yes, I am here!');
    const reply = await waitForMessage(alice, 'Yes, I am here!');
    const quote = reply.locator(sel('message-reply-quote'));
    await quote.waitFor();
    assert.match(await quote.textContent(), /Can somebody reply to this\?/);
    assert.equal(await bob.locator(sel('reply-preview')).isVisible(), false, 'reply bar cleared after sending');
  });

  it('edits my own message, and the other side sees the edit', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    await postMessage('alice', ids.project.id, 'This needs an edit');
    const mine = await waitForMessage(alice, 'This needs an edit');
    const id = await mine.getAttribute('data-message-id');
    await mine.hover();
    await mine.locator(sel('action-edit')).click();
    const editor = alice.locator(sel('edit-input'));
    await editor.fill('This needs an edit (edited text)');
    await editor.press('Enter');
    const onBob = bob.locator(`${sel('message')}[data-message-id="${id}"]`);
    await eventually(async () => (await onBob.locator(sel('message-text')).textContent()) === 'This needs an edit (edited text)',
      { message: 'edited text on bob\'s side' });
    await onBob.locator(sel('message-edited')).waitFor();
    // Bob may not edit Alice's message.
    await onBob.hover();
    assert.equal(await onBob.locator(sel('action-edit')).count(), 0);
  });

  it('deletes my own message for everyone', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    await send(alice, 'This one will be deleted');
    const onBob = await waitForMessage(bob, 'This one will be deleted');
    const id = await onBob.getAttribute('data-message-id');
    const mine = alice.locator(`${sel('message')}[data-message-id="${id}"]`);
    await mine.hover();
    await mine.locator(sel('action-delete')).click();
    await alice.locator(sel('confirm-ok')).click();
    const gone = bob.locator(`${sel('message')}[data-message-id="${id}"]`);
    await gone.locator(sel('message-deleted')).waitFor();
    assert.equal(await gone.locator(sel('message-text')).count(), 0);
    assert.doesNotMatch(await gone.textContent(), /will be deleted/);
  });

  it('shows who is typing', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    await bob.locator(sel('composer-input')).fill('');
    await bob.locator(sel('composer-input')).type('I am typ');
    await eventually(async () => /Bob Durand is typing/.test(await alice.locator(sel('typing-indicator')).textContent()),
      { message: 'typing indicator on alice\'s side' });
    await bob.locator(sel('composer-input')).fill('');
  });

  it('shows "seen by" under my last message once the other user has read it', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    await send(alice, 'Did you see this?');
    await waitForMessage(bob, 'Did you see this?');
    const mine = messageWith(alice, 'Did you see this?');
    await eventually(async () => /Seen by Bob Durand/.test(await mine.locator(sel('seen-by')).textContent().catch(() => '')),
      { message: '"Seen by Bob Durand" on alice\'s last message' });
  });

  it('is usable from the keyboard, with a visible focus', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await send(alice, 'Edit me with the arrow key');
    await alice.locator(sel('message-list')).focus();
    await alice.keyboard.press('ArrowUp');
    const active = () => alice.evaluate(() => document.activeElement?.dataset.testid);
    assert.equal(await active(), 'message', 'arrow keys move between messages');
    await alice.keyboard.press('Tab');
    assert.equal(await active(), 'action-reply', 'Tab reaches the focused message\'s actions');
    const outline = await alice.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
    await alice.keyboard.press('Enter');
    await alice.locator(sel('reply-preview')).waitFor();
    assert.equal(await active(), 'composer-input', 'replying moves to the message box');
    await alice.keyboard.press('Escape');
    await alice.locator(sel('reply-preview')).waitFor({ state: 'hidden' });
    // Arrow-up in the empty message box edits my last message; Escape gives up.
    await alice.keyboard.press('ArrowUp');
    assert.equal(await active(), 'edit-input');
    assert.equal(await alice.locator(sel('edit-input')).inputValue(), 'Edit me with the arrow key');
    await alice.keyboard.press('Escape');
    await alice.locator(sel('edit-input')).waitFor({ state: 'detached' });
    assert.equal(await active(), 'composer-input');
  });

  it('uploads an image and shows its thumbnail to the other user', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    const upload = alice.waitForResponse((r) => r.url().endsWith('/chat/api/messages') && r.request().method() === 'POST');
    await alice.locator(sel('composer-file-input')).setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: makePng(320, 200) });
    await alice.locator(sel('composer-file')).filter({ hasText: 'gradient.png' }).waitFor();
    await alice.locator(sel('composer-input')).fill('Here is the picture');
    await alice.locator(sel('composer-input')).press('Enter');
    const res = await upload;
    assert.equal(res.status(), 201, `upload answered ${res.status()}: ${await res.text()}`);
    const msg = await waitForMessage(bob, 'Here is the picture');
    const img = msg.locator(`${sel('attachment-image')} img`);
    await img.waitFor();
    await eventually(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), { message: 'thumbnail loaded' });
    await msg.locator(sel('attachment-image')).click();
    const big = bob.locator(sel('lightbox-image'));
    await big.waitFor();
    await eventually(() => big.evaluate((el) => el.complete && el.naturalWidth === 320), { message: 'full image in the lightbox' });
    await bob.locator(sel('lightbox-close')).click();
    await bob.locator(sel('info-panel')).locator(sel('file-item')).first().waitFor();
  });

  it('attaches files by drag and drop and by paste', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    await alice.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['meeting notes\n'], 'notes.txt', { type: 'text/plain' }));
      const chat = document.getElementById('chat');
      chat.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
      chat.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await alice.locator(sel('composer-file')).filter({ hasText: 'notes.txt' }).waitFor();
    await alice.locator(sel('composer-input')).evaluate((el) => {
      const dt = new DataTransfer();
      dt.items.add(new File(['a,b\n1,2\n'], 'table.csv', { type: 'text/csv' }));
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await alice.locator(sel('composer-file')).filter({ hasText: 'table.csv' }).waitFor();
    assert.equal(await alice.locator(sel('drop-overlay')).isVisible(), false);
    await alice.locator(sel('composer-file')).filter({ hasText: 'table.csv' }).locator(sel('composer-file-remove')).click();

    const upload = alice.waitForResponse((r) => r.url().endsWith('/chat/api/messages') && r.request().method() === 'POST');
    await alice.locator(sel('composer-send')).click();
    const res = await upload;
    assert.equal(res.status(), 201, `upload answered ${res.status()}: ${await res.text()}`);
    const card = bob.locator(sel('message-list')).locator(sel('attachment-file')).filter({ hasText: 'notes.txt' });
    await card.waitFor();
    assert.ok(await card.locator(sel('attachment-download')).getAttribute('href'));
  });

  it('explains a refused upload in words', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    const upload = alice.waitForResponse((r) => r.url().endsWith('/chat/api/messages') && r.request().method() === 'POST');
    await alice.locator(sel('composer-file-input')).setInputFiles({
      name: 'holiday.png', mimeType: 'image/png', buffer: Buffer.from('this is not a picture at all\n'),
    });
    await alice.locator(sel('composer-send')).click();
    const res = await upload;
    assert.equal(res.status(), 415, 'a .png whose content is not an image is refused');
    const error = alice.locator(sel('composer-error'));
    await error.waitFor();
    assert.match(await error.textContent(), /not allowed/i);
    assert.equal(await alice.locator(sel('composer-file')).count(), 1, 'the file stays attached so it can be removed or replaced');
    await alice.locator(sel('composer-file-remove')).click();
    await alice.locator(sel('composer-input')).fill('');
  });

  it('updates unread badges live and clears them when the room is opened', { timeout: STEP_MS }, async () => {
    await ready(bob, 'Project');
    await postMessage('alice', ids.side.id, 'side note one');
    await postMessage('alice', ids.side.id, 'side note two');
    const badge = roomItem(bob, 'Side').locator(sel('unread-badge'));
    await eventually(async () => (await badge.textContent().catch(() => '')) === '2', { message: 'badge "2" on Side' });
    const first = await bob.locator(sel('room-item')).first().getAttribute('data-room-name');
    assert.equal(first, 'Side', 'the room with the newest message moves to the top');
    await openRoom(bob, 'Side');
    await waitForMessage(bob, 'side note two');
    const divider = bob.locator(sel('unread-divider'));
    assert.equal(await divider.count(), 1, 'one unread divider');
    assert.match(await divider.evaluate((el) => el.nextElementSibling.textContent), /side note one/,
      'the divider sits right before the first unread message');
    await openRoom(bob, 'Project');
    await eventually(async () => (await badge.count()) === 0, { message: 'badge gone after reading Side' });
    // The server agrees: a fresh room list has nothing unread in Side.
    await eventually(async () => {
      const rooms = await expectStatus(call('GET', '/chat/api/rooms', { cookie: api.bob }), 200, 'rooms');
      return rooms.find((r) => r.id === ids.side.id).unread_count === 0;
    }, { message: 'server-side unread count of Side back to 0' });
  });

  it('jumps to a quoted message that is not loaded yet', { timeout: STEP_MS }, async () => {
    await ready(bob, 'Archive');
    const reply = await waitForMessage(bob, 'replying to the very first one');
    await reply.locator(sel('message-reply-quote')).click();
    const original = messageWith(bob, /^archive message 1$/);
    await eventually(async () => (await original.count()) === 1, { timeout: 30_000, message: 'original loaded' });
    await eventually(() => original.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const s = document.querySelector('[data-testid="message-list"]').getBoundingClientRect();
      return r.top >= s.top && r.bottom <= s.bottom;
    }), { message: 'original scrolled into view' });
  });

  it('loads older messages in pages of 50 while keeping the scroll position', { timeout: STEP_MS }, async () => {
    await ready(bob, 'Project');
    await openRoom(bob, 'Archive');
    await waitForMessage(bob, 'replying to the very first one');
    assert.equal(await messages(bob).count(), 50, 'the newest 50 messages');
    const scroller = bob.locator(sel('message-list'));
    const topOf = (id) => bob.evaluate((mid) => {
      const el = document.querySelector(`[data-message-id="${mid}"]`);
      return el.getBoundingClientRect().top - document.querySelector('[data-testid="message-list"]').getBoundingClientRect().top;
    }, id);

    for (const expected of [100, 121]) {
      const firstId = await messages(bob).first().getAttribute('data-message-id');
      // Scroll and measure in one go, before the page load that the scroll triggers.
      const before = await scroller.evaluate((el, mid) => {
        el.scrollTop = 0;
        return document.querySelector(`[data-message-id="${mid}"]`).getBoundingClientRect().top - el.getBoundingClientRect().top;
      }, firstId);
      await eventually(async () => (await messages(bob).count()) >= expected, { message: `${expected} messages loaded` });
      let after;
      await eventually(async () => {
        after = await topOf(firstId);
        return Math.abs(after - before) < 4;
      }, { message: `message ${firstId} back in place after loading (${before} -> ${after})` });
    }
    await messageWith(bob, /^archive message 1$/).first().waitFor();
    assert.match(await bob.locator(sel('older-status')).textContent(), /beginning/i);
    await bob.locator(sel('day-separator')).first().waitFor();

    // Far from the bottom, "Jump to latest" brings the newest message back.
    const jump = bob.locator(sel('jump-latest'));
    await jump.waitFor();
    await jump.click();
    await eventually(() => messageWith(bob, 'replying to the very first one').evaluate((el) => {
      const r = el.getBoundingClientRect();
      const s = document.querySelector('[data-testid="message-list"]').getBoundingClientRect();
      return r.bottom <= s.bottom + 1 && r.top >= s.top;
    }), { message: 'newest message in view after jumping' });
    assert.equal(await jump.isVisible(), false);
  });

  it('reconnects after the stream is cut and loses no message, nor repeats one', { timeout: STEP_MS }, async () => {
    await ready(bob, 'Project');
    await eventually(async () => (await streamState(bob)) === 'open', { message: 'stream open' });
    proxy.cut();
    await eventually(async () => (await streamState(bob)) !== 'open', { message: 'client notices the cut' });
    assert.match(await bob.locator(sel('connection-status')).textContent(), /reconnecting|connecting/i);
    const sent = [];
    for (let i = 1; i <= 3; i++) sent.push(await postMessage('alice', ids.project.id, `sent while you were away ${i}`));
    await postMessage('alice', ids.side.id, 'side note while away');
    await bob.screenshot({ path: path.join(SHOTS, 'reconnecting-1280.png') });
    proxy.restore();
    await eventually(async () => (await streamState(bob)) === 'open', { timeout: 45_000, message: 'stream open again' });
    for (const msg of sent) {
      await eventually(async () => (await bob.locator(`${sel('message')}[data-message-id="${msg.id}"]`).count()) === 1,
        { timeout: 20_000, message: `message ${msg.id} shown after reconnect` });
    }
    await eventually(async () => (await roomItem(bob, 'Side').locator(sel('unread-badge')).textContent().catch(() => '')) === '1',
      { message: 'unread badge for the message sent to Side meanwhile' });
    // Whatever the reconnection replays comes before what is sent after it.
    await postMessage('alice', ids.project.id, 'sent after the reconnection');
    await waitForMessage(bob, 'sent after the reconnection');
    const shown = await messages(bob).evaluateAll((els) => els.map((e) => e.dataset.messageId));
    assert.equal(new Set(shown).size, shown.length, 'no message shown twice');
    for (const msg of sent) assert.equal(shown.filter((x) => x === String(msg.id)).length, 1);
  });

  it('resumes from the stored event id after a page reload', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    await postMessage('alice', ids.project.id, 'before the reload');
    await waitForMessage(bob, 'before the reload');
    const stored = await bob.evaluate((id) => localStorage.getItem(`causerie.lastEventId.${id}`), ids.bob.id);
    assert.ok(stored, 'the last event id is kept in localStorage');
    const streamRequest = bob.waitForRequest((r) => r.url().includes('/chat/api/stream'));
    await bob.reload();
    const url = new URL((await streamRequest).url());
    assert.ok(url.searchParams.get('last_event_id'), `stream resumes with ?last_event_id= (${url})`);
    await eventually(async () => (await streamState(bob)) === 'open', { message: 'stream open after reload' });
    await bob.locator(sel('message-list')).waitFor();
    await send(alice, 'after the reload');
    await waitForMessage(bob, 'after the reload');
    const shown = await messages(bob).evaluateAll((els) => els.map((e) => e.dataset.messageId));
    assert.equal(new Set(shown).size, shown.length, 'no message shown twice after the replay');
  });

  it('reloads its state when the server answers reset', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    // An id the server never gave out (as after a database restore): it answers `reset`.
    const key = (id) => `causerie.lastEventId.${id}`;
    const asked = bob.waitForRequest((r) => r.url().includes('last_event_id=999999999'));
    // Stored by the new page before its scripts run, once: the old page goes on receiving
    // events until the reload replaces it, and one (a read mark) would store its own id over it.
    await bob.addInitScript(([k]) => {
      if (sessionStorage.getItem('e2e.madeUpId')) return;
      sessionStorage.setItem('e2e.madeUpId', '1');
      localStorage.setItem(k, '999999999');
    }, [key(ids.bob.id)]);
    await bob.reload();
    await asked;
    await eventually(async () => {
      const stored = await bob.evaluate(([k]) => localStorage.getItem(k), [key(ids.bob.id)]);
      return stored && Number(stored) < 999999999;
    }, { message: "the reset's id to replace the stored one" });
    await eventually(async () => (await streamState(bob)) === 'open', { message: 'stream open after reset' });
    await bob.locator(sel('message-list')).waitFor();
    await send(alice, 'after the reset');
    await waitForMessage(bob, 'after the reset');
  });

  it('browses and joins a channel', { timeout: STEP_MS }, async () => {
    await ready(bob);
    await bob.locator(sel('browse-channels')).click();
    const item = bob.locator(`${sel('channel-item')}[data-room-name="Announcements"]`);
    await item.locator(sel('channel-join')).click();
    await eventually(async () => (await bob.locator(sel('chat-title')).textContent()) === 'Announcements', { message: 'channel open' });
    await waitForMessage(bob, 'Welcome to the announcements channel');
    await roomItem(bob, 'Announcements').waitFor();
  });

  it('starts a direct conversation with the user picker', { timeout: STEP_MS }, async () => {
    await ready(alice);
    await ready(bob);
    await alice.locator(sel('new-direct')).click();
    await alice.locator(sel('user-picker-input')).fill('bob');
    await alice.locator(`${sel('user-option')}[data-username="bob"]`).click();
    await eventually(async () => (await alice.locator(sel('chat-title')).textContent()) === 'Bob Durand', { message: 'direct room open' });
    await send(alice, 'Just between us');
    const dm = roomItem(bob, 'Alice Martin');
    await dm.waitFor();
    await eventually(async () => (await dm.locator(sel('unread-badge')).textContent().catch(() => '')) === '1', { message: 'DM badge' });
  });

  it('creates a group and manages it from the info panel', { timeout: STEP_MS }, async () => {
    await ready(alice);
    await ready(bob);
    await alice.locator(sel('new-room')).click();
    await alice.locator(sel('new-room-name')).fill('Design');
    await alice.locator(sel('new-room-type-group')).check();
    await alice.locator(sel('user-picker-input')).fill('bob');
    await alice.locator(`${sel('user-option')}[data-username="bob"]`).click();
    await alice.locator(sel('new-room-submit')).click();
    await eventually(async () => (await alice.locator(sel('chat-title')).textContent()) === 'Design', { message: 'group open' });
    await roomItem(bob, 'Design').waitFor();
    await openRoom(bob, 'Design');

    // Renaming reaches the other member live.
    await alice.locator(sel('rename-room')).click();
    await alice.locator(sel('prompt-input')).fill('Design team');
    await alice.locator(sel('prompt-ok')).click();
    await roomItem(bob, 'Design team').waitFor();
    await eventually(async () => (await bob.locator(sel('chat-title')).textContent()) === 'Design team', { message: 'new name in bob\'s header' });

    // Alice (room admin) makes Bob a moderator: he sees it and may now delete her messages.
    await send(alice, 'moderators may remove this');
    const hers = await waitForMessage(bob, 'moderators may remove this');
    await hers.hover();
    assert.equal(await hers.locator(sel('action-delete')).count(), 0, 'a plain member cannot delete others\' messages');
    await alice.locator(`${sel('member-role')}[data-user-id="${ids.bob.id}"]`).selectOption('moderator');
    const bobRow = bob.locator(`${sel('member-item')}[data-user-id="${ids.bob.id}"]`);
    await eventually(async () => /moderator/.test(await bobRow.textContent()), { message: 'bob sees his new role' });
    await hers.hover();
    await eventually(async () => (await hers.locator(sel('action-delete')).count()) === 1, { message: 'moderator gets the delete action' });

    // Bob mutes, then leaves.
    await bob.locator(sel('mute-toggle')).click();
    await eventually(async () => (await roomItem(bob, 'Design team').getAttribute('class')).includes('muted'), { message: 'muted room dimmed' });
    assert.equal(await bob.locator(sel('mute-toggle')).getAttribute('aria-checked'), 'true');
    await bob.locator(sel('leave-room')).click();
    await bob.locator(sel('confirm-ok')).click();
    await eventually(async () => (await roomItem(bob, 'Design team').count()) === 0, { message: 'room gone after leaving' });
    await eventually(async () => (await alice.locator(sel('member-item')).count()) === 1, { message: 'alice sees bob leave' });

    // Alice adds him back; the room appears in his list without a reload.
    await alice.locator(sel('add-member')).click();
    await alice.locator(sel('user-picker-input')).fill('bob');
    await alice.locator(`${sel('user-option')}[data-username="bob"]`).click();
    await eventually(async () => (await alice.locator(sel('member-item')).count()) === 2, { message: 'bob listed again' });
    await roomItem(bob, 'Design team').waitFor();
  });

  it('sends you back to login when the session ends, keeping the draft', { timeout: STEP_MS }, async () => {
    await ready(bob, 'Project');
    await bob.locator(sel('composer-input')).fill('a draft that must survive');
    await bob.context().clearCookies();
    await bob.locator(sel('composer-input')).press('Enter');
    await bob.locator(sel('login-form')).waitFor();
    assert.match(await bob.locator(sel('login-notice')).textContent(), /session/i);
    await bob.locator(sel('login-username')).fill('bob');
    await bob.locator(sel('login-password')).fill(PASSWORD);
    await bob.locator(sel('login-password')).press('Enter');
    await eventually(async () => (await bob.locator(sel('chat-title')).textContent()) === 'Project', { message: 'back in Project' });
    assert.equal(await bob.locator(sel('composer-input')).inputValue(), 'a draft that must survive');
  });

  it('lays out at 1280, 900 and 390 px and writes screenshots', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob);

    await alice.setViewportSize({ width: 1280, height: 800 });
    await widthBecomes(alice, 'sidebar', 250);
    await widthBecomes(alice, 'info-panel', 300);
    await alice.screenshot({ path: path.join(SHOTS, 'desktop-1280.png') });
    await alice.emulateMedia({ colorScheme: 'dark' });
    await alice.screenshot({ path: path.join(SHOTS, 'desktop-1280-dark.png') });
    await alice.emulateMedia({ colorScheme: 'light' });

    await alice.setViewportSize({ width: 900, height: 800 });
    await widthBecomes(alice, 'sidebar', 200);
    await widthBecomes(alice, 'info-panel', 0, 'info panel hidden on tablets');
    await alice.screenshot({ path: path.join(SHOTS, 'tablet-900.png') });
    await alice.locator(sel('info-button')).click();
    await widthBecomes(alice, 'info-panel', 300, 'info panel opened');
    await alice.screenshot({ path: path.join(SHOTS, 'tablet-900-info.png') });
    await alice.keyboard.press('Escape');

    await alice.setViewportSize({ width: 390, height: 844 });
    await widthBecomes(alice, 'sidebar', 0, 'room list hidden behind the menu on phones');
    await widthBecomes(alice, 'chat', 390);
    await alice.screenshot({ path: path.join(SHOTS, 'mobile-390.png') });
    await alice.locator(sel('menu-button')).click();
    await eventually(async () => (await shownWidth(alice, 'sidebar')) > 200, { message: 'room list overlay open' });
    await alice.screenshot({ path: path.join(SHOTS, 'mobile-390-rooms.png') });
    await roomItem(alice, 'Side').click();
    await widthBecomes(alice, 'sidebar', 0, 'overlay closes after picking a room');
    await alice.setViewportSize({ width: 1280, height: 800 });
    for (const page of [alice, bob]) {
      assert.doesNotMatch(await page.locator('body').innerText(), /\bnull\b|\bundefined\b|\[object Object\]|NaN/,
        'no placeholder leaks into the page');
    }
  });

  it('signs out, and the server forgets the session', { timeout: STEP_MS }, async () => {
    await ready(alice);
    const session = (await alice.context().cookies()).find((c) => c.name === 'causerie_session');
    assert.ok(session, 'signed in with a session cookie');
    await alice.locator(sel('logout')).click();
    await alice.locator(sel('login-form')).waitFor();
    await alice.screenshot({ path: path.join(SHOTS, 'login-1280.png') });
    await alice.reload();
    await alice.locator(sel('login-form')).waitFor();
    assert.equal((await alice.context().cookies()).find((c) => c.name === 'causerie_session'), undefined,
      'the browser dropped the cookie');
    // The browser forgetting the cookie proves nothing about the server: send it again.
    const me = await call('GET', '/chat/api/me', { cookie: `causerie_session=${session.value}` });
    assert.equal(me.status, 401, `the old session still works: ${me.text}`);
    await alice.context().addCookies([session]);
    await alice.reload();
    await alice.locator(sel('login-form')).waitFor();
  });

  it('raised no uncaught error in the pages', () => {
    assert.deepEqual(pageErrors, []);
  });
});

describe('message search', { timeout: 6 * 60_000 }, () => {
  let page;

  useStack({
    async prepare() {
      await seed();
      await postMessage('bob', ids.project.id, 'The <b>deployment</b> went fine at the café');
      await postMessage('bob', ids.side.id, 'nothing to see here');
    },
  });
  before(async () => {
    page = await newPage('search');
    who.set(page, 'alice');
    await signIn(page, 'alice');
    // Signed in before the first step looks (a page still signing in would be signed in twice).
    await page.locator(sel('me-name')).waitFor();
  }, { timeout: 60_000 });

  const box = () => page.getByRole('searchbox', { name: 'Search messages' });
  const panel = () => page.getByRole('region', { name: 'Search results' });

  it('finds messages by prefix and without accents, with the matches highlighted', { timeout: STEP_MS }, async () => {
    await ready(page, 'Side');
    await box().fill('DEPLOY cafe');
    await box().press('Enter');
    const hit = panel().getByRole('button', { name: /went fine at the café/ });
    await hit.waitFor();
    assert.equal(await panel().locator(sel('search-result')).count(), 1, 'one result');
    assert.deepEqual(await hit.locator('mark').allTextContents(), ['deployment', 'café']);
    assert.match(await hit.textContent(), /The <b>deployment<\/b> went fine/, 'markup in a message shows as text');
    assert.equal(await hit.locator('b').count(), 0, 'no element from the message text');
    assert.match(await panel().getByRole('status').textContent(), /1 message found/);

    await box().fill('zzz-nothing');
    await box().press('Enter');
    await eventually(async () => /no messages found/i.test(await panel().getByRole('status').textContent()),
      { message: 'no results said in words' });
    await box().press('Escape');
    assert.equal(await panel().count(), 0, 'Escape closes the results');
  });

  it('opens the room of a result at that message, loading older pages as needed', { timeout: STEP_MS }, async () => {
    await ready(page, 'Project');
    await box().fill('"archive message 7"');
    await box().press('Enter');
    const hit = panel().getByRole('button', { name: /archive message 7$/ });
    await hit.waitFor();
    await hit.click();
    await eventually(async () => (await page.locator(sel('chat-title')).textContent()) === 'Archive',
      { message: 'the Archive room open' });
    const target = messageWith(page, /^archive message 7$/);
    await eventually(async () => (await target.count()) === 1, { timeout: 30_000, message: 'message 7 loaded' });
    await eventually(() => target.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const s = document.querySelector('[data-testid="message-list"]').getBoundingClientRect();
      return r.top >= s.top && r.bottom <= s.bottom && el.classList.contains('flash')
        && document.activeElement === el;
    }), { message: 'message 7 in view, highlighted and focused' });
    assert.ok(page.url().endsWith(`#/room/${ids.archive.id}`), page.url());
  });

  it('raised no uncaught error in the page', () => {
    assert.deepEqual(pageErrors.filter((e) => e.startsWith('search: ')), []);
  });
});

describe('reactions, pins and presence', { timeout: 8 * 60_000 }, () => {
  let alice;
  let bob;
  const chip = (page, text, emoji) => messageWith(page, text).locator(`${sel('reaction-chip')}[data-emoji="${emoji}"]`);
  const dotOf = (page, userId) => page.locator(`${sel('member-item')}[data-user-id="${userId}"] ${sel('presence-dot')}`);

  useStack({
    // A short grace period, and pings often: the server learns that a closed page's stream
    // is gone when a write to it fails, and the first write after the close may still pass.
    env: { CAUSERIE_PRESENCE_GRACE_MS: '1000', CAUSERIE_SSE_PING_SECONDS: '2' },
    async prepare() {
      await seedPeople();
      const mkRoom = (name) => expectStatus(call('POST', '/chat/api/rooms', {
        cookie: api.alice, body: { room_type: 'group', name, member_ids: [ids.bob.id] },
      }), 201, `create room ${name}`);
      ids.team = await mkRoom('Team');
      ids.empty = await mkRoom('Empty');
      await postMessage('alice', ids.team.id, 'React to this, please');
    },
  });
  before(async () => {
    alice = await newPage('alice');
    bob = await newPage('bob');
    who.set(alice, 'alice');
    who.set(bob, 'bob');
    await signIn(alice, 'alice');
    await signIn(bob, 'bob');
  }, { timeout: 60_000 });

  it('shows a reaction to the other person live, and toggles it off', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Team');
    await ready(bob, 'Team');
    const text = 'React to this, please';
    const mine = await waitForMessage(alice, text);
    await mine.hover();
    await mine.getByRole('button', { name: 'Add reaction', exact: true }).click();
    const picker = alice.getByRole('group', { name: 'Choose a reaction' });
    await picker.getByRole('button', { name: '👍', exact: true }).click();
    await eventually(async () => (await chip(bob, text, '👍').count()) === 1, { message: 'bob sees the reaction' });
    assert.match(await chip(bob, text, '👍').getAttribute('aria-label'), /^👍 1, by Alice Martin$/);
    assert.equal(await chip(bob, text, '👍').getAttribute('aria-pressed'), 'false');
    assert.equal(await chip(alice, text, '👍').getAttribute('aria-pressed'), 'true', 'marked as mine');

    // Bob joins in with a click on the chip, then takes it back.
    await chip(bob, text, '👍').click();
    await eventually(async () => (await chip(alice, text, '👍').textContent()).includes('2'), { message: 'count 2 for alice' });
    assert.equal(await chip(bob, text, '👍').getAttribute('aria-pressed'), 'true');
    await chip(bob, text, '👍').focus();
    assert.ok(await chip(bob, text, '👍').locator('.reaction-names').isVisible(), 'who reacted shows on focus');
    await chip(bob, text, '👍').click();
    await eventually(async () => (await chip(alice, text, '👍').textContent()).includes('1'), { message: 'count back to 1' });

    // Alice toggles hers off: gone for both.
    await chip(alice, text, '👍').click();
    await eventually(async () => (await chip(bob, text, '👍').count()) === 0, { message: 'the chip goes for bob' });
    assert.equal(await chip(alice, text, '👍').count(), 0);
  });

  it('shows a pin in the room panel of another open page', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Team');
    await ready(bob, 'Team');
    // At desktop width the room panel is always shown.
    const pinned = bob.locator(sel('pinned-section'));
    await pinned.waitFor();
    await eventually(async () => (await pinned.textContent()).includes('Nothing pinned yet'), { message: 'empty pins' });

    const text = 'React to this, please';
    const message = await waitForMessage(alice, text);
    await message.hover();
    await message.getByRole('button', { name: 'Pin', exact: true }).click();
    await eventually(async () => (await pinned.locator(sel('pin-item')).count()) === 1, { message: 'the pin reaches bob\'s panel' });
    assert.match(await pinned.locator(sel('pin-item')).textContent(), /React to this, please/);

    await message.hover();
    await message.getByRole('button', { name: 'Unpin', exact: true }).click();
    await eventually(async () => (await pinned.locator(sel('pin-item')).count()) === 0, { message: 'the unpin reaches bob' });
  });

  it('turns the presence dot on and off', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Team');
    await ready(bob, 'Team');
    const dot = dotOf(alice, ids.bob.id);
    await dot.waitFor();
    await eventually(async () => (await dot.getAttribute('data-online')) === 'true', { message: 'bob online' });
    assert.equal(await dot.textContent(), 'online', 'a text alternative');

    await bob.context().close(); // his page, and with it his stream, closes
    await eventually(async () => (await dot.getAttribute('data-online')) === 'false', { message: 'bob offline', timeout: 30_000 });
    assert.equal(await dot.textContent(), 'offline');

    bob = await newPage('bob');
    who.set(bob, 'bob');
    await signIn(bob, 'bob');
    await eventually(async () => (await dot.getAttribute('data-online')) === 'true', { message: 'bob back online' });
  });

  it('lets the "No messages yet" notice give way to the first message arriving live', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Empty');
    const notice = alice.locator(sel('older-status'));
    await eventually(async () => (await notice.textContent()).includes('No messages yet'), { message: 'the empty notice' });
    await alice.setViewportSize({ width: 390, height: 800 });
    await postMessage('bob', ids.empty.id, 'First words in here');
    await waitForMessage(alice, 'First words in here');
    await eventually(async () => !(await notice.textContent()).includes('No messages yet'), { message: 'the notice gives way' });
    await alice.setViewportSize({ width: 1280, height: 800 });
  });

  it('raised no uncaught error in the pages', () => {
    assert.deepEqual(pageErrors, []);
  });
});

// ---------------------------------------------------------------- formatting, mentions, notifications

describe('formatting, mentions and notifications', { timeout: 8 * 60_000 }, () => {
  let alice;
  let bob;

  /** A page whose Notification API is a recorder, and whose visibility the test sets. */
  async function recordingPage(name) {
    const context = await browser.newContext({ baseURL: `http://127.0.0.1:${proxy.port}`, viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(15_000);
    await context.addInitScript(() => {
      window.__asks = 0;
      window.__shown = [];
      window.__hidden = false;
      let permission = 'default';
      window.Notification = class {
        constructor(title, options) { window.__shown.push({ title, body: options?.body }); }
        close() {}
        static get permission() { return permission; }
        static requestPermission() {
          window.__asks++;
          permission = 'granted';
          return Promise.resolve(permission);
        }
      };
      Object.defineProperty(document, 'visibilityState', {
        configurable: true, get: () => (window.__hidden ? 'hidden' : 'visible'),
      });
    });
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
    who.set(page, name);
    return page;
  }

  useStack({ prepare: seed });
  before(async () => {
    alice = await recordingPage('alice');
    bob = await recordingPage('bob');
    await signIn(alice, 'alice');
    await signIn(bob, 'bob');
  }, { timeout: 60_000 });

  it('shows messages as rendered Markdown, code styled, links in a new tab', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    await ready(bob, 'Project');
    await postMessage('alice', ids.project.id,
      'Some **bold** and `inline code`, see [the docs](https://example.com/docs)\n\n```\nlet x = 1;\n```\n\n> quoted');
    const msg = await waitForMessage(bob, 'Some bold and inline code');
    const text = msg.locator(sel('message-text'));
    assert.equal(await text.locator('strong').textContent(), 'bold');
    assert.equal(await text.locator('p code').textContent(), 'inline code');
    assert.equal(await text.locator('pre code').textContent(), 'let x = 1;\n');
    assert.equal(await text.locator('blockquote').textContent(), 'quoted');
    const font = await text.locator('pre').evaluate((el) => getComputedStyle(el).fontFamily);
    assert.match(font, /mono/i, 'code blocks are set in a monospace font');
    const link = text.getByRole('link', { name: 'the docs' });
    assert.equal(await link.getAttribute('href'), 'https://example.com/docs');
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.match(await link.getAttribute('rel'), /noopener/);
  });

  it('neutralises script tags and javascript: links', { timeout: STEP_MS }, async () => {
    await ready(bob, 'Project');
    await postMessage('alice', ids.project.id, 'Before <script>window.__xss = 1</script> after');
    await postMessage('alice', ids.project.id, '[click me](javascript:window.__xss=2) and <a href="javascript:window.__xss=3">raw</a>');
    const scripted = await waitForMessage(bob, 'Before <script>');
    assert.equal(await scripted.locator('script').count(), 0, 'no script element');
    assert.equal(await scripted.locator(sel('message-text')).textContent(), 'Before <script>window.__xss = 1</script> after');
    const linked = await waitForMessage(bob, 'click me');
    const hrefs = await linked.locator('a').evaluateAll((els) => els.map((a) => a.getAttribute('href')));
    assert.ok(hrefs.every((h) => h && /^https?:|^mailto:/.test(h)), `no javascript: link: ${hrefs}`);
    assert.match(await linked.locator(sel('message-text')).textContent(), /<a href="javascript:window.__xss=3">raw<\/a>/,
      'raw HTML is shown as text');
    await linked.getByText('click me').click();
    await sleep(200);
    assert.equal(await bob.evaluate(() => window.__xss), undefined, 'nothing ran');
  });

  it('completes a mention from the keyboard', { timeout: STEP_MS }, async () => {
    await ready(alice, 'Project');
    // Suggestions come from the open room's members.
    await eventually(async () => (await alice.locator(sel('member-item')).count()) === 2, { message: 'members loaded' });
    const input = alice.locator(sel('composer-input'));
    await input.fill('');
    await input.type('Thanks @b');
    const list = alice.getByRole('listbox', { name: 'Mention suggestions' });
    await list.waitFor();
    const option = list.getByRole('option', { name: /Bob Durand/ });
    assert.equal(await option.getAttribute('aria-selected'), 'true');
    assert.equal(await input.getAttribute('aria-activedescendant'), await option.getAttribute('id'));
    await input.press('ArrowDown');
    assert.equal(await option.getAttribute('aria-selected'), 'true', 'one match: the selection stays on it');
    await input.press('Enter');
    assert.equal(await input.inputValue(), 'Thanks @bob ', 'Enter picked the member instead of sending');
    assert.ok(await list.isHidden(), 'the list closed');
    await input.type('for the review');
    await input.press('Enter');
    const mine = await waitForMessage(bob, 'Thanks @bob for the review');
    assert.match(await mine.getAttribute('class'), /\bmention\b/, 'the mention stands out for Bob');
    await input.type('@zz');
    assert.ok(await list.isHidden(), 'no member matches: no list');
    await input.press('Escape');
    await input.fill('');
  });

  it('asks for notification permission only after a click, then notifies by level', { timeout: STEP_MS }, async () => {
    await ready(bob, 'Side');
    assert.equal(await bob.evaluate(() => window.__asks), 0, 'nothing asked on load');
    // At this width the room panel is shown beside the chat.
    const enable = bob.getByRole('button', { name: 'Enable desktop notifications' });
    await enable.waitFor();
    assert.equal(await bob.evaluate(() => window.__asks), 0, 'nothing asked before the click');
    await enable.click();
    await eventually(async () => (await bob.evaluate(() => window.__asks)) === 1, { message: 'asked once, on the click' });
    await eventually(async () => (await enable.count()) === 0, { message: 'the button goes once answered' });

    // Project: mentions only. Bob keeps Side open and the page hidden.
    await openRoom(bob, 'Project');
    const level = bob.getByRole('combobox', { name: 'Notify me of' });
    await level.selectOption('mentions');
    await eventually(async () => {
      const members = await expectStatus(call('GET', `/chat/api/rooms/${ids.project.id}/members`, { cookie: api.bob }), 200, 'members');
      return members.find((m) => m.user_id === ids.bob.id).notify === 'mentions';
    }, { message: 'the level is saved' });
    await openRoom(bob, 'Side');
    await bob.evaluate(() => { window.__hidden = true; });
    const titleBefore = await bob.title();
    await postMessage('alice', ids.project.id, 'a message for everyone');
    await postMessage('alice', ids.side.id, 'in the open room');
    await eventually(async () => (await bob.evaluate(() => window.__shown.length)) === 1,
      { message: 'Side (all) notifies, Project (mentions) does not' });
    await postMessage('alice', ids.project.id, '@bob can you look?');
    await eventually(async () => (await bob.evaluate(() => window.__shown.length)) === 2, { message: 'the mention notifies' });
    const shown = await bob.evaluate(() => window.__shown);
    assert.equal(shown[0].title, 'Alice Martin in Side');
    assert.deepEqual(shown[1], { title: 'Alice Martin in Project', body: '@bob can you look?' });
    assert.doesNotMatch(titleBefore, /^\(\d+\)/, `no count before: ${titleBefore}`);
    await eventually(async () => /^\(1\) /.test(await bob.title()), { message: 'the title counts the unread mention' });

    // Visible again: no more notifications.
    await bob.evaluate(() => { window.__hidden = false; });
    await postMessage('alice', ids.project.id, '@bob again');
    await sleep(500);
    assert.equal(await bob.evaluate(() => window.__shown.length), 2, 'no notification while the page is shown');
    await openRoom(bob, 'Project');
    await eventually(async () => !/^\(\d+\)/.test(await bob.title()), { message: 'reading the room clears the count' });
  });

  it('raised no uncaught error in the pages', () => {
    assert.deepEqual(pageErrors, []);
  });
});

// ---------------------------------------------------------------- newcomers, people, polish

describe('web client: newcomers, people management, polish and accessibility', { timeout: 12 * 60_000 }, () => {
  const LOG = 'server-newcomers.log';
  const errors = []; // uncaught errors of these pages
  const consoleErrors = []; // what the browser's console showed as errors
  const pages = [];
  let alice;
  let bob;
  let admin;
  let rules;

  /** A page of its own browser context; `options` adds to the desktop defaults. */
  async function page(name, options = {}) {
    const context = await browser.newContext({
      baseURL: `http://127.0.0.1:${proxy.port}`, viewport: { width: 1280, height: 800 }, ...options,
    });
    context.setDefaultTimeout(15_000);
    const p = await context.newPage();
    p.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
    p.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(`${name}: ${msg.text()}`); });
    pages.push(p);
    return p;
  }

  async function signedIn(p, username, password = PASSWORD) {
    await p.goto('/');
    await p.getByLabel('Username').fill(username);
    await p.getByLabel('Password').fill(password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.locator(sel('me-name')).waitFor();
  }

  const room = (p, name) => p.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: new RegExp(`^${name}\\b`) });

  async function open(p, name) {
    await room(p, name).click();
    await eventually(async () => (await p.getByRole('heading', { level: 1 }).textContent()) === name, { message: `${name} open` });
    await p.getByRole('textbox', { name: 'Message' }).waitFor();
  }

  async function unreadOf(who, roomId) {
    const rooms = await expectStatus(call('GET', '/chat/api/rooms', { cookie: api[who] }), 200, 'rooms');
    return rooms.find((r) => r.id === roomId).unread_count;
  }

  const badgeOf = (p, name) => room(p, name).locator(sel('unread-badge'));

  async function roomId(who, name) {
    const rooms = await expectStatus(call('GET', '/chat/api/rooms', { cookie: api[who] }), 200, 'rooms');
    return rooms.find((r) => r.name === name).id;
  }

  async function mkRoom(who, name, roomType, members) {
    return expectStatus(call('POST', '/chat/api/rooms', { cookie: api[who], body: { room_type: roomType, name, member_ids: members } }),
      201, `create ${name}`);
  }

  const AXE_SOURCE = fs.readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

  async function axeCheck(p, what) {
    // Evaluated rather than added as a <script>: the page's CSP allows only its own scripts.
    if (!(await p.evaluate(() => !!window.axe))) await p.evaluate(AXE_SOURCE);
    const result = await p.evaluate(() => window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    }));
    const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.failureSummary.replace(/\s+/g, ' ')}`).join('\n    ')}`);
    assert.deepEqual(found, [], `axe-core found WCAG 2.1 AA violations on ${what}`);
    assert.ok(result.passes.length > 10, `axe-core ran its rules on ${what}`);
  }

  useStack({
    logName: LOG,
    async prepare() {
      await seedPeople();
      rules = await expectStatus(call('GET', '/chat/api/uploads/rules', { cookie: api.bob }), 200, 'upload rules');
    },
  });

  it('probes the session on a first visit without a console error or a server warning', { timeout: STEP_MS }, async () => {
    const visitor = await page('visitor');
    const logBefore = fs.statSync(path.join(SHOTS, LOG)).size;
    const probe = visitor.waitForResponse((r) => r.url().includes('/chat/api/me'));
    await visitor.goto('/');
    assert.equal((await probe).status(), 204, 'the anonymous probe is answered 204');
    await visitor.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.equal(await visitor.getByRole('heading', { level: 1 }).textContent(), 'causerie');
    await sleep(300);
    assert.deepEqual(consoleErrors.filter((e) => e.startsWith('visitor')), [], 'no console error on a first visit');
    const logged = fs.readFileSync(path.join(SHOTS, LOG)).subarray(logBefore).toString();
    assert.doesNotMatch(logged, /WARN/, `no warning in the server log for an anonymous visit:\n${logged}`);
    await axeCheck(visitor, 'the sign-in page');
    // A client that asks plainly still gets the contract's 401.
    assert.equal((await call('GET', '/chat/api/me')).status, 401);
  });

  it('signs alice and bob in', { timeout: STEP_MS }, async () => {
    alice = await page('alice');
    bob = await page('bob');
    await signedIn(alice, 'alice');
    await signedIn(bob, 'bob');
  });

  it('keeps reply quotes in step with edits and deletions, live on every open page', { timeout: STEP_MS }, async () => {
    const desk = await mkRoom('alice', 'Desk', 'group', [ids.bob.id]);
    const original = await postMessage('alice', desk.id, 'The meeting is at ten');
    const reply = await postMessage('bob', desk.id, 'Noted, see you there', { reply_to_id: original.id });
    await open(alice, 'Desk');
    await open(bob, 'Desk');
    const quote = (p) => p.locator(`${sel('message')}[data-message-id="${reply.id}"]`).getByRole('button', { name: /Alice Martin/ });
    for (const p of [alice, bob]) assert.match(await quote(p).textContent(), /The meeting is at ten/);
    await expectStatus(call('PATCH', `/chat/api/messages/${original.id}`, { cookie: api.alice, body: { content: 'The meeting is at eleven' } }), 200, 'edit');
    for (const p of [alice, bob]) {
      await eventually(async () => /The meeting is at eleven/.test(await quote(p).textContent()), { message: 'the quote shows the edit' });
    }
    await expectStatus(call('DELETE', `/chat/api/messages/${original.id}`, { cookie: api.alice }), 204, 'delete');
    for (const p of [alice, bob]) {
      await eventually(async () => /deleted/i.test(await quote(p).textContent()), { message: 'the quote says the original is gone' });
      assert.doesNotMatch(await quote(p).textContent(), /eleven|ten/);
    }
    await bob.reload();
    await eventually(async () => /deleted/i.test(await quote(bob).textContent().catch(() => '')), { message: 'the same after a reload' });
  });

  it('marks read what was on screen when a room opens, and the badge never comes back', { timeout: STEP_MS }, async () => {
    const general = await mkRoom('alice', 'General', 'group', [ids.bob.id]);
    for (let i = 1; i <= 121; i++) await postMessage('alice', general.id, `general news ${i}`);
    await eventually(async () => (await badgeOf(bob, 'General').textContent().catch(() => '')) === '99+', { message: 'badge 99+' });
    await open(bob, 'General');
    // What is on screen is read once the room opens, without scrolling.
    await eventually(async () => (await unreadOf('bob', general.id)) < 121, { message: 'the server counts what was shown as read' });
    await sleep(800);
    const left = await unreadOf('bob', general.id);
    assert.ok(left > 0, 'messages below the screen are still unread');
    await open(bob, 'Desk');
    await eventually(async () => (await badgeOf(bob, 'General').textContent().catch(() => '')) === String(left),
      { message: `General's badge shows what was left unread (${left}), not 99+` });
    // Back, down to the newest: everything is read, and stays so.
    await open(bob, 'General');
    await bob.getByRole('log', { name: 'Messages' }).evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await eventually(async () => (await unreadOf('bob', general.id)) === 0, { message: 'all read after scrolling to the end' });
    await open(bob, 'Desk');
    await sleep(500);
    assert.equal(await badgeOf(bob, 'General').count(), 0, 'no badge for messages already seen');
    await bob.reload();
    await room(bob, 'General').waitFor();
    assert.equal(await badgeOf(bob, 'General').count(), 0, 'nor after a reload');
  });

  it('counts sending as reading, whichever client sent it', { timeout: STEP_MS }, async () => {
    const side = await mkRoom('alice', 'Side room', 'group', [ids.bob.id]);
    for (let i = 1; i <= 4; i++) await postMessage('alice', side.id, `side ${i}`);
    await eventually(async () => (await badgeOf(bob, 'Side room').textContent().catch(() => '')) === '4', { message: 'badge 4' });
    // Bob answers from another client (the API with his cookie), not from this page.
    await postMessage('bob', side.id, 'answered from my phone');
    await eventually(async () => (await badgeOf(bob, 'Side room').count()) === 0, { message: 'the badge goes with the answer' });
    assert.equal(await unreadOf('bob', side.id), 0);
  });

  it('counts every message in the badge of a room whose details come after the stream\'s messages', { timeout: STEP_MS }, async () => {
    // Bob's page asks for the details of a room it was just added to; each answer is taken
    // from the server at once and handed to the page only after more messages came on the stream.
    await open(bob, 'Desk');
    const desk = await roomId('alice', 'Desk');
    const held = [];
    const details = /\/chat\/api\/rooms\/\d+$/;
    await bob.route(details, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const response = await route.fetch();
      await new Promise((release) => held.push(release));
      return route.fulfill({ response });
    });
    // The stream brings a room's events in order with the other rooms': once a message of
    // Desk is on screen, the page has had everything sent before it.
    let marks = 0;
    const streamCaughtUp = async () => {
      const text = `caught up ${++marks}`;
      await postMessage('alice', desk, text);
      await waitForMessage(bob, text);
    };
    try {
      const late = await mkRoom('alice', 'Late details', 'group', [ids.bob.id]);
      await eventually(() => held.length === 1, { message: 'the page asks for the new room' });
      for (let i = 1; i <= 4; i++) await postMessage('alice', late.id, `late ${i}`);
      await streamCaughtUp();
      held[0]();
      // Messages came while it asked: the page asks again, and is answered late again.
      await eventually(() => held.length === 2, { message: 'the page asks again' });
      for (let i = 5; i <= 7; i++) await postMessage('alice', late.id, `late ${i}`);
      await streamCaughtUp();
      held[1]();
      assert.equal(await unreadOf('bob', late.id), 7, 'the server counts seven unread');
      await eventually(async () => (await badgeOf(bob, 'Late details').textContent().catch(() => '')) === '7',
        { message: 'the badge counts the seven messages' });
    } finally {
      await bob.unroute(details);
      for (const release of held) release();
    }
    await bob.reload();
    await eventually(async () => (await badgeOf(bob, 'Late details').textContent().catch(() => '')) === '7',
      { message: 'seven after a reload too' });
  });

  it('opens a joined channel at its latest messages, with no divider for what came before', { timeout: STEP_MS }, async () => {
    const square = await mkRoom('alice', 'Town square', 'channel', []);
    for (let i = 1; i <= 80; i++) await postMessage('alice', square.id, `square ${i}`);
    await bob.getByRole('button', { name: 'Browse channels' }).click();
    const dialog = bob.getByRole('dialog', { name: 'Browse channels' });
    const item = dialog.getByRole('listitem').filter({ hasText: 'Town square' });
    assert.match(await item.textContent(), /1 member(?!s)/, '"1 member", not "1 members"');
    await item.getByRole('button', { name: 'Join Town square' }).click();
    await eventually(async () => (await bob.getByRole('heading', { level: 1 }).textContent()) === 'Town square', { message: 'channel open' });
    const newest = await waitForMessage(bob, /^square 80$/);
    await eventually(() => newest.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const s = el.closest('[role="log"]').getBoundingClientRect();
      return r.top >= s.top && r.bottom <= s.bottom + 1;
    }), { message: 'the newest message is in view' });
    assert.equal(await bob.locator(sel('unread-divider')).count(), 0, 'no "New messages" divider');
    assert.equal(await badgeOf(bob, 'Town square').count(), 0);
    assert.equal(await unreadOf('bob', square.id), 0);
  });

  it('says which room was left, and tells a removal apart', { timeout: STEP_MS }, async () => {
    await mkRoom('alice', 'Lounge', 'group', [ids.bob.id]);
    const backroom = await mkRoom('alice', 'Backroom', 'group', [ids.bob.id]);
    const toast = bob.locator(sel('toast'));
    await open(bob, 'Lounge');
    await bob.getByRole('button', { name: 'Leave' }).click();
    await bob.getByRole('dialog', { name: 'Leave room' }).getByRole('button', { name: 'Leave' }).click();
    await eventually(async () => (await toast.textContent()) === 'You left Lounge.', { message: 'the toast names the room left' });
    await sleep(500);
    assert.equal(await toast.textContent(), 'You left Lounge.', 'and is not replaced by a removal notice');
    assert.equal(await room(bob, 'Lounge').count(), 0);
    await open(bob, 'Backroom');
    await expectStatus(call('DELETE', `/chat/api/rooms/${backroom.id}/members/${ids.bob.id}`, { cookie: api.alice }), 204, 'remove bob');
    await eventually(async () => (await toast.textContent()) === 'You were removed from Backroom.', { message: 'the toast says removed' });
  });

  it('refuses a file type the server does not take when it is attached, in the server\'s words', { timeout: STEP_MS }, async () => {
    await open(bob, 'Desk');
    let posted = false;
    const watch = (r) => { if (r.url().endsWith('/chat/api/messages') && r.method() === 'POST') posted = true; };
    bob.on('request', watch);
    await bob.locator(sel('composer-file-input')).setInputFiles({ name: 'setup.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') });
    const error = bob.getByRole('alert').filter({ hasText: 'not accepted' });
    await error.waitFor();
    assert.equal(await error.textContent(), `That type of file is not allowed: '.exe' files are not accepted; allowed: ${rules.allowed}.`);
    assert.equal(await bob.locator(sel('composer-file')).count(), 0, 'the file is not attached');
    // The same words as the server's own refusal.
    const boundary = 'causerie-e2e';
    const body = Buffer.from([
      `--${boundary}\r\nContent-Disposition: form-data; name="room_id"\r\n\r\n${await roomId('bob', 'Desk')}\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="content"\r\n\r\n\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="setup.exe"\r\nContent-Type: application/octet-stream\r\n\r\nMZ\r\n`,
      `--${boundary}--\r\n`].join(''));
    const refused = await new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port, method: 'POST', path: '/chat/api/messages',
        headers: { Cookie: api.bob, 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': body.length },
      }, (res) => { let t = ''; res.on('data', (c) => { t += c; }); res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(t) })); });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(refused.status, 415);
    assert.ok((await error.textContent()).includes(refused.json.error.message), 'the client says what the server says');
    // An allowed type still attaches.
    await bob.locator(sel('composer-file-input')).setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('notes\n') });
    await bob.locator(sel('composer-file')).filter({ hasText: 'notes.txt' }).waitFor();
    assert.equal(await error.count(), 0, 'the refusal is gone once a good file is attached');
    await bob.getByRole('button', { name: 'Remove notes.txt' }).click();
    bob.off('request', watch);
    assert.equal(posted, false, 'nothing was uploaded');
  });

  it('closes the details panel at desktop width, remembers it, and gives it no room without a room', { timeout: STEP_MS }, async () => {
    await open(alice, 'Desk');
    await widthBecomes(alice, 'info-panel', 300);
    const chatBefore = await shownWidth(alice, 'chat');
    await alice.getByRole('button', { name: 'Close details' }).click();
    await widthBecomes(alice, 'info-panel', 0, 'details closed');
    assert.equal(await shownWidth(alice, 'chat'), chatBefore + 300, 'the chat takes the room');
    assert.equal(await alice.getByRole('button', { name: 'Room details' }).getAttribute('aria-expanded'), 'false');
    await alice.reload();
    await alice.getByRole('textbox', { name: 'Message' }).waitFor();
    await widthBecomes(alice, 'info-panel', 0, 'still closed after a reload');
    await alice.getByRole('button', { name: 'Room details' }).click();
    await widthBecomes(alice, 'info-panel', 300, 'open again');
    await alice.goto('/');
    await alice.locator(sel('chat-empty')).waitFor();
    await widthBecomes(alice, 'info-panel', 0, 'no room, no details panel');
    assert.equal(await shownWidth(alice, 'chat'), 1280 - 250);
  });

  it('reaches the messages from the composer in one key, and keeps focus in the list after a delete', { timeout: STEP_MS }, async () => {
    await open(alice, 'Desk');
    const desk = await roomId('alice', 'Desk');
    for (const text of ['first of three', 'second of three', 'third of three']) await postMessage('alice', desk, text);
    await waitForMessage(alice, 'third of three');
    const input = alice.getByRole('textbox', { name: 'Message' });
    await input.focus();
    await alice.keyboard.press('Escape');
    const focused = () => alice.evaluate(() => ({ testid: document.activeElement?.dataset.testid, text: document.activeElement?.textContent }));
    assert.equal((await focused()).testid, 'message', 'Escape in the message box moves to the messages');
    assert.match((await focused()).text, /third of three/);
    await alice.keyboard.press('ArrowUp');
    assert.match((await focused()).text, /second of three/);
    // Delete "second" from the keyboard: Tab through its actions (Reply, Add reaction, Pin,
    // Edit, Delete) to Delete, then confirm.
    const seen = [];
    for (let i = 0; i < 8 && (await focused()).testid !== 'action-delete'; i += 1) {
      await alice.keyboard.press('Tab');
      seen.push((await focused()).testid);
    }
    assert.equal((await focused()).testid, 'action-delete', `tabbed through ${seen.join(', ')}`);
    await alice.keyboard.press('Enter');
    await alice.getByRole('dialog', { name: 'Delete message' }).getByRole('button', { name: 'Delete' }).click();
    await eventually(async () => (await focused()).testid === 'message', { message: 'focus on a message after the delete, not on <body>' });
    assert.match((await focused()).text, /third of three/, 'the next message has the focus');
    await alice.keyboard.press('Escape');
    assert.equal(await alice.evaluate(() => document.activeElement?.dataset.testid), 'composer-input');
  });

  it('shows a PDF unlike an image, and no card stretched beside a picture', { timeout: STEP_MS }, async () => {
    await open(alice, 'Desk');
    await alice.locator(sel('composer-file-input')).setInputFiles([
      { name: 'photo.png', mimeType: 'image/png', buffer: makePng(320, 200) },
      { name: 'report.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n') },
    ]);
    const upload = alice.waitForResponse((r) => r.url().endsWith('/chat/api/messages') && r.request().method() === 'POST');
    await alice.getByRole('textbox', { name: 'Message' }).fill('The photo and the report');
    await alice.getByRole('button', { name: 'Send message' }).click();
    assert.equal((await upload).status(), 201);
    const msg = await waitForMessage(alice, 'The photo and the report');
    const card = msg.locator(sel('attachment-file'));
    await card.waitFor();
    assert.equal(await card.getAttribute('data-kind'), 'pdf');
    assert.match(await card.textContent(), /PDF/);
    const image = msg.getByRole('button', { name: 'Open image photo.png' });
    await eventually(() => image.locator('img').evaluate((el) => el.complete && el.naturalWidth > 0), { message: 'thumbnail loaded' });
    const cardBox = await card.boundingBox();
    const imageBox = await image.boundingBox();
    assert.ok(cardBox.height < imageBox.height - 40, `the PDF card keeps its own height (${cardBox.height} beside ${imageBox.height})`);
    // In the files panel too: the PDF is a card with its kind, the image a thumbnail.
    const files = alice.getByRole('complementary', { name: 'Room details' });
    await files.locator(`${sel('file-item')} [data-kind="pdf"]`).waitFor();
    await files.getByRole('button', { name: 'Open image photo.png' }).waitFor();
  });

  it('shows times in the browser\'s own clock, 12- or 24-hour', { timeout: STEP_MS }, async () => {
    const british = await page('bob-en-GB', { locale: 'en-GB' });
    const american = await page('bob-en-US', { locale: 'en-US' });
    for (const p of [british, american]) {
      await signedIn(p, 'bob');
      await open(p, 'Desk');
    }
    const time = async (p) => (await waitForMessage(p, 'third of three')).locator('time').first().textContent();
    assert.match(await time(british), /^\d{2}:\d{2}$/, '24-hour clock in en-GB');
    assert.match(await time(american), /^\d{1,2}:\d{2}\s?[AP]M$/, '12-hour clock in en-US');
    for (const p of [british, american]) await p.context().close();
  });

  it('manages people from the admin page, with screenshots at three widths', { timeout: 3 * STEP_MS }, async () => {
    admin = await page('admin');
    await signedIn(admin, 'admin', ADMIN_PASSWORD);
    assert.equal(await bob.getByRole('button', { name: 'People' }).count(), 0, 'only administrators get the page');
    await admin.getByRole('button', { name: 'People' }).click();
    await eventually(async () => (await admin.getByRole('heading', { level: 1 }).textContent()) === 'People', { message: 'admin page' });
    const people = admin.getByRole('list', { name: 'People' });
    const person = (username) => people.getByRole('listitem').filter({ hasText: `@${username}` });
    await person('bob').waitFor();
    await person('alice').waitFor();
    await admin.getByRole('searchbox', { name: 'Search people' }).fill('bob');
    await eventually(async () => (await people.getByRole('listitem').count()) === 1, { message: 'search narrows the list' });
    await admin.getByRole('searchbox', { name: 'Search people' }).fill('');

    // A new account with a generated first password, shown once.
    await admin.getByRole('button', { name: 'New person' }).click();
    const create = admin.getByRole('dialog', { name: 'New person' });
    await create.getByRole('textbox', { name: 'Username' }).fill('dora');
    await create.getByRole('textbox', { name: 'Display name' }).fill('Dora Petit');
    await axeCheck(admin, 'the new-person dialog');
    await create.getByRole('button', { name: 'Create' }).click();
    const shown = admin.getByRole('dialog', { name: 'Account created' });
    const first = await shown.getByRole('textbox', { name: 'Password' }).inputValue();
    assert.ok(first.length >= 16, 'a long generated password');
    await shown.getByRole('button', { name: 'Done' }).click();
    await person('dora').waitFor();
    assert.equal((await call('POST', '/chat/api/auth/login', { body: { username: 'dora', password: first } })).status, 200, 'dora signs in with it');

    // Reset her password: the old one stops working.
    await person('dora').getByRole('button', { name: 'Reset password: Dora Petit' }).click();
    await admin.getByRole('dialog', { name: 'Reset password' }).getByRole('button', { name: 'Reset password' }).click();
    const second = await admin.getByRole('dialog', { name: 'New password' }).getByRole('textbox', { name: 'Password' }).inputValue();
    await admin.getByRole('dialog', { name: 'New password' }).getByRole('button', { name: 'Done' }).click();
    assert.notEqual(second, first);
    assert.equal((await call('POST', '/chat/api/auth/login', { body: { username: 'dora', password: first } })).status, 401);
    assert.equal((await call('POST', '/chat/api/auth/login', { body: { username: 'dora', password: second } })).status, 200);

    // Grant bob chat.manage_rooms: his open page shows "New room" at once, no reload.
    await bob.locator(sel('me-name')).waitFor();
    assert.equal(await bob.getByRole('button', { name: 'New room' }).count(), 0);
    assert.match(await bob.locator(sel('new-room-missing')).textContent(), /chat\.manage_rooms/, 'the missing right is explained');
    await person('bob').getByRole('button', { name: 'Permissions: Bob Durand' }).click();
    const perms = admin.getByRole('dialog', { name: 'Permissions of Bob Durand' });
    await perms.getByRole('checkbox', { name: /Manage rooms/ }).check();
    await axeCheck(admin, 'the permissions dialog');
    await perms.getByRole('button', { name: 'Save' }).click();
    await bob.getByRole('button', { name: 'New room' }).waitFor({ timeout: 10_000 });
    assert.equal(await bob.locator(sel('new-room-missing')).count(), 0);
    assert.match(await person('bob').textContent(), /Manage rooms/);
    // Revoked again: the button goes, the explanation comes back.
    await person('bob').getByRole('button', { name: 'Permissions: Bob Durand' }).click();
    await perms.getByRole('checkbox', { name: /Manage rooms/ }).uncheck();
    await perms.getByRole('button', { name: 'Save' }).click();
    await bob.getByRole('button', { name: 'New room' }).waitFor({ state: 'detached', timeout: 10_000 });
    await bob.locator(sel('new-room-missing')).waitFor();

    // Make dora an administrator.
    await person('dora').getByRole('button', { name: 'Permissions: Dora Petit' }).click();
    const doraPerms = admin.getByRole('dialog', { name: 'Permissions of Dora Petit' });
    await doraPerms.getByRole('checkbox', { name: /Administrator/ }).check();
    await doraPerms.getByRole('button', { name: 'Save' }).click();
    await eventually(async () => /Administrator/.test(await person('dora').textContent()), { message: 'dora is an administrator' });
    const doraUser = (await expectStatus(call('GET', '/chat/api/admin/users', { cookie: api.admin }), 200, 'users')).find((u) => u.username === 'dora');
    assert.equal(doraUser.is_admin, true);

    // Disable, then enable again.
    await person('dora').getByRole('button', { name: 'Disable: Dora Petit' }).click();
    await admin.getByRole('dialog', { name: 'Disable account' }).getByRole('button', { name: 'Disable' }).click();
    await eventually(async () => /Disabled/.test(await person('dora').textContent()), { message: 'dora shown disabled' });
    assert.equal((await call('POST', '/chat/api/auth/login', { body: { username: 'dora', password: second } })).status, 401);
    await person('dora').getByRole('button', { name: 'Enable: Dora Petit' }).click();
    await eventually(async () => !/Disabled/.test(await person('dora').textContent()), { message: 'dora enabled' });
    assert.equal((await call('POST', '/chat/api/auth/login', { body: { username: 'dora', password: second } })).status, 200);
    assert.equal(await person('admin').getByRole('button', { name: /^Disable/ }).count(), 0, 'no way to disable oneself');

    await axeCheck(admin, 'the admin page');
    await admin.screenshot({ path: path.join(SHOTS, 'admin-1280.png') });
    await admin.setViewportSize({ width: 768, height: 900 });
    await person('dora').waitFor();
    await admin.screenshot({ path: path.join(SHOTS, 'admin-768.png') });
    await admin.setViewportSize({ width: 390, height: 844 });
    await person('dora').getByRole('button', { name: 'Permissions: Dora Petit' }).waitFor();
    const box = await person('dora').boundingBox();
    assert.ok(box.width <= 390, 'a person fits the phone\'s width');
    await axeCheck(admin, 'the admin page on a phone');
    await admin.screenshot({ path: path.join(SHOTS, 'admin-390.png') });
    await admin.setViewportSize({ width: 1280, height: 800 });
  });

  it('fits a phone: no text beside the drawer, no Escape hint without a keyboard, actions under a tapped message', { timeout: STEP_MS }, async () => {
    const phone = await page('bob-phone', { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    await signedIn(phone, 'bob');
    await phone.getByRole('navigation', { name: 'Rooms' }).waitFor();
    // With no room, the room list opens over the chat; nothing of the chat shows beside it.
    await eventually(async () => phone.evaluate(() => document.body.classList.contains('rooms-open')), { message: 'drawer open' });
    assert.equal(await phone.locator(sel('chat-empty')).evaluate((el) => getComputedStyle(el).visibility), 'hidden');
    await axeCheck(phone, 'the phone layout with the room list open');
    await room(phone, 'Desk').click();
    await phone.getByRole('textbox', { name: 'Message' }).waitFor();
    await postMessage('bob', await roomId('bob', 'Desk'), 'typed on a phone, to be edited');
    const shownMine = await waitForMessage(phone, 'typed on a phone, to be edited');
    // By id: while it is edited, its text is not there to find it by.
    const mine = phone.locator(`${sel('message')}[data-message-id="${await shownMine.getAttribute('data-message-id')}"]`);
    await mine.locator(sel('message-text')).tap();
    const reply = mine.getByRole('button', { name: 'Reply' });
    await reply.waitFor();
    const text = await mine.locator(sel('message-text')).boundingBox();
    const button = await reply.boundingBox();
    assert.ok(button.y >= text.y + text.height - 1, `the Reply button (${JSON.stringify(button)}) is under the text (${JSON.stringify(text)})`);
    await mine.getByRole('button', { name: 'Edit' }).tap();
    await phone.getByRole('textbox', { name: 'Edit message' }).waitFor();
    assert.doesNotMatch(await mine.textContent(), /Escape/, 'no key named that the device does not have');
    await phone.getByRole('button', { name: 'Cancel' }).tap();
    await phone.screenshot({ path: path.join(SHOTS, 'mobile-390-actions.png') });
    await phone.context().close();
  });

  it('says when a locked sign-in can try again, and lets it in then', { timeout: STEP_MS }, async () => {
    const p = await page('locked');
    await p.goto('/');
    const username = p.getByLabel('Username');
    const password = p.getByLabel('Password');
    await username.fill('alice');
    const error = p.locator(sel('login-error'));
    let message = '';
    for (let i = 0; i < 12 && !/Too many/.test(message); i++) {
      await password.fill('not-her-password');
      await p.getByRole('button', { name: 'Sign in' }).click();
      await eventually(async () => (await error.isVisible()) && !(await p.getByRole('button', { name: 'Sign in' }).isDisabled()), { message: 'answer shown' });
      message = await error.textContent();
    }
    const m = /Try again in (\d+) s \(at (\d{1,2}:\d{2}:\d{2}(?:\s?[AP]M)?)\)/.exec(message);
    assert.ok(m, `the lockout names the wait and the time: ${message}`);
    const deadline = Date.now() + Number(m[1]) * 1000;
    await eventually(async () => (await error.textContent()) === 'You can try again now.', { timeout: (Number(m[1]) + 3) * 1000, message: 'the countdown ends' });
    assert.ok(Date.now() >= deadline - 1000, 'not before the time it gave');
    await password.fill(PASSWORD);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.locator(sel('me-name')).waitFor();
    await p.context().close();
  });

  it('passes axe-core (WCAG 2.1 AA) on the main views', { timeout: STEP_MS }, async () => {
    await bob.setViewportSize({ width: 1280, height: 800 });
    await open(bob, 'Desk');
    await bob.locator(sel('message')).first().waitFor();
    await axeCheck(bob, 'a room with messages and its details');
    // The room link is named by what it shows, the room's name first.
    const link = room(bob, 'Desk');
    assert.match(await link.evaluate((el) => el.textContent), /^Desk/);
    await bob.getByRole('button', { name: 'Browse channels' }).click();
    await bob.getByRole('dialog', { name: 'Browse channels' }).waitFor();
    await axeCheck(bob, 'the browse channels dialog');
    await bob.keyboard.press('Escape');
    await bob.setViewportSize({ width: 900, height: 800 });
    await axeCheck(bob, 'the tablet layout');
    await bob.emulateMedia({ colorScheme: 'dark' });
    await axeCheck(bob, 'the dark theme');
    await bob.emulateMedia({ colorScheme: 'light' });
    await bob.setViewportSize({ width: 1280, height: 800 });
  });

  it('raised no uncaught error in these pages', () => {
    assert.deepEqual(errors, []);
  });
});
