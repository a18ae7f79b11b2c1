import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AuthError, UsageError } from '../errors.js';
import { DOCKER_HUB, canonicalHost } from '../ref/reference.js';

/**
 * Where credentials come from, highest first: flags, environment, docker config.json
 * (credHelpers[host], then credsStore, then auths[host].auth), then anonymous.
 * Flags beat env (Plankton let env win, which surprised CI users).
 */

export interface Credentials {
  username: string;
  password: string;
  /** docker config `identitytoken` / a helper's `<token>` user: an OAuth2 refresh token. */
  identityToken?: string;
  /** Where they came from, for messages: never the secret itself. */
  source: string;
  /**
   * The docker config could not be read (malformed JSON): like docker, krill goes on without it and
   * raises this only when the registry actually asks for credentials.
   */
  unusable?: UsageError;
}

export interface CredentialOptions {
  username?: string | undefined;
  password?: string | undefined;
  env?: NodeJS.ProcessEnv;
  dockerConfigDir?: string | undefined;
  /** Skip KRILL_USERNAME and friends: they belong to another registry (see CliContext.client). */
  ignoreEnvCredentials?: boolean;
}

const ENV_PAIRS: Array<[string, string]> = [
  ['KRILL_USERNAME', 'KRILL_PASSWORD'],
  ['REGISTRY_CLI_USERNAME', 'REGISTRY_CLI_PASSWORD'], // Plankton
  ['REGISTRY_USER', 'REGISTRY_PASSWORD'], // docker-registry-util
];

/** Whether the environment holds a password of one of the credential pairs above. */
export function hasEnvPassword(env: NodeJS.ProcessEnv): boolean {
  return ENV_PAIRS.some(([, passVar]) => Boolean(env[passVar]));
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/**
 * Docker stores Docker Hub under its v1 URL; other hosts are stored bare or as URLs. Like docker's
 * ConvertToHostname, the key is cut at the first `/` after the scheme. Tools have written IPv6
 * registries without brackets (`https://::1:6555/v2/`): a trailing `:PORT` after a valid IPv6
 * address is read as the port, so the key matches `[::1]:6555`.
 */
export function configKeyHost(key: string): string {
  // Stryker disable next-line Regex: equivalent for keys that are hosts or URLs (a scheme can only come first).
  const stripped = key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!;
  // Bracketed or a name: neither is an IPv6 address as a whole, nor before its last colon.
  const port = /^(.*):(\d{1,5})$/.exec(stripped);
  if (port && isIPv6(port[1]!)) return `[${port[1]!.toLowerCase()}]:${port[2]}`;
  if (isIPv6(stripped)) return `[${stripped.toLowerCase()}]`;
  return canonicalHost(stripped);
}

/** The server URL docker passes to credential helpers for this host. */
export function helperServerUrl(host: string): string {
  return host === DOCKER_HUB ? 'https://index.docker.io/v1/' : host;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv, dir?: string): string {
  return join(dir ?? env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

async function readDockerConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    // Missing, or a directory (an optional Kubernetes secret mount): no credentials there, as docker.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR') return undefined;
    throw new UsageError(`cannot read docker config ${path}: ${(error as Error).message}`, { cause: error });
  }
  // Empty or whitespace only: what `echo "$DOCKER_AUTH_CONFIG" > config.json` writes when the
  // variable is unset in CI. docker treats it as no configuration; so does krill.
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (cause) {
    throw new UsageError(`docker config ${path} is not valid JSON: fix or move it, or pass --username`, { cause });
  }
}

/**
 * Runs `docker-credential-NAME ACTION` with `input` on stdin (docker-credential-helpers' protocol:
 * `get` and `erase` take the server URL, `store` a JSON object).
 */
export function runHelperProcess(
  helper: string,
  action: 'get' | 'store' | 'erase',
  input: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const program = `docker-credential-${helper}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', (error) =>
      reject(
        new AuthError(
          `credential helper ${program} could not be run (${(error as NodeJS.ErrnoException).code ?? error.message}): install it or remove it from docker config.json`,
          { cause: error },
        ),
      ),
    );
    child.on('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    // A helper that exits without reading its input (locked keychain, "not found") closes the pipe:
    // the EPIPE is not an error of krill's, its exit code says what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** Runs `docker-credential-NAME get` the way docker does: server URL on stdin, JSON on stdout. */
export async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv,
): Promise<Credentials | undefined> {
  const program = `docker-credential-${helper}`;
  const { code, stdout, stderr } = await runHelperProcess(helper, 'get', serverUrl, env);
  if (code !== 0) {
    // Helpers report a missing entry with this text (docker-credential-helpers' ErrCredentialsNotFound).
    if (/credentials not found/i.test(stdout + stderr)) return undefined;
    throw new AuthError(
      `credential helper ${program} failed for ${serverUrl} (exit ${code}): check that you are logged in (krill login or docker login)`,
    );
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
  } catch (cause) {
    throw new AuthError(`credential helper ${program} answered something that is not JSON`, { cause });
  }
  if (!parsed.Secret) return undefined;
  if (parsed.Username === '<token>') {
    return { username: '', password: '', identityToken: parsed.Secret, source: `credential helper ${helper}` };
  }
  return { username: parsed.Username ?? '', password: parsed.Secret, source: `credential helper ${helper}` };
}

function decodeAuth(auth: string): { username: string; password: string } | undefined {
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Resolves credentials for one registry host (canonical, e.g. `docker.io` or `localhost:5000`). */
export async function resolveCredentials(
  host: string,
  options: CredentialOptions = {},
): Promise<Credentials | undefined> {
  const env = options.env ?? process.env;
  if (options.username !== undefined || options.password !== undefined) {
    if (options.username === undefined || options.password === undefined) {
      throw new UsageError('--username and --password (or --password-stdin) must be given together');
    }
    return { username: options.username, password: options.password, source: 'command-line flags' };
  }
  for (const [userVar, passVar] of options.ignoreEnvCredentials ? [] : ENV_PAIRS) {
    const username = env[userVar];
    const password = env[passVar];
    if (username && password) return { username, password, source: `environment ${userVar}/${passVar}` };
  }
  const path = dockerConfigPath(env, options.dockerConfigDir);
  let config: DockerConfig | undefined;
  try {
    config = await readDockerConfig(path);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return { username: '', password: '', source: `docker config ${path}`, unusable: error };
  }
  if (!config) return undefined;
  const wanted = canonicalHost(host);
  const helperEntry = Object.entries(config.credHelpers ?? {}).find(([key]) => configKeyHost(key) === wanted);
  if (helperEntry) return runCredentialHelper(helperEntry[1], helperServerUrl(wanted), env);
  if (config.credsStore) {
    const fromStore = await runCredentialHelper(config.credsStore, helperServerUrl(wanted), env);
    if (fromStore) return fromStore;
  }
  const authEntry = Object.entries(config.auths ?? {}).find(([key]) => configKeyHost(key) === wanted)?.[1];
  if (!authEntry) return undefined;
  const source = `docker config ${path}`;
  if (authEntry.identitytoken) return { username: '', password: '', identityToken: authEntry.identitytoken, source };
  if (authEntry.auth) {
    const decoded = decodeAuth(authEntry.auth);
    if (!decoded)
      throw new UsageError(
        `docker config ${path}: the "auth" entry for ${host} is not base64 of user:password; run krill login (or docker login) again`,
      );
    return { ...decoded, source };
  }
  if (authEntry.username && authEntry.password)
    return { username: authEntry.username, password: authEntry.password, source };
  return undefined;
}
