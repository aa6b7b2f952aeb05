/**
 * The review loop's routes: the /review page, confirming or rejecting an alert, the queue, precision per
 * rule and site, the weekly trend, the threshold tables, and a CSV of each list. Every route names what it
 * needs; anything of a site is checked against the caller's sites (404 for another's, as if it did not exist).
 */
import type { FastifyInstance } from 'fastify';
import { audit } from '../audit.js';
import type { CentralRoutes } from '../central.js';
import { toCsv, type Cell } from '../csv.js';
import type { SqlStore } from '../store/sql-store.js';
import { mayseeSite, visibleSites, type Caller } from '../web/access.js';
import { servePage } from '../web/server.js';
import { answer, filterDetail, intParam, param, RequestError, reviewFilter, type Query } from './params.js';
import { alertSite, knownSites, callReviews, precision, recordReview, reviewQueue, thresholds, VERDICTS, weeklyTrend, type ReviewFilter, type Verdict } from './reviews.js';
import { SCORE_UNITS } from './score.js';

/** Figures look back this far unless told otherwise. */
export const DEFAULT_WEEKS = 12;
const MAX_NOTE = 2000;
/** A CSV of the queue stops here: a spreadsheet of more is not a list anyone reads. */
export const MAX_EXPORT_ROWS = 100_000;

const round = (x: number | null, digits = 4) => (x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits);

function bodyString(body: Record<string, unknown>, name: string, max: number): string {
  const v = body[name];
  if (typeof v !== 'string' || v.length === 0) throw new RequestError(400, `${name}: required, a string`);
  if (v.length > max) throw new RequestError(400, `${name}: longer than ${max} characters`);
  return v;
}

/** The lists a reviewer sees, each as CSV: header and rows. */
const EXPORTS: Record<string, (db: SqlStore['db'], f: ReviewFilter) => Promise<{ header: string[]; rows: Cell[][] }>> = {
  async queue(db, f) {
    const rows: Cell[][] = [];
    let after: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof reviewQueue>> = await reviewQueue(db, f, { limit: 1000, after });
      for (const i of page.items) {
        rows.push([i.severity, i.rule, i.score, i.scoreKind ? SCORE_UNITS[i.scoreKind].unit : null, i.site, i.box, i.callId, i.alertId, i.callStartedAt, i.agent, i.line, i.at, i.start, i.end, i.title, i.evidence]);
      }
      after = page.next;
    } while (after && rows.length < MAX_EXPORT_ROWS);
    return { header: ['severity', 'rule', 'score', 'unit', 'site', 'box', 'call_id', 'alert_id', 'call_started_at', 'agent', 'line', 'alert_at', 'start_sec', 'end_sec', 'title', 'evidence'], rows: rows.slice(0, MAX_EXPORT_ROWS) };
  },
  async precision(db, f) {
    const rows = await precision(db, f, 'rule');
    return { header: ['rule', 'alerts', 'reviewed', 'reviewed_share', 'confirmed', 'precision'], rows: rows.map((r) => [r.key, r.alerts, r.reviewed, round(r.reviewedShare), r.confirmed, round(r.precision)]) };
  },
  async 'precision-sites'(db, f) {
    const rows = await precision(db, f, 'site');
    return { header: ['site', 'alerts', 'reviewed', 'reviewed_share', 'confirmed', 'precision'], rows: rows.map((r) => [r.key, r.alerts, r.reviewed, round(r.reviewedShare), r.confirmed, round(r.precision)]) };
  },
  async trend(db, f) {
    const { weeks, rules } = await weeklyTrend(db, f as ReviewFilter & { from: string; to: string });
    const rows: Cell[][] = [];
    for (const r of rules) {
      weeks.forEach((w, i) => rows.push([w.week, w.start, r.rule, w.calls, r.alerts[i], r.confirmed[i], round(r.alertsPer100Calls[i], 3), round(r.confirmedPer100Calls[i], 3)]));
    }
    return { header: ['week', 'week_start', 'rule', 'calls', 'alerts', 'confirmed', 'alerts_per_100_calls', 'confirmed_per_100_calls'], rows };
  },
  async thresholds(db, f) {
    const tables = await thresholds(db, f);
    const rows: Cell[][] = [];
    for (const t of tables) for (const r of t.rows) rows.push([t.rule, t.kind, t.unit, r.threshold, r.kept, r.confirmed, round(r.precision)]);
    return { header: ['rule', 'score_kind', 'unit', 'threshold', 'kept', 'confirmed', 'precision'], rows };
  },
};

export const reviewRoutes: CentralRoutes = async (app: FastifyInstance, { store }) => {
  const db = store.db;
  const caller = (request: { caller?: Caller }) => request.caller!;

  app.get('/review', { config: { need: 'review' } }, servePage('review'));

  app.get('/api/review/sites', { config: { need: 'review' } }, async (request) => ({ sites: visibleSites(caller(request), await knownSites(db)) }));

  app.post<{ Body: unknown }>('/api/reviews', { config: { need: 'review' } }, async (request, reply) =>
    answer(reply, async () => {
      const body = request.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RequestError(400, 'a JSON object: {box, callId, alertId, verdict, note?}');
      const b = body as Record<string, unknown>;
      const ref = { box: bodyString(b, 'box', 200), callId: bodyString(b, 'callId', 200), alertId: bodyString(b, 'alertId', 200) };
      if (!VERDICTS.includes(b.verdict as Verdict)) throw new RequestError(400, `verdict: one of ${VERDICTS.join(', ')}`);
      if (b.note !== undefined && b.note !== null && typeof b.note !== 'string') throw new RequestError(400, 'note: a string');
      const note = typeof b.note === 'string' && b.note.trim() ? b.note.trim() : null;
      if (note !== null && note.length > MAX_NOTE) throw new RequestError(400, `note: longer than ${MAX_NOTE} characters`);
      const found = await alertSite(db, ref);
      if (!found || !mayseeSite(caller(request), found.site)) throw new RequestError(404, 'no such alert');
      return recordReview(db, caller(request).name, { ...ref, ...found }, b.verdict as Verdict, note);
    }),
  );

  app.get<{ Querystring: Query }>('/api/reviews', { config: { need: 'review' } }, async (request, reply) =>
    answer(reply, async () => {
      const box = param(request.query, 'box');
      const callId = param(request.query, 'callId');
      if (box === undefined || callId === undefined) throw new RequestError(400, 'box and callId: required');
      // A call whose index has not come yet is known by its alerts.
      const [known] = await db.all<{ site: string }>('SELECT site FROM calls WHERE box = ? AND call_id = ? UNION SELECT site FROM alerts WHERE box = ? AND call_id = ?', [box, callId, box, callId]);
      if (!known || !mayseeSite(caller(request), known.site)) throw new RequestError(404, 'no such call');
      return { site: known.site, box, callId, ...(await callReviews(db, box, callId)) };
    }),
  );

  app.get<{ Querystring: Query }>('/api/review/queue', { config: { need: 'review' } }, async (request, reply) =>
    answer(reply, async () => {
      const f = reviewFilter(request.query, caller(request));
      return reviewQueue(db, f, { limit: intParam(request.query, 'limit', 1, 200), after: param(request.query, 'after', 400) });
    }),
  );

  app.get<{ Querystring: Query }>('/api/review/precision', { config: { need: 'review' } }, async (request, reply) =>
    answer(reply, async () => {
      const f = reviewFilter(request.query, caller(request), DEFAULT_WEEKS);
      return { from: f.from, to: f.to, byRule: await precision(db, f, 'rule'), bySite: await precision(db, f, 'site') };
    }),
  );

  app.get<{ Querystring: Query }>('/api/review/trend', { config: { need: 'review' } }, async (request, reply) =>
    answer(reply, async () => {
      const f = reviewFilter(request.query, caller(request), DEFAULT_WEEKS) as ReviewFilter & { from: string; to: string };
      return { from: f.from, to: f.to, ...(await weeklyTrend(db, f)) };
    }),
  );

  app.get<{ Querystring: Query }>('/api/review/thresholds', { config: { need: 'review' } }, async (request, reply) =>
    answer(reply, async () => {
      const f = reviewFilter(request.query, caller(request), DEFAULT_WEEKS);
      return { from: f.from, to: f.to, rules: await thresholds(db, f) };
    }),
  );

  app.get<{ Params: { list: string }; Querystring: Query }>('/api/review/export/:list', { config: { need: 'export' } }, async (request, reply) =>
    answer(reply, async () => {
      const list = request.params.list.replace(/\.csv$/, '');
      const make = Object.hasOwn(EXPORTS, list) ? EXPORTS[list] : undefined;
      if (!make) throw new RequestError(404, `no list ${list}: one of ${Object.keys(EXPORTS).map((l) => `${l}.csv`).join(', ')}`);
      // The queue is every alert still waiting, as the page lists it; figures cover the page's default weeks.
      const f = reviewFilter(request.query, caller(request), list === 'queue' ? undefined : DEFAULT_WEEKS);
      const { header, rows } = await make(db, f);
      await audit(db, caller(request).name, `export.${list}`, { ...filterDetail(f), rows: rows.length });
      const day = new Date().toISOString().slice(0, 10);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="earshot-${list}-${day}.csv"`)
        .header('cache-control', 'no-store')
        .send(toCsv(header, rows));
    }),
  );
};
