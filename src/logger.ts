/** The library never prints: it reports through this interface, and the CLI decides what to show. */
export interface Logger {
  /** False when debug output goes nowhere: lets hot paths skip building messages. */
  readonly debugEnabled: boolean;
  /** Request-level detail, shown with --verbose. Never contains secrets (callers redact). */
  debug(message: string): void;
  /** Things the user should see even without --verbose (e.g. TLS verification disabled). */
  warn(message: string): void;
}

export const silentLogger: Logger = {
  debugEnabled: false,
  debug() {},
  warn() {},
};
