import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/krill.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A clean environment: no credentials or registry variables leak in from the developer's shell. */
export function isolatedEnv(extra: Record<string, string> = {}): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), 'krill-home-'));
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_STATE_HOME: join(home, 'state'),
    DOCKER_CONFIG: join(home, 'docker'),
    // Retries back off from 10 ms instead of 250 ms: the same retries, less waiting.
    KRILL_RETRY_DELAY_MS: '10',
    ...extra,
  };
}

/**
 * Runs the CLI. In process by default (runCli, the code bin/krill.js runs, with injected stdio and
 * environment): the same exit codes and output, without a node start per call. Tests of
 * process-level behaviour (signals, the bin shim) use `krillProcess`.
 */
export async function krill(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<CliResult> {
  const { runKrill } = await import('./run-cli.js');
  return runKrill(args, options);
}

/** Runs the CLI as a user would: a separate node process on bin/krill.js. */
export function krillProcess(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<CliResult> {
  return runProcess(process.execPath, [BIN, ...args], {
    env: options.env ?? isolatedEnv(),
    stdin: options.stdin ?? '',
  });
}

/** Runs any program without blocking the event loop (test servers in this process keep answering). */
export function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}
