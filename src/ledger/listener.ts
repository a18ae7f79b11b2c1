import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { listenOn } from '../listen-on.js';
import type { Logger } from '../logger.js';
import { sameSecret } from '../secret.js';
import type { LedgerEvent, PullFilter } from './events.js';
import { parseNotification } from './events.js';
import type { LedgerStore } from './store.js';

/**
 * `krill listen`: the HTTP endpoint a registry's `notifications.endpoints` entry posts to.
 *
 * distribution counts any 2xx/3xx as delivered and retries everything else with backoff (its
 * queue is in memory, so events are lost only if the registry restarts). Hence: a request is
 * answered 200 only after its events are committed; a store that fails or a queue that is full
 * answers 503 so the registry retries later; a request the registry could never fix (wrong
 * secret, not JSON, too big) gets a 4xx. Retries and replicas repeat event ids: the store ignores
 * an id it has. Concurrent requests are committed together (group commit), so a slow disk costs
 * one sync per batch, not per event.
 */

export interface ListenerOptions {
  store: LedgerStore;
  /** The shared secret: the request's `Authorization` must be `Bearer SECRET` (or the bare secret). */
  secret: string;
  /** Record events under this registry host; default: each event's `request.host`. */
  registry?: string;
  filter: PullFilter;
  logger: Logger;
  /** Largest request body (default 1 MiB; distribution sends one event of about 1 KiB). */
  maxBody?: number;
  /** Most events waiting for a commit before new requests get 503 (default 10,000). */
  maxPending?: number;
}

export interface ListenerCounts {
  requests: number;
  stored: number;
  duplicates: number;
  rejected: number;
  refused: number;
}

const EVENTS_PATH = '/events';
const DEFAULT_MAX_BODY = 1 << 20;
const DEFAULT_MAX_PENDING = 10_000;

interface Pending {
  events: LedgerEvent[];
  done: (error?: unknown) => void;
}

export class LedgerListener {
  readonly #options: ListenerOptions;
  readonly #server: Server;
  #queue: Pending[] = [];
  #queued = 0;
  #flushing: Promise<void> | undefined;
  readonly counts: ListenerCounts = { requests: 0, stored: 0, duplicates: 0, rejected: 0, refused: 0 };

  constructor(options: ListenerOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        // A connection reset mid-body: nothing was stored, nothing to answer.
        if (!res.headersSent) res.writeHead(400);
        res.end();
      });
    });
    // A slow or stuck client never holds a connection for long (a flood is bounded in time).
    this.#server.requestTimeout = 15_000;
    this.#server.headersTimeout = 10_000;
    this.#server.maxConnections = 256;
  }

  /** Listens on host:port (port 0: any free port); resolves with the bound address. */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const address = await listenOn(this.#server, host, port);
    return { host: address.address, port: address.port };
  }

  /** Stops accepting and lets requests in flight finish their commit (the store stays open: its owner closes it). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    await closed;
    while (this.#flushing) await this.#flushing;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counts.requests++;
    const reply = (status: number, text: string, headers: Record<string, string> = {}) => {
      if (status >= 400) this.counts.refused++;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(`${text}\n`);
    };
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return reply(200, 'ok');
    if (path !== EVENTS_PATH) return reply(404, 'not found: registries post to /events');
    if (req.method !== 'POST') return reply(405, 'method not allowed', { allow: 'POST' });
    if (!this.#authorized(req.headers.authorization)) {
      req.resume();
      return reply(401, 'unauthorized');
    }
    const body = await readBody(req, this.#options.maxBody ?? DEFAULT_MAX_BODY);
    if (body === undefined) return reply(413, 'request body too large');
    let parsed;
    try {
      parsed = parseNotification(JSON.parse(body.toString('utf8')), Date.now());
    } catch (error) {
      return reply(
        400,
        `invalid notification: ${error instanceof SyntaxError ? 'not JSON' : (error as Error).message}`,
      );
    }
    const events: LedgerEvent[] = [];
    for (const event of parsed.events) {
      if (this.#options.registry === undefined && event.host === '')
        parsed.rejected.push(`event ${event.id}: no request.host (start krill listen with --registry HOST)`);
      else events.push(event);
    }
    // Invalid events are dropped, not refused: the registry would retry them forever.
    this.counts.rejected += parsed.rejected.length;
    for (const why of parsed.rejected) this.#options.logger.warn(`dropped ${why}`);
    if (this.#queued + events.length > (this.#options.maxPending ?? DEFAULT_MAX_PENDING))
      return reply(503, 'busy: retry later', { 'retry-after': '1' });
    try {
      await this.#enqueue(events);
    } catch (error) {
      this.#options.logger.warn(`events not stored: ${(error as Error).message}`);
      return reply(503, 'the ledger could not store the events: retry later', { 'retry-after': '5' });
    }
    reply(200, 'stored');
  }

  #authorized(header: string | undefined): boolean {
    if (header === undefined) return false;
    const value = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : header;
    return sameSecret(value, this.#options.secret);
  }

  #enqueue(events: LedgerEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#queue.push({ events, done: (error) => (error === undefined ? resolve() : reject(error as Error)) });
      this.#queued += events.length;
      this.#flushing ??= this.#flush();
    });
  }

  /** Commits everything queued in one transaction, again while requests keep arriving. */
  async #flush(): Promise<void> {
    // Let requests that arrived in the same tick join the batch.
    await new Promise((r) => setImmediate(r));
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      const events = batch.flatMap((p) => p.events);
      this.#queued -= events.length;
      try {
        const registry = this.#options.registry;
        const result = await this.#options.store.ingest((e) => registry ?? e.host, events, this.#options.filter);
        this.counts.stored += result.stored;
        this.counts.duplicates += result.duplicates;
        for (const pending of batch) pending.done();
      } catch (error) {
        for (const pending of batch) pending.done(error ?? new Error('store failed'));
      }
    }
    this.#flushing = undefined;
  }
}

/** The body, or undefined past `limit` bytes (the rest is not read into memory). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      return resolve(undefined);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
