import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { LedgerError, UsageError } from '../errors.js';
import { LedgerStore } from './store.js';

/**
 * Where the ledger is: `sqlite:PATH`, a `postgres://` (or `postgresql://`) URL, or by default a
 * SQLite file in krill's state directory. The URL's password never appears in a message: prefer
 * PGPASSWORD or ~/.pgpass, which `pg` reads like psql does.
 */

export type LedgerSpec = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export function defaultLedgerPath(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'krill', 'ledger.sqlite');
}

export function parseLedgerSpec(text: string | undefined, env: NodeJS.ProcessEnv): LedgerSpec {
  if (text === undefined || text === '') return { kind: 'sqlite', path: defaultLedgerPath(env) };
  if (text.startsWith('sqlite:')) {
    const path = text.slice('sqlite:'.length);
    if (path === '')
      throw new UsageError('invalid --ledger "sqlite:": give a file, such as sqlite:/var/lib/krill/ledger.db');
    return { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(path) };
  }
  if (/^postgres(ql)?:\/\//.test(text)) {
    try {
      new URL(text);
    } catch {
      throw new UsageError(`invalid --ledger ${redactLedger(text)}: not a URL (postgres://USER@HOST:PORT/DATABASE)`);
    }
    return { kind: 'postgres', url: text };
  }
  throw new UsageError(
    `invalid --ledger "${redactLedger(text)}": expected sqlite:PATH or postgres://USER@HOST:PORT/DATABASE`,
  );
}

/** The ledger as messages name it: a URL's password becomes `***`. */
export function redactLedger(text: string): string {
  // Any scheme: a mistyped one (mysql://, postgress://) carries a password just the same.
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

export function describeLedger(spec: LedgerSpec): string {
  return spec.kind === 'sqlite' ? `sqlite:${spec.path}` : redactLedger(spec.url);
}

/** Opens (and creates or upgrades) the ledger; the driver module loads only now. */
export async function openLedger(spec: LedgerSpec): Promise<LedgerStore> {
  let db;
  try {
    db =
      spec.kind === 'sqlite'
        ? await (await import('./sqlite.js')).openSqlite(spec.path)
        : await (await import('./postgres.js')).openPostgres(spec.url);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new LedgerError(`cannot open the ledger ${describeLedger(spec)}: ${redactLedger(why)}`, { cause: error });
  }
  const store = new LedgerStore(db, describeLedger(spec));
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => undefined);
    const why = error instanceof Error ? error.message : String(error);
    throw new LedgerError(`cannot open the ledger ${store.location}: ${redactLedger(why)}`, { cause: error });
  }
  return store;
}
