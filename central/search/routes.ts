/**
 * Search's routes: the page (/search) and its API (GET /api/search?q=…&<filters>), both needing 'search'.
 * The filters are the call list's, read by its reader (central/calls/params.ts), so a search URL and a list
 * URL read alike and refuse the same mistakes. Everything a caller can get wrong is a 4xx with a message: a syntax error at its position (400), a
 * query over a limit (413), a filter value that is not one (400); a site not given to the caller is 404.
 */
import type { FastifyReply } from 'fastify';
import type { CentralRoutes } from '../central.js';
import { QuerySyntaxError } from '../../edge/search/query.js';
import { mayseeSite, visibleSites } from '../web/access.js';
import { servePage } from '../web/server.js';
import { QueryTooLargeError, SEARCH_LIMITS, SearchCursorError, searchCalls, sitesWithCalls, type SearchFilter } from './search.js';
import { readCallParams } from '../calls/params.js';
import { BadParameter, between, optional } from '../params.js';

export const searchRoutes: CentralRoutes = async (app, { store, log }) => {
  app.get('/search', { config: { need: 'search' } }, servePage('search'));

  app.get('/api/search/sites', { config: { need: 'search' } }, async (request) => ({ sites: visibleSites(request.caller!, await sitesWithCalls(store)) }));

  app.get('/api/search', { config: { need: 'search' } }, async (request, reply) => {
    const { q, limit: limitParam, cursor: cursorParam, ...filters } = request.query as Record<string, unknown>;
    const bad = (code: number, body: Record<string, unknown>): FastifyReply => reply.code(code).send(body);
    if (typeof q !== 'string' || q.trim() === '') return bad(400, { error: 'q: the query is missing', parameter: 'q' });
    let limit: number | undefined;
    let cursor: string | undefined;
    let filter: SearchFilter;
    try {
      limit = optional({ limit: limitParam }, 'limit', between(1, SEARCH_LIMITS.page));
      cursor = optional({ cursor: cursorParam }, 'cursor', (v) => v);
      filter = readCallParams(filters, 'filter');
    } catch (err) {
      if (err instanceof BadParameter) return bad(400, { error: err.message, parameter: err.parameter });
      throw err;
    }
    const caller = request.caller!;
    if (filter.site !== undefined && !mayseeSite(caller, filter.site)) return bad(404, { error: `no site ${filter.site}` });
    try {
      const t0 = performance.now();
      const out = await searchCalls(store, caller.sites, q, filter, { limit, cursor: cursor ?? null });
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
