import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { ACCEPT_ALL, Pusher, buildImage } from '../test/harness/images.js';
import { startPostgres } from '../test/harness/postgres.js';
import { freePort, startRegistry } from '../test/harness/registry.js';

/**
 * The ledger's ingest, side by side with what the registry can emit:
 *   - distribution 2.8 serving manifest GETs (16 clients) and notifying a sink that answers at once:
 *     the registry's own ceiling of events per second;
 *   - the same with `krill listen` as the sink (SQLite on disk, then PostgreSQL with fsync on);
 *   - a load generator posting one event per request (as distribution does) over 32 connections
 *     straight at `krill listen`: the listener's capacity, with its peak RSS.
 * `node bench/.work/build/bench/ledger.js` prints the section; `npm run bench` appends it to RESULTS.md.
 */

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const KRILL = join(ROOT, 'bin/krill.js');
const SECRET = 'bench-ledger-secret-0123456789abcdef';
const PULLS = Number(process.env.BENCH_LEDGER_PULLS ?? 4000);
const POSTS = Number(process.env.BENCH_LEDGER_POSTS ?? 20000);

interface Measured {
  label: string;
  eventsPerSecond: number;
  rssMiB?: number;
}

async function pump(count: number, concurrency: number, one: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await one(next++);
    }),
  );
}

/** A sink that answers 200 at once and counts pull events. */
async function nullSink(): Promise<{ url: string; pulls: () => number; close: () => void }> {
  let pulls = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      pulls += (body.match(/"action":\s*"pull"/g) ?? []).length;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/events`, pulls: () => pulls, close: () => server.close() };
}

/** `krill listen` as its own process; `rss()` reads its peak RSS (VmHWM) from /proc. */
async function startListen(ledger: string): Promise<{ url: string; rss: () => number; stop: () => Promise<void> }> {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'krill-bench-listen-'));
  const child = spawn('node', [KRILL, 'listen', '--addr', `127.0.0.1:${port}`, '--ledger', ledger], {
    env: { ...process.env, KRILL_LEDGER_SECRET: SECRET, XDG_STATE_HOME: state, HOME: state },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  for (let i = 0; !stderr.includes('listening on'); i++) {
    if (child.exitCode !== null || i > 200) throw new Error(`krill listen did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}/events`,
    rss: () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Manifest GETs at a notifying registry until `delivered()` reaches the count: events per second. */
async function throughRegistry(label: string, sink: string, delivered: () => Promise<number>): Promise<Measured> {
  const registry = await startRegistry({ onDisk: true, notify: { url: sink, secret: SECRET } });
  const agent = new Agent({ connections: 16 });
  try {
    await new Pusher(registry).push('bench/ledger', buildImage({ layers: ['ledger bench'] }), 'v1');
    const before = await delivered();
    const started = process.hrtime.bigint();
    await pump(PULLS, 16, async () => {
      const res = await request(`${registry.url}/v2/bench/ledger/manifests/v1`, {
        headers: { accept: ACCEPT_ALL, 'user-agent': 'containerd/1.7.2' },
        dispatcher: agent,
      });
      await res.body.dump();
    });
    for (let i = 0; (await delivered()) - before < PULLS; i++) {
      if (i > 6000) throw new Error(`${label}: events still missing after 10 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { label, eventsPerSecond: PULLS / seconds };
  } finally {
    await agent.close();
    await registry.stop();
  }
}

/** One event per POST over 32 connections straight at the listener. */
async function direct(label: string, url: string, rss: () => number): Promise<Measured> {
  const agent = new Agent({ connections: 32 });
  const started = process.hrtime.bigint();
  await pump(POSTS, 32, async (i) => {
    const event = {
      id: `bench-${label}-${i}`,
      timestamp: new Date().toISOString(),
      action: 'pull',
      target: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${(i % 500).toString(16).padStart(64, '0')}`,
        repository: `bench/repo-${i % 50}`,
        tag: 'v1',
      },
      request: { method: 'GET', useragent: 'containerd/1.7.2', host: 'registry.bench' },
      source: { instanceID: 'bench' },
    };
    const res = await request(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [event] }),
      dispatcher: agent,
    });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`${label}: the listener answered ${res.statusCode}`);
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await agent.close();
  return { label, eventsPerSecond: POSTS / seconds, rssMiB: rss() };
}

/** Events stored, read the way `krill ledger status --json` reads them. */
async function storedEvents(ledger: string): Promise<number> {
  const { openLedger, parseLedgerSpec } = await import('../src/ledger/open.js');
  const store = await openLedger(parseLedgerSpec(ledger, process.env));
  try {
    return (await store.status()).registries.reduce((n, r) => n + r.events, 0);
  } finally {
    await store.close();
  }
}

export async function benchLedger(): Promise<string[]> {
  const results: Measured[] = [];
  const sink = await nullSink();
  try {
    results.push(
      await throughRegistry('registry → a sink that answers at once (the registry’s ceiling)', sink.url, async () =>
        sink.pulls(),
      ),
    );
  } finally {
    sink.close();
  }
  const postgres = await startPostgres({ fsync: true });
  try {
    const ledgers = [
      ['SQLite on disk', `sqlite:${join(mkdtempSync(join(tmpdir(), 'krill-bench-ledger-')), 'ledger.db')}`],
      ['PostgreSQL, fsync on', postgres.url],
    ] as const;
    for (const [name, ledger] of ledgers) {
      const listener = await startListen(ledger);
      try {
        const viaRegistry = await throughRegistry(`registry → krill listen (${name})`, listener.url, () =>
          storedEvents(ledger),
        );
        results.push({ ...viaRegistry, rssMiB: listener.rss() });
        results.push(await direct(`32 connections → krill listen (${name})`, listener.url, listener.rss));
      } finally {
        await listener.stop();
      }
    }
  } finally {
    await postgres.stop();
  }
  for (const r of results) process.stderr.write(`bench: ${r.label}: ${r.eventsPerSecond.toFixed(0)} events/s\n`);
  const ceiling = results[0]!.eventsPerSecond;
  return [
    '## The ledger: events ingested per second',
    '',
    `Registry rows: ${PULLS} manifest GETs by 16 clients at distribution 2.8 (storage on disk), each notified as one event; the time runs until the sink holds them all. Direct rows: ${POSTS} POSTs of one event each (as distribution sends them) over 32 connections. Goal: the listener ingests more than the registry can emit.`,
    '',
    '| path | events/s | listener peak RSS | vs the registry’s ceiling |',
    '|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.label} | ${r.eventsPerSecond.toFixed(0)} | ${r.rssMiB === undefined ? '-' : `${r.rssMiB.toFixed(0)} MiB`} | ${(r.eventsPerSecond / ceiling).toFixed(2)}× |`,
    ),
    '',
  ];
}

if (process.argv[1]?.endsWith('ledger.js')) process.stdout.write(`${(await benchLedger()).join('\n')}\n`);
