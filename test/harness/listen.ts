import { request } from 'undici';
import type { CliResult } from './cli.js';
import { runKrill } from './run-cli.js';

export interface Listener {
  url: string;
  /** The CLI's SIGTERM path: resolves with the command's result. */
  stop(): Promise<CliResult>;
}

/** `krill listen` in process (runCli) on `port`, ready once its /healthz answers. */
export async function startListen(
  env: Record<string, string>,
  port: number,
  secret: string,
  ...flags: string[]
): Promise<Listener> {
  const controller = new AbortController();
  const run = runKrill(['listen', '--addr', `127.0.0.1:${port}`, ...flags], {
    env: { ...env, KRILL_LEDGER_SECRET: secret },
    signal: controller.signal,
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 400; i++) {
    const up = await request(`${url}/healthz`)
      .then(async (r) => (await r.body.dump(), r.statusCode === 200))
      .catch(() => false);
    if (up)
      return {
        url,
        stop: () => {
          controller.abort();
          return run;
        },
      };
    const early = await Promise.race([run, new Promise((r) => setTimeout(r, 50))]);
    if (early) throw new Error(`krill listen exited: ${JSON.stringify(early)}`);
  }
  throw new Error('krill listen did not start');
}
