// Formatting of times, sizes and message text.
import { h } from './dom.js';

// The browser's preferred languages decide the format, 12- or 24-hour clock included
// (`timeStyle` takes the locale's own hour cycle; a fixed `hour` option would not).
const LOCALES = navigator.languages && navigator.languages.length ? [...navigator.languages] : undefined;
const timeFmt = new Intl.DateTimeFormat(LOCALES, { timeStyle: 'short' });
const dayFmt = new Intl.DateTimeFormat(LOCALES, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDayFmt = new Intl.DateTimeFormat(LOCALES, { day: 'numeric', month: 'short' });
const fullFmt = new Intl.DateTimeFormat(LOCALES, { dateStyle: 'full', timeStyle: 'short' });

export function formatTime(iso) {
  return iso ? timeFmt.format(new Date(iso)) : '';
}

export function formatFull(iso) {
  return iso ? fullFmt.format(new Date(iso)) : '';
}

/** Local calendar day, used to decide where day separators go. */
export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function formatDay(iso) {
  const d = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(d) === dayKey(today)) return 'Today';
  if (dayKey(d) === dayKey(yesterday)) return 'Yesterday';
  return dayFmt.format(d);
}

/** Compact time for the room list: a clock time today, a date otherwise. */
export function formatListTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return dayKey(d) === dayKey(new Date()) ? timeFmt.format(d) : shortDayFmt.format(d);
}

export function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

// http(s) URLs only; the trailing-punctuation trim below keeps "see https://x.org." sane.
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;

/**
 * Message text as a DocumentFragment: plain text nodes, with http/https URLs
 * turned into <a> elements whose href went through the URL parser. Line breaks
 * stay in the text nodes; CSS white-space: pre-wrap displays them.
 */
export function linkify(text) {
  const frag = document.createDocumentFragment();
  const s = String(text ?? '');
  let last = 0;
  for (const match of s.matchAll(URL_RE)) {
    const raw = trimTrailing(match[0]);
    const url = safeUrl(raw);
    if (!url) continue;
    frag.append(document.createTextNode(s.slice(last, match.index)));
    frag.append(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer nofollow' }, raw));
    last = match.index + raw.length;
  }
  frag.append(document.createTextNode(s.slice(last)));
  return frag;
}

// Punctuation right after a URL usually ends the sentence, not the URL; a
// closing parenthesis is kept when the URL opened one (wiki-style links).
function trimTrailing(raw) {
  let s = raw;
  while (s.length && '.,;:!?\'")]}'.includes(s[s.length - 1])) {
    const open = s.split('(').length - 1;
    const close = s.split(')').length - 1;
    if (s.endsWith(')') && open >= close) break;
    s = s.slice(0, -1);
  }
  return s;
}

function safeUrl(raw) {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** One line of preview text for a message (room list, reply bar). */
export function messagePreview(msg) {
  if (!msg) return '';
  if (msg.is_deleted) return 'Message deleted';
  const text = (msg.content || '').replace(/\s+/g, ' ').trim();
  if (text) return text;
  const files = msg.attachments || [];
  if (files.length === 1) return `File: ${files[0].file_name}`;
  if (files.length > 1) return `${files.length} files`;
  return '';
}

/** Attachment links come from the server; still, only same-origin paths or http(s) become hrefs. */
export function safeHref(url) {
  const s = String(url || '');
  if (s.startsWith('/') && !s.startsWith('//')) return s;
  try {
    const u = new URL(s, window.location.origin);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '#';
  } catch {
    return '#';
  }
}
