import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { peer } from './registry.js';
import type { TestRegistry } from './registry.js';

/**
 * The Go peers built by scripts/build-peers.sh: a registry with the OCI 1.1 referrers API
 * (go-containerregistry's pkg/registry, test/peers/referrers-registry) and the clients krill is
 * measured against (crane, regctl, oras), run as processes the way users run them.
 */

export interface PeerRegistry extends Pick<TestRegistry, 'host' | 'url' | 'adminAuth' | 'dispatcher'> {
  stop(): Promise<void>;
}

/** go-containerregistry's in-memory registry with the referrers API, on a free port. */
export async function startReferrersRegistry(): Promise<PeerRegistry> {
  const child = spawn(peer('referrers-registry'), ['--addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const host = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!.trim());
    });
    child.once('exit', (code) => reject(new Error(`referrers-registry exited (${code}): ${stderr}`)));
  });
  const dispatcher = new Agent();
  return {
    host,
    url: `http://${host}`,
    adminAuth: () => undefined,
    dispatcher,
    async stop() {
      child.kill('SIGTERM');
      await dispatcher.close();
    },
  };
}

export interface PeerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a peer client (crane, regctl, oras) with its own HOME, so no user configuration leaks in. */
export function runPeer(name: string, args: string[], home = peerHome()): Promise<PeerResult> {
  return new Promise((resolve) => {
    execFile(
      peer(name),
      args,
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, COSIGN_PASSWORD: '' },
        timeout: 60_000,
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A fresh HOME for peer clients (regctl keeps its registry settings there). */
export function peerHome(): string {
  return mkdtempSync(join(tmpdir(), 'krill-peer-home-'));
}

/** Runs a peer and returns stdout, failing the test with the peer's stderr otherwise. */
export async function peerOut(name: string, args: string[], home?: string): Promise<string> {
  const res = await runPeer(name, args, home);
  if (res.code !== 0) throw new Error(`${name} ${args.join(' ')} failed (${res.code}): ${res.stderr.trim()}`);
  return res.stdout;
}
