/**
 * The Store in SQL both SQLite and PostgreSQL run: statements are written once with `?` placeholders (the
 * PostgreSQL connection numbers them), upserts use `ON CONFLICT` (both have it), and the few differences
 * of schema are the dialect's (migrations.ts). sqlite.ts and postgres.ts only connect and run statements.
 */
import { LATEST_VERSION, MIGRATIONS, type Dialect } from './migrations.js';
import { StoreOpenError } from './store.js';
import { indexCallsText } from '../search/text-index.js';
import { many } from './bulk.js';
import type {
  AlertRow,
  BatchResult,
  BoxState,
  CallFilter,
  CallQuery,
  CallRow,
  CallSort,
  IncomingRecord,
  RegisteredBox,
  Registration,
  StateLeaf,
  Store,
  UnregisteredRecord,
} from './store.js';
import type { StatsMessage, StatusMessage } from '../../edge/uplink/wire.js';
import { alertScores, talkAndSilence } from '../review/derive.js';
import { sanitizeForUplink } from '../../lib/privacy.js';

/** A connection, or a transaction on one. */
export interface Sql {
  all<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** rows changed */
  run(sql: string, params?: unknown[]): Promise<number>;
  /** several statements, no parameters (DDL) */
  exec(sql: string): Promise<void>;
}

export interface Db extends Sql {
  readonly dialect: Dialect;
  readonly location: string;
  /** `fn` in one transaction: committed when it resolves, rolled back when it throws */
  tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * Taken first in the migration transaction, so that several ingest processes starting on one database
   * migrate it one after another (SQLite: its write lock already does).
   */
  migrationLock(sql: Sql): Promise<void>;
  close(): Promise<void>;
}

/** The schema has a version this code does not know: an older earshot on a newer database. */
export class SchemaTooNewError extends StoreOpenError {}

export async function migrate(db: Db): Promise<number[]> {
  return db.tx(async (sql) => {
    await db.migrationLock(sql);
    await sql.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const applied = new Set((await sql.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    const newest = Math.max(0, ...applied);
    if (newest > LATEST_VERSION) throw new SchemaTooNewError(`${db.location}: the database is at schema version ${newest}, newer than this earshot knows (${LATEST_VERSION}): upgrade earshot`);
    const done: number[] = [];
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await sql.exec(m.sql(db.dialect));
      await m.fill?.(sql, db.dialect);
      await sql.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, new Date().toISOString()]);
      done.push(m.version);
    }
    return done;
  });
}

/** Why the store cannot take a record's data (a field it projects has the wrong type): that record alone is refused. */
export class RecordDataError extends Error {
  override name = 'RecordDataError';
}

/** A time the call lists sort and filter on as text, or null when absent: one that is not a time would sit in every list at random. */
function timeField(v: unknown, name: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw new RecordDataError(`${name} is not a time`);
  return v;
}

const obj = (v: unknown): Record<string, unknown> | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Why the box withdrew an alert, or null while it stands; `field` names the reason's place in the record. */
function withdrawalOf(alert: Record<string, unknown>, field: string): string | null {
  const reason = alert.withdrawn;
  if (reason === undefined || reason === null) return null;
  // Neither shown as a reason nor safely taken for a standing alert: refused, as any field the store cannot read.
  if (typeof reason !== 'string') throw new RecordDataError(`${field} is not text`);
  return reason;
}

/**
 * The SQL condition that the `alerts` row named `alias` stands (its box has not withdrawn it). Every query
 * that counts, lists, filters on or queues alerts asks this, so a withdrawn alert is left out of all alike.
 */
export const alertStands = (alias: string): string => `${alias}.withdrawn IS NULL`;

/**
 * The call row of an index (docs/call-index.md), or null for a record that is not one (a synthetic test
 * record, a later schema without a callId): it is still kept in `records`, just not listed as a call.
 */
export function callOf(r: IncomingRecord): Omit<CallRow, 'site' | 'box' | 'seq'> | null {
  const d = obj(r.data);
  const callId = str(d?.callId);
  const durationSec = num(d?.durationSec);
  if (!d || callId === null || durationSec === null) return null;
  const line = obj(d.line);
  const metrics = obj(d.metrics);
  const recognition = obj(d.recognition);
  const overtalk = obj(metrics?.overtalkCount);
  const agentCount = num(overtalk?.agent);
  const customerCount = num(overtalk?.customer);
  const emotion = Array.isArray(d.emotion) ? d.emotion : [];
  // The box withdraws an alert while it hears the call, so the index holds the withdrawal: a call is counted
  // (and taken as agitated) by the alerts that stand.
  const alerts = (Array.isArray(d.alerts) ? d.alerts : []).filter((a, i) => withdrawalOf(obj(a) ?? {}, `alerts[${i}].withdrawn`) === null);
  // A recording has no wall-clock times of its own: the box accepted its index when it ended.
  const endedAt = timeField(line?.endedAt, 'line.endedAt') ?? (timeField(r.at, "the record's at") as string);
  const given = timeField(line?.startedAt, 'line.startedAt');
  const inferred = given === null ? new Date(Date.parse(endedAt) - durationSec * 1000) : null;
  if (inferred && Number.isNaN(inferred.getTime())) throw new RecordDataError(`durationSec ${durationSec} puts the call's start before any time`);
  const startedAt = given ?? inferred!.toISOString();
  return {
    callId,
    line: str(line?.name),
    agent: str(line?.agentId),
    startedAt,
    endedAt,
    durationSec,
    language: str(obj(recognition?.agent)?.language) ?? str(obj(recognition?.customer)?.language),
    talkRatio: num(metrics?.talkRatio),
    longestSilenceSec: num(metrics?.longestSilenceSec),
    overtalkCount: agentCount === null && customerCount === null ? null : (agentCount ?? 0) + (customerCount ?? 0),
    overtalkSec: num(metrics?.overtalkTotalSec),
    agitated: emotion.some((e) => obj(e)?.channel === 'customer') || alerts.some((a) => obj(a)?.rule === 'customer-agitation'),
    alertCount: alerts.length,
  };
}

type CallProjection = NonNullable<ReturnType<typeof callOf>>;

/** A record as the store will keep it (redacted) with what it projects: its call row and its alerts' rows. */
type ReadRecord = IncomingRecord & { call: CallProjection | null; alerts: AlertProjection[] };

/** Projects one (redacted) record; throws what keeps its data from being read (RecordDataError, or a shape no guard foresaw). */
function readRecord(r: IncomingRecord): ReadRecord {
  const found: (AlertProjection | null)[] = [];
  let call: CallProjection | null = null;
  if (r.kind === 'index') {
    call = callOf(r);
    // The index holds each alert at its latest revision: it fills in any live alert record not seen.
    const list = obj(r.data)?.alerts;
    if (call) for (const [i, a] of (Array.isArray(list) ? list : []).entries()) found.push(alertOf(call.callId, a, `alerts[${i}].`));
  } else if (r.kind === 'alert') found.push(alertOf(str(obj(r.data)?.callId), r.data));
  return { ...r, call, alerts: found.filter((a) => a !== null) };
}

/** An alert as its columns, before the store adds where and when it arrived. */
type AlertProjection = Omit<AlertRow, 'site' | 'box' | 'seq' | 'at' | 'alert'> & { json: string };

/**
 * An alert (edge/rules/types.ts) of `callId`, or null if it lacks what identifies it. A first raise has no
 * revision: 1. `place` is where the alert sits in its record (`alerts[2].` in an index), for a refusal.
 */
export function alertOf(callId: string | null, a: unknown, place = ''): AlertProjection | null {
  const d = obj(a);
  const alertId = str(d?.id);
  const rule = str(d?.rule);
  if (!d || callId === null || alertId === null || rule === null) return null;
  return {
    callId,
    alertId,
    rule,
    severity: str(d.severity) ?? 'info',
    channel: str(d.channel),
    start: num(d.start),
    end: num(d.end),
    raisedAt: num(d.raisedAt),
    revision: num(d.revision) ?? 1,
    evidence: str(d.evidence),
    withdrawn: withdrawalOf(d, `${place}withdrawn`),
    json: JSON.stringify(d),
  };
}

const RECORD_COLUMNS = 'box, seq, site, kind, at, received_ms, payload';

const CALL_INSERT_COLUMNS =
  'box, call_id, site, seq, line, agent, started_at, ended_at, duration_sec, language, talk_ratio, longest_silence_sec, overtalk_count, overtalk_sec, agitated, alert_count, talk_sec, silence_sec';

// A call's index is its record's payload (records.payload, read by (box, seq)): the calls row holds only
// the columns lists filter and sort on (migration 9 dropped the copy it held). An older index arriving
// after a newer one (a resend, another ingest process) changes nothing; RETURNING names the calls whose
// index this batch's became.
const upsertCalls = (values: string) => `INSERT INTO calls (${CALL_INSERT_COLUMNS}) VALUES ${values}
  ON CONFLICT (box, call_id) DO UPDATE SET site = excluded.site, seq = excluded.seq, line = excluded.line, agent = excluded.agent,
    started_at = excluded.started_at, ended_at = excluded.ended_at, duration_sec = excluded.duration_sec, language = excluded.language,
    talk_ratio = excluded.talk_ratio, longest_silence_sec = excluded.longest_silence_sec, overtalk_count = excluded.overtalk_count,
    overtalk_sec = excluded.overtalk_sec, agitated = excluded.agitated, alert_count = excluded.alert_count,
    talk_sec = excluded.talk_sec, silence_sec = excluded.silence_sec
  WHERE excluded.seq >= calls.seq
  RETURNING box, call_id`;

// A revision arriving after a higher one (records of one call can reach different ingest processes, or come
// again after a resend) never replaces it; an equal one changes nothing. So a withdrawal, the alert's last
// revision, is never undone by an earlier one arriving late.
const upsertAlerts = (values: string) => `INSERT INTO alerts (box, call_id, alert_id, site, seq, at, rule, severity, channel, start_sec, end_sec, raised_at, revision, evidence, withdrawn, alert_json)
  VALUES ${values}
  ON CONFLICT (box, call_id, alert_id) DO UPDATE SET site = excluded.site, seq = excluded.seq, at = excluded.at, rule = excluded.rule,
    severity = excluded.severity, channel = excluded.channel, start_sec = excluded.start_sec, end_sec = excluded.end_sec,
    raised_at = excluded.raised_at, revision = excluded.revision, evidence = excluded.evidence, withdrawn = excluded.withdrawn, alert_json = excluded.alert_json
  WHERE excluded.revision > alerts.revision`;

const ROW = (n: number) => `(${Array.from({ length: n }, () => '?').join(', ')})`;
const key = (...parts: (string | number)[]) => parts.join('\n');
const byKey = <T>(a: [string, T], b: [string, T]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** The columns of a CallRow (search reads them too). */
export const CALL_COLUMNS = 'site, box, call_id, seq, line, agent, started_at, ended_at, duration_sec, language, talk_ratio, longest_silence_sec, overtalk_count, overtalk_sec, agitated, alert_count';

export interface CallDbRow {
  site: string;
  box: string;
  call_id: string;
  seq: number;
  line: string | null;
  agent: string | null;
  started_at: string;
  ended_at: string;
  duration_sec: number;
  language: string | null;
  talk_ratio: number | null;
  longest_silence_sec: number | null;
  overtalk_count: number | null;
  overtalk_sec: number | null;
  agitated: number;
  alert_count: number;
}

export const toCall = (r: CallDbRow): CallRow => ({
  site: r.site,
  box: r.box,
  callId: r.call_id,
  seq: Number(r.seq),
  line: r.line,
  agent: r.agent,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  durationSec: r.duration_sec,
  language: r.language,
  talkRatio: r.talk_ratio,
  longestSilenceSec: r.longest_silence_sec,
  overtalkCount: r.overtalk_count === null ? null : Number(r.overtalk_count),
  overtalkSec: r.overtalk_sec,
  agitated: Number(r.agitated) === 1,
  alertCount: Number(r.alert_count),
});

/** A `next` cursor that is not one of this list's (garbled, or of another sort): the caller's mistake. */
export class CallCursorError extends Error {
  override name = 'CallCursorError';
}

/**
 * Each order's key before the tie-breakers (started_at, box, call_id), all in one direction so that a page
 * boundary is one row-value comparison on one index (migrations 2 and 7).
 */
const SORT_KEYS: Record<CallSort, { key: string | null; dir: 'ASC' | 'DESC' }> = {
  newest: { key: null, dir: 'DESC' },
  oldest: { key: null, dir: 'ASC' },
  duration: { key: 'duration_sec', dir: 'DESC' },
  silence: { key: 'silence_key', dir: 'DESC' },
  alerts: { key: 'alert_count', dir: 'DESC' },
};

type CursorValues = [number | null, string, string, string];

/** Opaque to the caller: where the previous page ended, in the list's order. */
function encodeCursor(sort: CallSort, last: CallDbRow & { sort_key?: number }): string {
  const values: CursorValues = [SORT_KEYS[sort].key ? Number(last.sort_key) : null, last.started_at, last.box, last.call_id];
  return Buffer.from(JSON.stringify([sort, ...values])).toString('base64url');
}

function decodeCursor(cursor: string, sort: CallSort): CursorValues {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new CallCursorError('not a call-list cursor');
  }
  if (!Array.isArray(v) || v.length !== 5 || !v.slice(2).every((x) => typeof x === 'string')) throw new CallCursorError('not a call-list cursor');
  if (v[0] !== sort) throw new CallCursorError(`a cursor of the ${String(v[0])} order, not ${sort}: start the list again`);
  const keyed = SORT_KEYS[sort].key !== null;
  if (keyed ? typeof v[1] !== 'number' || !Number.isFinite(v[1]) : v[1] !== null) throw new CallCursorError('not a call-list cursor');
  return v.slice(1) as CursorValues;
}

/** The WHERE terms (on `calls`) of a filter; values are parameters, never spliced into the SQL. */
export function filterSql(f: CallFilter): { where: string[]; params: unknown[] } {
  const where = ['site = ?'];
  const params: unknown[] = [f.site];
  const add = (term: string, v: unknown) => {
    where.push(term);
    params.push(v);
  };
  if (f.box !== undefined) add('box = ?', f.box);
  if (f.line !== undefined) add('line = ?', f.line);
  if (f.agent !== undefined) add('agent = ?', f.agent);
  if (f.from !== undefined) add('started_at >= ?', f.from);
  if (f.to !== undefined) add('started_at < ?', f.to);
  if (f.language !== undefined) add('language = ?', f.language);
  // On silence_key (no silence: -1), so that a rare long silence is an index range (calls_site_silence); the
  // same calls for the thresholds the API takes (0 or more).
  if (f.silenceOverSec !== undefined) add('silence_key > ?', f.silenceOverSec);
  if (f.agitated !== undefined) add('agitated = ?', f.agitated ? 1 : 0);
  if (f.overtalkAtLeast !== undefined) add('overtalk_count >= ?', f.overtalkAtLeast);
  if (f.minDurationSec !== undefined) add('duration_sec >= ?', f.minDurationSec);
  if (f.maxDurationSec !== undefined) add('duration_sec <= ?', f.maxDurationSec);
  if (f.rule !== undefined || f.severity !== undefined) {
    const terms = ['a.box = calls.box', 'a.call_id = calls.call_id', alertStands('a')];
    if (f.rule !== undefined) {
      terms.push('a.rule = ?');
      params.push(f.rule);
    }
    if (f.severity !== undefined) {
      terms.push('a.severity = ?');
      params.push(f.severity);
    }
    where.push(`EXISTS (SELECT 1 FROM alerts a WHERE ${terms.join(' AND ')})`);
  }
  return { where, params };
}

/**
 * The call list's statement (exported so a test can ask the planner how it runs). One site is one index
 * range scan in the order's index; several are one such scan each, merged: an `IN` over the leading site
 * column would give no order and sort every call of those sites. Null when there is no site to list.
 */
export function callListSql(q: CallQuery): { sql: string; params: unknown[]; limit: number; sort: CallSort } | null {
  const sort = q.sort ?? 'newest';
  const { key, dir } = SORT_KEYS[sort];
  const limit = Math.max(1, Math.min(q.limit ?? 50, 1000));
  const sites = typeof q.site === 'string' ? [q.site] : [...new Set(q.site)];
  if (sites.length === 0) return null;
  const after = q.after ? decodeCursor(q.after, sort) : null;
  const columns = [...(key ? [key] : []), 'started_at', 'box', 'call_id'];
  const orderBy = (cols: string[]) => cols.map((c) => `${c} ${dir}`).join(', ');
  const select = key ? `${CALL_COLUMNS}, ${key} AS sort_key` : CALL_COLUMNS;
  const parts = sites.map((site) => {
    const { where, params } = filterSql({ ...q, site });
    if (after) {
      // Row-value comparison: both dialects have it, and both use it as a range on the order's index.
      where.push(`(${columns.join(', ')}) ${dir === 'DESC' ? '<' : '>'} (${columns.map(() => '?').join(', ')})`);
      params.push(...(key ? after : after.slice(1)));
    }
    params.push(limit + 1);
    return { sql: `SELECT ${select} FROM calls WHERE ${where.join(' AND ')} ORDER BY ${orderBy(columns)} LIMIT ?`, params };
  });
  if (parts.length === 1) return { ...parts[0], limit, sort };
  const merged = parts.map((p, i) => `SELECT * FROM (${p.sql}) AS p${i}`).join(' UNION ALL ');
  const outer = [...(key ? ['sort_key'] : []), 'started_at', 'box', 'call_id'];
  return { sql: `${merged} ORDER BY ${orderBy(outer)} LIMIT ?`, params: [...parts.flatMap((p) => p.params), limit + 1], limit, sort };
}

/** A box already registered at another site: registering it at a second one is refused. */
export class BoxTakenError extends Error {
  override name = 'BoxTakenError';
}

/**
 * Registers a box at a site (creating the site) in a transaction the caller holds (the admin's audits it too).
 * With `publicKey` (lib/signing.ts, one line) the box's signing key is set, replacing any before (a new key
 * after a re-enrolment); without, a key already registered stays.
 */
export async function registerBoxIn(sql: Sql, site: string, box: string, publicKey?: string): Promise<void> {
  const now = new Date().toISOString();
  await sql.run('INSERT INTO sites (site, created_at) VALUES (?, ?) ON CONFLICT (site) DO NOTHING', [site, now]);
  const [held] = await sql.all<{ site: string }>('SELECT site FROM boxes WHERE box = ?', [box]);
  if (held && held.site !== site) throw new BoxTakenError(`box ${box} is already registered at site ${held.site}`);
  await sql.run('INSERT INTO boxes (box, site, registered_at) VALUES (?, ?, ?) ON CONFLICT (box) DO NOTHING', [box, site, now]);
  if (publicKey !== undefined) await sql.run('UPDATE boxes SET public_key = ? WHERE box = ?', [publicKey, box]);
}

export class SqlStore implements Store {
  readonly dialect: Dialect['name'];
  readonly location: string;

  constructor(readonly db: Db) {
    this.dialect = db.dialect.name;
    this.location = db.location;
  }

  async appliedMigrations(): Promise<number[]> {
    return (await this.db.all<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));
  }

  storeBatch(records: IncomingRecord[], registration: Registration): Promise<BatchResult> {
    const now = Date.now();
    // In key order: two ingest processes writing overlapping batches (a resend that reached both) then
    // lock rows in the same order instead of deadlocking.
    // A box from before redaction at every sink (or one configured to keep clear text) may send a call as
    // heard: the centre keeps only the redacted view, the same redaction the box applies (lib/privacy.ts),
    // before anything is stored or projected. On a record already redacted it changes nothing. A record
    // signed with its box's enrolled key comes from a box that signs, which redacts before its outbox: it is
    // kept as sent, in the text it came in (redacting again was most of what ingest spent on a record).
    // Each record is read (redacted, projected) before the transaction, one at a time: one whose data cannot
    // be read is refused alone, and the batch it came in is stored without it.
    const refused: BatchResult['refused'] = [];
    const readable: ReadRecord[] = [];
    for (const r of records) {
      try {
        readable.push(readRecord(r.signed && r.dataText !== undefined ? r : { ...r, data: sanitizeForUplink(r.data), dataText: undefined }));
      } catch (err) {
        refused.push({ box: r.box, seq: r.seq, reason: (err as Error).message });
      }
    }
    const sorted = readable.sort((a, b) => (a.box < b.box ? -1 : a.box > b.box ? 1 : a.seq - b.seq));
    return this.db.tx(async (sql) => {
      const result: BatchResult = { stored: 0, duplicates: 0, heldApart: 0, refused };
      const refusals = registration === 'closed' ? await this.refusals(sql, sorted) : new Map<string, string>();
      // A record twice in one batch (a resend that came before the first was committed) is a duplicate of
      // the first: a multi-row statement must not name one row twice.
      const seen = new Set<string>();
      const held: ReadRecord[] = [];
      const kept: ReadRecord[] = [];
      for (const r of sorted) {
        const k = key(r.box, r.seq);
        if (seen.has(k)) result.duplicates++;
        else {
          seen.add(k);
          (refusals.has(key(r.site, r.box)) ? held : kept).push(r);
        }
      }
      const row = (r: IncomingRecord) => [r.box, r.seq, r.site, r.kind, r.at, now, r.dataText ?? JSON.stringify(r.data)];
      // RETURNING names the rows inserted: the others were held already (a resend), dropped and acked again.
      const heldNew = await many<{ box: string; seq: number }>(
        sql,
        held.map((r) => [...row(r), refusals.get(key(r.site, r.box))]),
        ROW(8),
        (v) => `INSERT INTO unregistered (${RECORD_COLUMNS}, reason) VALUES ${v} ON CONFLICT (box, seq) DO NOTHING RETURNING box, seq`,
        true,
      );
      result.heldApart = heldNew.length;
      result.duplicates += held.length - heldNew.length;
      const storedNew = new Set(
        (
          await many<{ box: string; seq: number }>(
            sql,
            kept.map(row),
            ROW(7),
            (v) => `INSERT INTO records (${RECORD_COLUMNS}) VALUES ${v} ON CONFLICT (box, seq) DO NOTHING RETURNING box, seq`,
            true,
          )
        ).map((x) => key(x.box, Number(x.seq))),
      );
      // Projected when it was first stored.
      const stored = kept.filter((r) => storedNew.has(key(r.box, r.seq)));
      result.stored = stored.length;
      result.duplicates += kept.length - stored.length;
      await this.project(sql, stored);
      return result;
    });
  }

  /** Why each (site, box) of the batch that is not registered is held apart. */
  private async refusals(sql: Sql, records: IncomingRecord[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const pairs = new Map(records.map((r) => [`${r.site}\n${r.box}`, r]));
    for (const [key, { site, box }] of pairs) {
      const [registered] = await sql.all<{ site: string }>('SELECT site FROM boxes WHERE box = ?', [box]);
      if (registered?.site === site) continue;
      if (registered) out.set(key, `box ${box} is registered at site ${registered.site}, not ${site}`);
      else if ((await sql.all('SELECT 1 AS x FROM sites WHERE site = ?', [site])).length === 0) out.set(key, `site ${site} is not registered`);
      else out.set(key, `box ${box} is not registered at site ${site}`);
    }
    return out;
  }

  /**
   * The calls and alerts of records just stored (in key order), a few statements per batch: each call at
   * its highest-seq index of the batch (the upsert keeps a newer one already held), each alert at its
   * highest revision of the batch (the first record of it on a tie, as storing them one by one would).
   */
  private async project(sql: Sql, records: ReadRecord[]): Promise<void> {
    const calls = new Map<string, { r: IncomingRecord; call: CallProjection }>();
    const alerts = new Map<string, { r: IncomingRecord; a: AlertProjection }>();
    for (const r of records) {
      if (r.call) {
        const k = key(r.box, r.call.callId);
        const held = calls.get(k);
        if (!held || r.seq > held.r.seq) calls.set(k, { r, call: r.call });
      }
      for (const a of r.alerts) {
        const k = key(r.box, a.callId, a.alertId);
        const held = alerts.get(k);
        if (!held || a.revision > held.a.revision) alerts.set(k, { r, a });
      }
    }

    const callRows = [...calls.entries()].sort(byKey).map(([, { r, call }]) => {
      const { talkSec, silenceSec } = talkAndSilence(obj(r.data)!);
      return [
        r.box, call.callId, r.site, r.seq, call.line, call.agent, call.startedAt, call.endedAt, call.durationSec, call.language, call.talkRatio,
        call.longestSilenceSec, call.overtalkCount, call.overtalkSec, call.agitated ? 1 : 0, call.alertCount, talkSec, silenceSec,
      ];
    });
    const replaced = await many<{ box: string; call_id: string }>(sql, callRows, ROW(18), upsertCalls, true);
    // An older index of the call (not returned) leaves the newer one's text and scores in place too.
    const current = replaced.map((c) => calls.get(key(c.box, c.call_id))!);
    await indexCallsText(sql, this.db.dialect, current.map(({ r, call }) => ({ box: r.box, callId: call.callId, index: r.data })));

    const alertRows = [...alerts.entries()].sort(byKey).map(([, { r, a }]) => [
      r.box, a.callId, a.alertId, r.site, r.seq, r.at, a.rule, a.severity, a.channel, a.start, a.end, a.raisedAt, a.revision, a.evidence, a.withdrawn, a.json,
    ]);
    await many(sql, alertRows, ROW(16), upsertAlerts);

    // Each alert's score in the index that became its call's, whatever revision the alert row kept.
    const scores = current.flatMap(({ r, call }) =>
      alertScores(obj(r.data)!).map(({ alertId, scored }) => [r.box, call.callId, alertId, scored?.score ?? null, scored?.kind ?? null]),
    );
    const float = this.db.dialect.float;
    // Parameters in VALUES have no type of their own on PostgreSQL (they would be text): the score is cast.
    await many(sql, scores, `(?, ?, ?, CAST(? AS ${float}), ?)`, (v) => `UPDATE alerts SET score = v.column4, score_kind = v.column5 FROM (VALUES ${v}) AS v
      WHERE alerts.box = v.column1 AND alerts.call_id = v.column2 AND alerts.alert_id = v.column3`);
  }

  async putBoxState(site: string, box: string, leaf: StateLeaf, text: string, atMs: number): Promise<void> {
    await this.db.run(`INSERT INTO box_state (site, box, ${leaf}, ${leaf}_ms) VALUES (?, ?, ?, ?) ON CONFLICT (site, box) DO UPDATE SET ${leaf} = excluded.${leaf}, ${leaf}_ms = excluded.${leaf}_ms`, [
      site, box, text, atMs,
    ]);
  }

  async boxState(site: string, box: string): Promise<BoxState | null> {
    const [row] = await this.db.all<{ availability: string | null; status: string | null; stats: string | null }>('SELECT availability, status, stats FROM box_state WHERE site = ? AND box = ?', [site, box]);
    if (!row) return null;
    const parse = <T>(text: string | null) => (text === null ? null : (JSON.parse(text) as T));
    return { site, box, availability: row.availability, status: parse<StatusMessage>(row.status), stats: parse<StatsMessage>(row.stats) };
  }

  async seqsFor(box: string): Promise<number[]> {
    return (await this.db.all<{ seq: number }>(`SELECT seq FROM records WHERE box = ? ORDER BY ${this.db.dialect.arrivalOrder}`, [box])).map((r) => Number(r.seq));
  }

  async countRecords(box?: string): Promise<number> {
    const [row] = box === undefined ? await this.db.all<{ n: number }>('SELECT COUNT(*) AS n FROM records') : await this.db.all<{ n: number }>('SELECT COUNT(*) AS n FROM records WHERE box = ?', [box]);
    return Number(row.n);
  }

  async countByKind(box?: string): Promise<Record<string, number>> {
    const rows =
      box === undefined
        ? await this.db.all<{ kind: string; n: number }>('SELECT kind, COUNT(*) AS n FROM records GROUP BY kind')
        : await this.db.all<{ kind: string; n: number }>('SELECT kind, COUNT(*) AS n FROM records WHERE box = ? GROUP BY kind', [box]);
    return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]).sort(([a], [b]) => String(a).localeCompare(String(b))));
  }

  async registerBox(site: string, box: string, publicKey?: string): Promise<void> {
    await this.db.tx((sql) => registerBoxIn(sql, site, box, publicKey));
  }

  async boxKeys(boxes: string[]): Promise<Map<string, { site: string; publicKey: string | null }>> {
    const out = new Map<string, { site: string; publicKey: string | null }>();
    if (boxes.length === 0) return out;
    const rows = await this.db.all<{ box: string; site: string; public_key: string | null }>(
      `SELECT box, site, public_key FROM boxes WHERE box IN (${boxes.map(() => '?').join(', ')})`,
      boxes,
    );
    for (const r of rows) out.set(r.box, { site: r.site, publicKey: r.public_key });
    return out;
  }

  async listBoxes(site?: string): Promise<RegisteredBox[]> {
    const rows =
      site === undefined
        ? await this.db.all<{ site: string; box: string; registered_at: string }>('SELECT site, box, registered_at FROM boxes ORDER BY site, box')
        : await this.db.all<{ site: string; box: string; registered_at: string }>('SELECT site, box, registered_at FROM boxes WHERE site = ? ORDER BY box', [site]);
    return rows.map((r) => ({ site: r.site, box: r.box, registeredAt: r.registered_at }));
  }

  async listUnregistered(limit = 100): Promise<UnregisteredRecord[]> {
    const rows = await this.db.all<{ site: string; box: string; seq: number; kind: string; at: string; reason: string; payload: string }>(
      'SELECT site, box, seq, kind, at, reason, payload FROM unregistered ORDER BY received_ms DESC, box, seq DESC LIMIT ?',
      [limit],
    );
    return rows.map((r) => ({ site: r.site, box: r.box, seq: Number(r.seq), kind: r.kind, at: r.at, reason: r.reason, data: JSON.parse(r.payload) as unknown }));
  }

  async getCall(box: string, callId: string): Promise<CallRow | null> {
    const [row] = await this.db.all<CallDbRow>(`SELECT ${CALL_COLUMNS} FROM calls WHERE box = ? AND call_id = ?`, [box, callId]);
    return row ? toCall(row) : null;
  }

  async callIndex(box: string, callId: string): Promise<unknown | null> {
    const [row] = await this.db.all<{ payload: string }>('SELECT r.payload FROM calls c JOIN records r ON r.box = c.box AND r.seq = c.seq WHERE c.box = ? AND c.call_id = ?', [box, callId]);
    return row ? (JSON.parse(row.payload) as unknown) : null;
  }

  async listCalls(q: CallQuery): Promise<{ calls: CallRow[]; next: string | null }> {
    const list = callListSql(q);
    if (!list) return { calls: [], next: null };
    const rows = await this.db.all<CallDbRow & { sort_key?: number }>(list.sql, list.params);
    const calls = rows.slice(0, list.limit).map(toCall);
    return { calls, next: rows.length > list.limit ? encodeCursor(list.sort, rows[list.limit - 1]) : null };
  }

  async alertsFor(box: string, callId: string): Promise<AlertRow[]> {
    const rows = await this.db.all<{
      site: string; box: string; call_id: string; alert_id: string; seq: number; at: string; rule: string; severity: string; channel: string | null;
      start_sec: number | null; end_sec: number | null; raised_at: number | null; revision: number; evidence: string | null; withdrawn: string | null; alert_json: string;
    }>('SELECT site, box, call_id, alert_id, seq, at, rule, severity, channel, start_sec, end_sec, raised_at, revision, evidence, withdrawn, alert_json FROM alerts WHERE box = ? AND call_id = ? ORDER BY raised_at, alert_id', [box, callId]);
    return rows.map((r) => ({
      site: r.site, box: r.box, callId: r.call_id, alertId: r.alert_id, seq: Number(r.seq), at: r.at, rule: r.rule, severity: r.severity, channel: r.channel,
      start: r.start_sec, end: r.end_sec, raisedAt: r.raised_at, revision: Number(r.revision), evidence: r.evidence, withdrawn: r.withdrawn,
      alert: JSON.parse(r.alert_json) as Record<string, unknown>,
    }));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
