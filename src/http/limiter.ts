/** Requests in flight per krill when none is given (--concurrency). */
export const DEFAULT_CONCURRENCY = 8;

/**
 * A counting semaphore: at most `limit` tasks run at once, the rest wait in FIFO order.
 * FIFO matters: a long tag list must not starve the manifest requests queued behind it.
 */
export class Limiter {
  #active = 0;
  #limit: number;
  readonly #queue: Array<() => void> = [];

  constructor(readonly max: number) {
    this.#limit = max;
  }

  get limit(): number {
    return this.#limit;
  }

  /** Lowers or raises the number of slots (1..max); waiting tasks start as slots free up. */
  setLimit(limit: number): void {
    this.#limit = Math.max(1, Math.min(this.max, Math.floor(limit)));
    while (this.#active < this.#limit && this.#queue.length > 0) {
      this.#active++;
      this.#queue.shift()!();
    }
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#limit) await new Promise<void>((resolve) => this.#queue.push(resolve));
    else this.#active++;
    try {
      return await task();
    } finally {
      const next = this.#active <= this.#limit ? this.#queue.shift() : undefined;
      if (next)
        next(); // hand the slot over without releasing it
      else this.#active--;
    }
  }
}

/** Runs `fn` over `items` with at most `concurrency` in flight; results keep the input order. */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
