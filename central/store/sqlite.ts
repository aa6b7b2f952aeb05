/**
 * The embedded store: one SQLite file (better-sqlite3), WAL with synchronous=FULL, so a commit that
 * returned is on disk through a power cut. better-sqlite3 is synchronous; the Store is async, and an async
 * transaction gives other callers a chance to run between its statements, so every use of the connection
 * waits its turn (one connection, one transaction at a time, as SQLite has anyway).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { serialQueue } from '../../lib/queue.js';
import { SQLITE } from './migrations.js';
import { migrate, SqlStore, type Db, type Sql } from './sql-store.js';
import { StoreOpenError, type Store } from './store.js';

/** How often, at most, a commit is followed by a look at the call statistics (a count of the calls; keepCallStatistics). */
const STATISTICS_CHECK_EVERY_MS = 60_000;
/** Below this many calls any plan is quick: no statistics are kept. */
const ANALYZE_FROM_CALLS = 1000;

class SqliteDb implements Db {
  readonly dialect = SQLITE;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly turn = serialQueue();
  private readonly direct: Sql;
  private lastStatisticsCheckMs = Date.now();

  constructor(readonly raw: Database.Database, readonly location: string) {
    const prepared = (sql: string) => {
      let s = this.statements.get(sql);
      if (!s) this.statements.set(sql, (s = raw.prepare(sql)));
      return s;
    };
    this.direct = {
      all: async <T>(sql: string, params: unknown[] = []) => prepared(sql).all(...params) as T[],
      run: async (sql: string, params: unknown[] = []) => prepared(sql).run(...params).changes,
      exec: async (sql: string) => void raw.exec(sql),
    };
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    return this.turn(fn);
  }

  all<T>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.inTurn(() => this.direct.all<T>(sql, params));
  }

  run(sql: string, params?: unknown[]): Promise<number> {
    return this.inTurn(() => this.direct.run(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.inTurn(() => this.direct.exec(sql));
  }

  tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.inTurn(async () => {
      // IMMEDIATE: take the write lock now, not at the first write, so another process's writer makes
      // this one wait (busy_timeout) rather than fail halfway through.
      this.raw.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(this.direct);
        this.raw.exec('COMMIT');
        this.keepCallStatisticsNowAndThen();
        return out;
      } catch (err) {
        // SQLite may have rolled back already (SQLITE_FULL does).
        if (this.raw.inTransaction) this.raw.exec('ROLLBACK');
        throw err;
      }
    });
  }

  async migrationLock(): Promise<void> {}

  /**
   * The call list's planner statistics, kept current as the store grows. Without them a filter most calls
   * pass ("agitated, longer than 30 s") was planned as a sort of every call over 30 s (350 ms at 250,000
   * calls, under 1 ms with them), and one few pass (over-talk at least 2) as a read of every call instead of
   * a range of its index. PRAGMA optimize's bounded analysis was not enough for either (its estimates of
   * distinct values were off); a full ANALYZE of calls takes about 1 s at 250,000 calls, so it runs only when
   * the calls have doubled since the last one (checked at open and after a commit, once a minute at most).
   */
  keepCallStatistics(): void {
    try {
      const { n } = this.raw.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number };
      if (n >= ANALYZE_FROM_CALLS && n >= 2 * this.callsAtLastAnalysis()) this.raw.exec('ANALYZE calls');
    } catch {
      // statistics are an aid: failing to keep them (a full disk) must fail neither the commit nor the open
    }
  }

  /** How many calls the last ANALYZE counted (sqlite_stat1's first figure for the list's index); 0 before any. */
  private callsAtLastAnalysis(): number {
    if (!this.raw.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").get()) return 0;
    const row = this.raw.prepare("SELECT stat FROM sqlite_stat1 WHERE idx = 'calls_site_started'").get() as { stat: string } | undefined;
    return Number(row?.stat.split(' ')[0] ?? 0);
  }

  private keepCallStatisticsNowAndThen(): void {
    if (Date.now() - this.lastStatisticsCheckMs < STATISTICS_CHECK_EVERY_MS) return;
    this.lastStatisticsCheckMs = Date.now();
    this.keepCallStatistics();
  }

  close(): Promise<void> {
    return this.inTurn(async () => {
      if (this.raw.open) this.raw.close();
    });
  }
}

/** The better-sqlite3 handle under a SQLite store (tests that fill its disk), or an error for another store. */
export function sqliteHandle(store: Store): Database.Database {
  if (store instanceof SqlStore && store.db instanceof SqliteDb) return store.db.raw;
  throw new Error(`not a SQLite store: ${store.location}`);
}

export async function openSqliteStore(path: string): Promise<SqlStore> {
  let raw: Database.Database;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    raw = new Database(path);
  } catch (err) {
    throw new StoreOpenError(`cannot open the SQLite store ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = FULL');
    raw.pragma('foreign_keys = ON');
    raw.pragma('busy_timeout = 5000');
    const db = new SqliteDb(raw, path);
    await migrate(db);
    db.keepCallStatistics();
    return new SqlStore(db);
  } catch (err) {
    raw.close();
    throw err;
  }
}
