/**
 * Search at the centre gives what `earshot search` gives over the same index files, on SQLite and on a real
 * PostgreSQL: the bundled demo calls analysed by the real pipeline with the speech models (English and
 * Mandarin words, spotter hits), plus variations of them reworded from both languages' transcripts, written
 * as index files and stored centrally. A catalogue of queries covering every operator and seeded random
 * queries, each by every way the store can find candidates; the text index never drops a call the
 * evaluator matches.
 */
import t, { type Test } from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSearch } from '../edge/search/search-command.js';
import { searchIndexes } from '../edge/search/query.js';
import { searchCalls } from '../central/search/search.js';
import { openStore } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { fuzzSeed } from '../test/support/fuzz.js';
import { mulberry32 } from '../lib/seeded-random.js';
import { queryCatalogue, randomQuery, variations, vocabulary } from '../test/support/search-calls.js';
import { compareQueries, dropTextIndex, indexRecords, PLANS, type IndexFile } from '../test/support/search-suite.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';
import { tempDir } from '../test/support/temp.js';
import { demoIndexes } from '../test/support/demo-indexes.js';

const dir = tempDir('central-search');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let files: IndexFile[] = [];
let queries: string[] = [];
let seed = 0;

t.before(async () => {
  const demo = (await demoIndexes()).map((d) => d.index);
  seed = fuzzSeed(t);
  const all = [...demo, ...variations(demo, 60, seed)];
  files = all.map((index) => {
    const file = join(dir, `${index.callId}.json`);
    writeFileSync(file, JSON.stringify(index));
    return { file, index: index as IndexFile['index'] };
  });
  const corpus = vocabulary(all);
  const rng = mulberry32(seed);
  queries = [...queryCatalogue(corpus), ...Array.from({ length: 30 }, () => randomQuery(rng, corpus))];
});

const earshotSearch = async (q: string) => (await runSearch(q, files.map((f) => f.file))).output;

async function suite(t: Test, open: () => Promise<SqlStore>, label: string) {
  let store = await open();
  t.teardown(() => store.close());
  const words = files.reduce((n, f) => n + (f.index.utterances ?? []).reduce((m, u) => m + (u.words?.length ?? 0), 0), 0);
  const mandarin = files.filter((f) => (f.index.utterances ?? []).some((u) => u.script === 'pinyin')).length;
  t.ok(words > 1000 && mandarin > 10, `the calls have words in both languages (${words} words, ${mandarin} calls with Mandarin): the speech models ran`);
  await store.storeBatch(indexRecords(files), 'open');
  const catalogueCount = queryCatalogue(vocabulary(files.map((f) => f.index))).length;
  const r1 = await compareQueries(t, store, files, queries.slice(0, catalogueCount), `${label}, catalogue`, earshotSearch);
  const r2 = await compareQueries(t, store, files, queries.slice(catalogueCount), `${label}, random (seed ${seed})`, earshotSearch, PLANS.slice(0, 1));
  t.ok(r1.matched > 50 && r2.compared >= 25, `${r1.compared + r2.compared} queries compared, ${r1.matched + r2.matched} matches`);

  // a newer index of a call replaces its words in the index; an older one arriving later does not
  const [first] = files;
  const reworded = { ...first.index, utterances: [{ channel: 'agent' as const, start: 1, end: 3, text: 'quixotic zephyr', script: 'latin' as const }], keywords: [] };
  const [{ site, box, at }] = indexRecords([first]);
  await store.storeBatch([{ site, box, seq: 1_000_000, kind: 'index', at, data: reworded }], 'open');
  await store.storeBatch([{ site, box, seq: 999_999, kind: 'index', at, data: { ...reworded, utterances: [{ channel: 'agent', start: 1, end: 3, text: 'obsolete words' }] } }], 'open');
  const ids = async (q: string) => (await searchCalls(store, '*', q, {}, { limit: 100 })).results.map((r) => r.call.callId);
  t.same(await ids('"quixotic zephyr"'), [first.index.callId], `${label}: the newer index's words are found`);
  t.same(await ids('obsolete'), [], `${label}: an older one arriving later changed nothing`);
  const before = searchIndexes('refund OR 验证码', files).map((r) => r.callId).filter((id) => id !== first.index.callId);
  t.same((await ids('refund OR 验证码')).sort(), before.sort(), `${label}: the call's old words are gone from the index`);
  await store.storeBatch([{ site, box, seq: 1_000_001, kind: 'index', at, data: first.index }], 'open');

  // a store from before search: migration 4 indexes its calls when it is opened
  await dropTextIndex(store);
  await store.close();
  store = await open();
  t.ok((await store.appliedMigrations()).includes(4), 'migration 4 applied again');
  await compareQueries(t, store, files, queries.slice(0, 8), `${label}, after migration 4 filled the index`, earshotSearch, PLANS.slice(1, 2));
}

t.test('SQLite', async (t) => {
  await suite(t, async () => (await openStore(join(dir, 'central.sqlite'))) as SqlStore, 'SQLite');
});

t.test('PostgreSQL', { skip: postgresMissing() ?? false }, async (t) => {
  const pg = await Postgres.start();
  t.teardown(() => pg.dispose());
  const url = await pg.createDatabase('search');
  await suite(t, async () => (await openStore(url)) as SqlStore, 'PostgreSQL');
});
