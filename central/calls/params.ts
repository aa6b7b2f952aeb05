/**
 * The call list's query parameters: one name per CallFilter field (so a URL reads as the filter does), plus
 * `sort`, `limit` and `after`. Read here once for the list, its CSV and the page's form, each bad value
 * refused with the parameter's name. Nothing here touches Node: the page imports it too.
 */
import { SEVERITIES } from '../../edge/rules/types.js';
import type { CallFilter, CallQuery, CallSort } from '../store/store.js';
import { BadParameter, between, bool, count, language, oneOf, optional, seconds, text, time, type Reader } from '../params.js';

export { BadParameter } from '../params.js';

/** The orders, as the page offers them. */
export const SORT_LABELS: Record<CallSort, string> = {
  newest: 'newest first',
  oldest: 'oldest first',
  duration: 'longest duration',
  silence: 'longest silence',
  alerts: 'most alerts',
};

export const MAX_PAGE = 500;

/** The most calls one CSV export holds; past it the answer says it was cut (`x-earshot-truncated`). */
export const EXPORT_MAX = 10_000;

const limit: Reader<number> = between(1, MAX_PAGE);

/** Every filter of CallFilter, by the same name. */
const FILTERS: Record<keyof CallFilter, Reader> = {
  site: text,
  box: text,
  line: text,
  agent: text,
  from: time,
  to: time,
  rule: text,
  severity: oneOf(SEVERITIES),
  language,
  silenceOverSec: seconds,
  agitated: bool,
  overtalkAtLeast: count,
  minDurationSec: seconds,
  maxDurationSec: seconds,
};

const sort = oneOf(Object.keys(SORT_LABELS));
/**
 * Beside the filters: the list has an order and pages, an export an order (it is bounded, not paged); a
 * filter alone (search's, whose own parameters are read by search) has nothing beside.
 */
const BESIDE: Record<'list' | 'export' | 'filter', Record<string, Reader>> = { list: { sort, limit, after: text }, export: { sort }, filter: {} };

export const FILTER_NAMES = Object.keys(FILTERS) as (keyof CallFilter)[];

/** The list's query: a filter whose `site` may be absent (every site the caller may see), its order and page. */
export type CallListParams = Omit<CallQuery, 'site'> & { site?: string };

/**
 * Reads the query string (as Fastify parsed it: a repeated name is an array). An empty value is a field
 * the form left blank: not given. An unknown name is refused, so a misspelt filter is not silently ignored.
 */
export function readCallParams(query: Record<string, unknown>, of: 'list' | 'export' | 'filter' = 'list'): CallListParams {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(query)) {
    const reader = Object.hasOwn(FILTERS, name) ? (FILTERS as Record<string, Reader>)[name] : Object.hasOwn(BESIDE[of], name) ? BESIDE[of][name] : undefined;
    if (!reader) throw new BadParameter(name.slice(0, 60), `not a parameter of the call ${of}`);
    const value = optional(query, name, reader);
    if (value !== undefined) out[name] = value;
  }
  const p = out as CallListParams;
  if (p.from !== undefined && p.to !== undefined && p.from >= p.to) throw new BadParameter('to', 'must be after from');
  if (p.minDurationSec !== undefined && p.maxDurationSec !== undefined && p.minDurationSec > p.maxDurationSec) {
    throw new BadParameter('maxDurationSec', 'must be at least minDurationSec');
  }
  return p;
}

/** The filter (and order) of a list as a query string, without its page: what a bookmark or an export keeps. */
export function filterQueryString(p: CallListParams): string {
  const q = new URLSearchParams();
  for (const name of [...FILTER_NAMES, 'sort'] as const) {
    const v = p[name];
    if (v !== undefined && v !== null) q.set(name, String(v));
  }
  return q.toString();
}
