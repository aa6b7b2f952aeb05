/**
 * The durable outbox: every index, alert and status event the box means to publish waits here, with its
 * per-box sequence number, until central ingest acknowledges it (or, in `ackMode: puback`, the broker).
 *
 * Why SQLite and not lowdb: lowdb (steno) renames a temporary file into place, so a SIGKILL never leaves a
 * torn file, but it rewrites the whole document on every write and never calls fsync: fine for small config
 * and state, wrong for a queue that takes 100,000 records while the WAN is down and must not lose the last
 * ones when the power goes. better-sqlite3 in WAL mode with `synchronous=FULL` fsyncs the write-ahead log
 * on every commit, appends only the new rows, and survives SIGKILL and power loss with the last committed
 * record intact. `append` returns only after that commit: a record is "accepted" when it is on disk.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { sanitizeForUplink } from '../uplink/privacy.js';

export type RecordKind = 'index' | 'alert' | 'status';
export const RECORD_KINDS: readonly RecordKind[] = ['index', 'alert', 'status'];

export interface OutboxRecord {
  seq: number;
  kind: RecordKind;
  /** JSON text of the (already redacted) payload */
  payload: string;
  createdMs: number;
  attempts: number;
  blocked: string | null;
}

export interface OutboxOptions {
  /** bytes of payload the outbox may hold; indexes and alerts beyond it are refused (default unlimited) */
  quotaBytes?: number;
  /** extra bytes status events may use once the quota is reached, so the box can still report it is full */
  statusReserveBytes?: number;
  /** now(), for tests */
  clock?: () => number;
}

/** The outbox is at its quota: the record was NOT accepted. The caller keeps working and reports it. */
export class OutboxFullError extends Error {
  constructor(readonly kind: RecordKind, readonly bytes: number, readonly usedBytes: number, readonly quotaBytes: number) {
    super(`outbox full: ${usedBytes} of ${quotaBytes} bytes used, ${kind} of ${bytes} bytes refused`);
    this.name = 'OutboxFullError';
  }
}

export interface OutboxStats {
  depth: number;
  bytes: number;
  quotaBytes: number | null;
  full: boolean;
  /** appends refused because the outbox was full, since this process opened it */
  refused: number;
  refusedByKind: Record<RecordKind, number>;
  /** when the outbox first refused a record in the current full stretch (ms since epoch), else null */
  fullSinceMs: number | null;
  oldestUnackedAgeSec: number | null;
  /** the highest seq ever accepted (0: none) */
  lastSeq: number;
  blocked: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a seq is never reused, even after every row is acked
  kind       TEXT    NOT NULL,
  payload    TEXT    NOT NULL,
  bytes      INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  sent_ms    INTEGER,
  attempts   INTEGER NOT NULL DEFAULT 0,
  blocked    TEXT
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
`;

interface Row {
  seq: number;
  kind: RecordKind;
  payload: string;
  created_ms: number;
  attempts: number;
  blocked: string | null;
}

export class Outbox {
  readonly db: Database.Database;
  private readonly quota: number | null;
  private readonly reserve: number;
  private readonly clock: () => number;
  private usedBytes: number;
  private count: number;
  private refused = 0;
  private readonly refusedByKind: Record<RecordKind, number> = { index: 0, alert: 0, status: 0 };
  private fullSince: number | null = null;

  private readonly insertStmt: Database.Statement<[string, string, number, number]>;
  private readonly batchStmt: Database.Statement<[number, number]>;
  private readonly markSentStmt: Database.Statement<[number, number]>;
  private readonly ackStmt: Database.Statement<[number, number]>;
  private readonly sumRangeStmt: Database.Statement<[number, number]>;
  private readonly blockStmt: Database.Statement<[string | null, number]>;

  constructor(readonly path: string, options: OutboxOptions = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: the WAL is fsynced at every commit, so a returned append survives power loss, not only SIGKILL.
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
    this.quota = options.quotaBytes ?? null;
    this.reserve = options.statusReserveBytes ?? 0;
    this.clock = options.clock ?? Date.now;
    const totals = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM outbox').get() as { n: number; b: number };
    this.count = totals.n;
    this.usedBytes = totals.b;
    this.insertStmt = this.db.prepare('INSERT INTO outbox (kind, payload, bytes, created_ms) VALUES (?, ?, ?, ?)');
    this.batchStmt = this.db.prepare('SELECT seq, kind, payload, created_ms, attempts, blocked FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
    this.markSentStmt = this.db.prepare('UPDATE outbox SET sent_ms = ?, attempts = attempts + 1 WHERE seq = ?');
    this.ackStmt = this.db.prepare('DELETE FROM outbox WHERE seq BETWEEN ? AND ?');
    this.sumRangeStmt = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM outbox WHERE seq BETWEEN ? AND ?');
    this.blockStmt = this.db.prepare('UPDATE outbox SET blocked = ? WHERE seq = ?');
  }

  /**
   * Redacts, then stores durably: when this returns, the record is on disk with its seq ("accepted").
   * Throws OutboxFullError (nothing stored) when the quota is reached; indexes and alerts are never
   * dropped to make room.
   */
  append(kind: RecordKind, payload: object): { seq: number } {
    return this.appendMany([{ kind, payload }])[0];
  }

  /** Several records in one commit (one fsync): all are accepted or none. */
  appendMany(records: { kind: RecordKind; payload: object }[]): { seq: number }[] {
    const rows = records.map(({ kind, payload }) => {
      if (!RECORD_KINDS.includes(kind)) throw new TypeError(`unknown record kind ${String(kind)}`);
      const text = JSON.stringify(sanitizeForUplink(payload));
      return { kind, text, bytes: Buffer.byteLength(text) };
    });
    const adding = rows.reduce((sum, r) => sum + r.bytes, 0);
    if (this.quota !== null) {
      const onlyStatus = rows.every((r) => r.kind === 'status');
      const limit = this.quota + (onlyStatus ? this.reserve : 0);
      if (this.usedBytes + adding > limit) {
        for (const r of rows) this.refusedByKind[r.kind]++;
        this.refused += rows.length;
        this.fullSince ??= this.clock();
        throw new OutboxFullError(rows[0].kind, adding, this.usedBytes, this.quota);
      }
    }
    const now = this.clock();
    const insertAll = this.db.transaction(() => rows.map((r) => ({ seq: Number(this.insertStmt.run(r.kind, r.text, r.bytes, now).lastInsertRowid) })));
    const out = insertAll();
    this.usedBytes += adding;
    this.count += rows.length;
    return out;
  }

  /** Up to `limit` records after `afterSeq`, in seq order (0: from the oldest unacknowledged). */
  nextBatch(limit: number, afterSeq = 0): OutboxRecord[] {
    return (this.batchStmt.all(afterSeq, limit) as Row[]).map((r) => ({
      seq: r.seq,
      kind: r.kind,
      payload: r.payload,
      createdMs: r.created_ms,
      attempts: r.attempts,
      blocked: r.blocked,
    }));
  }

  /** Notes that these records were published (attempt count and time; informational, for stats and logs). */
  markSent(seqs: number[]): void {
    if (seqs.length === 0) return;
    const now = this.clock();
    this.db.transaction(() => {
      for (const s of seqs) this.markSentStmt.run(now, s);
    })();
  }

  /** Marks a record the broker refused (reason), or clears the mark (null). */
  block(seq: number, reason: string | null): void {
    this.blockStmt.run(reason, seq);
  }

  /** Removes acknowledged records: single seqs or inclusive [from, to] ranges, in one commit. */
  ack(seqs: number | (number | [number, number])[]): number {
    const list = typeof seqs === 'number' ? [seqs] : seqs;
    let removed = 0;
    let bytes = 0;
    this.db.transaction(() => {
      for (const s of list) {
        const [from, to] = typeof s === 'number' ? [s, s] : s;
        const { n, b } = this.sumRangeStmt.get(from, to) as { n: number; b: number };
        if (n === 0) continue;
        this.ackStmt.run(from, to);
        removed += n;
        bytes += b;
      }
    })();
    this.count -= removed;
    this.usedBytes -= bytes;
    if (this.fullSince !== null && this.quota !== null && this.usedBytes < this.quota) this.fullSince = null;
    return removed;
  }

  depth(): number {
    return this.count;
  }

  bytes(): number {
    return this.usedBytes;
  }

  /** Age of the oldest record still waiting for its ack, seconds; null when the outbox is empty. */
  oldestUnackedAgeSec(): number | null {
    const row = this.db.prepare('SELECT created_ms FROM outbox ORDER BY seq LIMIT 1').get() as { created_ms: number } | undefined;
    return row ? Math.max(0, (this.clock() - row.created_ms) / 1000) : null;
  }

  oldestSeq(): number | null {
    const row = this.db.prepare('SELECT seq FROM outbox ORDER BY seq LIMIT 1').get() as { seq: number } | undefined;
    return row?.seq ?? null;
  }

  lastSeq(): number {
    const row = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  /** Whether the outbox refuses new indexes and alerts right now. */
  isFull(): boolean {
    return this.fullSince !== null;
  }

  stats(): OutboxStats {
    const blocked = (this.db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE blocked IS NOT NULL').get() as { n: number }).n;
    return {
      depth: this.count,
      bytes: this.usedBytes,
      quotaBytes: this.quota,
      full: this.isFull(),
      refused: this.refused,
      refusedByKind: { ...this.refusedByKind },
      fullSinceMs: this.fullSince,
      oldestUnackedAgeSec: this.oldestUnackedAgeSec(),
      lastSeq: this.lastSeq(),
      blocked,
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
