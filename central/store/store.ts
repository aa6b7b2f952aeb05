/**
 * The centre's store: what ingest writes and the web app reads. Two implementations behind one interface,
 * chosen by the `db` setting: embedded SQLite (a file path, or ':memory:'; zero set-up, the demo and a small
 * site) and PostgreSQL (a postgres:// URL; production, several ingest processes writing at once). The
 * interface is async because PostgreSQL is. Both run the same SQL (sql-store.ts) and the same migrations
 * (migrations.ts); docs/central.md describes the tables.
 */
import type { Logger } from 'pino';
import type { StatsMessage, StatusMessage } from '../../edge/uplink/wire.js';
import type { RecordKind } from '../../edge/outbox/outbox.js';

/** Whether a record from a box the centre has not been told of is stored with the site's calls ('open') or held apart. */
export type Registration = 'open' | 'closed';

/** One record as ingest received it, checked against its topic (edge/uplink/wire.ts). */
export interface IncomingRecord {
  site: string;
  box: string;
  seq: number;
  kind: RecordKind;
  /** when the box accepted it */
  at: string;
  data: unknown;
  /** `data` as the JSON text it arrived in, when ingest has it: stored as it is instead of serialised again */
  dataText?: string;
  /**
   * Its signature verified against the key enrolled for its box (central/record-gate.ts): a box that signs
   * redacted it before its outbox, so it is stored as sent. Every other record is redacted again on arrival
   * (docs/privacy.md).
   */
  signed?: boolean;
}

export interface BatchResult {
  /** records new to the store, kept with their site's */
  stored: number;
  /** (box, seq) already held (kept or held apart): a resend after a lost ack */
  duplicates: number;
  /** records new to the store from boxes or sites not registered, held apart (registration 'closed') */
  heldApart: number;
  /** records whose data the store cannot read (a field it projects of the wrong type): not stored, the rest of the batch is */
  refused: { box: string; seq: number; reason: string }[];
}

export type StateLeaf = 'availability' | 'status' | 'stats';

/** The latest a box said of itself. */
export interface BoxState {
  site: string;
  box: string;
  availability: string | null;
  status: StatusMessage | null;
  stats: StatsMessage | null;
}

export interface RegisteredBox {
  site: string;
  box: string;
  registeredAt: string;
}

/** A record from a box or site the centre was not told of, for an admin to look at. */
export interface UnregisteredRecord {
  site: string;
  box: string;
  seq: number;
  kind: string;
  at: string;
  reason: string;
  data: unknown;
}

/** One call, as projected from its index. */
export interface CallRow {
  site: string;
  box: string;
  callId: string;
  /** seq of the index record it came from */
  seq: number;
  line: string | null;
  agent: string | null;
  startedAt: string;
  endedAt: string;
  durationSec: number;
  language: string | null;
  talkRatio: number | null;
  longestSilenceSec: number | null;
  overtalkCount: number | null;
  overtalkSec: number | null;
  agitated: boolean;
  alertCount: number;
}

/** One alert of a call, at the highest revision the store has seen. */
export interface AlertRow {
  site: string;
  box: string;
  callId: string;
  alertId: string;
  seq: number;
  at: string;
  rule: string;
  severity: string;
  channel: string | null;
  start: number | null;
  end: number | null;
  raisedAt: number | null;
  revision: number;
  evidence: string | null;
  /**
   * Why the box withdrew the alert (a false alarm: the words it quoted turned out not to be the call's), or
   * null while it stands. Final: a withdrawn alert is counted, queued and listed as needing attention nowhere.
   */
  withdrawn: string | null;
  alert: Record<string, unknown>;
}

/** Which calls: shared by the call list and search, so both narrow a site's calls the same way. */
export interface CallFilter {
  site: string;
  box?: string;
  line?: string;
  agent?: string;
  /** started_at at or after (ISO) */
  from?: string;
  /** started_at before (ISO) */
  to?: string;
  /** calls with an alert of this rule */
  rule?: string;
  /** calls with an alert of this severity (with `rule`: the same alert) */
  severity?: string;
  language?: string;
  /** longest silence over this many seconds */
  silenceOverSec?: number;
  agitated?: boolean;
  /** over-talk count at least */
  overtalkAtLeast?: number;
  minDurationSec?: number;
  maxDurationSec?: number;
}

/**
 * The call list's orders: newest or oldest first, longest duration, longest silence (calls without the
 * figure last), most alerts. Ties go newest first, then by box and call id, so every order is total and a
 * keyset page never skips nor repeats a call.
 */
export type CallSort = 'newest' | 'oldest' | 'duration' | 'silence' | 'alerts';

export interface CallQuery extends Omit<CallFilter, 'site'> {
  /** one site, or several (a caller's visible sites): their calls in one list */
  site: string | readonly string[];
  /** default newest */
  sort?: CallSort;
  /** at most this many (default 50) */
  limit?: number;
  /** the `next` of the previous page, of the same sort */
  after?: string | null;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** where it is, for messages: the file, or host:port/database (never a password) */
  readonly location: string;
  /** versions in schema_migrations, ascending */
  appliedMigrations(): Promise<number[]>;
  /**
   * Stores a batch in one transaction: all of it or, when it throws, none of it. Each (box, seq) is kept
   * once; calls and alerts are projected from the new records of registered boxes.
   */
  storeBatch(records: IncomingRecord[], registration: Registration): Promise<BatchResult>;
  /** Replaces the box's latest availability, status or stats (`text` as received). */
  putBoxState(site: string, box: string, leaf: StateLeaf, text: string, atMs: number): Promise<void>;
  boxState(site: string, box: string): Promise<BoxState | null>;
  /** seqs held for a box (with its site's records), in the order they arrived */
  seqsFor(box: string): Promise<number[]>;
  countRecords(box?: string): Promise<number>;
  countByKind(box?: string): Promise<Record<string, number>>;
  /** Registers a box at a site (creating the site). A box registered at another site is refused. */
  /** With `publicKey`, the box's signing key is set too (replacing any before). */
  registerBox(site: string, box: string, publicKey?: string): Promise<void>;
  /** Each of these boxes that is registered: its site and its signing key (null: none enrolled). */
  boxKeys(boxes: string[]): Promise<Map<string, { site: string; publicKey: string | null }>>;
  listBoxes(site?: string): Promise<RegisteredBox[]>;
  /** Records held apart, newest first. */
  listUnregistered(limit?: number): Promise<UnregisteredRecord[]>;
  getCall(box: string, callId: string): Promise<CallRow | null>;
  /** The call's index (docs/call-index.md) as last projected, parsed; null when the store holds no such call. */
  callIndex(box: string, callId: string): Promise<unknown | null>;
  /** A site's (or several sites') calls in `sort` order; `next` continues the list (null at its end). */
  listCalls(q: CallQuery): Promise<{ calls: CallRow[]; next: string | null }>;
  alertsFor(box: string, callId: string): Promise<AlertRow[]>;
  close(): Promise<void>;
}

/** The store could not be opened (PostgreSQL unreachable, refused, a schema newer than this code): one line, naming where and why. */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** Opens (creating and migrating) the store `db` names: a postgres:// or postgresql:// URL, else a SQLite file or ':memory:'. */
export async function openStore(db: string, log?: Logger): Promise<Store> {
  if (isPostgresUrl(db)) {
    const { openPostgresStore } = await import('./postgres.js');
    return openPostgresStore(db, log);
  }
  const { openSqliteStore } = await import('./sqlite.js');
  return openSqliteStore(db);
}
