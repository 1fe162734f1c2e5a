// Full-size view of an image attachment.
import { $, h, icon } from '../dom.js';
import { formatSize, safeHref } from '../format.js';

export function openLightbox(att) {
  const box = $('lightbox');
  const close = () => box.close();
  box.replaceChildren(
    h('figure', { class: 'lightbox-figure' },
      h('img', { src: safeHref(att.url), alt: att.file_name, testid: 'lightbox-image' }),
      h('figcaption', {},
        h('span', { class: 'lightbox-name' }, att.file_name),
        h('span', { class: 'muted small' }, formatSize(att.file_size)),
        h('a', { class: 'btn btn-small', href: safeHref(att.url), download: att.file_name }, icon('download', 16), 'Download'),
        h('button', {
          class: 'icon-btn', type: 'button', testid: 'lightbox-close', 'aria-label': 'Close', onclick: close,
        }, icon('x')))));
  box.onclick = (e) => { if (e.target === box) close(); };
  box.showModal();
  box.querySelector('[data-testid="lightbox-close"]').focus();
}
