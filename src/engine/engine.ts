import { Agent, request } from 'undici';
import { canonicalName } from './compare.js';
import type { Credentials } from '../auth/credentials.js';
import { EngineError, NetworkError, UsageError } from '../errors.js';
import type { Reference } from '../ref/reference.js';
import { parseReference } from '../ref/reference.js';

/**
 * A local Docker Engine (or podman's Docker-compatible service) through the Engine API: list
 * images with their repo digests, and pull. Found through DOCKER_HOST (`unix://` or `tcp://`),
 * default unix:///var/run/docker.sock.
 */

export interface LocalImage {
  id: string;
  created: string | null;
  /** Canonical `host/repo:tag` names. */
  tags: string[];
  /** Canonical `host/repo@digest` names: the manifest digest each was pulled with. */
  digests: string[];
}

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

function parseDockerHost(value: string): { base: string; socketPath?: string } {
  if (value.startsWith('unix://')) return { base: 'http://localhost', socketPath: value.slice('unix://'.length) };
  if (value.startsWith('tcp://')) return { base: `http://${value.slice('tcp://'.length)}` };
  if (value.startsWith('http://')) return { base: value };
  throw new UsageError(`unsupported DOCKER_HOST "${value}": use unix:///path/to/docker.sock or tcp://host:port`);
}

/** `host/repo:tag` with Docker Hub names made explicit, so local and registry names compare equal. */
export { canonicalName } from './compare.js';

function normalize(name: string): Reference | undefined {
  try {
    return parseReference(name);
  } catch {
    return undefined; // `<none>:<none>` and other names that are not references
  }
}

export class Engine {
  readonly #agent: Agent;
  readonly #base: string;

  constructor(readonly address: string) {
    const { base, socketPath } = parseDockerHost(address);
    this.#base = base;
    this.#agent = new Agent(socketPath ? { connect: { socketPath } } : {});
  }

  async #call(method: 'GET' | 'POST', path: string, headers: Record<string, string> = {}) {
    try {
      return await request(`${this.#base}${path}`, { method, headers, dispatcher: this.#agent });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new NetworkError(
        `no Docker engine answers at ${this.address} (${code}): start Docker or podman's API service, or set DOCKER_HOST`,
        { cause: error },
      );
    }
  }

  async ping(): Promise<void> {
    const res = await this.#call('GET', '/_ping');
    await res.body.dump();
    if (res.statusCode !== 200)
      throw new NetworkError(`the engine at ${this.address} answered /_ping with HTTP ${res.statusCode}`);
  }

  async listImages(): Promise<LocalImage[]> {
    // No `digests=` parameter: Docker always includes RepoDigests, and podman 4.3 answers an
    // empty body to `digests=true`.
    const res = await this.#call('GET', '/images/json');
    const text = await res.body.text();
    if (res.statusCode !== 200)
      throw new EngineError(`the engine at ${this.address} answered /images/json with HTTP ${res.statusCode}`);
    let body: Array<{ Id: string; Created?: number; RepoTags?: string[] | null; RepoDigests?: string[] | null }>;
    try {
      body = JSON.parse(text) as typeof body;
    } catch (cause) {
      throw new EngineError(`the engine at ${this.address} answered /images/json with something that is not JSON`, {
        cause,
      });
    }
    return body.map((image) => ({
      id: image.Id,
      created: image.Created ? new Date(image.Created * 1000).toISOString() : null,
      tags: (image.RepoTags ?? [])
        .map(normalize)
        .filter((r): r is Reference => r?.tag !== undefined)
        .map((r) => `${canonicalName(r)}:${r.tag}`),
      digests: (image.RepoDigests ?? [])
        .map(normalize)
        .filter((r): r is Reference => r?.digest !== undefined)
        .map((r) => `${canonicalName(r)}@${r.digest}`),
    }));
  }

  /** `POST /images/create`, credentials in X-Registry-Auth (see encodeRegistryAuth); fails on an error in the progress stream. */
  async pull(ref: Reference, tag: string, credentials: Credentials | undefined): Promise<void> {
    const headers: Record<string, string> = {};
    if (credentials) {
      const auth = {
        username: credentials.username,
        password: credentials.password,
        serveraddress: ref.registry.host,
        ...(credentials.identityToken ? { identitytoken: credentials.identityToken } : {}),
      };
      headers['x-registry-auth'] = encodeRegistryAuth(auth);
    }
    const image = ref.registry.host === 'docker.io' ? ref.repository : `${ref.registry.host}/${ref.repository}`;
    const res = await this.#call(
      'POST',
      `/images/create?fromImage=${encodeURIComponent(image)}&tag=${encodeURIComponent(tag)}`,
      headers,
    );
    const text = await res.body.text();
    const lastError = text
      .split('\n')
      .map((line) => {
        try {
          return JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
        } catch {
          return {};
        }
      })
      .find((m) => m.error || m.errorDetail);
    if (res.statusCode !== 200 || lastError) {
      const why = lastError?.errorDetail?.message ?? lastError?.error ?? text.slice(0, 200);
      throw new EngineError(`the engine at ${this.address} could not pull ${image}:${tag}: ${why.trim()}`);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/**
 * X-Registry-Auth as Docker Engine and podman decode it: base64url WITH `=` padding (moby's
 * `base64.URLEncoding`, podman likewise). Node's `base64url` drops the padding, which both reject
 * whenever the JSON length is not a multiple of 3.
 */
export function encodeRegistryAuth(auth: Record<string, string>): string {
  return Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
