import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { UsageError } from '../errors.js';
import { listenOn } from '../listen-on.js';
import type { DiskUsage, Krill, Plan } from '../krill.js';
import type { Logger } from '../logger.js';
import { sameSecret } from '../secret.js';
import { SCRIPT, STYLE } from './assets.js';
import type { PageContext } from './layout.js';
import { errorPage } from './layout.js';
import { catalogPage, imagePage, repositoryPage } from './pages-browse.js';
import type { CleanupForm } from './pages-cleanup.js';
import { appliedPage, cleanupPage, planPage, undonePage } from './pages-cleanup.js';

/**
 * `krill serve`: a local web page over the `Krill` front door (no second engine). Reading pages
 * need nothing; changing actions (apply, undo) need the per-server token — given once in the URL
 * printed at start, kept in an HttpOnly SameSite=Strict cookie — plus a CSRF field derived from it
 * and a same-origin request. The Host header must name this server (DNS rebinding). Registry
 * credentials stay in the Krill instance: no page, URL or log line carries them.
 */

export interface WebOptions {
  krill: Krill;
  registry: string;
  readOnly: boolean;
  logger: Logger;
  /** Listening beyond loopback: every page then needs the token. */
  remote: boolean;
  /** Default: 32 random bytes. */
  token?: string;
  /** Live-set sources (`--keep-in-use`): marked on the tags, kept by every plan, re-read by apply. */
  keepInUse?: string[];
}

const MAX_BODY = 256 * 1024;
/** Pages that read the registry at once; more get a "busy" page instead of piling up. */
const MAX_BUSY = 4;
const KEPT = 20;
const DU_FRESH_MS = 30_000;
const COOKIE = 'krill_token';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class WebServer {
  readonly token: string;
  readonly #options: WebOptions;
  readonly #server: Server;
  readonly #csrf: string;
  readonly #plans = new Map<string, Plan>();
  readonly #journals = new Map<string, string>();
  #hosts = new Set<string>();
  #busy = 0;
  #du: { at: number; usage: Promise<DiskUsage> } | undefined;

  constructor(options: WebOptions) {
    this.#options = options;
    this.token = options.token ?? randomBytes(32).toString('hex');
    this.#csrf = createHmac('sha256', this.token).update('csrf').digest('hex');
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.requestTimeout = 120_000;
    this.#server.headersTimeout = 15_000;
    this.#server.maxConnections = 64;
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const bound = (await listenOn(this.#server, host, port)).port;
    this.#hosts = new Set([`127.0.0.1:${bound}`, `localhost:${bound}`, `[::1]:${bound}`, `${host}:${bound}`]);
    return { host, port: bound };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #signedIn(req: IncomingMessage): boolean {
    const cookie = /(?:^|;\s*)krill_token=([0-9a-f]{1,128})/.exec(req.headers.cookie ?? '')?.[1];
    return cookie !== undefined && sameSecret(cookie, this.token);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const signedIn = this.#signedIn(req);
    const ctx: PageContext = {
      registry: this.#options.registry,
      readOnly: this.#options.readOnly,
      ...(signedIn ? { csrf: this.#csrf } : {}),
    };
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, {
        'content-type': type,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'same-origin', // 'no-referrer' makes Chromium send Origin: null on its own forms
        'x-frame-options': 'DENY',
        'content-security-policy':
          "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ...headers,
      });
      res.end(body);
      this.#options.logger.debug(`serve: ${req.method} ${url.pathname} ${status}`);
    };
    const page = (status: number, body: string) => send(status, 'text/html; charset=utf-8', body);
    try {
      // DNS rebinding: a page elsewhere that resolves its name to 127.0.0.1 must not read this one.
      if (!this.#options.remote && !this.#hosts.has(req.headers.host ?? ''))
        throw new HttpError(421, 'this server answers only to its own address');
      const token = url.searchParams.get('token');
      if (token !== null && req.method === 'GET') {
        if (!sameSecret(token, this.token)) throw new HttpError(403, 'wrong token: use the URL krill serve printed');
        // The token leaves the address bar at once: a cookie carries it from now on.
        url.searchParams.delete('token');
        return send(303, 'text/plain', 'signed in', {
          location: `${url.pathname}${url.search}`,
          'set-cookie': `${COOKIE}=${this.token}; HttpOnly; SameSite=Strict; Path=/`,
        });
      }
      if (this.#options.remote && !signedIn && !url.pathname.startsWith('/assets/'))
        throw new HttpError(401, 'open the URL krill serve printed (with its token) first');
      if (req.method === 'GET') return await this.#get(url, ctx, send, page);
      if (req.method !== 'POST') throw new HttpError(405, 'method not allowed');
      const origin = req.headers.origin;
      // Browsers send Origin on every POST; an opaque one ("null": a sandboxed frame) is refused too.
      if (origin !== undefined && !this.#hosts.has(origin.replace(/^http:\/\//, '')) && !this.#options.remote)
        throw new HttpError(403, 'cross-site request refused');
      const form = await readForm(req);
      return page(200, await this.#post(url.pathname, form, ctx, signedIn));
    } catch (error) {
      if (error instanceof HttpError) return page(error.status, errorPage(ctx, titleOf(error.status), error.message));
      // The registry (or the ledger) failed: say what, keep serving.
      const message = error instanceof Error ? error.message : String(error);
      const usage = error instanceof UsageError;
      return page(usage ? 400 : 502, errorPage(ctx, usage ? 'Bad request' : 'The registry did not answer', message));
    }
  }

  async #get(
    url: URL,
    ctx: PageContext,
    send: (status: number, type: string, body: string) => void,
    page: (status: number, body: string) => void,
  ): Promise<void> {
    const { krill } = this.#options;
    switch (url.pathname) {
      case '/assets/style.css':
        return send(200, 'text/css; charset=utf-8', STYLE);
      case '/assets/app.js':
        return send(200, 'text/javascript; charset=utf-8', SCRIPT);
      case '/':
        return page(
          200,
          catalogPage(ctx, await this.#busyWith(() => this.#diskUsage(url.searchParams.has('refresh')))),
        );
      case '/repository': {
        const name = required(url, 'name');
        const [rows, live] = await this.#busyWith(() =>
          Promise.all([krill.tags(`${this.#options.registry}/${name}`), this.#inUse()]),
        );
        return page(200, repositoryPage(ctx, name, rows, live?.get(name)));
      }
      case '/image': {
        const ref = required(url, 'ref');
        const image = await this.#busyWith(() => krill.inspect(`${this.#options.registry}/${ref}`));
        return page(200, imagePage(ctx, ref.replace(/[:@].*$/, ''), image));
      }
      case '/cleanup': {
        const repositories = await this.#busyWith(() => krill.repositories(this.#options.registry));
        return page(200, cleanupPage(ctx, repositories, emptyForm(url.searchParams.get('repository') ?? '')));
      }
      default:
        throw new HttpError(404, 'no such page');
    }
  }

  async #post(path: string, form: URLSearchParams, ctx: PageContext, signedIn: boolean): Promise<string> {
    const { krill } = this.#options;
    if (path === '/cleanup/plan') {
      const input = formOf(form);
      let plan: Plan;
      try {
        const keepInUse = this.#options.keepInUse?.length ? { keepInUse: this.#options.keepInUse } : {};
        plan = await this.#busyWith(() =>
          krill.planCleanup({ ...cleanupRequest(this.#options.registry, input), ...keepInUse }),
        );
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        const repositories = await krill.repositories(this.#options.registry);
        return cleanupPage(ctx, repositories, input, (error as Error).message);
      }
      const id = randomBytes(16).toString('hex');
      remember(this.#plans, id, plan);
      return planPage(ctx, plan, id);
    }
    if (path !== '/cleanup/apply' && path !== '/undo') throw new HttpError(404, 'no such page');
    // Changing actions: read-only refuses; then the token's cookie and its CSRF field, both.
    if (this.#options.readOnly) throw new HttpError(403, 'krill serve runs --read-only: nothing can be changed here');
    if (!signedIn || !sameSecret(form.get('csrf') ?? '', this.#csrf))
      throw new HttpError(403, 'refused: open the URL krill serve printed (with its token), then apply again');
    if (path === '/cleanup/apply') {
      if (form.get('confirm') !== 'yes') throw new HttpError(400, 'tick the box to confirm you reviewed the plan');
      const id = form.get('plan') ?? '';
      const plan = this.#plans.get(id);
      if (!plan) throw new HttpError(404, 'this plan is no longer here (krill serve keeps the last 20): plan again');
      this.#plans.delete(id); // one apply per reviewed plan
      const result = await this.#busyWith(() => krill.apply(plan));
      this.#du = undefined;
      const journalId = result.journal ? randomBytes(16).toString('hex') : undefined;
      if (journalId) remember(this.#journals, journalId, result.journal!);
      return appliedPage(ctx, result, journalId);
    }
    const journal = this.#journals.get(form.get('journal') ?? '');
    if (!journal) throw new HttpError(404, 'no such journal here');
    const outcomes = await this.#busyWith(() => krill.undo(journal));
    this.#du = undefined;
    return undonePage(ctx, outcomes);
  }

  #inUse(): Promise<Map<string, Map<string, string>> | undefined> {
    const sources = this.#options.keepInUse;
    return sources?.length ? this.#options.krill.inUse(this.#options.registry, sources) : Promise.resolve(undefined);
  }

  #diskUsage(refresh: boolean): Promise<DiskUsage> {
    if (refresh || !this.#du || Date.now() - this.#du.at > DU_FRESH_MS) {
      const usage = this.#options.krill.du({ registry: this.#options.registry });
      usage.catch(() => (this.#du = undefined)); // a failure is not cached
      this.#du = { at: Date.now(), usage };
    }
    return this.#du.usage;
  }

  async #busyWith<T>(work: () => Promise<T>): Promise<T> {
    if (this.#busy >= MAX_BUSY)
      throw new HttpError(503, 'busy: other pages are reading the registry; reload in a moment');
    this.#busy++;
    try {
      return await work();
    } finally {
      this.#busy--;
    }
  }
}

function titleOf(status: number): string {
  return status === 404 ? 'Not found' : status === 503 ? 'Busy' : status >= 500 ? 'Error' : 'Refused';
}

function required(url: URL, name: string): string {
  const value = url.searchParams.get(name);
  if (!value || value.length > 512) throw new HttpError(400, `missing or too long: ${name}`);
  return value;
}

function remember<T>(map: Map<string, T>, id: string, value: T): void {
  map.set(id, value);
  while (map.size > KEPT) map.delete(map.keys().next().value!);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'request too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function emptyForm(repository: string): CleanupForm {
  return { repository, keep: '', olderThan: '', deleteRegex: '', keepRegex: '', unpulledFor: '', policy: '' };
}

function formOf(form: URLSearchParams): CleanupForm {
  const get = (name: string) => (form.get(name) ?? '').trim();
  return {
    repository: get('repository'),
    keep: get('keep'),
    olderThan: get('older-than'),
    deleteRegex: get('delete-regex'),
    keepRegex: get('keep-regex'),
    unpulledFor: get('unpulled-for'),
    policy: form.get('policy') ?? '',
  };
}

/** The form as the facade's request: a policy file's text, or one rule for one repository. */
function cleanupRequest(registry: string, form: CleanupForm): Parameters<Krill['planCleanup']>[0] {
  const repositories = form.repository ? [`${registry}/${form.repository}`] : undefined;
  if (form.policy.trim() !== '')
    return {
      policy: { text: form.policy, path: 'the policy in the form' },
      ...(repositories ? { repositories } : { allRepos: registry }),
    };
  if (!repositories) throw new UsageError('pick a repository, or paste a policy file');
  return {
    repositories,
    rules: {
      ...(form.keep !== '' ? { keep: Number(form.keep) } : {}),
      ...(form.olderThan ? { olderThan: form.olderThan } : {}),
      ...(form.deleteRegex ? { deleteRegex: [form.deleteRegex] } : {}),
      ...(form.keepRegex ? { keepRegex: [form.keepRegex] } : {}),
      ...(form.unpulledFor ? { unpulledFor: form.unpulledFor } : {}),
    },
  };
}
