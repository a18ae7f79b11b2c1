import { spawn } from 'node:child_process';

/** Whole processes timed under /usr/bin/time: wall time by our clock, peak RSS by time's. */

export interface Sample {
  seconds: number;
  rssMiB: number;
}
export interface Stats {
  median: number;
  min: number;
  max: number;
  rssMiB: number;
  runs: number;
}

/** A row of bench/RESULTS.md's main table: krill against a reference in the same run. */
export interface Row {
  metric: string;
  krill: Stats;
  reference: Stats;
  referenceName: string;
  /** 'ratio' = krill/reference must be ≤ target; 'speedup' = reference/krill must be ≥ target. */
  kind: 'ratio' | 'speedup';
  target: number;
  extra?: string;
}

/** Runs a command under /usr/bin/time; returns wall time (our clock) and max RSS. */
export function timed(cmd: string[], env: Record<string, string> = {}): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%M', ...cmd], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) return reject(new Error(`${cmd.join(' ')} exited ${code}: ${err.slice(-2000)}`));
      const rssKiB = Number(err.trim().split('\n').at(-1));
      resolve({ seconds, rssMiB: rssKiB / 1024 });
    });
  });
}

export async function measure(
  label: string,
  runs: number,
  prepare: () => Promise<void> | void,
  cmd: () => string[],
  env: () => Record<string, string> = () => ({}),
  warmUp = true,
): Promise<Stats> {
  const samples: Sample[] = [];
  for (let i = warmUp ? 0 : 1; i <= runs; i++) {
    await prepare();
    const sample = await timed(cmd(), env());
    if (i > 0) samples.push(sample); // run 0 is the warm-up
  }
  const times = samples.map((s) => s.seconds).sort((a, b) => a - b);
  const stats = {
    median: times[Math.floor(times.length / 2)]!,
    min: times[0]!,
    max: times.at(-1)!,
    rssMiB: Math.max(...samples.map((s) => s.rssMiB)),
    runs: samples.length,
  };
  process.stderr.write(
    `bench: ${label}: median ${stats.median.toFixed(3)} s (min ${stats.min.toFixed(3)}, max ${stats.max.toFixed(3)}), peak RSS ${stats.rssMiB.toFixed(0)} MiB\n`,
  );
  return stats;
}

export const fmt = (s: Stats) =>
  `${s.median.toFixed(3)} s (${s.min.toFixed(3)}–${s.max.toFixed(3)}), ${s.rssMiB.toFixed(0)} MiB`;
