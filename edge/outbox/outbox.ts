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
import type { Logger } from 'pino';
import { sanitizeForUplink } from '../../lib/privacy.js';
import { asDiskFull, DiskFullError, freeBytes } from '../../lib/disk.js';
import { log as defaultLog } from '../../lib/log.js';

export { DiskFullError } from '../../lib/disk.js';

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
  log?: Logger;
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
  /** when a write first found the disk full in the current stretch (ms since epoch), else null */
  diskFullSinceMs: number | null;
  /** bookkeeping writes (sent marks, blocks, acks) a full disk kept out, since this process opened it */
  failedWrites: number;
  /** acknowledged records a full disk kept from being removed; removed as soon as a write goes through */
  pendingAcks: number;
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
  private diskFullSince: number | null = null;
  /** payload bytes of the append a full disk refused last: space is back only when that would fit again */
  private diskRefusedBytes = 0;
  private failedWrites = 0;
  /** ack ranges whose DELETE a full disk refused (a delete needs room in the WAL too), retried on the next write */
  private pendingAcks: [number, number][] = [];
  private readonly log: Logger;

  private readonly insertStmt: Database.Statement<[string, string, number, number]>;
  private readonly batchStmt: Database.Statement<[number, number]>;
  private readonly markSentStmt: Database.Statement<[number, number]>;
  private readonly ackStmt: Database.Statement<[number, number]>;
  private readonly sumRangeStmt: Database.Statement<[number, number]>;
  private readonly blockStmt: Database.Statement<[string | null, number]>;
  private readonly probeStmt: Database.Statement<[string]>;

  constructor(readonly path: string, options: OutboxOptions = {}) {
    this.log = options.log ?? defaultLog;
    let db: Database.Database | undefined;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      // FULL: the WAL is fsynced at every commit, so a returned append survives power loss, not only SIGKILL.
      db.pragma('synchronous = FULL');
      // A deleted record (acked, forgotten) is overwritten with zeros, not left readable in a free page until
      // the next VACUUM: erasure and retention (docs/privacy.md) mean gone from the disk, not only from queries.
      db.pragma('secure_delete = ON');
      db.exec(SCHEMA);
    } catch (err) {
      db?.close();
      throw asDiskFull(err, path);
    }
    this.db = db;
    this.quota = options.quotaBytes ?? null;
    this.reserve = options.statusReserveBytes ?? 0;
    this.clock = options.clock ?? Date.now;
    this.count = 0;
    this.usedBytes = 0;
    this.recount();
    this.insertStmt = this.db.prepare('INSERT INTO outbox (kind, payload, bytes, created_ms) VALUES (?, ?, ?, ?)');
    this.batchStmt = this.db.prepare('SELECT seq, kind, payload, created_ms, attempts, blocked FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
    this.markSentStmt = this.db.prepare('UPDATE outbox SET sent_ms = ?, attempts = attempts + 1 WHERE seq = ?');
    this.ackStmt = this.db.prepare('DELETE FROM outbox WHERE seq BETWEEN ? AND ?');
    this.sumRangeStmt = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM outbox WHERE seq BETWEEN ? AND ?');
    this.blockStmt = this.db.prepare('UPDATE outbox SET blocked = ? WHERE seq = ?');
    this.probeStmt = this.db.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES ('disk.recheck', ?)");
  }

  /**
   * Redacts, then stores durably: when this returns, the record is on disk with its seq ("accepted").
   * Throws OutboxFullError (nothing stored) when the quota is reached, DiskFullError (nothing stored, the
   * transaction rolled back) when the disk is; indexes and alerts are never dropped to make room.
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
      // Another process (`earshot forget`) may have deleted records since the totals were taken: count again
      // before refusing anything.
      if (this.usedBytes + adding > limit) this.recount();
      if (this.usedBytes + adding > limit) {
        for (const r of rows) this.refusedByKind[r.kind]++;
        this.refused += rows.length;
        this.fullSince ??= this.clock();
        throw new OutboxFullError(rows[0].kind, adding, this.usedBytes, this.quota);
      }
    }
    const now = this.clock();
    const insertAll = this.db.transaction(() => rows.map((r) => ({ seq: Number(this.insertStmt.run(r.kind, r.text, r.bytes, now).lastInsertRowid) })));
    let out: { seq: number }[];
    try {
      out = insertAll();
    } catch (err) {
      const full = this.diskFull(err);
      if (!full) throw err;
      this.diskRefusedBytes = adding;
      for (const r of rows) this.refusedByKind[r.kind]++;
      this.refused += rows.length;
      throw full;
    }
    this.usedBytes += adding;
    this.count += rows.length;
    this.diskFullSince = null;
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
    this.bookkeeping('sent marks', () =>
      this.db.transaction(() => {
        for (const s of seqs) this.markSentStmt.run(now, s);
      })(),
    );
  }

  /** Marks a record the broker refused (reason), or clears the mark (null). */
  block(seq: number, reason: string | null): void {
    this.bookkeeping('a block mark', () => this.blockStmt.run(reason, seq));
  }

  /**
   * Removes acknowledged records: single seqs or inclusive [from, to] ranges, in one commit. When the disk
   * is full the records stay (counted as pendingAcks) and are removed with the next write that goes through;
   * should the process stop first, they are resent and ingest acks its duplicates again.
   */
  ack(seqs: number | (number | [number, number])[]): number {
    const list = (typeof seqs === 'number' ? [seqs] : seqs).map((s): [number, number] => (typeof s === 'number' ? [s, s] : s));
    const ranges = [...this.pendingAcks, ...list];
    if (ranges.length === 0) return 0;
    const deleteAll = this.db.transaction(() => {
      let removed = 0;
      let bytes = 0;
      for (const [from, to] of ranges) {
        const { n, b } = this.sumRangeStmt.get(from, to) as { n: number; b: number };
        if (n === 0) continue;
        this.ackStmt.run(from, to);
        removed += n;
        bytes += b;
      }
      return { removed, bytes };
    });
    const done = this.bookkeeping('acks', deleteAll);
    if (!done) {
      this.pendingAcks = mergeRanges(ranges);
      return 0;
    }
    this.pendingAcks = [];
    this.count -= done.removed;
    this.usedBytes -= done.bytes;
    if (this.fullSince !== null && this.quota !== null && this.usedBytes < this.quota) this.fullSince = null;
    return done.removed;
  }

  /**
   * During a full-disk stretch: once the file system has room for the refused record again (with a margin
   * for SQLite's pages and WAL frames), removes the acked records a full disk held back and makes one small
   * durable write (a mark in `meta`). True once that goes through, so a caller can clear its report with no
   * record to append; a lone small write would succeed on a disk that still refuses every real record.
   * Outside a stretch it writes nothing and says true.
   */
  recheckDisk(): boolean {
    if (this.diskFullSince === null) return true;
    const free = this.path === ':memory:' ? null : freeBytes(this.path);
    if (free !== null && free < this.diskRefusedBytes + RECHECK_MARGIN_BYTES) return false;
    this.ack([]);
    if (this.bookkeeping('a space probe', () => this.probeStmt.run(String(this.clock())))) this.diskFullSince = null;
    return this.diskFullSince === null;
  }

  /** The error a full disk made of `err` (and the stretch noted), or null when it is not a full disk. */
  private diskFull(err: unknown): DiskFullError | null {
    const full = asDiskFull(err, this.path);
    if (!(full instanceof DiskFullError)) return null;
    this.diskFullSince ??= this.clock();
    return full;
  }

  /**
   * Runs a write that only records progress (sent marks, block marks, acks): a full disk must not stop the
   * uplink over it, so the failure is counted and logged once per full stretch, and undefined returned. Its
   * success does not end the stretch: it may have changed nothing on disk (only appends and recheckDisk do).
   */
  private bookkeeping<T>(what: string, write: () => T): T | undefined {
    try {
      return write();
    } catch (err) {
      const stretchBegins = this.diskFullSince === null;
      const full = this.diskFull(err);
      if (!full) throw err;
      this.failedWrites++;
      if (stretchBegins) this.log.warn({ path: full.path, freeBytes: full.freeBytes }, `outbox: ${full.message}; ${what} not stored (records are kept and retried)`);
      return undefined;
    }
  }

  /** The depth and bytes as the file holds them now. */
  private recount(): void {
    const totals = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM outbox').get() as { n: number; b: number };
    this.count = totals.n;
    this.usedBytes = totals.b;
  }

  /**
   * Erasure (`earshot forget`): removes every record of this call id (its index, its alerts), acked or not,
   * and says how many. A record not yet acknowledged is then never delivered: the centre forgets it too.
   */
  forget(callId: string): number {
    const { n, b } = this.db.prepare("SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM outbox WHERE json_extract(payload, '$.callId') = ?").get(callId) as { n: number; b: number };
    if (n === 0) return 0;
    this.db.prepare("DELETE FROM outbox WHERE json_extract(payload, '$.callId') = ?").run(callId);
    this.count -= n;
    this.usedBytes -= b;
    return n;
  }

  /**
   * Rewrites the file without its free pages and truncates the WAL (the scheduled `earshot prune`): what was
   * deleted is already zeroed (secure_delete), this returns the space. False when another connection (the
   * running agent) is mid-write: the next run does it.
   */
  vacuum(): boolean {
    try {
      this.db.exec('VACUUM');
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      return true;
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) return false;
      throw asDiskFull(err, this.path);
    }
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
      diskFullSinceMs: this.diskFullSince,
      failedWrites: this.failedWrites,
      pendingAcks: this.pendingAcks.reduce((n, [a, b]) => n + (this.sumRangeStmt.get(a, b) as { n: number }).n, 0),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** Room, beyond the refused record itself, for the pages and WAL frames one commit writes (4 KiB pages). */
const RECHECK_MARGIN_BYTES = 64 * 1024;

/** Sorted, with overlapping and adjacent ranges joined: held-back acks stay few however many arrive. */
function mergeRanges(ranges: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of [...ranges].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}
