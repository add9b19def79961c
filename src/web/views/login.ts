/** The login page. */
import { html, type SafeHtml } from '../html.js';
import { layout } from './layout.js';

export interface LoginView {
  /** The login form's CSRF token (tied to a pre-login cookie). */
  csrfToken: string;
  /** Where to go after logging in (a local path, already checked). */
  next: string;
  /** The user name to prefill after a failure. */
  user?: string;
  error?: string;
  notice?: string;
}

export function loginPage(v: LoginView): SafeHtml {
  return layout({
    title: 'Log in',
    body: html`<section class="login">
      <h1>Log in</h1>
      ${v.notice ? html`<p class="flash" role="status">${v.notice}</p>` : ''}
      ${v.error ? html`<p class="errors" role="alert" id="login-error">${v.error}</p>` : ''}
      <form method="post" action="/login">
        <input type="hidden" name="_csrf" value="${v.csrfToken}" />
        <input type="hidden" name="next" value="${v.next}" />
        <label class="field"
          >User name
          <input
            type="text"
            name="user"
            autocomplete="username"
            autocapitalize="none"
            spellcheck="false"
            required
            maxlength="64"
            value="${v.user ?? ''}"
        /></label>
        <label class="field"
          >Password
          <input type="password" name="password" autocomplete="current-password" required maxlength="1024"
        /></label>
        <button type="submit">Log in</button>
      </form>
      <p class="note">Accounts are managed on the server with <code>safetynet admin add</code>.</p>
    </section>`,
  });
}
