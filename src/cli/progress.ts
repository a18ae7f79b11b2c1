import type { CliContext } from './context.js';

export interface StatusLine {
  /** Replaces the line; at most ten times a second unless `force`. */
  show: (text: string, force?: boolean) => void;
  /** Clears the line. */
  done: () => void;
}

export interface Progress {
  /** `label` replaces the one given at start (a run that moves from repositories to tags). */
  update: (done: number, total: number, label?: string) => void;
  done: () => void;
}

/** One self-replacing line on stderr, only on a terminal (never in pipes, CI logs or with --verbose). */
export function startStatusLine(ctx: CliContext): StatusLine {
  if (!ctx.io.stderrIsTty || ctx.options.verbose) return { show: () => {}, done: () => {} };
  let last = 0;
  let shown = false;
  return {
    show: (text, force = false) => {
      const now = Date.now();
      if (now - last < 100 && !force) return;
      last = now;
      shown = true;
      ctx.io.err(`\r\x1b[2Kkrill: ${text}`);
    },
    done: () => {
      if (shown) ctx.io.err('\r\x1b[2K');
    },
  };
}

/** A `label done/total` counter on the status line. */
export function startProgress(ctx: CliContext, label: string): Progress {
  const line = startStatusLine(ctx);
  return {
    update: (done, total, now = label) => line.show(`${now} ${done}/${total}`, done >= total),
    done: line.done,
  };
}
