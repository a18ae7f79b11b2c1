import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { readFileSync } from 'node:fs';
import type { Pki } from './pki.js';
import { makePki } from './pki.js';
import type { TokenIssuer } from './token-issuer.js';
import { ISSUER, SERVICE, startTokenIssuer } from './token-issuer.js';

/**
 * Starts a real registry on 127.0.0.1 with a free port and a temp storage dir, in one of the modes
 * the tests need: Debian's docker-registry (distribution 2.8), or distribution 3 built from the Go
 * module proxy (scripts/build-peers.sh). KRILL_TEST_REGISTRY=3 makes distribution 3 the default:
 * the peers suite runs the e2e suites again that way (the matrix lives here, not in copied tests).
 */

export type AuthMode = 'none' | 'basic' | 'token';
export type Implementation = 'distribution-2.8' | 'distribution-3';

/** Where scripts/build-peers.sh puts the Go peers (registry 3, crane, regctl, oras…). */
export const PEERS_DIR = process.env.KRILL_PEERS_DIR || join(homedir(), '.cache', 'krill-peers');

/** The implementation tests get unless they ask: KRILL_TEST_REGISTRY=3 for distribution 3. */
export const DEFAULT_IMPLEMENTATION: Implementation =
  process.env.KRILL_TEST_REGISTRY === '3' ? 'distribution-3' : 'distribution-2.8';

/** A Go peer's path, or an error saying how to build it (never a silent skip). */
export function peer(name: string): string {
  const path = join(PEERS_DIR, name);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`test peer ${name} is not built in ${PEERS_DIR}: run bash scripts/build-peers.sh`);
  }
  return path;
}

export interface RegistryOptions {
  auth?: AuthMode;
  tls?: boolean;
  /** Require a client certificate signed by the test CA. */
  clientCa?: boolean;
  deleteEnabled?: boolean;
  tokenExpiresIn?: number;
  /** More htpasswd users (basic mode), e.g. passwords of several lengths. */
  extraUsers?: Record<string, string>;
  /** Storage on disk even where /dev/shm exists (the benchmark: figures comparable run to run). */
  onDisk?: boolean;
  /** Which server (default DEFAULT_IMPLEMENTATION). */
  implementation?: Implementation;
  /** Send notifications (distribution's `notifications.endpoints`) to `url` with a bearer secret. */
  notify?: { url: string; secret: string };
  /** Another registry's storage directory: two processes on one storage (a replicated registry). */
  storageDir?: string;
}

export const BASIC_USER = 'alice';
export const BASIC_PASSWORD = 'alice-secret-pw';

export interface TestRegistry {
  implementation: Implementation;
  /** host:port, as a user types it. */
  host: string;
  /** Base URL with scheme. */
  url: string;
  dir: string;
  configPath: string;
  storageDir: string;
  pki?: Pki;
  issuer?: TokenIssuer;
  /** Authorization header value with every permission on `repository` (for test setup and checks). */
  adminAuth(repository?: string): string | undefined;
  /** undici dispatcher trusting the test CA. */
  dispatcher: Agent;
  /** Stops the server and removes its files (`keepStorage`: not the storage, another server takes it over). */
  stop(options?: { keepStorage?: boolean }): Promise<void>;
  /** Stops the server, runs `docker-registry garbage-collect`, starts it again on the same port. */
  garbageCollect(): Promise<string>;
  /** Stops the server, runs `during` (e.g. to restore its storage), starts it again on the same port. */
  restart(during?: () => void | Promise<void>): Promise<void>;
}

/**
 * A free port outside the kernel's ephemeral range (32768-60999 on Linux): servers that listen on
 * port 0 can then never take a registry's port while it restarts (garbage collection).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
}

function yaml(value: unknown, indent = ''): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) =>
      typeof v === 'object' && v !== null && !Array.isArray(v)
        ? `\n${indent}${k}:${yaml(v, `${indent}  `)}`
        : `\n${indent}${k}: ${JSON.stringify(v)}`,
    )
    .join('');
}

/**
 * Registry storage in memory when the machine has /dev/shm: the server behaves the same, and the
 * suite does not wait on the disk (most of a seeding push is the registry writing small files).
 */
function storageRoot(onDisk: boolean | undefined): string {
  if (onDisk) return tmpdir();
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(storageRoot(options.onDisk), 'krill-registry-'));
  const storageDir = options.storageDir ?? join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const pki = options.tls ? makePki(dir) : undefined;
  const issuer =
    options.auth === 'token'
      ? await startTokenIssuer(dir, options.tokenExpiresIn ? { expiresIn: options.tokenExpiresIn } : {})
      : undefined;

  // Every answer carries this header, so readiness checks know they reached this very server.
  const identity = `${process.pid}-${port}-${Date.now()}`;
  const http: Record<string, unknown> = {
    addr: host,
    secret: 'krill-test-secret',
    headers: { 'X-Krill-Test': [identity] },
  };
  if (pki) {
    http.tls = {
      certificate: pki.serverCert,
      key: pki.serverKey,
      ...(options.clientCa ? { clientcas: [pki.caCert] } : {}),
    };
  }
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: storageDir },
      delete: { enabled: options.deleteEnabled ?? true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http,
  };
  if (options.notify) {
    // Short timeout and backoff: a listener that is down is retried within the test's time.
    config.notifications = {
      endpoints: [
        {
          name: 'krill',
          url: options.notify.url,
          headers: { Authorization: [`Bearer ${options.notify.secret}`] },
          timeout: '2s',
          threshold: 3,
          backoff: '200ms',
        },
      ],
    };
  }
  if (options.auth === 'basic') {
    const htpasswd = join(dir, 'htpasswd');
    const users = { [BASIC_USER]: BASIC_PASSWORD, ...options.extraUsers };
    writeFileSync(
      htpasswd,
      Object.entries(users)
        .map(([user, password]) => execFileSync('htpasswd', ['-Bbn', user, password]).toString().trim())
        .join('\n') + '\n',
    );
    config.auth = { htpasswd: { realm: 'krill-test', path: htpasswd } };
  } else if (issuer) {
    config.auth = { token: { realm: issuer.url, service: SERVICE, issuer: ISSUER, rootcertbundle: issuer.certPath } };
  }
  const configPath = join(dir, 'config.yml');
  // YAML is a superset of JSON scalars, so JSON.stringify'd values are valid YAML.
  writeFileSync(configPath, yaml(config).trimStart() + '\n');

  const dispatcher = new Agent({
    connect: pki
      ? {
          ca: readFileSync(pki.caCert),
          ...(options.clientCa ? { cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) } : {}),
        }
      : {},
  });
  const url = `${pki ? 'https' : 'http'}://${host}`;
  let child: ChildProcess | undefined;
  let stderr = '';

  const implementation = options.implementation ?? DEFAULT_IMPLEMENTATION;
  const binary = implementation === 'distribution-3' ? peer('registry') : 'docker-registry';
  const launch = async () => {
    stderr = '';
    child = spawn(binary, ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const res = await request(`${url}/v2/`, { dispatcher });
        await res.body.dump();
        if ((res.statusCode === 200 || res.statusCode === 401) && res.headers['x-krill-test'] === identity) return;
      } catch {
        // not up yet
      }
      if (child.exitCode !== null) throw new Error(`${binary} exited (${child.exitCode}): ${stderr.trim()}`);
      if (Date.now() > deadline) throw new Error(`${binary} did not start on ${host}: ${stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const halt = async () => {
    const running = child;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
    });
  };
  await launch();

  return {
    implementation,
    host,
    url,
    dir,
    configPath,
    storageDir,
    ...(pki ? { pki } : {}),
    ...(issuer ? { issuer } : {}),
    dispatcher,
    adminAuth(repository) {
      if (options.auth === 'basic') return `Basic ${Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64')}`;
      if (issuer) {
        const access: Array<{ type: string; name: string; actions: string[] }> = [
          { type: 'registry', name: 'catalog', actions: ['*'] },
        ];
        if (repository) access.push({ type: 'repository', name: repository, actions: ['pull', 'push', 'delete'] });
        return `Bearer ${issuer.mint(access)}`;
      }
      return undefined;
    },
    async stop(stopOptions = {}) {
      await halt();
      await issuer?.stop();
      await dispatcher.close();
      if (stopOptions.keepStorage || options.storageDir) return;
      // Big benchmark registries hold tens of thousands of files: remove them in the background.
      spawn('rm', ['-rf', dir], { detached: true, stdio: 'ignore' }).unref();
    },
    async restart(during) {
      await halt();
      await during?.();
      await launch();
    },
    async garbageCollect() {
      await halt();
      const out = execFileSync(binary, ['garbage-collect', configPath], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      await launch();
      return out;
    },
  };
}

/** Bytes of every blob in the registry's storage (what garbage collection frees is the difference). */
export function blobBytes(storageDir: string): number {
  const root = join(storageDir, 'docker/registry/v2/blobs/sha256');
  let total = 0;
  let prefixes: string[] = [];
  try {
    prefixes = readdirSync(root);
  } catch {
    return 0;
  }
  for (const prefix of prefixes) {
    for (const hex of readdirSync(join(root, prefix))) {
      try {
        total += statSync(join(root, prefix, hex, 'data')).size;
      } catch {
        // a directory left without data
      }
    }
  }
  return total;
}
