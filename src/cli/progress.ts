import type { CliContext } from './context.js';

export interface Progress {
  update: (done: number, total: number) => void;
  done: () => void;
}

/** A one-line counter on stderr, only on a terminal (never in pipes, CI logs or with --verbose). */
export function startProgress(ctx: CliContext, label: string): Progress {
  if (!ctx.io.stderrIsTty || ctx.options.verbose) return { update: () => {}, done: () => {} };
  let last = 0;
  let shown = false;
  return {
    update: (done, total) => {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      shown = true;
      ctx.io.err(`\r\x1b[2Kkrill: ${label} ${done}/${total}`);
    },
    done: () => {
      if (shown) ctx.io.err('\r\x1b[2K');
    },
  };
}
