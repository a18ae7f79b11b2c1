import { runCli } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/context.js';
import { freePort } from './registry.js';

/** `krill serve` in process (runCli), with the URL and token it prints read as they appear. */
export async function startServe(
  args: string[],
  env: Record<string, string>,
): Promise<{ url: string; token: string; stderr: () => string; stop: () => Promise<number> }> {
  const port = await freePort();
  let stderr = '';
  const controller = new AbortController();
  const io: Io = {
    out: () => {},
    err: (text) => void (stderr += text),
    readStdin: async () => '',
    prompt: async () => '',
    promptSecret: async () => '',
    stdoutIsTty: false,
    stderrIsTty: false,
    stdinIsTty: false,
    env,
  };
  const run = runCli(['serve', ...args, '--addr', `127.0.0.1:${port}`], io, controller.signal);
  for (let i = 0; !/\?token=([0-9a-f]+)/.test(stderr); i++) {
    const done = await Promise.race([run, new Promise((r) => setTimeout(r, 20, 'waiting'))]);
    if (done !== 'waiting' || i > 500) throw new Error(`krill serve did not start: ${stderr}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    token: /\?token=([0-9a-f]+)/.exec(stderr)![1]!,
    stderr: () => stderr,
    stop: async () => {
      controller.abort();
      return run;
    },
  };
}
