/**
 * Search at the centre (central/search), on the embedded store: it finds exactly what the evaluator finds
 * (`earshot search`'s listing) for a catalogue of queries and seeded random ones over calls of every shape
 * in both languages; the text index never drops a call the evaluator matches; a newer index of a call
 * replaces its words; migration 4 indexes calls stored before it; pages, ranking and snippets; and the API's
 * answers to bad input and to a caller who may not see a site. The same comparison against PostgreSQL and
 * the real analysed demo calls is hw-tests/central-search.test.ts.
 */
import t from 'tap';
import { redactedView } from '../edge/redaction/view.js';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { parseQuery, searchIndexes } from '../edge/search/query.js';
import { candidateCondition } from '../central/search/narrow.js';
import { SEARCH_LIMITS, searchCalls } from '../central/search/search.js';
import { searchRoutes } from '../central/search/routes.js';
import { openStore } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { startCentralWeb } from '../central/web/server.js';
import type { Authorize, Caller } from '../central/web/access.js';
import { repoRoot } from './support/cli.js';
import { fuzzSeed } from './support/fuzz.js';
import { mulberry32 } from '../lib/seeded-random.js';
import { centralSearchAll, compareQueries, dropTextIndex, indexCandidates, indexRecords, PLANS, type IndexFile } from './support/search-suite.js';
import { queryCatalogue, randomQuery, syntheticCalls, vocabulary } from './support/search-calls.js';
import { tempDir } from './support/temp.js';

const quiet = pino({ level: 'silent' });

async function storeWith(files: IndexFile[]): Promise<SqlStore> {
  const store = (await openStore(':memory:')) as SqlStore;
  await store.storeBatch(indexRecords(files), 'open');
  return store;
}

/** Generated calls as `earshot search` reads them from a box's disk: through the redacted view, as the centre stores them. */
const filesOf = (n: number, seed: number): IndexFile[] => syntheticCalls(n, seed).map((index) => ({ file: `calls/${index.callId}.json`, index: redactedView(index) }));

t.test('the same calls and hits as earshot search, and the index never drops a match', async (t) => {
  const seed = fuzzSeed(t);
  const files = filesOf(150, seed);
  const store = await storeWith(files);
  t.teardown(() => store.close());
  const corpus = vocabulary(files.map((f) => f.index));
  const catalogue = await compareQueries(t, store, files, queryCatalogue(corpus), `catalogue (seed ${seed})`);
  t.ok(catalogue.matched > 150, `the catalogue finds calls (${catalogue.matched} matches)`);
  const rng = mulberry32(seed);
  const random = Array.from({ length: 80 }, () => randomQuery(rng, corpus));
  // every way of finding candidates for some, the store's choice for the rest (time)
  const r1 = await compareQueries(t, store, files, random.slice(0, 15), `random queries, every plan (seed ${seed})`);
  const r2 = await compareQueries(t, store, files, random.slice(15), `random queries (seed ${seed})`, undefined, PLANS.slice(0, 1));
  t.ok(r1.compared + r2.compared >= 75, `${r1.compared + r2.compared} random queries parsed and compared`);
  t.ok(r1.matched + r2.matched > 0 && r1.narrowedAway + r2.narrowedAway > 0, `they match calls (${r1.matched + r2.matched}) and the index narrows (${r1.narrowedAway + r2.narrowedAway} calls left out over all queries)`);
});

t.test('narrowing: a superset of the matches, and narrower than all calls', async (t) => {
  const seed = fuzzSeed(t);
  const files = filesOf(100, seed + 1);
  const store = await storeWith(files);
  t.teardown(() => store.close());
  const corpus = vocabulary(files.map((f) => f.index));
  const rng = mulberry32(seed + 1);
  let checked = 0;
  for (let i = 0; i < 300; i++) {
    const q = randomQuery(rng, corpus);
    let matches: string[];
    try {
      matches = searchIndexes(q, files).map((m) => m.callId);
    } catch {
      continue; // a random query the parser refuses
    }
    const candidates = await indexCandidates(store, q);
    checked++;
    if (candidates === 'all') continue;
    const missing = matches.filter((id) => !candidates.has(id));
    if (missing.length) t.fail(`seed ${seed}: ${q}: the index dropped ${missing.join(', ')}`);
  }
  t.ok(checked > 270, `${checked} random queries checked (seed ${seed})`);
  const refund = await indexCandidates(store, 'refund');
  t.ok(refund !== 'all' && refund.size < files.length && refund.size > 0, 'a word narrows to the calls that have it');
  const customer = await indexCandidates(store, 'customer:refund');
  t.ok(customer !== 'all' && refund !== 'all' && customer.size < refund.size, 'a scope narrows to its channel');
  t.equal(await indexCandidates(store, 'NOT refund'), 'all', 'NOT cannot narrow');
  t.equal(await indexCandidates(store, 'refund OR NOT cancel'), 'all', 'nor an OR with a NOT');
  t.same(candidateCondition(parseQuery('last:20s (refund)')), candidateCondition(parseQuery('refund')), 'a window narrows as what it holds');
});

t.test('a newer index of a call replaces its words; an older one arriving later does not', async (t) => {
  const store = (await openStore(':memory:')) as SqlStore;
  t.teardown(() => store.close());
  const call = (words: string) => ({ callId: 'c1', durationSec: 10, utterances: [{ channel: 'agent', start: 1, end: 3, text: words }] });
  const at = '2026-03-02T09:00:00.000Z';
  await store.storeBatch([{ site: 's1', box: 'b1', seq: 5, kind: 'index', at, data: call('please hold the line') }], 'open');
  t.equal((await searchCalls(store, '*', 'hold')).results.length, 1);
  await store.storeBatch([{ site: 's1', box: 'b1', seq: 7, kind: 'index', at, data: call('your refund is on its way') }], 'open');
  t.equal((await searchCalls(store, '*', 'hold')).results.length, 0, 'the old words are gone');
  t.equal((await indexCandidates(store, 'hold')) instanceof Set && ((await indexCandidates(store, 'hold')) as Set<string>).size, 0, 'from the index too');
  t.equal((await searchCalls(store, '*', 'refund')).results.length, 1, 'the new ones are found');
  await store.storeBatch([{ site: 's1', box: 'b1', seq: 6, kind: 'index', at, data: call('cancel my order') }], 'open');
  t.equal((await searchCalls(store, '*', 'cancel')).results.length, 0, 'a late older index changes nothing');
  t.equal((await searchCalls(store, '*', 'refund')).results.length, 1);
});

t.test('migration 4 indexes the calls already stored', async (t) => {
  const dir = tempDir('search');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'central.sqlite');
  const files = filesOf(40, 77);
  const store = (await openStore(file)) as SqlStore;
  await store.storeBatch(indexRecords(files), 'open');
  // as a database from before version 4: no text index at all
  await dropTextIndex(store);
  await store.close();
  const again = (await openStore(file)) as SqlStore;
  t.teardown(() => again.close());
  t.ok((await again.appliedMigrations()).includes(4), 'migration 4 applied on opening');
  for (const q of ['refund', '验证码', 'customer:"bank card"']) {
    const { hits } = await centralSearchAll(again, q);
    t.same([...hits.keys()].sort(), searchIndexes(q, files).map((r) => r.callId).sort(), `${q}: the old calls are found`);
  }
});

t.test('pages: ranked by evidence in windows of the newest candidates, each call once, bounded work', async (t) => {
  const files = filesOf(700, 5);
  const store = await storeWith(files);
  t.teardown(() => store.close());
  const expected = searchIndexes('refund', files);
  t.ok(expected.length > 120, `refund is in ${expected.length} calls`);
  const first = await searchCalls(store, '*', 'refund', {}, { limit: 20 });
  t.equal(first.results.length, 20);
  t.ok(first.more && first.next, 'there is more');
  t.ok(first.examined > 0 && first.examined <= 1000, `examined ${first.examined} candidates`);
  const scores = first.results.map((r) => r.score);
  t.same(scores, [...scores].sort((a, b) => b - a), 'best evidence first');
  const top = first.results[0];
  const last = first.results[first.results.length - 1];
  t.ok(top.hitCount >= last.hitCount || top.score > last.score, 'more (or rarer) hits rank higher');
  const { hits, pages } = await centralSearchAll(store, 'refund');
  t.equal(hits.size, expected.length, 'all pages together: every match once');
  t.ok(pages >= 2, `over ${pages} pages`);

  // a query the index cannot narrow, and a rare word: the walk stops after the budget and says so
  const nots = await searchCalls(store, '*', 'NOT zzyzx', {}, { limit: 100 });
  t.equal(nots.narrowed, false, 'a query of only NOTs is answered over the filter');
  t.equal(nots.results.length, 100);
  t.ok(nots.more, 'and says there is more');
  const none = await searchCalls(store, '*', 'first:1s zzyzx OR first:1s "bank card" NEAR/1 验证码');
  t.equal(none.results.length, 0);
  t.equal(none.more, false, 'an index that names no call ends the search at once');
});

t.test('filters narrow the search as they narrow the call list; sites the caller may not see are left out', async (t) => {
  const files = filesOf(120, 9);
  const store = (await openStore(':memory:')) as SqlStore;
  t.teardown(() => store.close());
  await store.storeBatch(indexRecords(files.slice(0, 60), 'box-a', 'north'), 'open');
  await store.storeBatch(indexRecords(files.slice(60), 'box-b', 'south'), 'open');
  const all = searchIndexes('refund', files).map((r) => r.callId);
  const north = new Set(files.slice(0, 60).map((f) => f.index.callId));
  const ids = async (sites: string[] | '*', filter = {}) => (await searchCalls(store, sites, 'refund', filter, { limit: 100 })).results.map((r) => r.call.callId).sort();
  t.same(await ids('*'), [...all].sort(), 'all sites');
  t.same(await ids(['north']), all.filter((id) => north.has(id)).sort(), 'a caller of north sees north only');
  t.same(await ids(['north'], { site: 'south' }), [], 'asking for a site not given finds nothing');
  t.same(await ids('*', { box: 'box-b' }), all.filter((id) => !north.has(id)).sort(), 'box filter');
  const durations = new Map(files.map((f) => [f.index.callId, f.index.durationSec!]));
  t.same(await ids('*', { minDurationSec: 20 }), all.filter((id) => durations.get(id)! >= 20).sort(), 'duration filter');
  const lateFrom = '2026-03-02T09:30:00.000Z';
  const lateIds = await ids('*', { from: lateFrom });
  t.ok(lateIds.length > 0 && lateIds.length < all.length, 'time filter');
});

t.test('snippets: the utterance as text segments, the matched words flagged', async (t) => {
  const store = (await openStore(':memory:')) as SqlStore;
  t.teardown(() => store.close());
  const words = 'well so I would like a refund for the bank card please thank you'.split(' ').map((w, i) => ({ w, start: 10 + i * 0.5, end: 10.4 + i * 0.5 }));
  const index = {
    callId: 'c1',
    durationSec: 60,
    utterances: [
      { channel: 'customer', start: 10, end: 16, text: words.map((w) => w.w).join(' '), script: 'latin', words },
      { channel: 'agent', start: 20, end: 23, text: '银行卡被冻结了', script: 'hanzi', pinyin: 'yín háng kǎ bèi dòng jié le' },
    ],
    keywords: [{ term: 'refund', channel: 'customer', start: 13, end: 13.4, score: 0.7 }],
  };
  await store.storeBatch([{ site: 's1', box: 'b1', seq: 1, kind: 'index', at: '2026-03-02T09:00:00.000Z', data: index }], 'open');
  const [r] = (await searchCalls(store, '*', '"bank card" OR 银行卡 OR refund')).results;
  const shown = r.hits.map((h) => [h.channel, h.start, h.source, h.snippet.map((s) => (s.hit ? `[${s.text}]` : s.text)).join('')]);
  t.same(shown, [
    ['customer', 13, 'transcript', 'well so I would like a [refund] for the bank card please thank you'],
    ['customer', 13, 'keyword', 'well so I would like a [refund] for the bank card please thank you'],
    ['customer', 14.5, 'transcript', '… so I would like a refund for the [bank card] please thank you'],
    ['agent', 20, 'transcript', '[银行卡]被冻结了'],
  ]);
  t.ok(r.hits.every((h) => h.snippet.every((s) => typeof s.text === 'string' && !/[<>]/.test(s.text))), 'plain text segments');
});

t.test('the API: results, and a clear 4xx for every mistake', async (t) => {
  execFileSync(process.execPath, ['--import=tsx', join(repoRoot, 'scripts/build-web.ts')], { cwd: repoRoot });
  const files = filesOf(60, 3);
  const store = (await openStore(':memory:')) as SqlStore;
  t.teardown(() => store.close());
  await store.storeBatch(indexRecords(files.slice(0, 30), 'box-a', 'north'), 'open');
  await store.storeBatch(indexRecords(files.slice(30), 'box-b', 'south'), 'open');
  let caller: Caller = { name: 'qa', role: 'qa', sites: ['north'] };
  const authorize: Authorize = async (need, _req, reply) => {
    if (need !== 'signed-in' && !['calls', 'search', 'review', 'export'].includes(need) && caller.role === 'qa') return reply.code(403).send({ error: 'forbidden' }), null;
    if (need === 'search' && caller.role === 'supervisor') return reply.code(403).send({ error: 'forbidden' }), null;
    return caller;
  };
  const web = await startCentralWeb({ broker: 'mqtt://127.0.0.1:1', log: quiet, listen: '127.0.0.1:0', authorize, routes: [(app) => searchRoutes(app, { store, authorize, log: quiet })] });
  t.teardown(() => web.close());
  const get = async (path: string) => {
    const res = await fetch(`${web.url}${path}`);
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, any> };
  };

  const ok = await get(`/api/search?q=${encodeURIComponent('refund OR 验证码')}&limit=5`);
  t.equal(ok.status, 200);
  t.ok(ok.body.results.length > 0 && ok.body.results.every((r: any) => r.call.site === 'north'), 'results of the caller’s site only');
  t.match(ok.body.results[0], { call: { box: 'box-a', callId: String }, hits: [{ channel: String, start: Number, end: Number, text: String, source: String, snippet: Array }] });
  t.match(ok.body, { examined: Number, more: Boolean, narrowed: Boolean, cost: { plan: String } });
  const south = files.slice(30).filter((f) => searchIndexes('refund OR 验证码', [f]).length).length;
  t.ok(south > 0, 'south has matches too, which the caller must not get');

  const syntax = await get(`/api/search?q=${encodeURIComponent('(refund OR "bank card"')}`);
  t.equal(syntax.status, 400);
  t.match(syntax.body, { error: 'query: expected ")" at position 22', position: 22 }, 'a syntax error names its position');
  t.match((await get(`/api/search?q=${encodeURIComponent('agnet:refund')}`)).body, { position: 0, error: /unknown prefix agnet:/ });

  const long = await get(`/api/search?q=${'a'.repeat(SEARCH_LIMITS.chars + 1)}`);
  t.equal(long.status, 413);
  t.match(long.body, { error: `the query is too large: ${SEARCH_LIMITS.chars + 1} characters, at most ${SEARCH_LIMITS.chars}`, limit: { name: 'chars' } });
  const many = await get(`/api/search?q=${encodeURIComponent(Array.from({ length: SEARCH_LIMITS.terms + 1 }, (_, i) => `w${i}`).join(' OR '))}`);
  t.equal(many.status, 413);
  t.match(many.body.error, /too large: 41 words or phrases, at most 40/);
  const deep = await get(`/api/search?q=${encodeURIComponent('NOT '.repeat(SEARCH_LIMITS.depth + 1) + 'refund')}`);
  t.equal(deep.status, 413);
  t.match(deep.body.error, /levels of nesting, at most 12/);
  const nested = await get(`/api/search?q=${encodeURIComponent('('.repeat(400) + 'a' + ')'.repeat(400))}`);
  t.equal(nested.status, 200, 'redundant parentheses are not nesting');

  for (const [query, param, message] of [
    ['silenceOverSec=abc', 'silenceOverSec', /seconds, a number 0 or more: abc/],
    ['from=yesterday', 'from', /not a date or a time with its zone/],
    ['agitated=maybe', 'agitated', /true or false, not maybe/],
    ['overtalkAtLeast=-1', 'overtalkAtLeast', /a whole number 0 or more: -1/],
    ['agent=a&agent=b', 'agent', /given more than once/],
    ['colour=red', 'colour', /colour: not a parameter of the call filter/],
  ] as const) {
    const res = await get(`/api/search?q=refund&${query}`);
    t.equal(res.status, 400, query);
    t.match(res.body, { parameter: param, error: message }, `${query}: ${res.body.error}`);
  }
  t.match(await get('/api/search?q=refund&limit=0'), { status: 400, body: { error: /limit/ } });
  t.match(await get('/api/search?q=refund&limit=101'), { status: 400, body: { error: 'limit: a whole number from 1 to 100, not 101' } });
  t.match(await get('/api/search?q=refund&cursor=garbage'), { status: 400, body: { error: 'cursor: not a search cursor' } });
  t.match(await get('/api/search?q=%20'), { status: 400, body: { error: 'q: the query is missing' } });
  t.match(await get('/api/search?q=refund&site=south'), { status: 404, body: { error: 'no site south' } }, 'a site not given is not there');
  t.same((await get('/api/search/sites')).body, { sites: ['north'] });

  const byFilter = await get('/api/search?q=refund&box=box-a&from=2026-03-02&maxDurationSec=1000&agitated=false');
  t.equal(byFilter.status, 200, 'good filter values pass');
  caller = { name: 'sam', role: 'supervisor', sites: ['north'] };
  t.equal((await get('/api/search?q=refund')).status, 403, 'a role without search');
  caller = { name: 'root', role: 'admin', sites: '*' };
  t.same((await get('/api/search/sites')).body, { sites: ['north', 'south'] });
  const page = await fetch(`${web.url}/search?q=refund`);
  t.equal(page.status, 200);
  t.match(await page.text(), /<input id="q" name="q"/, 'the page');
});
