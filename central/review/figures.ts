/**
 * Floor figures: one site, one day, what a floor manager reads in ten seconds: calls, calls per hour,
 * average handle time, talk and silence, alerts per 100 calls, the rules and agents with most alerts.
 * A day is a range of `calls_site_started` (site, started_at): the figures read that day's calls only, so
 * they cost the same at a million calls as at a thousand.
 */
import type { FastifyInstance } from 'fastify';
import type { CentralRoutes } from '../central.js';
import type { Sql } from '../store/sql-store.js';
import { alertStands, filterSql } from '../store/sql-store.js';
import { visibleSites } from '../web/access.js';
import { servePage } from '../web/server.js';
import { answer, intParam, param, RequestError, type Query } from './params.js';
import { knownSites } from './reviews.js';

export interface DayFigures {
  site: string;
  /** YYYY-MM-DD, in the time zone `tz` */
  day: string;
  /** minutes east of UTC the day is counted in */
  tz: number;
  /** the day as a range of started_at (ISO UTC) */
  from: string;
  to: string;
  calls: number;
  /** 24 counts, local hours 0..23 */
  callsPerHour: number[];
  avgHandleSec: number | null;
  /** over calls whose index has both: time anyone spoke, and silence (both sides quiet), in seconds and as shares of handle time */
  talkSec: number;
  silenceSec: number;
  talkShare: number | null;
  silenceShare: number | null;
  /** talk seconds per second of silence */
  talkToSilence: number | null;
  alerts: number;
  alertsPer100Calls: number | null;
  topRules: { rule: string; alerts: number; per100Calls: number }[];
  /** agents with most alerts (and calls: who took many calls is not who did wrong) */
  topAgents: { agent: string | null; calls: number; alerts: number; per100Calls: number }[];
}

const HOUR_MS = 3_600_000;
/** How long after its call's start an alert may be sent (below). */
const ALERT_LAG_HOURS = 48;
export const TOP = 5;

export async function dayFigures(db: Sql, site: string, day: string, tz: number): Promise<DayFigures> {
  const fromMs = Date.parse(`${day}T00:00:00.000Z`) - tz * 60_000;
  const from = new Date(fromMs).toISOString();
  const to = new Date(fromMs + 24 * HOUR_MS).toISOString();
  const { where, params } = filterSql({ site, from, to });
  const w = where.join(' AND ');
  const [t] = await db.all<{ n: number; aht: number | null; talk: number | null; silence: number | null; dur: number | null; alerts: number | null }>(
    `SELECT COUNT(*) AS n, AVG(duration_sec) AS aht, SUM(CASE WHEN talk_sec IS NOT NULL AND silence_sec IS NOT NULL THEN talk_sec END) AS talk,
       SUM(CASE WHEN talk_sec IS NOT NULL AND silence_sec IS NOT NULL THEN silence_sec END) AS silence,
       SUM(CASE WHEN talk_sec IS NOT NULL AND silence_sec IS NOT NULL THEN duration_sec END) AS dur, SUM(alert_count) AS alerts
     FROM calls WHERE ${w}`,
    params,
  );
  // By minute, folded into local hours here: a time zone half or three quarters of an hour off UTC
  // splits UTC hours between two local ones.
  const minutes = await db.all<{ m: string; n: number }>(`SELECT substr(started_at, 1, 16) AS m, COUNT(*) AS n FROM calls WHERE ${w} GROUP BY substr(started_at, 1, 16)`, params);
  const callsPerHour = Array.from({ length: 24 }, () => 0);
  for (const { m, n } of minutes) {
    const h = Math.floor((Date.parse(`${m}:00.000Z`) - fromMs) / HOUR_MS);
    if (h >= 0 && h < 24) callsPerHour[h] += Number(n);
  }
  // The day's calls joined to their alerts. The alerts' own range on alerts_site_at bounds the join: an
  // alert's `at` (when its box sent it, at the latest when the call ended) is never before its call started
  // and, calls lasting less than a day, within two days of it. Without it PostgreSQL reads every alert of
  // every site to join a few thousand calls.
  const rules = await db.all<{ rule: string; n: number }>(
    `SELECT a.rule, COUNT(*) AS n FROM (SELECT box, call_id FROM calls WHERE ${w}) c
     JOIN alerts a ON a.box = c.box AND a.call_id = c.call_id AND a.site = ? AND a.at >= ? AND a.at < ? AND ${alertStands('a')}
     GROUP BY a.rule ORDER BY COUNT(*) DESC, a.rule LIMIT ${TOP}`,
    [...params, site, from, new Date(fromMs + (24 + ALERT_LAG_HOURS) * HOUR_MS).toISOString()],
  );
  const agents = await db.all<{ agent: string | null; calls: number; alerts: number }>(
    `SELECT agent, COUNT(*) AS calls, SUM(alert_count) AS alerts FROM calls WHERE ${w} GROUP BY agent HAVING SUM(alert_count) > 0
     ORDER BY SUM(alert_count) DESC, COUNT(*) DESC, agent LIMIT ${TOP}`,
    params,
  );
  const calls = Number(t.n);
  const talk = Number(t.talk ?? 0);
  const silence = Number(t.silence ?? 0);
  const dur = Number(t.dur ?? 0);
  const alerts = Number(t.alerts ?? 0);
  const per100 = (n: number, of: number) => (of ? (100 * n) / of : 0);
  return {
    site, day, tz, from, to, calls, callsPerHour,
    avgHandleSec: t.aht === null ? null : Number(t.aht),
    talkSec: talk,
    silenceSec: silence,
    talkShare: dur ? talk / dur : null,
    silenceShare: dur ? silence / dur : null,
    talkToSilence: silence ? talk / silence : null,
    alerts,
    alertsPer100Calls: calls ? per100(alerts, calls) : null,
    topRules: rules.map((r) => ({ rule: r.rule, alerts: Number(r.n), per100Calls: per100(Number(r.n), calls) })),
    topAgents: agents.map((a) => ({ agent: a.agent, calls: Number(a.calls), alerts: Number(a.alerts), per100Calls: per100(Number(a.alerts), Number(a.calls)) })),
  };
}

export const figuresRoutes: CentralRoutes = async (app: FastifyInstance, { store }) => {
  const db = store.db;
  app.get('/figures', { config: { need: 'calls' } }, servePage('figures'));
  app.get('/api/figures/sites', { config: { need: 'calls' } }, async (request) => ({ sites: visibleSites(request.caller!, await knownSites(db)) }));
  // :site is checked by the server's hook: another's site is a 404.
  app.get<{ Params: { site: string }; Querystring: Query }>('/api/figures/:site', { config: { need: 'calls' } }, async (request, reply) =>
    answer(reply, async () => {
      const day = param(request.query, 'day', 10) ?? new Date().toISOString().slice(0, 10);
      // Date.parse rolls 2026-02-31 over to March: a day must read back as itself.
      const t = /^\d{4}-\d{2}-\d{2}$/.test(day) ? Date.parse(`${day}T00:00:00Z`) : NaN;
      if (!Number.isFinite(t) || new Date(t).toISOString().slice(0, 10) !== day) throw new RequestError(400, `day: a date as YYYY-MM-DD, not ${day}`);
      const tz = intParam(request.query, 'tz', -720, 840) ?? 0;
      return dayFigures(db, request.params.site, day, tz);
    }),
  );
};
