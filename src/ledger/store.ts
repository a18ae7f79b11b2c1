import type { DigestUsage } from '../model/snapshot.js';
import type { LedgerEvent, PullFilter } from './events.js';
import { countsAsPull } from './events.js';

/**
 * The ledger's one store interface, over SQLite (sqlite.ts, the default) or PostgreSQL
 * (postgres.ts, several listeners of a replicated registry writing one database). Both run the
 * same SQL through a small `Database` adapter; the few dialect differences are named in
 * `Dialect`. Every write of a notification request is one transaction: the listener acknowledges
 * only what is committed, and an event id already stored changes nothing (idempotent).
 */

export type { DigestUsage } from '../model/snapshot.js';

export interface TagMove {
  tag: string;
  time: number;
  /** "" when the tag did not exist before (or krill never saw it). */
  from: string;
  /** "" when the tag was deleted. */
  to: string;
  /** push: a push event; delete: a delete event; krill: seen by krill's own listings. */
  source: 'push' | 'delete' | 'krill';
}

export interface LedgerStatus {
  registries: Array<{
    registry: string;
    /** When the first event from this registry was stored. */
    since: number;
    events: number;
    manifests: number;
    instances: Array<{ instance: string; lastEvent: number; events: number }>;
  }>;
}

export interface IngestResult {
  stored: number;
  duplicates: number;
}

export interface Dialect {
  name: 'sqlite' | 'postgres';
  /** The larger of two nullable values, NULL only when both are. */
  greatest(a: string, b: string): string;
  least(a: string, b: string): string;
}

/** The minimal database surface both engines provide (`?` placeholders; postgres.ts renumbers). */
export interface Database {
  dialect: Dialect;
  run(sql: string, params?: unknown[]): Promise<number>;
  all<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs `work` in one transaction, committed durably before the promise resolves. */
  transaction<T>(work: (db: Database) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Versioned migrations, applied in order; the version is kept in krill_meta. Never edit one: add. */
const MIGRATIONS: string[][] = [
  [
    `CREATE TABLE IF NOT EXISTS krill_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS events_seen (id TEXT PRIMARY KEY, at BIGINT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS sources (
       registry TEXT NOT NULL, instance TEXT NOT NULL, first_event BIGINT NOT NULL,
       last_event BIGINT NOT NULL, events BIGINT NOT NULL, PRIMARY KEY (registry, instance))`,
    `CREATE TABLE IF NOT EXISTS manifests (
       registry TEXT NOT NULL, repository TEXT NOT NULL, digest TEXT NOT NULL,
       first_push BIGINT, last_push BIGINT, last_pull BIGINT, last_pull_agent TEXT,
       pulls BIGINT NOT NULL DEFAULT 0, deleted BIGINT,
       PRIMARY KEY (registry, repository, digest))`,
    `CREATE TABLE IF NOT EXISTS tag_moves (
       registry TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL, at BIGINT NOT NULL,
       from_digest TEXT NOT NULL, to_digest TEXT NOT NULL, source TEXT NOT NULL,
       PRIMARY KEY (registry, repository, tag, at, to_digest))`,
  ],
];

/** A repository's usage is read in chunks of digests: a bounded statement however big the repository. */
const CHUNK = 500;

export class LedgerStore {
  readonly #db: Database;
  #closing: Promise<void> | undefined;
  /** Where the ledger is, for messages (a PostgreSQL URL without its password). */
  readonly location: string;

  constructor(db: Database, location: string) {
    this.#db = db;
    this.location = location;
  }

  /** Creates or upgrades the schema; a newer schema than this krill knows is refused. */
  async migrate(): Promise<void> {
    await this.#db.transaction(async (db) => {
      // Two listeners starting at once on one PostgreSQL database: one migrates, the other waits.
      if (db.dialect.name === 'postgres') await db.all(`SELECT pg_advisory_xact_lock(7320451)`);
      await db.run(MIGRATIONS[0]![0]!);
      const rows = await db.all<{ value: string }>(`SELECT value FROM krill_meta WHERE key = 'schema'`);
      const current = rows.length > 0 ? Number(rows[0]!.value) : 0;
      if (current > MIGRATIONS.length)
        throw new Error(
          `the ledger has schema ${current}, newer than this krill knows (${MIGRATIONS.length}): upgrade krill`,
        );
      for (let version = current; version < MIGRATIONS.length; version++)
        for (const statement of MIGRATIONS[version]!) await db.run(statement);
      if (current < MIGRATIONS.length) {
        await db.run(`DELETE FROM krill_meta WHERE key = 'schema'`);
        await db.run(`INSERT INTO krill_meta (key, value) VALUES ('schema', ?)`, [String(MIGRATIONS.length)]);
      }
    });
  }

  /** Stores the events of one request under `registry`, once per event id, in one transaction. */
  async ingest(
    registry: (event: LedgerEvent) => string,
    events: LedgerEvent[],
    filter: PullFilter,
  ): Promise<IngestResult> {
    if (events.length === 0) return { stored: 0, duplicates: 0 };
    return this.#db.transaction(async (db) => {
      let stored = 0;
      const received = Date.now();
      for (const event of events) {
        const fresh = await db.run(`INSERT INTO events_seen (id, at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, [
          event.id,
          received,
        ]);
        if (fresh === 0) continue; // a retry, or another replica's listener stored it
        stored++;
        await applyEvent(db, registry(event), event, filter);
      }
      return { stored, duplicates: events.length - stored };
    });
  }

  /** What the ledger knows of these digests in a repository (absent: never seen). */
  async usage(registry: string, repository: string, digests: readonly string[]): Promise<Map<string, DigestUsage>> {
    const out = new Map<string, DigestUsage>();
    for (let i = 0; i < digests.length; i += CHUNK) {
      const chunk = digests.slice(i, i + CHUNK);
      const rows = await this.#db.all<ManifestRow>(
        `SELECT digest, first_push, last_push, last_pull, last_pull_agent, pulls, deleted FROM manifests
         WHERE registry = ? AND repository = ? AND digest IN (${chunk.map(() => '?').join(', ')})`,
        [registry, repository, ...chunk],
      );
      for (const row of rows) out.set(row.digest, toUsage(row));
    }
    return out;
  }

  /** Digests pushed to a repository and not deleted since: untagged ones still hold their blobs. */
  async pushedDigests(registry: string, repository: string): Promise<string[]> {
    const rows = await this.#db.all<{ digest: string }>(
      `SELECT digest FROM manifests WHERE registry = ? AND repository = ? AND last_push IS NOT NULL
       AND (deleted IS NULL OR deleted < last_push) ORDER BY digest LIMIT 200000`,
      [registry, repository],
    );
    return rows.map((r) => r.digest);
  }

  /** When the ledger started hearing from this registry; undefined when it never did. */
  async coverage(registry: string): Promise<number | undefined> {
    const rows = await this.#db.all<{ since: unknown }>(
      `SELECT MIN(first_event) AS since FROM sources WHERE registry = ?`,
      [registry],
    );
    const since = rows[0]?.since;
    return since === null || since === undefined ? undefined : Number(since);
  }

  /** A repository's tag moves, oldest first (one tag's, when given). */
  async tagMoves(registry: string, repository: string, tag?: string): Promise<TagMove[]> {
    const rows = await this.#db.all<{
      tag: string;
      at: unknown;
      from_digest: string;
      to_digest: string;
      source: string;
    }>(
      `SELECT tag, at, from_digest, to_digest, source FROM tag_moves WHERE registry = ? AND repository = ?
       ${tag === undefined ? '' : 'AND tag = ?'} ORDER BY at, tag`,
      tag === undefined ? [registry, repository] : [registry, repository, tag],
    );
    return rows.map((r) => ({
      tag: r.tag,
      time: Number(r.at),
      from: r.from_digest,
      to: r.to_digest,
      source: r.source as TagMove['source'],
    }));
  }

  async status(): Promise<LedgerStatus> {
    const sources = await this.#db.all<{
      registry: string;
      instance: string;
      first_event: unknown;
      last_event: unknown;
      events: unknown;
    }>(`SELECT registry, instance, first_event, last_event, events FROM sources ORDER BY registry, instance`);
    const counts = await this.#db.all<{ registry: string; n: unknown }>(
      `SELECT registry, COUNT(*) AS n FROM manifests GROUP BY registry`,
    );
    const byRegistry = new Map<string, LedgerStatus['registries'][number]>();
    for (const s of sources) {
      let entry = byRegistry.get(s.registry);
      if (!entry) {
        const manifests = Number(counts.find((c) => c.registry === s.registry)?.n ?? 0);
        entry = { registry: s.registry, since: Number(s.first_event), events: 0, manifests, instances: [] };
        byRegistry.set(s.registry, entry);
      }
      entry.since = Math.min(entry.since, Number(s.first_event));
      entry.events += Number(s.events);
      entry.instances.push({ instance: s.instance, lastEvent: Number(s.last_event), events: Number(s.events) });
    }
    return { registries: [...byRegistry.values()] };
  }

  /** Closes the connection (again: nothing). */
  close(): Promise<void> {
    this.#closing ??= this.#db.close();
    return this.#closing;
  }
}

interface ManifestRow {
  digest: string;
  first_push: unknown;
  last_push: unknown;
  last_pull: unknown;
  last_pull_agent: string | null;
  pulls: unknown;
  deleted: unknown;
}

function toUsage(row: ManifestRow): DigestUsage {
  const time = (value: unknown) => (value === null || value === undefined ? undefined : Number(value));
  const usage: DigestUsage = { pulls: Number(row.pulls) };
  const firstPush = time(row.first_push);
  const lastPush = time(row.last_push);
  const lastPull = time(row.last_pull);
  const deleted = time(row.deleted);
  if (firstPush !== undefined) usage.firstPush = firstPush;
  if (lastPush !== undefined) usage.lastPush = lastPush;
  if (lastPull !== undefined) usage.lastPull = lastPull;
  if (row.last_pull_agent) usage.lastPullAgent = row.last_pull_agent;
  if (deleted !== undefined) usage.deleted = deleted;
  return usage;
}

async function applyEvent(db: Database, registry: string, event: LedgerEvent, filter: PullFilter): Promise<void> {
  const { greatest, least } = db.dialect;
  const { repository, digest, time } = event;
  await db.run(
    `INSERT INTO sources (registry, instance, first_event, last_event, events) VALUES (?, ?, ?, ?, 1)
     ON CONFLICT (registry, instance) DO UPDATE SET
       first_event = ${least('sources.first_event', 'excluded.first_event')},
       last_event = ${greatest('sources.last_event', 'excluded.last_event')},
       events = sources.events + 1`,
    [registry, event.instance, time, time],
  );
  if (event.action === 'push') {
    await db.run(
      `INSERT INTO manifests (registry, repository, digest, first_push, last_push) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (registry, repository, digest) DO UPDATE SET
         first_push = ${least('manifests.first_push', 'excluded.first_push')},
         last_push = ${greatest('manifests.last_push', 'excluded.last_push')},
         deleted = CASE WHEN manifests.deleted < excluded.last_push THEN NULL ELSE manifests.deleted END`,
      [registry, repository, digest, time, time],
    );
    if (event.tag !== undefined) await moveTag(db, registry, event, digest, 'push');
  } else if (event.action === 'delete') {
    // distribution 3 sends a tag delete with the tag's digest and the tag: the manifest stays.
    if (event.tag !== undefined) await moveTag(db, registry, event, '', 'delete');
    else
      await db.run(
        `INSERT INTO manifests (registry, repository, digest, deleted) VALUES (?, ?, ?, ?)
         ON CONFLICT (registry, repository, digest) DO UPDATE SET
           deleted = ${greatest('manifests.deleted', 'excluded.deleted')}`,
        [registry, repository, digest, time],
      );
  } else if (countsAsPull(event, filter)) {
    await db.run(
      `INSERT INTO manifests (registry, repository, digest, last_pull, last_pull_agent, pulls) VALUES (?, ?, ?, ?, ?, 1)
       ON CONFLICT (registry, repository, digest) DO UPDATE SET
         last_pull_agent = CASE WHEN manifests.last_pull IS NULL OR manifests.last_pull <= excluded.last_pull
           THEN excluded.last_pull_agent ELSE manifests.last_pull_agent END,
         last_pull = ${greatest('manifests.last_pull', 'excluded.last_pull')},
         pulls = manifests.pulls + 1`,
      [registry, repository, digest, time, event.userAgent],
    );
  }
}

/** Records a tag move when the tag's last known digest differs (events may arrive late: by time). */
async function moveTag(db: Database, registry: string, event: LedgerEvent, to: string, source: TagMove['source']) {
  const before = await db.all<{ to_digest: string }>(
    `SELECT to_digest FROM tag_moves WHERE registry = ? AND repository = ? AND tag = ? AND at <= ?
     ORDER BY at DESC LIMIT 1`,
    [registry, event.repository, event.tag, event.time],
  );
  const from = before[0]?.to_digest ?? '';
  if (from === to && before.length > 0) return;
  await db.run(
    `INSERT INTO tag_moves (registry, repository, tag, at, from_digest, to_digest, source) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
    [registry, event.repository, event.tag, event.time, from, to, source],
  );
}
