import { escapeControl, formatBytes } from '../text.js';

/**
 * HTML built by one tagged template that escapes every interpolated value: a tag named
 * `<img src=x onerror=alert(1)>` or carrying terminal sequences is text on the page, never markup.
 * Only `Html` values (built by this template, or `raw` for krill's own constants) pass unescaped.
 */

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = string | number | boolean | null | undefined | Html | readonly Value[];

function escapeHtml(text: string): string {
  return escapeControl(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => (out += render(value) + strings[i + 1]!));
  return new Html(out);
}

/** krill's own markup or style, never data from outside. */
export function raw(text: string): Html {
  return new Html(text);
}

/** A query-string value, percent-encoded (then escaped by `html` as an attribute). */
export function query(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

/** Sizes on the pages: one decimal (`18.6 KiB`); the terminal's formatBytes with two. */
export function bytes(n: number): string {
  return formatBytes(n, 1);
}

/** A date as a table shows it (the full ISO time in the cell's title, for hovering). */
export function date(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">-</span>`;
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 10)}</time>`;
}
