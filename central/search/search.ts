/**
 * Search across the stored calls: the box's query language (docs/search.md) over every call of the sites a
 * caller may see, with the call list's filters. The text index (text-index.ts) narrows the candidates with
 * a condition that lets through every call the evaluator would match (narrow.ts); `matchCall` then decides
 * exactly on each candidate's stored index, so the centre finds what `earshot search` finds.
 *
 * Bounds, and why (docs/central.md, "Search"): at a million calls a common word is in hundreds of
 * thousands of them, and no store ranks that many in under a second. So candidates come in windows of the
 * newest (the call list's order, on its index), each window is evaluated whole, and its matches are ranked
 * by their evidence: hits of rarer matched words weigh more. A request examines a bounded number of
 * candidates; the response says how many it examined and hands back a cursor when there are more. How a
 * window is fetched (Plan) depends on how many calls the index names. SEARCH_TUNING holds the numbers.
 */
import { hitSnippets, matchCall, parseQuery, type QueryNode, type SearchHit, type SnippetSegment } from '../../edge/search/query.js';
import type { CallFilter, CallRow } from '../store/store.js';
import { CALL_COLUMNS, filterSql, toCall, type CallDbRow, type SqlStore } from '../store/sql-store.js';
import { candidateCondition, fts5Query, tsqueryText, type Cond } from './narrow.js';

export const SEARCH_LIMITS = {
  /** characters of query text */
  chars: 1000,
  /** words and phrases */
  terms: 40,
  /** operators nested in one another */
  depth: 12,
  /** calls per page */
  page: 100,
};

/** The bounds of one search request (the defaults are what the API uses; tests force each plan with them). */
export interface SearchTuning {
  /** candidates evaluated together and ranked against each other */
  window: number;
  /** candidates one request evaluates at most before it answers with what it has and a cursor */
  examineBudget: number;
  /** up to this many calls named by the index, windows are fetched from the index's list; beyond, from the filter's */
  driveFromIndexBelow: number;
  /** the newest calls whose share named by the index says whether narrowing pays */
  sample: number;
  /** named in at least this share of them: every call is a candidate instead (above 1: never) */
  common: number;
  /** PostgreSQL: named in at least this share of them (and less than `common`): walk the calls */
  walkAbove: number;
}

export const SEARCH_TUNING: Readonly<SearchTuning> = { window: 100, examineBudget: 1000, driveFromIndexBelow: 20_000, sample: 500, common: 0.25, walkAbove: 0.01 };
/** hits returned per call (the rest are counted) */
const HITS_PER_CALL = 50;

/** The call filter of a search: the call list's, with the site optional (all the caller's sites). */
export type SearchFilter = Omit<CallFilter, 'site'> & { site?: string };

export interface SearchPage {
  /** matching calls per page (default 20, at most SEARCH_LIMITS.page) */
  limit?: number;
  /** `next` of the previous page */
  cursor?: string | null;
  /** hits per call at most (default 50; Infinity: all) */
  hitsPerCall?: number;
}

export interface SearchHitOut extends SearchHit {
  /** the hit in its utterance: segments of plain text, the matched words flagged */
  snippet: SnippetSegment[];
}

export interface SearchResultCall {
  call: CallRow;
  /** evidence weight within its window: more hits of rarer matched words score higher */
  score: number;
  hitCount: number;
  hits: SearchHitOut[];
}

export interface SearchResponse {
  results: SearchResultCall[];
  /** candidates evaluated for this page */
  examined: number;
  /** false: the index narrowed nothing (a query of only NOTs), the candidates were the filter's calls */
  narrowed: boolean;
  /** whether there may be more matches: ask again with `next` */
  more: boolean;
  next: string | null;
  /** how the candidates were found (see Plan) and where the time went, for whoever tunes a store */
  cost: { plan: Plan; planMs: number; fetchMs: number; evaluateMs: number };
}

/** A query over a limit; `limit` names which, for the message and the API. */
export class QueryTooLargeError extends Error {
  override name = 'QueryTooLargeError';
  constructor(
    readonly limit: 'chars' | 'terms' | 'depth',
    readonly max: number,
    readonly actual: number,
  ) {
    const what = { chars: 'characters', terms: 'words or phrases', depth: 'levels of nesting' }[limit];
    super(`the query is too large: ${actual} ${what}, at most ${max}`);
  }
}

/** A cursor that is not one this search handed out. */
export class SearchCursorError extends Error {
  override name = 'SearchCursorError';
}

/** Parses a query within the limits: QueryTooLargeError, or the parser's QuerySyntaxError (with its position). */
export function parseSearchQuery(text: string): QueryNode {
  // before parsing: the parser recurses once per nested group
  if (text.length > SEARCH_LIMITS.chars) throw new QueryTooLargeError('chars', SEARCH_LIMITS.chars, text.length);
  const tree = parseQuery(text);
  const terms = countTerms(tree);
  if (terms > SEARCH_LIMITS.terms) throw new QueryTooLargeError('terms', SEARCH_LIMITS.terms, terms);
  const depth = depthOf(tree);
  if (depth > SEARCH_LIMITS.depth) throw new QueryTooLargeError('depth', SEARCH_LIMITS.depth, depth);
  return tree;
}

const children = (n: QueryNode): QueryNode[] =>
  n.type === 'term' ? [] : n.type === 'and' || n.type === 'or' ? n.children : n.type === 'near' ? [n.left, n.right] : [n.child];
const countTerms = (n: QueryNode): number => (n.type === 'term' ? 1 : children(n).reduce((s, c) => s + countTerms(c), 0));
const depthOf = (n: QueryNode): number => (n.type === 'term' ? 0 : 1 + Math.max(...children(n).map(depthOf)));

type Keyset = [startedAt: string, box: string, callId: string];
interface Cursor {
  /** the window starts after this call (null: the newest) */
  w: Keyset | null;
  /** matches of that window already shown */
  o: number;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new SearchCursorError('not a search cursor');
  }
  const c = v as Cursor;
  const keysetOk = c?.w === null || (Array.isArray(c?.w) && c.w.length === 3 && c.w.every((x) => typeof x === 'string'));
  if (!keysetOk || !Number.isInteger(c.o) || c.o < 0) throw new SearchCursorError('not a search cursor');
  return { w: c.w, o: c.o };
}

type Row = CallDbRow & { index_json: string };
const sameKey = (a: Keyset | null, b: Keyset | null) => a === b || (a !== null && b !== null && a[0] === b[0] && a[1] === b[1] && a[2] === b[2]);
const newerFirst = (a: Keyset, b: Keyset) => (a[0] !== b[0] ? (a[0] < b[0] ? 1 : -1) : a[1] !== b[1] ? (a[1] < b[1] ? 1 : -1) : a[2] < b[2] ? 1 : a[2] > b[2] ? -1 : 0);

/** The filter's WHERE terms over the given sites (null: any site). */
function scopedFilter(filter: SearchFilter, sites: string[] | null): { where: string[]; params: unknown[] } {
  const { where, params } = filterSql({ ...filter, site: '' });
  // filterSql's first term is its one site; a search may span several
  if (where[0] !== 'site = ?') throw new Error('filterSql no longer starts with the site');
  where.shift();
  params.shift();
  if (sites) {
    where.unshift(sites.length === 1 ? 'site = ?' : `site IN (${sites.map(() => '?').join(', ')})`);
    params.unshift(...sites);
  }
  if (where.length === 0) where.push('1 = 1');
  return { where, params };
}

/** The sites that have calls, in order. */
export async function sitesWithCalls(store: SqlStore): Promise<string[]> {
  // a loose index scan: one step per site on calls_site_started, not a scan of every call
  const rows = await store.db.all<{ site: string | null }>(
    `WITH RECURSIVE s (site) AS (SELECT MIN(site) FROM calls UNION ALL SELECT (SELECT MIN(site) FROM calls WHERE site > s.site) FROM s WHERE s.site IS NOT NULL)
     SELECT site FROM s WHERE site IS NOT NULL`,
  );
  return rows.map((r) => r.site as string);
}

/**
 * How a search finds its candidates, chosen once per search:
 * - `filter`: the index cannot narrow (a query of only NOTs), or what it names is so common among the
 *   newest calls that narrowing would cost more than it saves: every call of the filter is a candidate;
 * - `index`: the index names few calls: take them from it, filter and sort them;
 * - `walk`: it names many: walk the filter's calls newest first, keeping those in the index's set.
 */
export type Plan = 'filter' | 'index' | 'walk';

/** Fetches windows of candidates, newest first, for one search. */
class Candidates {
  private sitesList: string[] | null = null;
  private chosen: Plan | null = null;

  constructor(
    private readonly store: SqlStore,
    private readonly sites: readonly string[] | '*',
    private readonly filter: SearchFilter,
    private readonly cond: Cond,
    private readonly tuning: SearchTuning,
  ) {}

  /** The sites searched: the filter's, the caller's, or (all sites) those that have calls. */
  private async siteList(): Promise<string[]> {
    if (this.sitesList) return this.sitesList;
    if (this.filter.site !== undefined) return (this.sitesList = [this.filter.site]);
    if (this.sites !== '*') return (this.sitesList = [...this.sites]);
    return (this.sitesList = await sitesWithCalls(this.store));
  }

  private get pg(): boolean {
    return this.store.db.dialect.name === 'postgres';
  }

  private textParam(): string {
    return this.pg ? tsqueryText(this.cond) : fts5Query(this.cond);
  }

  async plan(): Promise<Plan> {
    if (this.chosen) return this.chosen;
    if (this.cond.op === 'all' || this.tuning.common <= 0) return (this.chosen = 'filter');
    const db = this.store.db;
    const share = this.pg ? await this.commonnessPg() : await this.commonnessSqlite();
    if (share !== null && share >= this.tuning.common) return (this.chosen = 'filter');
    if (!Number.isFinite(this.tuning.driveFromIndexBelow) || this.tuning.driveFromIndexBelow < 0) return (this.chosen = this.tuning.driveFromIndexBelow > 0 ? 'index' : 'walk');
    // PostgreSQL: counting would be a scan of its own, and its planner misjudges how many calls a phrase's
    // pairs name together (they come together): the sample says whether walking finds candidates soon
    if (this.pg) return (this.chosen = share !== null && share >= this.tuning.walkAbove ? 'walk' : 'index');
    const [row] = await db.all<{ n: number }>('SELECT COUNT(*) AS n FROM (SELECT 1 FROM call_text WHERE call_text MATCH ? LIMIT ?) AS named', [this.textParam(), this.tuning.driveFromIndexBelow + 1]);
    return (this.chosen = Number(row.n) <= this.tuning.driveFromIndexBelow ? 'index' : 'walk');
  }

  /**
   * SQLite: the share of the newest calls the index names (FTS5 reads a rowid range of its lists cheaply;
   * calls.text_id numbers calls as they first arrive with words).
   */
  private async commonnessSqlite(): Promise<number | null> {
    const db = this.store.db;
    const [{ top }] = await db.all<{ top: number | null }>('SELECT MAX(text_id) AS top FROM calls WHERE text_id IS NOT NULL');
    const sample = Math.min(this.tuning.sample, top ?? 0);
    if (sample <= 0) return null;
    const [{ n }] = await db.all<{ n: number }>('SELECT COUNT(*) AS n FROM call_text WHERE call_text MATCH ? AND rowid > ?', [this.textParam(), (top ?? 0) - sample]);
    return Number(n) / sample;
  }

  /**
   * PostgreSQL: the share of the filter's newest calls (of its first site) that the index names, tested
   * row by row (a GIN index would read every entry of a common lexeme, which is what is to be avoided).
   */
  private async commonnessPg(): Promise<number | null> {
    const [site] = await this.siteList();
    if (site === undefined) return null;
    const { where, params } = scopedFilter(this.filter, [site]);
    // the test is a value per sampled call (placeholders are numbered in the order they are written)
    const [row] = await this.store.db.all<{ named: number; total: number }>(
      `SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE (SELECT t.lexemes @@ ?::tsquery FROM call_text t WHERE t.box = s.box AND t.call_id = s.call_id)) AS named
       FROM (SELECT box, call_id FROM calls WHERE ${where.join(' AND ')} ORDER BY started_at DESC, box DESC, call_id DESC LIMIT ?) AS s`,
      [this.textParam(), ...params, this.tuning.sample],
    );
    return Number(row.total) > 0 ? Number(row.named) / Number(row.total) : null;
  }

  /**
   * Up to `size` candidates after `after`, newest first, and the last one's key; `more` when there are
   * others after them. After the first window, keys are fetched for the rest of the request's budget at
   * once (the index's set is then built once more, not once per window) and windows are cut from them.
   */
  async window(after: Keyset | null, size: number): Promise<{ rows: Row[]; last: Keyset | null; more: boolean }> {
    let start = -1;
    const cached = this.fetched;
    if (cached) {
      if (sameKey(after, cached.after)) start = 0;
      else if (after) {
        const i = cached.keys.findIndex((k) => sameKey(k, after));
        if (i >= 0) start = i + 1;
      }
    }
    if (!cached || start < 0 || (cached.keys.length - start <= size && !cached.complete)) {
      // the first window alone (most pages need no other), then the rest of the budget at once
      const want = (cached ? Math.max(size, this.tuning.examineBudget) : size) + 1;
      const keys = await this.fetchKeys(after, want);
      this.fetched = { after, keys, complete: keys.length < want };
      start = 0;
    }
    const keys = this.fetched!.keys.slice(start, start + size + 1);
    const window = keys.slice(0, size);
    return { rows: await this.rows(window), last: window[window.length - 1] ?? null, more: keys.length > size };
  }

  private fetched: { after: Keyset | null; keys: Keyset[]; complete: boolean } | null = null;

  /** Up to `n` candidates' keys after `after`, newest first. */
  private async fetchKeys(after: Keyset | null, n: number): Promise<Keyset[]> {
    const sites = await this.siteList();
    if (sites.length === 0) return [];
    const plan = await this.plan();
    if (plan === 'index') {
      // one query over all the sites: the index's few calls, joined to theirs and sorted (the join is
      // written so that SQLite starts from the index, not from the calls)
      const from = this.pg
        ? '(SELECT box AS n_box, call_id AS n_call FROM call_text WHERE lexemes @@ ?::tsquery) AS named JOIN calls ON calls.box = named.n_box AND calls.call_id = named.n_call'
        : '(SELECT rowid AS n_id FROM call_text WHERE call_text MATCH ?) AS named CROSS JOIN calls ON calls.text_id = named.n_id';
      return this.keys(from, [this.textParam()], this.sites === '*' && this.filter.site === undefined ? null : sites, after, n, null);
    }
    // walk each site's calls newest first on the call list's index (keeping those the index names: its set
    // is built once per query), and merge the sites
    const member =
      plan === 'filter'
        ? null
        : this.pg
          ? // a value per row, which PostgreSQL cannot turn into a join over every call the index names
            '(SELECT t.lexemes @@ ?::tsquery FROM call_text t WHERE t.box = calls.box AND t.call_id = calls.call_id)'
          : // unary +: not an index lookup per row, a test against the set
            '+text_id IN (SELECT rowid FROM call_text WHERE call_text MATCH ?)';
    const keys: Keyset[] = [];
    for (const site of sites) keys.push(...(await this.keys('calls', [], [site], after, n, member)));
    return keys.sort(newerFirst).slice(0, n);
  }

  /** Up to `n` keys, newest first: only the keys, so that nothing large is read or sorted. */
  private async keys(from: string, fromParams: unknown[], sites: string[] | null, after: Keyset | null, n: number, member: string | null): Promise<Keyset[]> {
    const { where, params } = scopedFilter(this.filter, sites);
    if (after) {
      where.push('(started_at, calls.box, calls.call_id) < (?, ?, ?)');
      params.push(...after);
    }
    if (member) {
      where.push(member);
      params.push(this.textParam());
    }
    const rows = await this.store.db.all<{ started_at: string; box: string; call_id: string }>(
      `SELECT started_at, calls.box AS box, calls.call_id AS call_id FROM ${from} WHERE ${where.join(' AND ')} ORDER BY started_at DESC, calls.box DESC, calls.call_id DESC LIMIT ?`,
      [...fromParams, ...params, n],
    );
    return rows.map((r) => [r.started_at, r.box, r.call_id]);
  }

  private async rows(keys: Keyset[]): Promise<Row[]> {
    if (keys.length === 0) return [];
    const rows = await this.store.db.all<Row>(
      // the index is its record's payload (migration 9)
      `SELECT ${CALL_COLUMNS}, (SELECT payload FROM records r WHERE r.box = calls.box AND r.seq = calls.seq) AS index_json FROM calls WHERE (box, call_id) IN (VALUES ${keys.map(() => '(?, ?)').join(', ')})`,
      keys.flatMap(([, box, callId]) => [box, callId]),
    );
    const byKey = new Map(rows.map((r) => [`${r.box}\n${r.call_id}`, r]));
    return keys.map(([, box, callId]) => byKey.get(`${box}\n${callId}`)).filter((r): r is Row => r !== undefined);
  }
}

interface Evaluated {
  row: Row;
  index: unknown;
  hits: SearchHit[];
  score: number;
}

/** The window's candidates that match, best evidence first (ties: newest first, the window's order). */
function evaluateWindow(tree: QueryNode, rows: Row[]): Evaluated[] {
  const matched: Evaluated[] = [];
  for (const row of rows) {
    let index: unknown;
    try {
      index = JSON.parse(row.index_json);
      const m = matchCall(tree, index as never);
      if (m) matched.push({ row, index, hits: m.hits, score: 0 });
    } catch {
      // an index the evaluator cannot read matches nothing, as it would in `earshot search`'s hands
    }
  }
  // tf-idf over what was found: how often each matched text is in the call, and in how few of the window's
  // matching calls it is
  const key = (h: SearchHit) => h.text.toLowerCase();
  const df = new Map<string, number>();
  for (const e of matched) for (const k of new Set(e.hits.map(key))) df.set(k, (df.get(k) ?? 0) + 1);
  for (const e of matched) {
    const tf = new Map<string, number>();
    for (const h of e.hits) tf.set(key(h), (tf.get(key(h)) ?? 0) + 1);
    let score = 0;
    for (const [k, n] of tf) score += (1 + Math.log(n)) * Math.log(1 + matched.length / df.get(k)!);
    e.score = Math.round(score * 1000) / 1000;
  }
  return matched.map((e, i) => ({ e, i })).sort((a, b) => b.e.score - a.e.score || a.i - b.i).map((x) => x.e);
}

/**
 * One page of a search over the calls of `sites` (the caller's; '*' for all) that pass `filter`. Throws
 * QuerySyntaxError, QueryTooLargeError or SearchCursorError for what the caller got wrong.
 */
export async function searchCalls(
  store: SqlStore,
  sites: readonly string[] | '*',
  queryText: string,
  filter: SearchFilter = {},
  page: SearchPage = {},
  tuning: SearchTuning = SEARCH_TUNING,
): Promise<SearchResponse> {
  const tree = parseSearchQuery(queryText);
  const limit = Math.max(1, Math.min(Math.floor(page.limit ?? 20), SEARCH_LIMITS.page));
  const hitsPerCall = page.hitsPerCall ?? HITS_PER_CALL;
  let cursor: Cursor = page.cursor ? decodeCursor(page.cursor) : { w: null, o: 0 };
  const cond = candidateCondition(tree);
  const cost = { plan: 'filter' as Plan, planMs: 0, fetchMs: 0, evaluateMs: 0 };
  // a site the caller may not see has nothing for them (the route answers 404 before asking)
  if (filter.site !== undefined && sites !== '*' && !sites.includes(filter.site)) return { results: [], examined: 0, narrowed: false, more: false, next: null, cost };
  const candidates = new Candidates(store, sites, filter, cond, tuning);
  let t = performance.now();
  const lap = () => {
    const now = performance.now();
    const ms = now - t;
    t = now;
    return Math.round(ms * 10) / 10;
  };
  cost.plan = await candidates.plan();
  cost.planMs = lap();
  const window = Math.max(tuning.window, 2 * limit);

  const results: SearchResultCall[] = [];
  let examined = 0;
  let next: Cursor | null = null;
  for (;;) {
    const { rows, last, more } = await candidates.window(cursor.w, window);
    cost.fetchMs += lap();
    examined += rows.length;
    const matched = evaluateWindow(tree, rows);
    const taken = matched.slice(cursor.o, cursor.o + limit - results.length);
    for (const e of taken) {
      const hits = e.hits.slice(0, hitsPerCall);
      const snippets = hitSnippets(e.index as never, hits);
      results.push({ call: toCall(e.row), score: e.score, hitCount: e.hits.length, hits: hits.map((h, i) => ({ ...h, snippet: snippets[i] })) });
    }
    cost.evaluateMs += lap();
    const shown = cursor.o + taken.length;
    if (shown < matched.length) {
      next = { w: cursor.w, o: shown };
      break;
    }
    if (!more || !last) break;
    const after = last;
    if (results.length >= limit || examined >= tuning.examineBudget) {
      next = { w: after, o: 0 };
      break;
    }
    cursor = { w: after, o: 0 };
  }
  return { results, examined, narrowed: cost.plan !== 'filter', more: next !== null, next: next && encodeCursor(next), cost };
}
