/**
 * The call list's query parameters: one name per CallFilter field (so a URL reads as the filter does), plus
 * `sort`, `limit` and `after`. Read here once for the list, its CSV and the page's form, each bad value
 * refused with the parameter's name. Nothing here touches Node: the page imports it too.
 */
import { SEVERITIES } from '../../edge/rules/types.js';
import type { CallFilter, CallQuery, CallSort } from '../store/store.js';

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

/** A parameter the caller got wrong: the API answers 400 with `error` naming it. */
export class BadParameter extends Error {
  override name = 'BadParameter';
  constructor(readonly parameter: string, reason: string) {
    super(`${parameter}: ${reason}`);
  }
}

type Reader = (v: string, name: string) => unknown;

const MAX_TEXT = 200;
const text: Reader = (v, name) => {
  if (v.length > MAX_TEXT) throw new BadParameter(name, `at most ${MAX_TEXT} characters`);
  return v;
};

// With a zone, or a date alone (UTC midnight): a time without one would mean the server's local time.
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
/** Stored times are ISO UTC text, compared as text: a bound is normalised to the same form. */
const time: Reader = (v, name) => {
  const ms = Date.parse(v);
  if (!ISO.test(v) || !Number.isFinite(ms)) throw new BadParameter(name, `not a date or a time with its zone (2026-12-04, 2026-12-04T10:00:00Z): ${v.slice(0, 40)}`);
  return new Date(ms).toISOString();
};

const seconds: Reader = (v, name) => {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n)) throw new BadParameter(name, `seconds, a number 0 or more: ${v.slice(0, 40)}`);
  return n;
};

const count: Reader = (v, name) => {
  if (!/^\d{1,6}$/.test(v)) throw new BadParameter(name, `a whole number 0 or more: ${v.slice(0, 40)}`);
  return Number(v);
};

const oneOf =
  (allowed: readonly string[]): Reader =>
  (v, name) => {
    if (!allowed.includes(v)) throw new BadParameter(name, `one of ${allowed.join(', ')}, not ${v.slice(0, 40)}`);
    return v;
  };

const bool: Reader = (v, name) => {
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new BadParameter(name, `true or false, not ${v.slice(0, 40)}`);
};

const language: Reader = (v, name) => {
  if (!/^[a-z]{2,3}(-[A-Za-z0-9]{1,8})?$/.test(v)) throw new BadParameter(name, `a language code (en, zh), not ${v.slice(0, 40)}`);
  return v;
};

const limit: Reader = (v, name) => {
  const n = count(v, name) as number;
  if (n < 1 || n > MAX_PAGE) throw new BadParameter(name, `1 to ${MAX_PAGE}`);
  return n;
};

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
/** Beside the filters: the list has an order and pages, an export an order (it is bounded, not paged). */
const BESIDE: Record<'list' | 'export', Record<string, Reader>> = { list: { sort, limit, after: text }, export: { sort } };

export const FILTER_NAMES = Object.keys(FILTERS) as (keyof CallFilter)[];

/** The list's query: a filter whose `site` may be absent (every site the caller may see), its order and page. */
export type CallListParams = Omit<CallQuery, 'site'> & { site?: string };

/**
 * Reads the query string (as Fastify parsed it: a repeated name is an array). An empty value is a field
 * the form left blank: not given. An unknown name is refused, so a misspelt filter is not silently ignored.
 */
export function readCallParams(query: Record<string, unknown>, of: 'list' | 'export' = 'list'): CallListParams {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(query)) {
    const reader = Object.hasOwn(FILTERS, name) ? (FILTERS as Record<string, Reader>)[name] : Object.hasOwn(BESIDE[of], name) ? BESIDE[of][name] : undefined;
    if (!reader) throw new BadParameter(name.slice(0, 60), `not a parameter of the call ${of}`);
    if (Array.isArray(raw)) throw new BadParameter(name, 'given more than once');
    if (typeof raw !== 'string') throw new BadParameter(name, 'not text');
    if (raw === '') continue;
    out[name] = reader(raw, name);
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
