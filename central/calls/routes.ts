/**
 * Calls: the list (filters, orders, keyset pages), its CSV export, and one call with its index and alerts,
 * each answering only with calls of sites the caller may see. The pages (`/calls`, `/calls/:box/:callId`)
 * draw what these return; docs/central.md, "Calls".
 */
import type { FastifyReply } from 'fastify';
import type { CentralRoutes } from '../central.js';
import { audit } from '../audit.js';
import { toCsv, type Cell } from '../csv.js';
import { alertStands, CallCursorError, type Sql, type SqlStore } from '../store/sql-store.js';
import type { CallRow } from '../store/store.js';
import { mayseeSite, type Caller } from '../web/access.js';
import { servePage } from '../web/server.js';
import { BadParameter, EXPORT_MAX, readCallParams, type CallListParams } from './params.js';

const EXPORT_PAGE = 1000;
const SEVERITY_CHUNK = 250;

/** A call as the list shows it: its row and how many of its alerts are of each severity. */
export type ListedCall = CallRow & { severities: Record<string, number> };

class HiddenSite extends Error {}

/**
 * Every site with calls, found by skipping through the site-led index one site at a time (a DISTINCT would
 * read every call), and every registered site.
 */
export async function knownSites(sql: Sql): Promise<string[]> {
  const rows = await sql.all<{ site: string }>(
    `WITH RECURSIVE s (site) AS (
       SELECT MIN(site) FROM calls
       UNION ALL SELECT (SELECT MIN(c.site) FROM calls c WHERE c.site > s.site) FROM s WHERE s.site IS NOT NULL)
     SELECT site FROM s WHERE site IS NOT NULL UNION SELECT site FROM sites`,
  );
  return [...new Set(rows.map((r) => r.site))].sort();
}

/** The sites a list covers: the one asked for, if the caller may see it, else all they may see. */
async function sitesOf(store: SqlStore, caller: Caller, asked: string | undefined): Promise<string[]> {
  if (asked !== undefined) {
    if (!mayseeSite(caller, asked)) throw new HiddenSite(asked);
    return [asked];
  }
  return caller.sites === '*' ? knownSites(store.db) : [...caller.sites];
}

/** Standing alerts per severity of each call, by `box/callId`. */
async function severitiesOf(sql: Sql, calls: CallRow[]): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  // An OR of primary-key prefixes is an index lookup each in both dialects; in chunks, as SQLite bounds
  // an expression's depth (1000).
  for (let i = 0; i < calls.length; i += SEVERITY_CHUNK) {
    const chunk = calls.slice(i, i + SEVERITY_CHUNK);
    const rows = await sql.all<{ box: string; call_id: string; severity: string; n: number }>(
      `SELECT box, call_id, severity, COUNT(*) AS n FROM alerts WHERE (${chunk.map(() => '(box = ? AND call_id = ?)').join(' OR ')}) AND ${alertStands('alerts')} GROUP BY box, call_id, severity`,
      chunk.flatMap((c) => [c.box, c.callId]),
    );
    for (const r of rows) {
      const key = `${r.box}/${r.call_id}`;
      out.set(key, { ...out.get(key), [r.severity]: Number(r.n) });
    }
  }
  return out;
}

async function listed(store: SqlStore, calls: CallRow[]): Promise<ListedCall[]> {
  const sev = await severitiesOf(store.db, calls);
  return calls.map((c) => ({ ...c, severities: sev.get(`${c.box}/${c.callId}`) ?? {} }));
}

/** A user's mistake answered as one; anything else is the server's and propagates. */
function refused(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof BadParameter) return reply.code(400).send({ error: err.message, parameter: err.parameter });
  if (err instanceof CallCursorError) return reply.code(400).send({ error: `after: ${err.message}`, parameter: 'after' });
  // The same answer as for a site that does not exist: its name is not confirmed.
  if (err instanceof HiddenSite) return reply.code(404).send({ error: `no site ${err.message}` });
  throw err;
}

const CSV_HEADER = [
  'started_at', 'ended_at', 'site', 'box', 'call_id', 'line', 'agent', 'duration_sec', 'language', 'talk_ratio', 'longest_silence_sec',
  'overtalk_count', 'overtalk_sec', 'agitated', 'alerts', 'critical', 'warning', 'info',
];

const csvRow = (c: ListedCall): Cell[] => [
  c.startedAt, c.endedAt, c.site, c.box, c.callId, c.line, c.agent, c.durationSec, c.language, c.talkRatio, c.longestSilenceSec,
  c.overtalkCount, c.overtalkSec, c.agitated, c.alertCount, c.severities.critical ?? 0, c.severities.warning ?? 0, c.severities.info ?? 0,
];

export const callsRoutes: CentralRoutes = async (app, { store }) => {
  app.get('/calls', { config: { need: 'calls' } }, servePage('calls'));
  app.get('/calls/:box/:callId', { config: { need: 'calls' } }, servePage('call'));

  app.get('/api/calls/sites', { config: { need: 'calls' } }, async (request) => ({ sites: await sitesOf(store, request.caller!, undefined) }));

  app.get('/api/calls', { config: { need: 'calls' } }, async (request, reply) => {
    try {
      const p = readCallParams(request.query as Record<string, unknown>, 'list');
      const site = await sitesOf(store, request.caller!, p.site);
      const { calls, next } = await store.listCalls({ ...p, site });
      return { calls: await listed(store, calls), next, sort: p.sort ?? 'newest' };
    } catch (err) {
      return refused(reply, err);
    }
  });

  app.get('/api/calls.csv', { config: { need: 'export' } }, async (request, reply) => {
    let p: CallListParams;
    let site: string[];
    try {
      p = readCallParams(request.query as Record<string, unknown>, 'export');
      site = await sitesOf(store, request.caller!, p.site);
    } catch (err) {
      return refused(reply, err);
    }
    const rows: ListedCall[] = [];
    let after: string | null = null;
    let truncated = false;
    do {
      const page: Awaited<ReturnType<SqlStore['listCalls']>> = await store.listCalls({ ...p, site, limit: Math.min(EXPORT_PAGE, EXPORT_MAX - rows.length), after });
      rows.push(...(await listed(store, page.calls)));
      after = page.next;
      truncated = after !== null && rows.length >= EXPORT_MAX;
    } while (after !== null && !truncated);
    // Recorded before anything is sent: an export the log cannot hold is not made.
    await audit(store.db, request.caller!.name, 'export.calls', { filter: p, sites: site, rows: rows.length, truncated });
    const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '');
    reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="calls-${stamp}.csv"`);
    if (truncated) reply.header('x-earshot-truncated', `only the first ${EXPORT_MAX} calls: narrow the filter for the rest`);
    return toCsv(CSV_HEADER, rows.map(csvRow));
  });

  app.get<{ Params: { box: string; callId: string } }>('/api/calls/:box/:callId', { config: { need: 'calls' } }, async (request, reply) => {
    const { box, callId } = request.params;
    const call = await store.getCall(box, callId);
    if (!call || !mayseeSite(request.caller!, call.site)) return reply.code(404).send({ error: 'no such call' });
    const [index, alerts] = await Promise.all([store.callIndex(box, callId), store.alertsFor(box, callId)]);
    return { call, index, alerts };
  });
};
