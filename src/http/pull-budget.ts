import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import { formatWindow } from '../text.js';

/**
 * Docker Hub's pull limit (docs.docker.com/docker-hub/usage/pulls): manifest answers carry
 * `ratelimit-limit: 100;w=21600` and `ratelimit-remaining: 76;w=21600` (pulls per window of w
 * seconds). A GET of a manifest counts as a pull; a HEAD does not, nor does a blob. krill reads
 * the headers on every answer, and when a host's remaining pulls fall to the reserve it paces its
 * GETs of manifests at the rate the window gives them back (w / limit seconds each) instead of
 * running into 429s; `allowances()` says how many are left, for the CLI to show.
 */

export interface PullAllowance {
  host: string;
  limit: number;
  remaining: number;
  windowSeconds: number;
}

/** Pulls kept in reserve before pacing starts (KRILL_PULL_RESERVE). */
export const DEFAULT_PULL_RESERVE = 10;

function parseCount(header: string | undefined): { count: number; window?: number } | undefined {
  const match = header === undefined ? null : /^\s*(\d{1,9})\s*(?:;\s*w=(\d{1,9}))?/.exec(header);
  if (!match) return undefined;
  return { count: Number(match[1]), ...(match[2] !== undefined ? { window: Number(match[2]) } : {}) };
}

export class PullBudget {
  readonly #byHost = new Map<string, PullAllowance>();
  readonly #paced = new Map<string, Promise<void>>();
  readonly #warned = new Set<string>();
  readonly #reserve: number;
  readonly #logger: Logger;

  constructor(reserve: number, logger: Logger) {
    this.#reserve = reserve;
    this.#logger = logger;
  }

  observe(url: URL, headers: Record<string, string | undefined>): void {
    const limit = parseCount(headers['ratelimit-limit']);
    const remaining = parseCount(headers['ratelimit-remaining']);
    if (!limit || !remaining || limit.count === 0) return;
    this.#byHost.set(url.host, {
      host: url.host,
      limit: limit.count,
      remaining: remaining.count,
      windowSeconds: remaining.window ?? limit.window ?? 21_600,
    });
  }

  /** Waits its turn when the host's pulls are down to the reserve and `method url` is a pull. */
  async beforeRequest(method: string, url: URL, signal?: AbortSignal): Promise<void> {
    if (method !== 'GET' || !url.pathname.includes('/manifests/')) return;
    const allowance = this.#byHost.get(url.host);
    if (!allowance || allowance.remaining > this.#reserve) return;
    const paceMs = (allowance.windowSeconds * 1000) / allowance.limit;
    if (!this.#warned.has(url.host)) {
      this.#warned.add(url.host);
      this.#logger.warn(
        `${url.host}: ${allowance.remaining} of ${allowance.limit} pulls left in its ${formatWindow(allowance.windowSeconds)} window: pulling one manifest every ${(paceMs / 1000).toFixed(1)} s to stay under the limit`,
      );
    }
    // One pull at a time per host, each after the pace: a chain of waits.
    const turn = (this.#paced.get(url.host) ?? Promise.resolve()).then(() =>
      sleep(paceMs, undefined, signal ? { signal } : undefined),
    );
    this.#paced.set(
      url.host,
      turn.catch(() => undefined),
    );
    await turn;
  }

  allowances(): PullAllowance[] {
    return [...this.#byHost.values()];
  }
}
