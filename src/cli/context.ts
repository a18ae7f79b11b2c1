import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { TlsOptions } from '../krill.js';
import { Krill, hasEnvPassword } from '../krill.js';
import type { Logger } from '../logger.js';
import { escapeControl } from '../text.js';
import type { Program } from './program.js';

/** The global options as commander parses them (declared in program.ts). */
export type GlobalOptions = ReturnType<Program['opts']>;

export interface Io {
  out(text: string | Uint8Array): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  /** Asks a question on the terminal and returns the answer line. */
  prompt(question: string): Promise<string>;
  /** Asks for a secret on the terminal without echoing it (`Password: `). */
  promptSecret(question: string): Promise<string>;
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
  stdinIsTty: boolean;
  env: NodeJS.ProcessEnv;
  /** The terminal's width; 80 when unknown (a pipe, a CI log). */
  columns?: number;
}

/** A PEM file for TLS: unreadable or not PEM is a usage error naming the file (no request sent). */
function readTlsFile(path: string | undefined, flag: string): Buffer | undefined {
  if (path === undefined) return undefined;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new UsageError(
      `cannot read ${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; check the path`,
      { cause: error },
    );
  }
  if (!/-----BEGIN [A-Z0-9 ]+-----/.test(bytes.toString('latin1'))) {
    throw new UsageError(
      `${flag} ${path} is not a PEM file (no "-----BEGIN" line); convert it with openssl, e.g. openssl x509 -inform der -in FILE -out FILE.pem`,
    );
  }
  return bytes;
}

/**
 * Flags and environment → the library's `Krill` facade, plus the terminal. All local input
 * (files, flags, references) is validated here or by the caller before the first request.
 */
export class CliContext {
  readonly logger: Logger;
  /** Terminal styling; identity functions when colors are off or stdout is not a terminal. */
  readonly style: { header: (text: string) => string };
  readonly krill: Krill;

  constructor(
    readonly options: GlobalOptions,
    readonly io: Io,
    readonly signal: AbortSignal,
    /** Set `graceful` to handle the first Ctrl-C yourself (see main.ts). */
    readonly interruption: { graceful?: (() => void) | undefined } = {},
  ) {
    this.logger = {
      debugEnabled: options.verbose === true,
      debug: (message) => {
        if (options.verbose) io.err(`krill: ${escapeControl(message)}\n`);
      },
      warn: (message) => io.err(`krill: warning: ${escapeControl(message)}\n`),
    };
    const color = options.color && io.stdoutIsTty && !io.env.NO_COLOR;
    this.style = { header: color ? (text) => `\x1b[1m${text}\x1b[0m` : (text) => text };
    checkGlobalFlags(options);
    const tls = tlsOptions(options, this.logger);
    if (options.password !== undefined) {
      this.logger.warn(
        '--password on the command line is visible in shell history and process lists; prefer --password-stdin',
      );
    }
    this.krill = new Krill({
      registry: options.registry,
      plainHttp: options.plainHttp,
      username: options.username,
      password: passwordSource(options, io),
      env: io.env,
      concurrency: options.concurrency,
      timeoutMs: options.timeout,
      tls,
      cache: options.cache,
      ledger: options.ledger,
      logger: this.logger,
      signal,
    });
  }

  /** Resolves at the first Ctrl-C or SIGTERM (or at once when already aborted): long-running servers stop then. */
  untilInterrupted(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.interruption.graceful = resolve;
      if (this.signal.aborted) resolve();
      this.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  async close(): Promise<void> {
    await this.krill.close();
  }
}

/** Global flags that contradict each other: a usage error before anything is read or sent. */
function checkGlobalFlags(options: GlobalOptions): void {
  if (options.clientCert !== undefined && options.clientKey === undefined)
    throw new UsageError('--client-cert needs --client-key with the matching private key');
  if (options.clientKey !== undefined && options.clientCert === undefined)
    throw new UsageError('--client-key needs --client-cert with the matching certificate');
  if (options.password !== undefined && options.passwordStdin)
    throw new UsageError('use either --password or --password-stdin, not both');
  if ((options.password !== undefined || options.passwordStdin) && options.username === undefined)
    throw new UsageError('a password was given without --username: add --username USER');
}

function tlsOptions(options: GlobalOptions, logger: Logger): TlsOptions {
  const tls: TlsOptions = {};
  const ca = readTlsFile(options.caCert, '--ca-cert');
  const cert = readTlsFile(options.clientCert, '--client-cert');
  const key = readTlsFile(options.clientKey, '--client-key');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (options.insecure) {
    tls.insecure = true;
    logger.warn(
      '--insecure: TLS certificates are not verified; anyone on the network path can read and alter this traffic',
    );
  }
  return tls;
}

/**
 * The password, or how to get it when a registry asks: --password-stdin reads standard input (or
 * asks on a terminal); -u without a password asks without echo on a terminal, like docker login.
 */
function passwordSource(options: GlobalOptions, io: Io): string | (() => Promise<string>) | undefined {
  const askPassword = async () => {
    const password = await io.promptSecret('Password: ');
    if (password === '')
      throw new UsageError('no password given: type it at the prompt, or pipe it with --password-stdin');
    return password;
  };
  const readPassword = async () => {
    if (io.stdinIsTty) return askPassword();
    const password = (await io.readStdin()).replace(/\r?\n$/, '');
    if (password === '') throw new UsageError('--password-stdin read an empty password: pipe the password into krill');
    return password;
  };
  const prompted =
    options.username !== undefined && options.password === undefined && !hasEnvPassword(io.env) && io.stdinIsTty;
  return options.passwordStdin ? readPassword : prompted ? askPassword : options.password;
}
