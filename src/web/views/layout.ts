/** The page frame shared by every page: head, top bar with navigation and logout, main content. */
import { html, type SafeHtml } from '../html.js';

export interface Viewer {
  user: string;
  csrfToken: string;
}

export interface LayoutOptions {
  title: string;
  /** The signed-in user; absent on the login page. */
  viewer?: Viewer;
  /** Which nav item is current. */
  current?: 'logs' | 'backups';
  /** Show the Backups link (only when the server has a backups provider). */
  backups?: boolean;
  /** A one-time message (e.g. an action's result). */
  flash?: string | null;
  /** Reload the page after this many seconds (a running job on the Backups page; no JavaScript needed). */
  refreshSeconds?: number;
  body: SafeHtml;
}

/** Renders a complete HTML document. */
export function layout(o: LayoutOptions): SafeHtml {
  const nav = o.viewer
    ? html`<nav aria-label="Main">
          <a href="/logs" ${o.current === 'logs' ? html`aria-current="page"` : ''}>Logs</a>
          ${o.backups ? html`<a href="/backups" ${o.current === 'backups' ? html`aria-current="page"` : ''}>Backups</a>` : ''}
        </nav>
        <span class="note">Signed in as <strong>${o.viewer.user}</strong></span>
        <form method="post" action="/logout">
          <input type="hidden" name="_csrf" value="${o.viewer.csrfToken}" />
          <button type="submit" class="link" id="logout">Log out</button>
        </form>`
    : '';
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        ${o.refreshSeconds ? html`<meta http-equiv="refresh" content="${o.refreshSeconds}" />` : ''}
        <title>${o.title} · safetynet</title>
        <link rel="stylesheet" href="/static/app.css" />
        <script src="/static/app.js" defer></script>
      </head>
      <body>
        <header class="top">
          <span class="brand">safetynet admin</span>
          ${nav}
        </header>
        <main>${o.flash ? html`<p class="flash" role="status">${o.flash}</p>` : ''} ${o.body}</main>
      </body>
    </html> `;
}
