/** A short page with a title, one message and a link onward (errors, refusals, not found). */
import { html, type SafeHtml } from '../html.js';
import { layout, type Viewer } from './layout.js';

export function messagePage(o: {
  title: string;
  message: string;
  viewer?: Viewer;
  backups?: boolean;
  link?: { href: string; text: string };
}): SafeHtml {
  return layout({
    title: o.title,
    ...(o.viewer ? { viewer: o.viewer } : {}),
    backups: o.backups ?? false,
    body: html`<h1>${o.title}</h1>
      <p id="message">${o.message}</p>
      ${o.link ? html`<p><a href="${o.link.href}">${o.link.text}</a></p>` : ''}`,
  });
}
