import { parseQuery, QuerySyntaxError } from '../../search/query.js';
import type { Detector } from '../detector.js';
import { MAX_QUERY_NESTING, nestingBound } from '../query-limits.js';
import { matching, noParams, windowed, type MatchState } from './matching.js';

/**
 * A query rule: any search-language query (docs/search.md). A required phrase is a query with NOT, judged at
 * the hang-up.
 */
export const query: Detector<MatchState> = {
  kind: 'query',
  byFields: true,
  params: {},
  compile(spec, tools) {
    noParams(spec, tools);
    const text = spec.query as string;
    if (nestingBound(text) > MAX_QUERY_NESTING) tools.fail(`query: more than ${MAX_QUERY_NESTING} brackets, NOTs and prefixes: nested too deep`, ['query']);
    try {
      parseQuery(text);
    } catch (err) {
      if (err instanceof QuerySyntaxError) tools.fail(`query: ${err.message}`, ['query']);
      throw err;
    }
    const scoped = spec.channel && spec.channel !== 'any' ? `${spec.channel}:(${text})` : text;
    return { queryText: windowed(scoped, spec.when?.window) };
  },
  ...matching,
};
