/**
 * The review loop on the store: a QA reviewer confirms or rejects an alert; the queue of alerts nobody has
 * reviewed; precision per rule and per site; the weekly trend per rule; what each threshold would have kept.
 *
 * The verdict that counts is an alert's latest review. It is written on the alert row (`alerts.verdict`) in
 * the review's own transaction, the row updated before the review is numbered, so on PostgreSQL two
 * reviewers at once are ordered by the row lock and the higher review id is the verdict kept. Every review
 * stays in `reviews` (the history). An alert's time here is `alerts.at`: when its box sent it.
 */
import { audit } from '../audit.js';
import { severityRank, thresholdTable, type ThresholdRow } from '../review.js';
import { alertStands, type Db, type Sql } from '../store/sql-store.js';
import { SCORE_UNITS, type ScoreKind } from './score.js';

export type Verdict = 'confirmed' | 'rejected';
export const VERDICTS: readonly Verdict[] = ['confirmed', 'rejected'];

/** Which alerts: the caller's sites (or one of them), and optionally a rule, a severity and a time range. */
export interface ReviewFilter {
  /** the sites to look at: '*' all, else these (none: nothing) */
  sites: readonly string[] | '*';
  rule?: string;
  severity?: string;
  /** alerts.at at or after (ISO) */
  from?: string;
  /** alerts.at before (ISO) */
  to?: string;
}

/**
 * The WHERE terms of a filter on `alerts` as `a`; values are parameters. Only standing alerts: one its box
 * withdrew is a false alarm nobody should review, and counting it (even confirmed before it was withdrawn)
 * would skew a rule's figures.
 */
function alertWhere(f: ReviewFilter): { where: string[]; params: unknown[] } {
  const where: string[] = [alertStands('a')];
  const params: unknown[] = [];
  if (f.sites !== '*') {
    if (f.sites.length === 0) where.push('1 = 0');
    else (where.push(`a.site IN (${f.sites.map(() => '?').join(', ')})`), params.push(...f.sites));
  }
  if (f.rule !== undefined) (where.push('a.rule = ?'), params.push(f.rule));
  // As its rank: the same alerts (a filter's severity is one of SEVERITIES), and the queue's index seeks it.
  if (f.severity !== undefined) (where.push('a.severity_rank = ?'), params.push(severityRank(f.severity)));
  if (f.from !== undefined) (where.push('a.at >= ?'), params.push(f.from));
  if (f.to !== undefined) (where.push('a.at < ?'), params.push(f.to));
  return { where, params };
}

const whereSql = (where: string[]) => (where.length ? `WHERE ${where.join(' AND ')}` : '');

export interface AlertRef {
  box: string;
  callId: string;
  alertId: string;
}

export interface StoredReview extends AlertRef {
  id: number;
  site: string;
  verdict: Verdict;
  note: string | null;
  reviewer: string;
  at: string;
}

/** A verdict on an alert its box withdrew: refused, the reason given (a false alarm is not reviewed). */
export class AlertWithdrawnError extends Error {
  override name = 'AlertWithdrawnError';
  constructor(alertId: string, reason: string) {
    super(`alert ${alertId} was withdrawn by the box: ${reason}`);
  }
}

/** Site and rule of an alert, or null when the store has no such alert. */
export async function alertSite(db: Sql, ref: AlertRef): Promise<{ site: string; rule: string } | null> {
  const [row] = await db.all<{ site: string; rule: string }>('SELECT site, rule FROM alerts WHERE box = ? AND call_id = ? AND alert_id = ?', [ref.box, ref.callId, ref.alertId]);
  return row ?? null;
}

/**
 * Records a review and makes it the alert's verdict, audited in the same transaction (`review.confirm` /
 * `review.reject`). The note is kept with the review; the audit log has only its length (a note may quote
 * the customer). Returns the review and the verdict it replaced (null: the first). An alert its box has
 * withdrawn is refused (AlertWithdrawnError), read from the row the update locked, so a withdrawal stored
 * meanwhile is seen.
 */
export async function recordReview(
  db: Db,
  reviewer: string,
  ref: AlertRef & { site: string; rule: string },
  verdict: Verdict,
  note: string | null,
): Promise<{ review: StoredReview; replaced: Verdict | null }> {
  const at = new Date().toISOString();
  return db.tx(async (sql) => {
    const key = [ref.box, ref.callId, ref.alertId];
    const [row] = await sql.all<{ withdrawn: string | null }>('UPDATE alerts SET verdict = ?, reviewed_at = ? WHERE box = ? AND call_id = ? AND alert_id = ? RETURNING withdrawn', [verdict, at, ...key]);
    if (row?.withdrawn != null) throw new AlertWithdrawnError(ref.alertId, row.withdrawn);
    const [before] = await sql.all<{ verdict: Verdict }>('SELECT verdict FROM reviews WHERE box = ? AND call_id = ? AND alert_id = ? ORDER BY id DESC LIMIT 1', key);
    const [{ id }] = await sql.all<{ id: number }>('INSERT INTO reviews (site, box, call_id, alert_id, verdict, note, reviewer, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id', [
      ref.site, ...key, verdict, note, reviewer, at,
    ]);
    const replaced = before?.verdict ?? null;
    await audit(sql, reviewer, verdict === 'confirmed' ? 'review.confirm' : 'review.reject', {
      site: ref.site, box: ref.box, callId: ref.callId, alertId: ref.alertId, rule: ref.rule, noteLength: note?.length ?? 0, replaces: replaced,
    });
    return { review: { id: Number(id), site: ref.site, box: ref.box, callId: ref.callId, alertId: ref.alertId, verdict, note, reviewer, at }, replaced };
  });
}

/**
 * Every review of a call's alerts, oldest first, and each alert's verdict that counts; a withdrawn alert is
 * listed with its reason (and any verdict it had before), for the page to offer no review of it.
 */
export async function callReviews(
  db: Sql,
  box: string,
  callId: string,
): Promise<{ alerts: { alertId: string; rule: string; severity: string; verdict: Verdict | null; reviewedAt: string | null; withdrawn: string | null }[]; history: StoredReview[] }> {
  const alerts = await db.all<{ alert_id: string; rule: string; severity: string; verdict: Verdict | null; reviewed_at: string | null; withdrawn: string | null }>(
    'SELECT alert_id, rule, severity, verdict, reviewed_at, withdrawn FROM alerts WHERE box = ? AND call_id = ? ORDER BY raised_at, alert_id',
    [box, callId],
  );
  const history = await db.all<{ id: number; site: string; alert_id: string; verdict: Verdict; note: string | null; reviewer: string; at: string }>(
    'SELECT id, site, alert_id, verdict, note, reviewer, at FROM reviews WHERE box = ? AND call_id = ? AND alert_id IS NOT NULL ORDER BY id',
    [box, callId],
  );
  return {
    alerts: alerts.map((a) => ({ alertId: a.alert_id, rule: a.rule, severity: a.severity, verdict: a.verdict, reviewedAt: a.reviewed_at, withdrawn: a.withdrawn })),
    history: history.map((r) => ({ id: Number(r.id), site: r.site, box, callId, alertId: r.alert_id, verdict: r.verdict, note: r.note, reviewer: r.reviewer, at: r.at })),
  };
}

// ---------------------------------------------------------------------------------------------- the queue

export interface QueueItem extends AlertRef {
  site: string;
  rule: string;
  severity: string;
  title: string | null;
  score: number | null;
  scoreKind: ScoreKind | null;
  at: string;
  channel: string | null;
  start: number | null;
  end: number | null;
  evidence: string | null;
  agent: string | null;
  line: string | null;
  callStartedAt: string | null;
}

interface QueueRow {
  site: string; box: string; call_id: string; alert_id: string; rule: string; severity: string; severity_rank: number; score: number | null; score_kind: ScoreKind | null;
  at: string; channel: string | null; start_sec: number | null; end_sec: number | null; evidence: string | null; alert_json: string; agent: string | null; line: string | null; started_at: string | null;
}

type QueueKey = [number, number, string, string, string, string];

const QUEUE_KEY = 'a.severity_rank, COALESCE(a.score, -1), a.at, a.box, a.call_id, a.alert_id';

/** Thrown for a cursor this code did not make (a user's mistake, answered 400). */
export class BadCursorError extends Error {}

function decodeQueueCursor(cursor: string): QueueKey {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadCursorError('after: not a queue cursor');
  }
  const ok = Array.isArray(v) && v.length === 6 && typeof v[0] === 'number' && typeof v[1] === 'number' && v.slice(2).every((x) => typeof x === 'string');
  if (!ok) throw new BadCursorError('after: not a queue cursor');
  return v as QueueKey;
}

const keyOf = (r: QueueRow): QueueKey => [Number(r.severity_rank), r.score === null ? -1 : Number(r.score), r.at, r.box, r.call_id, r.alert_id];

/** Descending queue order. */
function compareKeys(x: QueueKey, y: QueueKey): number {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] > y[i] ? -1 : 1;
  return 0;
}

/**
 * Standing alerts not yet reviewed, critical first, then by score (higher first; no score last), then newest;
 * `next` continues the list (null at its end). Scores of different rules are in different units: the order
 * within a severity is by how far each alert went in its own rule's unit.
 *
 * One query per site, each walking that site's part of alerts_queue (or alerts_queue_rule for one rule) and
 * stopping at the page's end, merged here: an IN list or no site at all would make the database sort every
 * alert waiting before it could answer. (Ties on severity, score and time to the millisecond are then
 * ordered by box, call and alert id here as the database orders them under a byte-order collation.)
 */
export async function reviewQueue(db: Sql, f: ReviewFilter, page: { limit?: number; after?: string | null } = {}): Promise<{ items: QueueItem[]; next: string | null }> {
  const limit = Math.max(1, Math.min(page.limit ?? 50, 1000));
  const after = page.after ? decodeQueueCursor(page.after) : null;
  const sites = f.sites === '*' ? await knownSites(db) : f.sites;
  const rows: QueueRow[] = [];
  for (const site of sites) {
    const { where, params } = alertWhere({ ...f, sites: [site] });
    where.unshift('a.verdict IS NULL');
    if (after) {
      // One row-value comparison, all keys descending: both dialects have it, and it follows the index.
      where.push(`(${QUEUE_KEY}) < (?, ?, ?, ?, ?, ?)`);
      params.push(...after);
    }
    params.push(limit + 1);
    rows.push(
      ...(await db.all<QueueRow>(
        `SELECT a.site, a.box, a.call_id, a.alert_id, a.rule, a.severity, a.severity_rank, a.score, a.score_kind, a.at, a.channel, a.start_sec, a.end_sec, a.evidence, a.alert_json,
           c.agent, c.line, c.started_at
         FROM alerts a LEFT JOIN calls c ON c.box = a.box AND c.call_id = a.call_id
         ${whereSql(where)}
         ORDER BY a.severity_rank DESC, COALESCE(a.score, -1) DESC, a.at DESC, a.box DESC, a.call_id DESC, a.alert_id DESC
         LIMIT ?`,
        params,
      )),
    );
  }
  rows.sort((x, y) => compareKeys(keyOf(x), keyOf(y)));
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  const next = rows.length > limit && last ? Buffer.from(JSON.stringify(keyOf(last))).toString('base64url') : null;
  return { items: shown.map(toQueueItem), next };
}

/**
 * Every site the store knows: registered ones, ones a box reported state for, and ones with calls or alerts
 * (each read as a loose index scan: one index probe per site, not a pass over a million rows).
 */
export async function knownSites(db: Sql): Promise<string[]> {
  const loose = (table: string) => `SELECT site FROM (
       WITH RECURSIVE s(site) AS (
         SELECT MIN(site) FROM ${table}
         UNION ALL SELECT (SELECT MIN(site) FROM ${table} WHERE site > s.site) FROM s WHERE s.site IS NOT NULL
       ) SELECT site FROM s WHERE site IS NOT NULL) AS ${table}_sites`;
  const rows = await db.all<{ site: string }>(`${loose('calls')} UNION ${loose('alerts')} UNION SELECT site FROM sites UNION SELECT site FROM box_state`);
  return [...new Set(rows.map((r) => r.site))].sort();
}

function toQueueItem(r: QueueRow): QueueItem {
  let title: string | null = null;
  try {
    const t = (JSON.parse(r.alert_json) as { title?: unknown }).title;
    if (typeof t === 'string') title = t;
  } catch {
    // alert_json is what the store wrote: always JSON; a title is a nicety
  }
  return {
    site: r.site, box: r.box, callId: r.call_id, alertId: r.alert_id, rule: r.rule, severity: r.severity, title, score: r.score === null ? null : Number(r.score), scoreKind: r.score_kind,
    at: r.at, channel: r.channel, start: r.start_sec, end: r.end_sec, evidence: r.evidence, agent: r.agent, line: r.line, callStartedAt: r.started_at,
  };
}

// ------------------------------------------------------------------------------------------- precision

export interface PrecisionRow {
  /** the rule, or the site */
  key: string;
  alerts: number;
  reviewed: number;
  confirmed: number;
  /** confirmed / reviewed; null when none was reviewed */
  precision: number | null;
  /** reviewed / alerts */
  reviewedShare: number | null;
}

/** Precision (confirmed / reviewed) and the share reviewed, per rule or per site, of the filter's alerts. */
export async function precision(db: Sql, f: ReviewFilter, by: 'rule' | 'site'): Promise<PrecisionRow[]> {
  const { where, params } = alertWhere(f);
  const col = by === 'rule' ? 'a.rule' : 'a.site';
  const rows = await db.all<{ k: string; alerts: number; reviewed: number; confirmed: number }>(
    `SELECT ${col} AS k, COUNT(*) AS alerts, COUNT(a.verdict) AS reviewed, SUM(CASE WHEN a.verdict = 'confirmed' THEN 1 ELSE 0 END) AS confirmed
     FROM alerts a ${whereSql(where)} GROUP BY ${col} ORDER BY ${col}`,
    params,
  );
  return rows.map((r) => {
    const alerts = Number(r.alerts);
    const reviewed = Number(r.reviewed);
    const confirmed = Number(r.confirmed);
    return { key: r.k, alerts, reviewed, confirmed, precision: reviewed ? confirmed / reviewed : null, reviewedShare: alerts ? reviewed / alerts : null };
  });
}

// ----------------------------------------------------------------------------------------------- trend

export interface IsoWeek {
  /** e.g. 2026-W49 */
  week: string;
  /** its Monday, YYYY-MM-DD (UTC) */
  start: string;
  calls: number;
}

export interface RuleTrend {
  rule: string;
  /** per week of `weeks`, in order */
  alerts: number[];
  confirmed: number[];
  alertsPer100Calls: (number | null)[];
  confirmedPer100Calls: (number | null)[];
}

const DAY_MS = 86_400_000;

/** The ISO 8601 week (Monday to Sunday, UTC) of a day, and its Monday. */
export function isoWeek(day: string): { week: string; start: string } {
  const d = new Date(`${day.slice(0, 10)}T00:00:00.000Z`);
  const weekday = (d.getUTCDay() + 6) % 7; // Monday 0
  const monday = new Date(d.getTime() - weekday * DAY_MS);
  // The week belongs to the year of its Thursday.
  const thursday = new Date(monday.getTime() + 3 * DAY_MS);
  const year = thursday.getUTCFullYear();
  const jan4 = new Date(Date.UTC(year, 0, 4));
  const week1Monday = jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * DAY_MS;
  const n = Math.round((monday.getTime() - week1Monday) / (7 * DAY_MS)) + 1;
  return { week: `${year}-W${String(n).padStart(2, '0')}`, start: monday.toISOString().slice(0, 10) };
}

/**
 * Per rule and ISO week (UTC) from `from` to `to`: alerts and confirmed alerts, and both per 100 calls of
 * the week (the calls of the filter's sites, whatever their alerts: a rule's rate is over every call).
 */
export async function weeklyTrend(db: Sql, f: ReviewFilter & { from: string; to: string }): Promise<{ weeks: IsoWeek[]; rules: RuleTrend[] }> {
  const weeks: IsoWeek[] = [];
  const weekIndex = new Map<string, number>();
  for (let t = Date.parse(isoWeek(f.from).start); t < Date.parse(f.to); t += 7 * DAY_MS) {
    const w = isoWeek(new Date(t).toISOString());
    weekIndex.set(w.week, weeks.length);
    weeks.push({ ...w, calls: 0 });
  }
  const callSites = f.sites === '*' ? { where: [] as string[], params: [] as unknown[] } : f.sites.length === 0 ? { where: ['1 = 0'], params: [] } : { where: [`site IN (${f.sites.map(() => '?').join(', ')})`], params: [...f.sites] };
  const days = await db.all<{ day: string; n: number }>(
    `SELECT substr(started_at, 1, 10) AS day, COUNT(*) AS n FROM calls WHERE ${[...callSites.where, 'started_at >= ?', 'started_at < ?'].join(' AND ')} GROUP BY substr(started_at, 1, 10)`,
    [...callSites.params, f.from, f.to],
  );
  for (const d of days) {
    const i = weekIndex.get(isoWeek(d.day).week);
    if (i !== undefined) weeks[i].calls += Number(d.n);
  }
  const { where, params } = alertWhere(f);
  const rows = await db.all<{ day: string; rule: string; alerts: number; confirmed: number }>(
    `SELECT substr(a.at, 1, 10) AS day, a.rule, COUNT(*) AS alerts, SUM(CASE WHEN a.verdict = 'confirmed' THEN 1 ELSE 0 END) AS confirmed
     FROM alerts a ${whereSql(where)} GROUP BY substr(a.at, 1, 10), a.rule`,
    params,
  );
  const byRule = new Map<string, RuleTrend>();
  for (const r of rows) {
    const i = weekIndex.get(isoWeek(r.day).week);
    if (i === undefined) continue;
    let t = byRule.get(r.rule);
    if (!t) byRule.set(r.rule, (t = { rule: r.rule, alerts: weeks.map(() => 0), confirmed: weeks.map(() => 0), alertsPer100Calls: [], confirmedPer100Calls: [] }));
    t.alerts[i] += Number(r.alerts);
    t.confirmed[i] += Number(r.confirmed);
  }
  const per100 = (n: number, i: number) => (weeks[i].calls ? (100 * n) / weeks[i].calls : null);
  const rules = [...byRule.values()].sort((a, b) => a.rule.localeCompare(b.rule));
  for (const t of rules) {
    t.alertsPer100Calls = t.alerts.map(per100);
    t.confirmedPer100Calls = t.confirmed.map(per100);
  }
  return { weeks, rules };
}

// ---------------------------------------------------------------------------------------------- thresholds

export interface RuleThresholds {
  rule: string;
  kind: ScoreKind;
  unit: 's' | 'score';
  what: string;
  /** reviewed alerts with a score */
  reviewed: number;
  rows: ThresholdRow[];
}

/**
 * For each rule with scored, reviewed alerts: what precision each threshold would have given, had the
 * alerts scoring under it not been raised (central/review.ts thresholdTable). Rules without a score are
 * left out.
 */
export async function thresholds(db: Sql, f: ReviewFilter): Promise<RuleThresholds[]> {
  const { where, params } = alertWhere(f);
  where.push('a.verdict IS NOT NULL', 'a.score IS NOT NULL', 'a.score_kind IS NOT NULL');
  const rows = await db.all<{ rule: string; score_kind: ScoreKind; score: number; verdict: Verdict }>(
    `SELECT a.rule, a.score_kind, a.score, a.verdict FROM alerts a ${whereSql(where)}`,
    params,
  );
  const groups = new Map<string, { rule: string; kind: ScoreKind; items: { score: number; confirmed: boolean }[] }>();
  for (const r of rows) {
    if (!(r.score_kind in SCORE_UNITS)) continue;
    const key = `${r.rule}\n${r.score_kind}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { rule: r.rule, kind: r.score_kind, items: [] }));
    g.items.push({ score: Number(r.score), confirmed: r.verdict === 'confirmed' });
  }
  return [...groups.values()]
    .sort((a, b) => a.rule.localeCompare(b.rule) || a.kind.localeCompare(b.kind))
    .map((g) => ({ rule: g.rule, kind: g.kind, ...SCORE_UNITS[g.kind], reviewed: g.items.length, rows: thresholdTable(g.items) }));
}
