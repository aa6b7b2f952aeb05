/**
 * The production store: PostgreSQL through a connection pool (npm `pg`). Several ingest processes, each
 * with its own pool, write to one database; each batch is one transaction, and (box, seq) is the primary
 * key, so a record two processes both received is kept once. When the server goes away, statements fail
 * (ingest then acks nothing and the boxes keep their records) and the pool connects again once it is back.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { POSTGRES } from './migrations.js';
import { migrate, SqlStore, type Db, type Sql } from './sql-store.js';
import { StoreOpenError } from './store.js';

/** `?` placeholders numbered as PostgreSQL wants them ($1, $2, ...); the store's SQL has no `?` elsewhere. */
const numbered = new Map<string, string>();
function pgSql(sql: string): string {
  let out = numbered.get(sql);
  if (out === undefined) {
    let i = 0;
    numbered.set(sql, (out = sql.replace(/\?/g, () => `$${++i}`)));
  }
  return out;
}

// COUNT(*) and BIGINT columns come back as strings by default (64 bits do not fit a JS number); every
// value this store keeps in one (seqs, milliseconds, counts) is far below 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** host:port/database of a URL: for messages, without the password. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname && u.pathname !== '/' ? u.pathname : '/'}`;
  } catch {
    return 'PostgreSQL (unparsable URL)';
  }
}

const onClient = (c: pg.PoolClient | pg.Pool): Sql => ({
  all: async <T>(sql: string, params: unknown[] = []) => (await c.query(pgSql(sql), params)).rows as T[],
  run: async (sql: string, params: unknown[] = []) => (await c.query(pgSql(sql), params)).rowCount ?? 0,
  exec: async (sql: string) => void (await c.query(sql)),
});

class PostgresDb implements Db {
  readonly dialect = POSTGRES;
  private readonly direct: Sql;

  constructor(private readonly pool: pg.Pool, readonly location: string) {
    this.direct = onClient(pool);
  }

  all<T>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.direct.all<T>(sql, params);
  }

  run(sql: string, params?: unknown[]): Promise<number> {
    return this.direct.run(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.direct.exec(sql);
  }

  async tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // The pool listens for errors only on idle connections: one the server drops while it is checked out
    // (a shutdown between two statements) would otherwise end the process. The next statement fails.
    const onError = (err: Error) => (broken = err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const out = await fn(onClient(client));
      await client.query('COMMIT');
      return out;
    } catch (err) {
      // A connection the server dropped cannot roll back; it is then discarded, not returned to the pool.
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  async migrationLock(sql: Sql): Promise<void> {
    // Any constant: the key of "earshot migrations" among advisory locks, released at commit.
    await sql.all('SELECT pg_advisory_xact_lock(7237011001)');
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export async function openPostgresStore(url: string, log?: Logger): Promise<SqlStore> {
  const location = describePostgresUrl(url);
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30_000, types });
  // An idle connection the server closed (a restart, a stopped server) is reported here; without a
  // listener it would end the process. The next statement gets a fresh connection.
  pool.on('error', (err) => log?.warn({ db: location, reason: err.message }, `PostgreSQL at ${location} closed a connection: ${err.message}`));
  const db = new PostgresDb(pool, location);
  try {
    await migrate(db);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new StoreOpenError(`cannot open the PostgreSQL store at ${location}: ${reason(err)}`, { cause: err });
  }
  return new SqlStore(db);
}

/** One line: pg's AggregateError (IPv4 and IPv6 both refused) has an empty message of its own. */
function reason(err: unknown): string {
  const e = err as Error & { errors?: Error[]; code?: string };
  const msg = e.message || e.errors?.map((x) => x.message).join('; ') || e.code || String(err);
  return msg.replace(/\s+/g, ' ');
}
