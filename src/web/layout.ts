import type { Html } from './html.js';
import { html, query } from './html.js';

/** The frame of every page of `krill serve`, and the pieces several pages share. */

export interface PageContext {
  registry: string;
  readOnly: boolean;
  /** Present when the visitor holds the server token: changing forms carry it (CSRF). */
  csrf?: string;
}

export function layout(ctx: PageContext, title: string, body: Html): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · krill</title>
        <link rel="stylesheet" href="/assets/style.css" />
      </head>
      <body>
        <header>
          <span class="brand">krill</span>
          <nav><a href="/">Catalog</a><a href="/cleanup">Cleanup review</a></nav>
          <span class="muted"
            >${ctx.registry}${ctx.readOnly ? ' · read-only' : ''}${ctx.csrf === undefined && !ctx.readOnly ? ' · not signed in (open the URL with the token to apply)' : ''}</span
          >
        </header>
        <main>${body}</main>
        <script src="/assets/app.js" defer></script>
      </body>
    </html> `.text;
}

export const repoLink = (repository: string) =>
  html`<a href="/repository?${query({ name: repository })}">${repository}</a>`;

export function filterBox(table: string, what: string): Html {
  return html`<input
    class="filter"
    type="search"
    data-table="${table}"
    placeholder="Filter ${what}…"
    aria-label="Filter ${what}"
  />`;
}

export function errorPage(ctx: PageContext, title: string, message: string): string {
  return layout(
    ctx,
    title,
    html`<h1>${title}</h1>
      <p class="error" role="alert">${message}</p>
      <p><a href="/">Back to the catalog</a></p>`,
  );
}
