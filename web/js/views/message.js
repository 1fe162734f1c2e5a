// One message as a DOM element. Pure: takes the message and callbacks,
// returns an <article>. Text always goes in as text nodes (see format.linkify).
import { h, icon, avatar } from '../dom.js';
import { formatTime, formatFull, formatSize, linkify, safeHref } from '../format.js';
import { renderReactions, togglePicker } from './reactions.js';
import { richText, mentionsMe } from '../rich.js';

/**
 * @param {object} msg  Message from the API
 * @param {object} ctx  { meId, canEdit(msg), canDelete(msg), onReply, onEdit, onDelete, onQuote, onImage }
 */
export function renderMessage(msg, ctx) {
  if (msg.message_type === 'system') {
    return h('article', {
      class: 'msg system', tabindex: '-1', testid: 'message', 'data-message-id': msg.id, 'data-type': 'system',
    }, h('p', { class: 'msg-text', testid: 'message-text' }, msg.content),
    h('time', { class: 'msg-time', datetime: msg.created_at, title: formatFull(msg.created_at) }, formatTime(msg.created_at)));
  }

  const own = msg.sender_id === ctx.meId;
  const el = h('article', {
    class: `msg${own ? ' own' : ''}${msg.is_deleted ? ' deleted' : ''}${mentionsMe(msg, ctx.meId) ? ' mention' : ''}`,
    tabindex: '-1',
    testid: 'message', 'data-message-id': msg.id, 'data-sender-id': msg.sender_id,
    'aria-label': `${msg.sender_name}, ${formatTime(msg.created_at)}`,
  });

  const body = h('div', { class: 'msg-body' },
    h('header', { class: 'msg-head' },
      h('span', { class: 'msg-sender', testid: 'message-sender' }, msg.sender_name),
      h('time', {
        class: 'msg-time', testid: 'message-time', datetime: msg.created_at, title: formatFull(msg.created_at),
      }, formatTime(msg.created_at)),
      msg.is_edited && !msg.is_deleted
        ? h('span', { class: 'msg-edited', testid: 'message-edited', title: formatFull(msg.edited_at) }, '(edited)')
        : null));

  if (msg.is_deleted) {
    body.append(h('p', { class: 'msg-text msg-deleted', testid: 'message-deleted' }, 'This message was deleted.'));
  } else {
    if (msg.reply_to) body.append(renderQuote(msg.reply_to, ctx));
    if (msg.content_html) body.append(h('div', { class: 'msg-text rich', testid: 'message-text' }, richText(msg.content_html)));
    else if (msg.content) body.append(h('div', { class: 'msg-text', testid: 'message-text' }, linkify(msg.content)));
    if (msg.attachments?.length) body.append(renderAttachments(msg.attachments, ctx));
    if (msg.pinned_at) body.append(h('p', { class: 'msg-pinned muted small', testid: 'message-pinned' }, icon('pin', 12), ' Pinned'));
    const chips = ctx.nameOf ? renderReactions(msg, ctx) : null;
    if (chips) body.append(chips);
  }

  el.append(avatar(msg.sender_name, msg.sender_name), body);
  if (!msg.is_deleted) el.append(renderActions(msg, ctx));
  return el;
}

function renderQuote(reply, ctx) {
  return h('button', {
    class: 'msg-quote', type: 'button', testid: 'message-reply-quote', 'data-reply-to-id': reply.id,
    title: 'Show the original message',
    onclick: () => ctx.onQuote(reply.id),
  }, h('span', { class: 'quote-sender' }, reply.sender_name),
  h('span', { class: 'quote-text' }, reply.is_deleted ? 'The original message was deleted.' : (reply.excerpt || 'Original message')));
}

function renderActions(msg, ctx) {
  // Out of the tab order until their message has focus (see chat.js), so the
  // list is one tab stop rather than three per message.
  const button = (testid, name, label, fn) => h('button', {
    class: 'icon-btn', type: 'button', tabindex: '-1', testid, 'aria-label': label, title: label, onclick: () => fn(msg),
  }, icon(name, 16));
  return h('div', { class: 'msg-actions', role: 'toolbar', 'aria-label': 'Message actions' },
    ctx.canReply ? button('action-reply', 'reply', 'Reply', ctx.onReply) : null,
    ctx.canReact ? h('button', {
      class: 'icon-btn', type: 'button', tabindex: '-1', testid: 'action-react', 'aria-label': 'Add reaction',
      title: 'Add reaction', 'aria-expanded': 'false',
      onclick: (e) => togglePicker(e.currentTarget, (emoji) => ctx.onReact(msg, emoji)),
    }, icon('smile', 16)) : null,
    ctx.canPin?.(msg) ? button('action-pin', 'pin', msg.pinned_at ? 'Unpin' : 'Pin', ctx.onPin) : null,
    ctx.canEdit(msg) ? button('action-edit', 'edit', 'Edit', ctx.onEdit) : null,
    ctx.canDelete(msg) ? button('action-delete', 'trash', 'Delete', ctx.onDelete) : null);
}

export function isImage(att) {
  return !!att.thumbnail_url;
}

export function renderAttachments(attachments, ctx) {
  return h('div', { class: 'msg-attachments' }, attachments.map((att) => (isImage(att)
    ? h('button', {
      class: 'att-image', type: 'button', testid: 'attachment-image', 'data-attachment-id': att.id,
      'aria-label': `Open image ${att.file_name}`, onclick: () => ctx.onImage(att),
    }, h('img', { src: safeHref(att.thumbnail_url), alt: att.file_name, loading: 'lazy', decoding: 'async' }))
    : fileCard(att))));
}

/** A file as a card: icon (a PDF's is its own), name, size and a download link. */
export function fileCard(att) {
  const kind = fileKind(att);
  return h('div', { class: `att-file att-${kind}`, testid: 'attachment-file', 'data-attachment-id': att.id, 'data-kind': kind },
    h('span', { class: 'att-file-icon', 'aria-hidden': 'true' }, icon(kind === 'pdf' ? 'fileText' : 'file', 22),
      h('span', { class: 'att-file-type' }, (att.file_extension || '').toUpperCase().slice(0, 4))),
    h('span', { class: 'att-file-main' },
      h('span', { class: 'att-file-name', title: att.file_name }, att.file_name),
      h('span', { class: 'muted small' }, [formatSize(att.file_size), att.file_extension?.toUpperCase()].filter(Boolean).join(' · '))),
    h('a', {
      class: 'icon-btn', href: safeHref(att.url), download: att.file_name, testid: 'attachment-download',
      'aria-label': `Download ${att.file_name}`, title: 'Download',
    }, icon('download', 18)));
}

function fileKind(att) {
  const ext = String(att.file_extension || '').toLowerCase();
  if (ext === 'pdf') return 'pdf';
  if (['doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx'].includes(ext)) return 'office';
  if (ext === 'zip') return 'archive';
  return 'text';
}
