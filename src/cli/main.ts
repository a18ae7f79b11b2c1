import { readFileSync, writeSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { AbortedError, AuthError, JournalError, KrillError, TlsError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { escapeControl } from '../text.js';
import { readConfigFile } from './config-file.js';
import type { CliContext, GlobalOptions, Io } from './context.js';

/**
 * The CLI entry: runs the program declared in program.ts with the terminal's stdio, reports errors
 * in one line, and is the one place that exits.
 */

/** Set by the standalone binary's bundler (scripts/build-binary.mjs): no package.json travels with it. */
declare const __KRILL_VERSION__: string | undefined;

function version(): string {
  if (typeof __KRILL_VERSION__ === 'string') return __KRILL_VERSION__;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function defaultIo(): Io {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    ...(process.stdout.isTTY && process.stdout.columns ? { columns: process.stdout.columns } : {}),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    prompt: async (question) => {
      const { createInterface } = await import('node:readline');
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await new Promise<string>((resolve, reject) => {
          // Ctrl-C at the prompt: readline swallows the signal, so it ends the run here (exit 130).
          rl.on('SIGINT', () => reject(new AbortedError('cancelled; nothing was changed')));
          // Ctrl-D (end of input) is "no".
          rl.on('close', () => resolve(''));
          rl.question(question, resolve);
        });
      } finally {
        rl.close();
      }
    },
    promptSecret: (question) => readSecret(question),
    stdoutIsTty: process.stdout.isTTY === true,
    stderrIsTty: process.stderr.isTTY === true,
    stdinIsTty: process.stdin.isTTY === true,
    env: process.env,
  };
}

/** Env vars that name the default registry: they win over the config file. */
const REGISTRY_VARS = ['KRILL_REGISTRY', 'REGISTRY_CLI_HOSTNAME', 'REGISTRY'];

/** Fills the global options the user did not set (flag or env) from the config file. */
async function applyConfigFile(
  options: GlobalOptions,
  source: (key: string) => string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const config = await readConfigFile(env);
  if (!config) return;
  const unset = (key: string) => source(key) === undefined || source(key) === 'default';
  if (config.registry !== undefined && unset('registry') && !REGISTRY_VARS.some((v) => env[v]))
    options.registry = config.registry;
  if (config.concurrency !== undefined && unset('concurrency')) options.concurrency = config.concurrency;
  if (config.timeout !== undefined && unset('timeout')) options.timeout = config.timeout;
  if (config.caCert !== undefined && unset('caCert')) options.caCert = config.caCert;
  if (config.ledger !== undefined && unset('ledger') && !env.KRILL_LEDGER) options.ledger = config.ledger;
}

/** Reads a line from the terminal in raw mode without echoing it; Ctrl-C cancels (exit 130). */
function readSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise<string>((resolve, reject) => {
    let secret = '';
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(secret);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\u0003') return done(new AbortedError('cancelled; nothing was changed'));
        if (char === '\r' || char === '\n' || char === '\u0004') return done();
        if (char === '\u007f' || char === '\b') secret = secret.slice(0, -1);
        else secret += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Global options that take a value (`-r HOST`): their value is not a command. */
const GLOBAL_VALUE_FLAGS = new Set([
  '-r',
  '--registry',
  '-u',
  '--username',
  '-p',
  '--password',
  '--ca-cert',
  '--client-cert',
  '--client-key',
  '--concurrency',
  '--timeout',
]);

/**
 * `--version` (or `-V`) before any command, after any global flags (`krill --verbose --version`):
 * the program's version. After a command it is that command's option (`cleanup --version RANGE`).
 */
export function asksForVersion(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--version' || arg === '-V') return true;
    if (!arg.startsWith('-') || arg === '--') return false;
    if (GLOBAL_VALUE_FLAGS.has(arg)) i++;
  }
  return false;
}

/**
 * How a command asks for a graceful first Ctrl-C (sync --daemon: finish the current image, then
 * stop); by default the first signal aborts everything in flight.
 */
export interface Interruption {
  graceful?: (() => void) | undefined;
}

/** Runs the CLI and returns the exit code (used directly by tests; `main` exits with it). */
export async function runCli(
  argv: string[],
  io: Io = defaultIo(),
  signal: AbortSignal = new AbortController().signal,
  interruption: Interruption = {},
): Promise<number> {
  // Handled before commander: `cleanup --version RANGE` must not be taken for the program's --version.
  if (asksForVersion(argv)) {
    io.out(`${version()}\n`);
    return 0;
  }
  if (argv[0] === 'version' && argv.length <= 2 && (argv[1] === undefined || argv[1] === '--json')) {
    const info = { version: version(), node: process.version, platform: `${process.platform}/${process.arch}` };
    io.out(
      argv[1] ? `${JSON.stringify(info, null, 2)}\n` : `krill ${info.version} (node ${info.node}, ${info.platform})\n`,
    );
    return 0;
  }
  let context: CliContext | undefined;
  let verbose = false;
  // Loaded only past --version: commander and the declarations are most of a start-up.
  const { buildProgram, CommanderError } = await import('./program.js');
  const program = buildProgram(async (cmd, load) => {
    const { CliContext } = await import('./context.js');
    // The global options live on the program; a copy, as the config file fills what is unset.
    const options: GlobalOptions = { ...program.opts() };
    verbose = options.verbose === true;
    await applyConfigFile(options, (key) => cmd.getOptionValueSourceWithGlobals(key), io.env);
    if (io.env.NO_COLOR) options.color = false;
    const execute = await load();
    context = new CliContext(options, io, signal, interruption);
    await execute(context);
    // Docker Hub's pull limit, when a registry sent it: how many pulls the run left.
    (await import('./pulls-left.js')).reportPullsLeft(context);
  }, io);
  // No command: the help, on stdout, and exit 2 (a script that forgot its command must fail).
  if (argv.length === 0) {
    io.out(program.helpInformation());
    return 2;
  }
  const known = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  if (argv[0] === 'help' && argv[1] !== undefined && !known.includes(argv[1])) {
    io.err(`krill: unknown command '${argv[1]}' (see krill --help)\n`);
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.help' ? 0 : 2;
    }
    const { suggestRepository } = await import('./suggest.js');
    const suggestion = context ? await suggestRepository(context, error) : undefined;
    return reportError(error, io, verbose, suggestion);
  } finally {
    await context?.close();
  }
}

/**
 * What to do about an error, in the CLI's words: the library says what failed, the CLI names the
 * flag or command that fixes it.
 */
export function hintFor(error: KrillError): string | undefined {
  if (error instanceof TlsError)
    return "pass --ca-cert FILE with the registry's CA, or --insecure to skip verification";
  if (error instanceof AuthError && error.credentialsMissing) {
    return `pass --username with --password-stdin, set KRILL_USERNAME/KRILL_PASSWORD, or run krill login ${error.registry ?? 'HOST'}`;
  }
  if (error instanceof JournalError) return 'nothing more was changed; pass --journal FILE in a writable place';
  return undefined;
}

/** Exit statuses by error code (README "Exit codes"); every other failure is 1. */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = { USAGE: 2, LISTING_SUSPECT: 3, ABORTED: 130 };

function reportError(error: unknown, io: Io, verbose: boolean, suggestion?: string): number {
  if (error instanceof KrillError) {
    const hint = hintFor(error) ?? suggestion;
    io.err(`krill: ${escapeControl(error.message)}${hint ? `: ${escapeControl(hint)}` : ''}\n`);
    if (verbose) {
      let cause = error.cause;
      while (cause instanceof Error) {
        io.err(`krill:   caused by: ${escapeControl(cause.message)}\n`);
        cause = cause.cause;
      }
    }
    return EXIT_CODES[error.code] ?? 1;
  }
  // A bug, not a user error: say so, and show the stack only when asked.
  const message = error instanceof Error ? error.message : String(error);
  io.err(`krill: internal error: ${escapeControl(message)} (rerun with --verbose and report it)\n`);
  if (verbose && error instanceof Error && error.stack) io.err(`${error.stack}\n`);
  return 1;
}

/**
 * A run whose promise can never settle (something waits on itself: issue 25's request slot) lets
 * the event loop drain, and Node would exit 13 without a word. Say it is krill's bug instead.
 * Returns the call that marks the run finished.
 */
export function guardUnsettledRun(): () => void {
  let finished = false;
  process.on('beforeExit', () => {
    if (finished) return;
    writeSync(
      2,
      'krill: internal error: the run stopped with work still waiting on itself (rerun with --verbose and report it)\n',
    );
    process.exit(1);
  });
  return () => {
    finished = true;
  };
}

/** Process entry point: the only place krill calls process.exit. */
export async function main(argv: string[]): Promise<void> {
  // undici parses HTTP with llhttp compiled to WebAssembly. V8 first compiles it with its baseline
  // compiler (Liftoff), then re-compiles it optimised on a background thread, and process exit
  // waits for that compile: ~70 ms added to every run, more than the optimised parser ever saves
  // a CLI (measured: bench/EXPLANATIONS.md, "start-up"). Set before the first request compiles it;
  // the CLI only: a library must not change its host's V8 flags.
  setFlagsFromString('--liftoff-only');
  const finished = guardUnsettledRun();
  const controller = new AbortController();
  const interruption: Interruption = {};
  let signals = 0;
  let interrupted = false;
  const onSignal = () => {
    signals++;
    if (signals === 1 && interruption.graceful) {
      interruption.graceful();
      return;
    }
    if (interrupted) process.exit(130); // another Ctrl-C: stop now
    interrupted = true;
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `krill tags … | head`: the reader went away; that is not an error worth a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const code = await runCli(argv, defaultIo(), controller.signal, interruption);
  finished();
  // Let stdout drain before exiting: large --json output into a pipe is written asynchronously.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(interrupted ? 130 : code);
}
