import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseDuration } from '../duration.js';
import { UsageError } from '../errors.js';

/**
 * Defaults from `$XDG_CONFIG_HOME/krill/config.yaml` (default `~/.config/krill/config.yaml`), the
 * lowest precedence: flags, then environment variables, then this file. It holds no secrets (use
 * `krill login`), so `krill config` can show it whole.
 *
 *   registry: registry.example.com
 *   concurrency: 16
 *   timeout: 30s
 *   ca-cert: /etc/ssl/internal-ca.pem
 *   ledger: sqlite:/var/lib/krill/ledger.db
 */

export interface ConfigFile {
  path: string;
  registry?: string;
  concurrency?: number;
  /** Milliseconds. */
  timeout?: number;
  caCert?: string;
  /** `sqlite:PATH` or a postgres:// URL (its password belongs in PGPASSWORD or ~/.pgpass, not here). */
  ledger?: string;
}

const KEYS = ['registry', 'concurrency', 'timeout', 'ca-cert', 'ledger'];

export function configFilePath(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'krill', 'config.yaml');
}

/** The config file, or undefined when there is none. A malformed file is a usage error naming the line. */
export async function readConfigFile(env: NodeJS.ProcessEnv): Promise<ConfigFile | undefined> {
  const path = configFilePath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new UsageError(`cannot read ${path}: ${code ?? String(error)}`, { cause: error });
  }
  // The YAML parser loads only when there is a file (every command starts faster without it).
  const { LineCounter, isMap, isScalar, parseDocument } = await import('yaml');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const at = (offset: number | undefined) => (offset === undefined ? path : `${path}:${lines.linePos(offset).line}`);
  if (doc.errors.length > 0) throw new UsageError(`${path}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  if (doc.contents === null) return { path };
  if (!isMap(doc.contents)) throw new UsageError(`${path}: expected keys such as registry: and concurrency:`);
  const config: ConfigFile = { path };
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    const where = at(isScalar(pair.key) ? pair.key.range?.[0] : undefined);
    const value = isScalar(pair.value) ? pair.value.value : undefined;
    if (!KEYS.includes(key)) throw new UsageError(`${where}: unknown key "${key}" (expected ${KEYS.join(', ')})`);
    if (key === 'registry' || key === 'ca-cert' || key === 'ledger') {
      if (typeof value !== 'string' || value === '') throw new UsageError(`${where}: ${key} must be a string`);
      if (key === 'registry') config.registry = value;
      else if (key === 'ledger') config.ledger = value;
      else config.caCert = value;
    } else if (key === 'concurrency') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 256)
        throw new UsageError(`${where}: concurrency must be a whole number from 1 to 256`);
      config.concurrency = value;
    } else {
      try {
        config.timeout = parseDuration(String(value), 'timeout');
      } catch (error) {
        throw new UsageError(`${where}: ${(error as Error).message}`);
      }
    }
  }
  return config;
}
