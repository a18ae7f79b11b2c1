import type { Database, Dialect } from './store.js';

/**
 * The shared ledger: PostgreSQL through `pg`, for a replicated registry whose replicas each notify
 * their own listener, all writing one database. The store's SQL uses `?` placeholders; they are
 * renumbered to `$n` here (no statement has a `?` elsewhere). Upserts make concurrent listeners
 * safe; each transaction runs on one pooled connection.
 */

const DIALECT: Dialect = {
  name: 'postgres',
  greatest: (a, b) => `GREATEST(${a}, ${b})`,
  least: (a, b) => `LEAST(${a}, ${b})`,
};

type Pg = typeof import('pg').default;
interface Queryable {
  query(sql: string, params?: unknown[]): Promise<{ rowCount: number | null; rows: unknown[] }>;
}

function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function adapterOver(client: Queryable, transaction: Database['transaction'], close: () => Promise<void>): Database {
  return {
    dialect: DIALECT,
    run: async (sql, params = []) => (await client.query(numbered(sql), params)).rowCount ?? 0,
    all: async <T>(sql: string, params: unknown[] = []) => (await client.query(numbered(sql), params)).rows as T[],
    transaction,
    close,
  };
}

export async function openPostgres(url: string): Promise<Database> {
  let pg: Pg;
  try {
    pg = (await import('pg')).default;
  } catch (error) {
    throw new Error('the PostgreSQL ledger needs the pg package (npm install pg@8)', { cause: error });
  }
  // BIGINT columns come back as strings by default; the store converts with Number().
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined); // an idle connection dropped by the server: the next query reconnects
  const transaction: Database['transaction'] = async (work) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const inner = adapterOver(
        client,
        (nested) => nested(inner),
        () => Promise.resolve(),
      );
      const result = await work(inner);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };
  return adapterOver(pool, transaction, () => pool.end());
}
