import { InvalidResponseError, KrillError, UnsupportedError, isTemporary } from '../errors.js';
import { mapConcurrent } from '../http/limiter.js';
import type { Descriptor } from '../manifest/manifest.js';
import { findPlatform } from '../manifest/manifest.js';
import type { FetchedManifest } from '../registry/client.js';
import type { RegistryApi } from '../registry/api.js';
import { DigestCheck } from './digest-check.js';

/**
 * Copies one image between repositories of any two registries, keeping the manifest bytes so the
 * digest is the same at the destination. Blobs present at the destination are skipped; on the same
 * registry they are mounted across repositories; otherwise they stream from source to destination
 * (never a whole blob in memory) through a sha256 check. Children of an index go first, so the
 * destination never holds an index whose platforms are missing.
 */

export interface CopyEndpoint {
  client: RegistryApi;
  repository: string;
}

export interface CopyProgress {
  blobsDone: number;
  blobsTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface CopyOptions {
  /** Copy only this platform of an index (`os/arch[/variant]`). */
  platform?: string;
  concurrency?: number;
  onProgress?: (progress: CopyProgress) => void;
}

export interface CopyResult {
  digest: string;
  mediaType: string;
  blobsCopied: number;
  blobsMounted: number;
  blobsSkipped: number;
  bytesCopied: number;
}

/**
 * Failures worth restarting a blob transfer for: anything temporary, bytes that failed their digest
 * check (corrupted in transit), and a source stream cut mid-way (undici's plain socket error).
 */
function isTransient(error: unknown): boolean {
  return (
    isTemporary(error) ||
    error instanceof InvalidResponseError ||
    (error instanceof Error && !(error instanceof KrillError))
  );
}

/**
 * Blob transfers per destination client, shared by every copy: two tags sharing a layer (a sync,
 * copy --all-tags) must not upload it twice at once, which distribution 2.8 now and then answers
 * with 400 DIGEST_INVALID or a brief BLOB_UNKNOWN; and a copy whose HEAD found the blob missing
 * just before another copy finished placing it must not upload it again (nor HEAD it twice).
 */
interface Transfers {
  inFlight: Map<string, Promise<void>>;
  /** Blob → the sequence number of the transfer that placed it; forgotten when no copy is active. */
  placed: Map<string, number>;
  sequence: number;
  active: number;
}
const transfers = new WeakMap<RegistryApi, Transfers>();

function transfersTo(client: RegistryApi): Transfers {
  let state = transfers.get(client);
  if (!state) transfers.set(client, (state = { inFlight: new Map(), placed: new Map(), sequence: 0, active: 0 }));
  return state;
}

/**
 * Runs `start` unless a transfer of the same blob is in flight (then waits for that one) or one
 * finished since `since` (a sequence number taken before the caller's HEAD). True when it ran.
 */
async function sharedTransfer(
  state: Transfers,
  key: string,
  since: number,
  start: () => Promise<void>,
): Promise<boolean> {
  const pending = state.inFlight.get(key);
  if (pending) return pending.then(() => false);
  if ((state.placed.get(key) ?? -1) >= since) return false;
  const transfer = start().then(() => void state.placed.set(key, state.sequence++));
  state.inFlight.set(key, transfer);
  try {
    await transfer;
  } finally {
    state.inFlight.delete(key);
  }
  return true;
}

export async function copyImage(
  source: CopyEndpoint,
  reference: string,
  destination: CopyEndpoint,
  tags: string[],
  options: CopyOptions = {},
): Promise<CopyResult> {
  return new ImageCopy(source, destination, options).run(reference, tags);
}

/** One image's copy: its manifests depth-first, each blob once, progress and counters as it goes. */
class ImageCopy {
  readonly #result: CopyResult = {
    digest: '',
    mediaType: '',
    blobsCopied: 0,
    blobsMounted: 0,
    blobsSkipped: 0,
    bytesCopied: 0,
  };
  readonly #progress: CopyProgress = { blobsDone: 0, blobsTotal: 0, bytesDone: 0, bytesTotal: 0 };
  readonly #blobsSeen = new Map<string, Promise<void>>();
  readonly #concurrency: number;
  readonly #source: CopyEndpoint;
  readonly #destination: CopyEndpoint;
  readonly #options: CopyOptions;

  constructor(source: CopyEndpoint, destination: CopyEndpoint, options: CopyOptions) {
    this.#source = source;
    this.#destination = destination;
    this.#options = options;
    this.#concurrency = options.concurrency ?? 4;
  }

  async run(reference: string, tags: string[]): Promise<CopyResult> {
    const { client, repository } = this.#source;
    let root = await client.getManifest(repository, reference);
    if (this.#options.platform !== undefined && root.manifest.kind === 'index') {
      const where = `${client.host}/${repository}:${reference}`;
      root = await client.getManifest(repository, findPlatform(root.manifest, this.#options.platform, where).digest);
    }
    await this.#copyManifest(root, tags);
    this.#result.digest = root.digest;
    this.#result.mediaType = root.mediaType;
    return this.#result;
  }

  #report(): void {
    this.#options.onProgress?.({ ...this.#progress });
  }

  async #copyManifest(fetched: FetchedManifest, targets: string[], ancestors: readonly string[] = []): Promise<void> {
    const [source, destination] = [this.#source, this.#destination];
    const m = fetched.manifest;
    if (ancestors.includes(fetched.digest) || ancestors.length >= 8) {
      throw new InvalidResponseError(
        `${source.client.host}/${source.repository}: the manifest graph has a cycle or is nested too deep at ${fetched.digest}`,
      );
    }
    if (m.kind === 'index') {
      const path = [...ancestors, fetched.digest];
      await mapConcurrent(m.manifests, this.#concurrency, async (child) =>
        this.#copyManifest(await source.client.getManifest(source.repository, child.digest), [], path),
      );
    } else if (m.kind === 'image') {
      // Foreign layers (Windows base layers) carry `urls` and are not stored in registries.
      const blobs = [m.config, ...m.layers].filter((b) => !b.urls);
      await mapConcurrent(blobs, this.#concurrency, (blob) => this.#copyBlob(blob));
    } else {
      throw new UnsupportedError(
        `cannot copy ${fetched.digest}: unsupported manifest type ${fetched.mediaType || 'unknown'}`,
      );
    }
    for (const ref of targets.length > 0 ? targets : [fetched.digest]) {
      const digest = await destination.client.putManifest(
        destination.repository,
        ref,
        fetched.bytes,
        fetched.mediaType,
      );
      if (digest !== fetched.digest) {
        throw new InvalidResponseError(
          `${destination.client.host}/${destination.repository}: stored the manifest under ${digest}, not ${fetched.digest}`,
        );
      }
    }
  }

  /** Each blob once per image, however many manifests name it. */
  #copyBlob(blob: Descriptor): Promise<void> {
    let pending = this.#blobsSeen.get(blob.digest);
    if (!pending) {
      this.#progress.blobsTotal++;
      this.#progress.bytesTotal += blob.size;
      pending = this.#placeBlob(blob).then((counted) => {
        this.#progress.blobsDone++;
        if (!counted) this.#progress.bytesDone += blob.size;
        this.#report();
      });
      this.#blobsSeen.set(blob.digest, pending);
    }
    return pending;
  }

  /**
   * Skips a blob the destination has, else mounts it (same registry) or streams it, once across
   * every copy in flight. Resolves true when the streamed bytes were already counted as progress.
   */
  async #placeBlob(blob: Descriptor): Promise<boolean> {
    const destination = this.#destination;
    const result = this.#result;
    const state = transfersTo(destination.client);
    state.active++;
    try {
      const since = state.sequence;
      if ((await destination.client.blobSize(destination.repository, blob.digest)) !== undefined) {
        result.blobsSkipped++;
        return false;
      }
      return await this.#placeMissingBlob(blob, state, since);
    } finally {
      // Memory: a sync daemon copies for months; a later copy compares with its own `since` anyway.
      if (--state.active === 0) state.placed.clear();
    }
  }

  async #placeMissingBlob(blob: Descriptor, state: Transfers, since: number): Promise<boolean> {
    const [source, destination] = [this.#source, this.#destination];
    const result = this.#result;
    let streamed = false;
    const key = `${destination.repository}@${blob.digest}`;
    const ran = await sharedTransfer(state, key, since, async () => {
      const sameRegistry = source.client.host === destination.client.host;
      const location =
        sameRegistry && source.repository !== destination.repository
          ? await destination.client.mountBlob(destination.repository, blob.digest, source.repository)
          : undefined;
      if (location === 'mounted') {
        result.blobsMounted++;
        return;
      }
      await this.#transferBlob(blob, location);
      streamed = true;
      result.blobsCopied++;
      result.bytesCopied += blob.size;
    });
    if (!ran) result.blobsSkipped++; // another copy of this process transferred it
    return streamed;
  }

  /**
   * Streams one blob into an upload session. A stream cannot be replayed, so a transfer cut by the
   * network (or failing its digest check) is restarted whole, with a new session, a few times.
   */
  async #transferBlob(blob: Descriptor, firstLocation: URL | undefined): Promise<void> {
    const [source, destination] = [this.#source, this.#destination];
    let location = firstLocation;
    for (let attempt = 1; ; attempt++) {
      let done = 0;
      try {
        location ??= await destination.client.startUpload(destination.repository);
        const { body, size } = await source.client.openBlob(source.repository, blob.digest);
        const check = new DigestCheck(blob.digest, (n) => {
          done += n;
          this.#progress.bytesDone += n;
          this.#report();
        });
        body.on('error', (error) => check.destroy(error));
        await destination.client.finishUpload(
          destination.repository,
          location,
          blob.digest,
          body.pipe(check),
          size ?? blob.size,
        );
        return;
      } catch (error) {
        this.#progress.bytesDone -= done;
        if (attempt >= 3 || !isTransient(error)) throw error;
        location = undefined;
      }
    }
  }
}
