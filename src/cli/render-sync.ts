import type { SyncOutcome } from '../krill.js';
import type { CliContext } from './context.js';
import { startProgress } from './progress.js';
import { displayReference, formatBytes, shortDigest, transferLines } from './render.js';
import { escapeControl } from '../text.js';

/**
 * What `krill sync` prints: one line per image that changed (or failed) — up-to-date ones only
 * with --verbose — an overall counter on a terminal (`syncing 120/305`), and summaries.
 */
export class SyncReporter {
  readonly #progress;
  #total = 0;
  /** Outcomes of the current round so far. */
  seen: SyncOutcome[] = [];

  readonly #ctx: CliContext;
  readonly #dryRun: boolean;

  constructor(ctx: CliContext, dryRun: boolean) {
    this.#ctx = ctx;
    this.#dryRun = dryRun;
    this.#progress = startProgress(ctx, 'syncing');
  }

  /** A new round: the counter starts over. */
  reset(): void {
    this.#total = 0;
    this.seen = [];
  }

  readonly selected = (count: number): void => {
    this.#total += count;
  };

  readonly outcome = (o: SyncOutcome): void => {
    this.seen.push(o);
    this.#progress.done();
    const { options, io } = this.#ctx;
    if (!options.json && (o.status !== 'up-to-date' || o.referrersCopied || options.verbose)) {
      const details = [
        o.digest ? shortDigest(o.digest) : '',
        o.blobsCopied !== undefined ? `${o.blobsCopied} blobs, ${formatBytes(o.bytesCopied ?? 0)}` : '',
        o.referrersCopied ? `+${o.referrersCopied} referrers` : '',
        o.error ? escapeControl(o.error) : '',
      ].filter(Boolean);
      io.out(
        transferLines(
          o.status,
          displayReference(o.source),
          displayReference(o.destination),
          details.join(', '),
          io.columns ?? 80,
        ),
      );
    }
    this.#progress.update(this.seen.length, this.#total);
  };

  done(): void {
    this.#progress.done();
  }

  /** Runs a one-shot round and prints its summary; interrupted, it says what was done before. */
  async once(round: () => Promise<SyncOutcome[]>): Promise<SyncOutcome[]> {
    const { options, io } = this.#ctx;
    let outcomes: SyncOutcome[];
    try {
      outcomes = await round();
    } catch (error) {
      this.done();
      if (!options.json && this.seen.length > 0) io.out(`Synced before stopping: ${this.summary(this.seen)}.\n`);
      throw error;
    } finally {
      this.done();
    }
    io.out(options.json ? `${JSON.stringify(outcomes, null, 2)}\n` : `Synced: ${this.summary(outcomes)}.\n`);
    return outcomes;
  }

  summary(outcomes: SyncOutcome[]): string {
    const count = (status: string) => outcomes.filter((o) => o.status === status).length;
    const dry = this.#dryRun ? `, ${count('would-copy')} would be copied (dry run)` : '';
    return `${count('copied')} copied, ${count('up-to-date')} up to date${dry}, ${count('failed')} failed`;
  }

  /** The daemon's line after each round, timestamped. */
  roundDone(outcomes: SyncOutcome[], interval: string): void {
    const count = (status: string) => outcomes.filter((o) => o.status === status).length;
    const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.#ctx.io.err(
      `krill: ${time} sync round done: ${count('copied')} copied, ${count('failed')} failed; next in ${interval}\n`,
    );
  }
}
