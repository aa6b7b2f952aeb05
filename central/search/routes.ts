/**
 * Search's routes: the page (/search) and its API (GET /api/search?q=…&<filters>), both needing 'search'.
 * The filters are the call list's (CallFilter), named as its fields, so a search URL and a list URL read
 * alike. Everything a caller can get wrong is a 4xx with a message: a syntax error at its position (400), a
 * query over a limit (413), a filter value that is not one (400); a site not given to the caller is 404.
 */
import type { FastifyReply } from 'fastify';
import type { CentralRoutes } from '../central.js';
import { QuerySyntaxError } from '../../edge/search/query.js';
import { mayseeSite, visibleSites } from '../web/access.js';
import { servePage } from '../web/server.js';
import { QueryTooLargeError, SEARCH_LIMITS, SearchCursorError, searchCalls, sitesWithCalls, type SearchFilter } from './search.js';

/** A filter parameter that is not a value of its kind. */
export class FilterParamError extends Error {
  override name = 'FilterParamError';
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(`${param}: ${message}`);
  }
}

const TEXT = ['site', 'box', 'line', 'agent', 'rule', 'severity', 'language'] as const;
const TIME = ['from', 'to'] as const;
const SECONDS = ['silenceOverSec', 'minDurationSec', 'maxDurationSec'] as const;
const COUNT = ['overtalkAtLeast'] as const;
const FLAG = ['agitated'] as const;
export const FILTER_PARAMS: readonly string[] = [...TEXT, ...TIME, ...SECONDS, ...COUNT, ...FLAG];

/** A call filter from a URL's query string (CallFilter's field names); absent or empty parameters filter nothing. */
export function callFilterFromQuery(query: Record<string, unknown>, other: readonly string[] = []): SearchFilter {
  const filter: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(query)) {
    if (other.includes(name)) continue;
    if (!FILTER_PARAMS.includes(name)) throw new FilterParamError(name, `not a filter (filters: ${FILTER_PARAMS.join(', ')})`);
    if (Array.isArray(raw)) throw new FilterParamError(name, 'given more than once');
    const v = String(raw).trim();
    if (v === '') continue;
    if ((TEXT as readonly string[]).includes(name)) {
      if (v.length > 200) throw new FilterParamError(name, 'longer than 200 characters');
      filter[name] = v;
    } else if ((TIME as readonly string[]).includes(name)) {
      // a date or a date and time; stored times are UTC ISO 8601 text, compared as text
      const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) ? Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v) : NaN;
      if (!Number.isFinite(ms)) throw new FilterParamError(name, `not a date or time (e.g. 2026-03-01 or 2026-03-01T09:30:00Z): ${v}`);
      filter[name] = new Date(ms).toISOString();
    } else if ((SECONDS as readonly string[]).includes(name)) {
      const n = Number(v);
      if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n)) throw new FilterParamError(name, `not a number of seconds: ${v}`);
      filter[name] = n;
    } else if ((COUNT as readonly string[]).includes(name)) {
      if (!/^\d{1,6}$/.test(v)) throw new FilterParamError(name, `not a whole number: ${v}`);
      filter[name] = Number(v);
    } else {
      if (!['true', 'false', '1', '0'].includes(v)) throw new FilterParamError(name, `true or false, not ${v}`);
      filter[name] = v === 'true' || v === '1';
    }
  }
  return filter as SearchFilter;
}

const SEARCH_PARAMS = ['q', 'limit', 'cursor'];

export const searchRoutes: CentralRoutes = async (app, { store, log }) => {
  app.get('/search', { config: { need: 'search' } }, servePage('search'));

  app.get('/api/search/sites', { config: { need: 'search' } }, async (request) => ({ sites: visibleSites(request.caller!, await sitesWithCalls(store)) }));

  app.get('/api/search', { config: { need: 'search' } }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const bad = (code: number, body: Record<string, unknown>): FastifyReply => reply.code(code).send(body);
    const q = query.q;
    if (typeof q !== 'string' || q.trim() === '') return bad(400, { error: 'q: the query is missing' });
    let limit: number | undefined;
    if (query.limit !== undefined) {
      if (typeof query.limit !== 'string' || !/^\d{1,3}$/.test(query.limit) || Number(query.limit) < 1 || Number(query.limit) > SEARCH_LIMITS.page) {
        return bad(400, { error: `limit: a whole number from 1 to ${SEARCH_LIMITS.page}, not ${String(query.limit)}` });
      }
      limit = Number(query.limit);
    }
    if (query.cursor !== undefined && typeof query.cursor !== 'string') return bad(400, { error: 'cursor: given more than once' });
    let filter: SearchFilter;
    try {
      filter = callFilterFromQuery(query, SEARCH_PARAMS);
    } catch (err) {
      if (err instanceof FilterParamError) return bad(400, { error: err.message, param: err.param });
      throw err;
    }
    const caller = request.caller!;
    if (filter.site !== undefined && !mayseeSite(caller, filter.site)) return bad(404, { error: `no site ${filter.site}` });
    try {
      const t0 = performance.now();
      const out = await searchCalls(store, caller.sites, q, filter, { limit, cursor: (query.cursor as string | undefined) || null });
      log.debug({ q, examined: out.examined, results: out.results.length, ms: Math.round(performance.now() - t0) }, 'search');
      return { query: q, ...out };
    } catch (err) {
      if (err instanceof QuerySyntaxError) return bad(400, { error: `query: ${err.message}`, position: err.position, detail: err.detail });
      if (err instanceof QueryTooLargeError) return bad(413, { error: err.message, limit: { name: err.limit, max: err.max, actual: err.actual } });
      if (err instanceof SearchCursorError) return bad(400, { error: `cursor: ${err.message}` });
      throw err;
    }
  });
};
