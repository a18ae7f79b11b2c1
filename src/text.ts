/**
 * Text from the network (tag names, labels, error messages) must not drive the terminal: C0 and C1
 * control characters and DEL are shown escaped (ESC as the four characters `\x1b`). Pure; JSON
 * output never goes through this (it stays exact).
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `a, b, c and 2 more`: a list for one line of a message. */
export function listNames(names: readonly string[], shown = 3): string {
  return names.length > shown
    ? `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`
    : names.join(', ');
}

/** Like escapeControl, but keeps line breaks (multi-line messages of krill's own). */
export function escapeControlKeepLines(text: string): string {
  return text.split('\n').map(escapeControl).join('\n');
}

/** A window of seconds as `6h`, `30m` or `45s`. */
export function formatWindow(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600}h` : seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Binary units, as Plankton shows them: `273.27 MiB` (two decimals by default), `512 B`. */
export function formatBytes(bytes: number, decimals = 2): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(decimals)} ${UNITS[unit]}`;
}
