import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database, Dialect } from './store.js';

/**
 * The embedded ledger: one SQLite file through better-sqlite3 (version 12: 13 needs Node 22).
 * Loaded only here, when a command uses the ledger, so no other command loads a native module.
 * WAL mode lets `krill tags` and `cleanup` read while `krill listen` writes; `synchronous = FULL`
 * makes a commit durable before the listener acknowledges the registry's request.
 */

const DIALECT: Dialect = {
  name: 'sqlite',
  // SQLite's two-argument MAX/MIN return NULL when either is NULL: COALESCE first.
  greatest: (a, b) => `MAX(COALESCE(${a}, ${b}), COALESCE(${b}, ${a}))`,
  least: (a, b) => `MIN(COALESCE(${a}, ${b}), COALESCE(${b}, ${a}))`,
};

type Sqlite = typeof import('better-sqlite3');

export async function openSqlite(path: string): Promise<Database> {
  let Driver: Sqlite;
  try {
    Driver = (await import('better-sqlite3')).default;
  } catch (error) {
    throw new Error(
      'the SQLite ledger needs the better-sqlite3 package (npm install better-sqlite3@12), or use a postgres:// ledger',
      { cause: error },
    );
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let db: InstanceType<Sqlite>;
  try {
    db = new Driver(path, { timeout: 10_000 });
  } catch (error) {
    // Installed without its native build (npm --ignore-scripts, a container image without a compiler).
    if (/bindings|NODE_MODULE_VERSION|\.node/.test(String(error)))
      throw new Error(
        'better-sqlite3 is installed but not built for this Node.js: run npm rebuild better-sqlite3, or use a postgres:// ledger',
        { cause: error },
      );
    throw error;
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  let depth = 0;
  const adapter: Database = {
    dialect: DIALECT,
    run: (sql, params = []) => Promise.resolve(db.prepare(sql).run(...(params as unknown[])).changes),
    all: <T>(sql: string, params: unknown[] = []) => Promise.resolve(db.prepare(sql).all(...params) as T[]),
    async transaction(work) {
      // One connection, used by one writer at a time (the listener serializes its batches): a
      // nested call joins the open transaction.
      if (depth > 0) return work(adapter);
      db.exec('BEGIN IMMEDIATE');
      depth++;
      try {
        const result = await work(adapter);
        db.exec('COMMIT');
        return result;
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      } finally {
        depth--;
      }
    },
    close: () => Promise.resolve(void db.close()),
  };
  return adapter;
}
