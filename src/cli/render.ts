/** Pure formatting for the terminal: tables, sizes, dates. */
import { classifyTag } from '../manifest/referrers.js';
import { escapeControl } from '../text.js';

export { formatBytes } from '../text.js';

/** ISO 8601 UTC without milliseconds (`2017-09-24T16:36:00Z`), or `-` when unknown. */
export function formatDate(iso: string | null): string {
  return iso === null ? '-' : iso.replace(/\.\d{3}Z$/, 'Z');
}

export { shortDigest } from '../manifest/manifest.js';

/** The day of a date, for tables that must fit 80 columns (`-o wide` and `--json` have the time). */
export function shortDate(iso: string | null): string {
  return iso === null ? '-' : iso.slice(0, 10);
}

/** An attachment tag in a reference shortened like the tables do (`…:sha256-3d76a1b2c3d4….sig`). */
export function displayReference(reference: string): string {
  return reference.replace(/:(sha256-[0-9a-f]{64}(?:\.[a-z]+)?)$/, (_, tag: string) => `:${displayTag(tag)}`);
}

/**
 * `STATUS SOURCE → DESTINATION  details` on one line when it fits the width; otherwise the
 * destination and the details on lines of their own, indented (a reference is never cut).
 */
export function transferLines(
  status: string,
  source: string,
  destination: string,
  details: string,
  width: number,
): string {
  const one = `${status} ${source} → ${destination}  ${details}`;
  if (one.length <= width) return `${one}\n`;
  return `${status} ${source}\n  → ${destination}\n  ${hangingWrap(details, width)}\n`;
}

/**
 * Wraps `text` for a place two columns in (or a first line that may take them): every line fits
 * `width` with two columns to spare, continuation lines indented by two.
 */
export function hangingWrap(text: string, width: number): string {
  return wrapToWidth(text, width - 2).replaceAll('\n', '\n  ');
}

export interface TableOptions {
  /** Style for the header row (bold on a color terminal). */
  header?: (text: string) => string;
}

/**
 * Left-aligned columns separated by two spaces; the last column is not padded. Cells are escaped:
 * they hold names and labels from registries, which must not drive the terminal.
 */
export function formatTable(headers: string[], cells: string[][], options: TableOptions = {}): string {
  const rows = cells.map((row) => row.map(escapeControl));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const head = line(headers);
  return [options.header ? options.header(head) : head, ...rows.map(line)].join('\n') + '\n';
}

/** Indents every non-empty line by two spaces. */
export function indent(text: string): string {
  return text.replace(/^(?=.)/gm, '  ');
}

/** Attachment tags carry a whole digest; tables show them shortened (JSON keeps them whole). */
export function displayTag(tag: string): string {
  const kind = classifyTag(tag);
  if (kind.kind === 'legacy') return `${tag.slice(0, 19)}….${kind.suffix}`;
  return kind.kind === 'fallback' ? `${tag.slice(0, 19)}…` : tag;
}

/**
 * Fits prose to `width` columns: a longer line breaks at spaces and keeps its indent; a command
 * example (`$ …`) continues with a backslash, as a shell reads it. A word longer than the width
 * stays whole (a URL cut in two is worse than a long line).
 */
export function wrapToWidth(text: string, width: number): string {
  return reflow(text.split('\n'))
    .flatMap((line) => {
      if (line.length <= width) return [line];
      const indent = /^\s*/.exec(line)![0];
      const command = line.trimStart().startsWith('$ ');
      const next = command ? `${indent}    ` : indent;
      const room = (first: boolean) => width - (first ? 0 : next.length) - (command ? 2 : 0);
      const out: string[] = [];
      let current = '';
      for (const word of line.trimStart().split(' ')) {
        const candidate = current ? `${current} ${word}` : word;
        if (current && (out.length === 0 ? indent : next).length + candidate.length > room(out.length === 0)) {
          out.push(current);
          current = word;
        } else current = candidate;
      }
      out.push(current);
      return out.map((part, i) => `${i === 0 ? indent : next}${part}${command && i < out.length - 1 ? ' \\' : ''}`);
    })
    .join('\n');
}

/** Joins the lines of a prose paragraph (unindented, not a heading) so that it wraps as one. */
function reflow(lines: string[]): string[] {
  const out: string[] = [];
  const prose = (line: string | undefined) =>
    line !== undefined && line.trim() !== '' && !/^\s/.test(line) && !line.endsWith(':');
  for (const line of lines) {
    if (prose(line) && prose(out.at(-1)) && out.length > 0) out[out.length - 1] += ` ${line}`;
    else out.push(line);
  }
  return out;
}

/** Cuts lines past the width with "…" (tables whose last column can lose its end: --json has all). */
export function cutLines(text: string, width: number): string {
  return text
    .split('\n')
    .map((line) => (line.length > width && !line.includes('\x1b') ? `${line.slice(0, width - 1)}…` : line))
    .join('\n');
}

/**
 * Writes `JSON.stringify(items, null, 2)` exactly, a thousand items at a time: a 100,000-row
 * listing never becomes one string of tens of megabytes (and its copy on the way to stdout).
 */
export function writeJsonArray(out: (text: string) => void, items: readonly unknown[]): void {
  if (items.length === 0) {
    out('[]\n');
    return;
  }
  const CHUNK = 1000;
  for (let start = 0; start < items.length; start += CHUNK) {
    const part = items
      .slice(start, start + CHUNK)
      .map((item) => `  ${JSON.stringify(item, null, 2).replace(/\n/g, '\n  ')}`)
      .join(',\n');
    out(`${start === 0 ? '[\n' : ',\n'}${part}`);
  }
  out('\n]\n');
}
