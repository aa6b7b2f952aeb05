/**
 * Search at the centre against the evaluator, over any store (SQLite here, PostgreSQL in hw-tests): the
 * same calls and the same hits as `earshot search` for every query, and the index's candidates a superset
 * of the evaluator's matches.
 */
import type { Test } from 'tap';
import { formatSearchResults, parseQuery, QuerySyntaxError, searchIndexes, type SearchableIndex, type SearchHit, type SearchResult } from '../../edge/search/query.js';
import { candidateCondition, fts5Query, tsqueryText } from '../../central/search/narrow.js';
import { SEARCH_TUNING, searchCalls, type SearchTuning } from '../../central/search/search.js';
import type { IncomingRecord } from '../../central/store/store.js';
import type { SqlStore } from '../../central/store/sql-store.js';
import { sanitizeForUplink } from '../../lib/privacy.js';

export interface IndexFile {
  file: string;
  index: SearchableIndex & { callId: string };
}

/** The indexes as a box sends them (redacted by its outbox, as `earshot search` shows them), on box-1 of site s1, a minute apart. */
export function indexRecords(files: IndexFile[], box = 'box-1', site = 's1', firstSeq = 1): IncomingRecord[] {
  const t0 = Date.parse('2026-03-02T09:00:00.000Z');
  return files.map(({ index }, i) => ({ site, box, seq: firstSeq + i, kind: 'index', at: new Date(t0 + i * 60_000).toISOString(), data: sanitizeForUplink(index) }));
}

/** Every page of a central search: callId -> its hits (snippets left out), and the number of requests it took. */
export async function centralSearchAll(store: SqlStore, q: string, tuning: SearchTuning = SEARCH_TUNING, limit = 100): Promise<{ hits: Map<string, SearchHit[]>; pages: number }> {
  const hits = new Map<string, SearchHit[]>();
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await searchCalls(store, '*', q, {}, { limit, cursor, hitsPerCall: Infinity }, tuning);
    pages++;
    for (const r of page.results) {
      if (hits.has(r.call.callId)) throw new Error(`${r.call.callId} returned twice for ${q}`);
      hits.set(r.call.callId, r.hits.map(({ snippet: _snippet, ...h }) => h));
    }
    cursor = page.next;
  } while (cursor);
  return { hits, pages };
}

/** The calls the text index lets through for a query, straight from the index (callIds). */
export async function indexCandidates(store: SqlStore, q: string): Promise<Set<string> | 'all'> {
  const cond = candidateCondition(parseQuery(q));
  if (cond.op === 'all') return 'all';
  const rows =
    store.db.dialect.name === 'postgres'
      ? await store.db.all<{ call_id: string }>('SELECT call_id FROM call_text WHERE lexemes @@ ?::tsquery', [tsqueryText(cond)])
      : await store.db.all<{ call_id: string }>('SELECT c.call_id FROM call_text f JOIN calls c ON c.text_id = f.rowid WHERE call_text MATCH ?', [fts5Query(cond)]);
  return new Set(rows.map((r) => r.call_id));
}

/**
 * The store's own choice, then each way of finding candidates forced, in small windows and with a small
 * budget per request (so that a search takes many windows and pages, merged across sites).
 */
export const PLANS: [string, SearchTuning, number][] = [
  ['as chosen', SEARCH_TUNING, 100],
  ['from the index', { ...SEARCH_TUNING, window: 30, examineBudget: 60, driveFromIndexBelow: Infinity, common: 2 }, 15],
  ['walking the filter', { ...SEARCH_TUNING, window: 30, examineBudget: 60, driveFromIndexBelow: -1, common: 2 }, 15],
  ['every call a candidate', { ...SEARCH_TUNING, window: 30, examineBudget: 60, common: 0 }, 15],
];

/** The central results in the files' order, as `earshot search` prints them. */
export function asListing(files: IndexFile[], hits: Map<string, SearchHit[]>): string {
  const results: SearchResult[] = files.filter((f) => hits.has(f.index.callId)).map((f) => ({ file: f.file, callId: f.index.callId, hits: hits.get(f.index.callId)! }));
  return formatSearchResults(results);
}

/**
 * For each query: the central search's calls and hits are the evaluator's (`earshot search`'s listing over
 * the same files: `expected(q)`, by default searchIndexes' over `files`), and the index's candidates include
 * every call the evaluator matches.
 */
export async function compareQueries(t: Test, store: SqlStore, files: IndexFile[], queries: string[], label: string, expected?: (q: string) => Promise<string>, plans = PLANS): Promise<{ compared: number; matched: number; narrowedAway: number }> {
  let compared = 0;
  let matched = 0;
  let narrowedAway = 0;
  const failures: string[] = [];
  for (const q of queries) {
    try {
      parseQuery(q);
    } catch (err) {
      if (err instanceof QuerySyntaxError) continue;
      throw err;
    }
    const want = expected ? await expected(q) : formatSearchResults(searchIndexes(q, files));
    for (const [plan, tuning, limit] of plans) {
      const got = asListing(files, (await centralSearchAll(store, q, tuning, limit)).hits);
      if (got !== want) failures.push(`${label}: ${q} (${plan})\n--- earshot search\n${want}\n--- central\n${got}`);
    }
    compared++;
    // the listing's call lines: `<file> (<callId>)`
    const evaluatorMatches = want.split('\n').flatMap((line) => (/^\S.* \((.*)\)$/.exec(line)?.slice(1) ?? []));
    matched += evaluatorMatches.length;
    const candidates = await indexCandidates(store, q);
    if (candidates !== 'all') {
      const missing = evaluatorMatches.filter((id) => !candidates.has(id));
      if (missing.length) failures.push(`${label}: ${q}: the index dropped ${missing.join(', ')}`);
      narrowedAway += files.length - candidates.size;
    }
  }
  t.same(failures, [], `${label}: ${compared} queries give the same calls and hits as earshot search, and the index never drops a match`);
  return { compared, matched, narrowedAway };
}

/** Makes the store as it was before migration 4 (no text index at all), for the next open to apply it again. */
export async function dropTextIndex(store: SqlStore): Promise<void> {
  const sqliteOnly = store.db.dialect.name === 'sqlite' ? 'DROP INDEX calls_text_id; ALTER TABLE calls DROP COLUMN text_id; ' : '';
  await store.db.exec(`${sqliteOnly}DROP TABLE call_text; DELETE FROM schema_migrations WHERE version = 4`);
}
