import { runCli } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/context.js';
import type { CliResult } from './cli.js';
import { isolatedEnv } from './cli.js';

/**
 * The CLI in process: the same `runCli` that bin/krill.js runs, with stdout, stderr, stdin and the
 * environment injected. Milliseconds instead of a node start per case; exit codes, messages and
 * output are the real ones (main() only adds process.exit and the signal handlers).
 */
export async function runKrill(
  args: string[],
  options: {
    env?: Record<string, string>;
    stdin?: string;
    signal?: AbortSignal;
    /** A terminal on stdin: what the user types at a hidden prompt (each prompt is recorded). */
    tty?: { secret: string; prompts?: string[] };
  } = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    out: (text) => void (stdout += typeof text === 'string' ? text : Buffer.from(text).toString('utf8')),
    err: (text) => void (stderr += text),
    readStdin: async () => options.stdin ?? '',
    prompt: async () => '',
    promptSecret: async (question) => {
      options.tty?.prompts?.push(question);
      return options.tty?.secret ?? '';
    },
    stdoutIsTty: false,
    stderrIsTty: false,
    stdinIsTty: options.tty !== undefined,
    env: options.env ?? isolatedEnv(),
  };
  const code = await runCli(args, io, options.signal);
  return { code, stdout, stderr };
}

/** An Io that looks like an interactive terminal (every stream a TTY), for terminal-only behaviour. */
export function terminalIo(overrides: Partial<Io> = {}): Io {
  return {
    out: () => {},
    err: () => {},
    readStdin: async () => '',
    prompt: async () => '',
    promptSecret: async () => '',
    stdoutIsTty: true,
    stderrIsTty: true,
    stdinIsTty: true,
    env: isolatedEnv(),
    ...overrides,
  };
}
