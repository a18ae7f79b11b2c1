import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { PullFilter } from '../ledger/events.js';
import { LedgerListener } from '../ledger/listener.js';
import type { LedgerStatus, TagMove } from '../ledger/store.js';
import type { DigestUsage, RepositorySnapshot } from '../model/snapshot.js';
import { compilePattern } from '../pattern.js';
import type { Plan } from '../plan/plan.js';
import { parseListenAddress } from '../ref/listen-address.js';
import type { Session } from '../session.js';

/** The ledger's verbs: listen, status, a tag's history, and the usage cleanup and tags read. */

export interface ListenOptions {
  /** HOST:PORT to listen on (default 127.0.0.1:5050). */
  addr?: string;
  /** The shared secret (else KRILL_LEDGER_SECRET); at least 16 characters. */
  secret?: string;
  /** A file holding the secret (its first line). */
  secretFile?: string;
  /** Record events under this registry (host[:port]); default: each event's request host. */
  registry?: string;
  /** Count HEAD requests as pulls (default false: a HEAD only resolves a tag). */
  countHead?: boolean;
  /** User agents whose pulls are not use: scanners, replication, UIs (RE2 regexes). */
  ignoreAgents?: string[];
}

const MIN_SECRET = 16;

/** Starts `krill listen`; the caller stops it with `close()` (the CLI on SIGTERM/SIGINT). */
export async function listen(
  session: Session,
  options: ListenOptions,
): Promise<{ listener: LedgerListener; address: string; ledger: string }> {
  const { host, port } = parseListenAddress(options.addr ?? '127.0.0.1:5050', '127.0.0.1:5050 or 0.0.0.0:5050');
  const secret = readSecret(session, options);
  const filter: PullFilter = {
    countHead: options.countHead === true,
    ignoreAgents: (options.ignoreAgents ?? []).map((p) => compilePattern(p, '--ignore-agent')),
  };
  const registry = options.registry === undefined ? undefined : session.parseRegistry(options.registry).host;
  const store = await session.ledger();
  const listener = new LedgerListener({
    store,
    secret,
    filter,
    logger: session.logger,
    ...(registry ? { registry } : {}),
  });
  const bound = await listener.listen(host, port).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot listen on ${host}:${port}: ${error.code ?? error.message}; pick another --addr`);
  });
  const shown = bound.host.includes(':') ? `[${bound.host}]` : bound.host;
  return { listener, address: `${shown}:${bound.port}`, ledger: store.location };
}

function readSecret(session: Session, options: ListenOptions): string {
  let secret: string | undefined;
  if (options.secretFile !== undefined) {
    try {
      secret = readFileSync(options.secretFile, 'utf8').split(/\r?\n/)[0];
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new UsageError(`cannot read --secret-file ${options.secretFile}: ${code}`);
    }
  } else secret = options.secret ?? session.env.KRILL_LEDGER_SECRET;
  if (secret === undefined || secret === '')
    throw new UsageError(
      'krill listen needs a shared secret: --secret-file FILE or KRILL_LEDGER_SECRET (the registry sends it in its Authorization header)',
    );
  if (secret.length < MIN_SECRET)
    throw new UsageError(
      `the ledger secret is too short: use at least ${MIN_SECRET} characters (openssl rand -hex 32)`,
    );
  return secret;
}

export function ledgerStatus(session: Session): Promise<LedgerStatus & { ledger: string }> {
  return session.ledger().then(async (store) => ({ ledger: store.location, ...(await store.status()) }));
}

export interface HistoryEntry extends TagMove {
  /** ISO 8601, for output. */
  at: string;
}

/**
 * A repository's (or one tag's) moves, oldest first: the ledger's push and delete events, and the
 * changes between krill's own recorded listings (state/history.ts) — so a ledger started today
 * already knows every move krill has seen.
 */
export async function tagHistory(session: Session, reference: string): Promise<HistoryEntry[]> {
  const ref = session.parseReference(reference);
  if (ref.digest !== undefined) throw new UsageError('krill history follows tags: give REPO or REPO:TAG, not a digest');
  const { tag } = ref;
  const registry = ref.registry.host;
  const store = await session.ledger();
  const moves = await store.tagMoves(registry, ref.repository, tag);
  const runs = await session.history().runs(registry, ref.repository);
  const seen = new Set(moves.map((m) => `${m.tag} ${m.to}`));
  for (let i = 1; i < runs.length; i++) {
    const before = runs[i - 1]!.tags;
    const after = runs[i]!.tags;
    const time = Date.parse(runs[i]!.time);
    for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (tag !== undefined && name !== tag) continue;
      const from = before[name] ?? '';
      const to = after[name] ?? '';
      // Already known from an event (the push krill saw later), or no move at all.
      if (from === to || seen.has(`${name} ${to}`)) continue;
      moves.push({ tag: name, time, from, to, source: 'krill' });
    }
  }
  moves.sort((a, b) => a.time - b.time || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  return moves.map((m) => ({ ...m, at: new Date(m.time).toISOString() }));
}

/** Fills `snapshot.usage` of each snapshot from the ledger (every digest a tag reaches). */
export async function attachUsage(
  session: Session,
  registry: string,
  snapshots: Iterable<RepositorySnapshot>,
): Promise<void> {
  const store = await session.ledger();
  const since = await store.coverage(registry);
  for (const snapshot of snapshots) {
    const found = await store.usage(registry, snapshot.repository, Object.keys(snapshot.manifests));
    snapshot.usage = { since, digests: Object.fromEntries(found) };
  }
}

/** Per digest, what the ledger knows (for `tags` columns); empty when it knows nothing. */
export async function readUsage(
  session: Session,
  registry: string,
  repository: string,
  digests: string[],
): Promise<Map<string, DigestUsage>> {
  return (await session.ledger()).usage(registry, repository, digests);
}

/**
 * Digests of each repository of the plan pulled since the plan was made: apply keeps them (and
 * what reaches them), the re-check the judge makes for the live set.
 */
export async function pulledSincePlan(session: Session, plan: Plan): Promise<Map<string, Map<string, string>>> {
  const since = Date.parse(plan.pullsChecked ?? plan.createdAt);
  const store = await session.ledger();
  const out = new Map<string, Map<string, string>>();
  for (const repo of plan.repositories) {
    const digests = [...new Set(repo.actions.flatMap((a) => ('digest' in a ? [a.digest] : [])))];
    const usage = await store.usage(plan.registry.host, repo.repository, digests);
    const pulled = new Map<string, string>();
    for (const [digest, u] of usage)
      if (u.lastPull !== undefined && u.lastPull >= since)
        pulled.set(digest, `pulled ${new Date(u.lastPull).toISOString()} since the plan was made`);
    if (pulled.size > 0) out.set(repo.repository, pulled);
  }
  return out;
}
