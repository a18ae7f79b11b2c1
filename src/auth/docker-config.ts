import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AuthError, UsageError } from '../errors.js';
import { configKeyHost, dockerConfigPath, helperServerUrl, runHelperProcess } from './credentials.js';

/**
 * `krill login` / `krill logout`: stores credentials where docker (and krill) read them —
 * `credHelpers[host]` or `credsStore` through `docker-credential-NAME store|erase`, else
 * `auths[host].auth` in config.json — keeping every other key of the file as it is. Written to a
 * temporary file with mode 0600 and renamed into place, so a crash never leaves half a config.
 */

type Config = Record<string, unknown> & {
  auths?: Record<string, unknown>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
};

async function readConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(
      `cannot read docker config ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  if (text.trim() === '') return {};
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) return doc as Config;
  } catch {
    // reported below
  }
  throw new UsageError(`docker config ${path} is not a JSON object: fix or move it before krill login writes to it`);
}

async function writeConfig(path: string, config: Config): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

function helperFor(config: Config, host: string): string | undefined {
  const entry = Object.entries(config.credHelpers ?? {}).find(([key]) => configKeyHost(key) === host);
  return entry?.[1] ?? config.credsStore;
}

async function runHelper(helper: string, action: 'store' | 'erase', input: string, env: NodeJS.ProcessEnv) {
  const { code } = await runHelperProcess(helper, action, input, env);
  if (code !== 0) throw new AuthError(`credential helper docker-credential-${helper} ${action} failed (exit ${code})`);
}

/** Stores credentials for `host`; returns where they went, for the message. */
export async function storeCredentials(
  host: string,
  username: string,
  password: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const path = dockerConfigPath(env);
  const config = await readConfig(path);
  const key = helperServerUrl(host);
  const helper = helperFor(config, host);
  const auths = { ...(config.auths ?? {}) };
  for (const existing of Object.keys(auths)) if (configKeyHost(existing) === host) delete auths[existing];
  if (helper) {
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: password }), env);
    auths[key] = {}; // what docker writes next to a helper: the host is known, the secret is not here
  } else {
    auths[key] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
  }
  await writeConfig(path, { ...config, auths });
  return helper ? `credential helper docker-credential-${helper}` : path;
}

/** Removes the credentials of `host`; false when there were none. */
export async function eraseCredentials(host: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const path = dockerConfigPath(env);
  const config = await readConfig(path);
  const helper = helperFor(config, host);
  if (helper) await runHelper(helper, 'erase', helperServerUrl(host), env);
  const auths = { ...(config.auths ?? {}) };
  const keys = Object.keys(auths).filter((k) => configKeyHost(k) === host);
  for (const key of keys) delete auths[key];
  if (keys.length > 0) await writeConfig(path, { ...config, auths });
  return keys.length > 0 || helper !== undefined;
}
