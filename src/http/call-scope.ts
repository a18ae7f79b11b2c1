import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '../logger.js';

/**
 * Per-call options of the `Krill` facade: a signal that stops this call only, and a logger for its
 * messages. They travel with the call's async context (AsyncLocalStorage) down to the transport, so
 * the layers between need no extra parameter. A request shared by two calls (one token fetch) runs
 * under the call that started it.
 */
export interface CallOptions {
  /** Stops this call (and its requests); the facade's own signal still stops everything. */
  signal?: AbortSignal;
  /** Receives this call's warnings and debug lines instead of the facade's logger. */
  logger?: Logger;
}

/** The call in progress: its signal already combined with the facade's. */
const scope = new AsyncLocalStorage<CallOptions>();

/** The signal of the call in progress (its own combined with the facade's), if it has one. */
export function callSignal(): AbortSignal | undefined {
  return scope.getStore()?.signal;
}

/** Runs `work` with a call's signal and logger in scope; `runSignal` (the facade's) stays in force. */
export function runInCall<T>(
  call: CallOptions,
  runSignal: AbortSignal | undefined,
  work: () => Promise<T>,
): Promise<T> {
  // Stryker disable next-line ConditionalExpression: equivalent, a scope with nothing in it changes nothing (it saves the AsyncLocalStorage run).
  if (call.signal === undefined && call.logger === undefined) return work();
  const signal = call.signal && runSignal ? AbortSignal.any([runSignal, call.signal]) : (call.signal ?? runSignal);
  return scope.run({ ...(signal ? { signal } : {}), ...(call.logger ? { logger: call.logger } : {}) }, work);
}

/** A logger that writes to the current call's logger when it has one, else to `fallback`. */
export function scopedLogger(fallback: Logger): Logger {
  const current = () => scope.getStore()?.logger ?? fallback;
  return {
    get debugEnabled() {
      return current().debugEnabled;
    },
    debug: (message) => current().debug(message),
    warn: (message) => current().warn(message),
  };
}

/**
 * The registry a verb names as its destination (copy, sync, compare --with, login): the given
 * credentials and KRILL_USERNAME & co. go there when the user named no registry. Decided per verb
 * from its arguments, so one verb's destination never decides where another verb's credentials go.
 */
const verbScope = new AsyncLocalStorage<{ destination?: string }>();

/** Runs a verb in a scope of its own (a verb called by another verb shares the caller's). */
export function runInVerb<T>(work: () => Promise<T>): Promise<T> {
  return verbScope.getStore() ? work() : verbScope.run({}, work);
}

/** Names the current verb's destination host (the first one named wins). */
export function setVerbDestination(host: string): void {
  const store = verbScope.getStore();
  if (store) store.destination ??= host;
}

/** The current verb's destination host, if it named one. */
export function verbDestination(): string | undefined {
  return verbScope.getStore()?.destination;
}
