/**
 * The centre's store: one suite, run against SQLite and against a real PostgreSQL (a throw-away cluster on
 * loopback): versioned, idempotent migrations; dedupe on (box, seq); a batch stored whole or not at all,
 * less any record whose data cannot be read (refused alone);
 * calls and alerts projected from a real index (the demo call through the whole pipeline) and real-shaped
 * alerts; the highest alert revision kept whatever order revisions arrive in; an alert its box withdrew
 * kept with its (redacted) reason and left out of counts, filters and the review queue; box state; boxes
 * the centre was not told of held apart.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { resolveConfig } from '../provisioning/config.js';
import { analyzeRecording } from '../edge/analyze.js';
import { loadRules } from '../edge/rules/setup.js';
import { repoRoot } from '../test/support/cli.js';
import type { CallIndex } from '../edge/index/call-index.js';
import { openStore, type CallQuery, type IncomingRecord, type Store } from '../central/store/store.js';
import { callListSql, type SqlStore } from '../central/store/sql-store.js';
import { reviewQueue } from '../central/review/reviews.js';
import { LATEST_VERSION, MIGRATIONS } from '../central/store/migrations.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';

let demoIndex: CallIndex;
t.before(async () => {
  const config = resolveConfig({});
  demoIndex = (await analyzeRecording({ stereo: join(repoRoot, 'demo', 'demo-call.wav') }, { config, rules: loadRules(config).rules })).index;
});

const AT = '2026-12-04T10:00:00.000Z';
const rec = (box: string, seq: number, kind: IncomingRecord['kind'], data: unknown, site = 's1'): IncomingRecord => ({ site, box, seq, kind, at: AT, data });

/** Everything a store must do, whichever it is; `raw` runs SQL on it behind the Store's back. */
function storeSuite(t: Test, open: () => Promise<Store>, raw: (store: Store, sql: string) => Promise<unknown[]>) {
  t.test('migrations are versioned and applied once', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    t.same(await store.appliedMigrations(), MIGRATIONS.map((m) => m.version), `versions 1..${LATEST_VERSION} applied`);
    for (const table of ['records', 'box_state', 'sites', 'boxes', 'unregistered', 'calls', 'alerts', 'users', 'sessions', 'reviews', 'audit']) {
      t.same(await raw(store, `SELECT COUNT(*) AS n FROM ${table}`), [{ n: 0 }], `table ${table} exists, empty`);
    }
  });

  t.test('reopening applies nothing again and keeps the data; a newer schema is refused', async (t) => {
    const store = await open();
    await store.storeBatch([rec('b1', 1, 'index', { x: 1 })], 'open');
    const location = store.location;
    await store.close();
    const again = await openAgain(location);
    t.same(await again.appliedMigrations(), MIGRATIONS.map((m) => m.version), 'each version once');
    t.equal(await again.countRecords(), 1, 'the record is still there');
    await raw(again, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (${LATEST_VERSION + 1}, 'from the future', '${AT}')`);
    await again.close();
    await t.rejects(openAgain(location), /schema version \d+, newer than this earshot knows/, 'an older earshot refuses a newer database');
  });

  t.test('each (box, seq) is stored once; duplicates are counted, not stored', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const first = await store.storeBatch([rec('b1', 1, 'index', { n: 1 }), rec('b1', 2, 'alert', { n: 2 }), rec('b2', 1, 'status', { n: 3 })], 'open');
    t.same(first, { stored: 3, duplicates: 0, heldApart: 0 , refused: [] });
    const second = await store.storeBatch([rec('b1', 2, 'alert', { n: 'changed' }), rec('b1', 3, 'index', { n: 4 }), rec('b1', 1, 'index', { n: 1 })], 'open');
    t.same(second, { stored: 1, duplicates: 2, heldApart: 0 , refused: [] }, 'a resend is a duplicate');
    t.same(await store.seqsFor('b1'), [1, 2, 3]);
    t.same(await store.countByKind('b1'), { alert: 1, index: 2 });
    t.equal(await store.countRecords(), 4);
    t.same(await raw(store, "SELECT payload FROM records WHERE box = 'b1' AND seq = 2"), [{ payload: '{"n":2}' }], 'the first copy is kept');
  });

  t.test('records are kept in the order they arrived', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await store.storeBatch([rec('b1', 5, 'index', {}), rec('b1', 6, 'index', {})], 'open');
    await store.storeBatch([rec('b1', 3, 'index', {}), rec('b1', 4, 'index', {})], 'open'); // resent after a broker lost them
    t.same(await store.seqsFor('b1'), [5, 6, 3, 4]);
  });

  t.test('a batch is all or nothing', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    // The third insert of the batch fails (as a full disk or a dropped connection would): the two before it,
    // and what they projected, must go with it.
    await raw(store, store.dialect === 'sqlite'
      ? "CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.seq = 3 BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
      : "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.seq = 3 THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; CREATE TRIGGER refuse BEFORE INSERT ON records FOR EACH ROW EXECUTE FUNCTION refuse()");
    const batch = [rec('b1', 1, 'index', { callId: 'c1', durationSec: 10 }), rec('b1', 2, 'alert', { callId: 'c1', id: 'x-1', rule: 'x' }), rec('b1', 3, 'index', {})];
    await t.rejects(store.storeBatch(batch, 'open'), /refused by test/);
    t.equal(await store.countRecords(), 0, 'no record of the batch is kept');
    t.same(await raw(store, 'SELECT COUNT(*) AS n FROM calls'), [{ n: 0 }], 'no call projected');
    t.same(await raw(store, 'SELECT COUNT(*) AS n FROM alerts'), [{ n: 0 }], 'no alert projected');
    t.same(await store.storeBatch(batch.slice(0, 2), 'open'), { stored: 2, duplicates: 0, heldApart: 0 , refused: [] }, 'the store works on after the failed batch');
  });

  t.test("a record whose data cannot be read is refused alone, with the field named; its batch is stored", async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const result = await store.storeBatch(
      [
        rec('b1', 1, 'index', { callId: 'c1', durationSec: 10 }),
        rec('b1', 2, 'index', { callId: 'c2', durationSec: 10, utterances: [{ channel: 'customer', start: 0, end: 1, pinyin: ['ni', 'hao'] }] }),
        rec('b1', 3, 'index', { callId: 'c3', durationSec: 1e300 }),
        rec('b1', 4, 'alert', { callId: 'c1', id: 'x-1', rule: 'x' }),
      ],
      'open',
    );
    t.same(result, {
      stored: 2,
      duplicates: 0,
      heldApart: 0,
      refused: [
        { box: 'b1', seq: 2, reason: 'utterances[0].pinyin is a list, not text' },
        { box: 'b1', seq: 3, reason: "durationSec 1e+300 puts the call's start before any time" },
      ],
    });
    t.same(await store.seqsFor('b1'), [1, 4], 'the readable records are kept');
    t.same((await store.listCalls({ site: 's1' })).calls.map((c) => c.callId), ['c1'], 'and projected');
  });

  t.test('a real index becomes a call row with its alerts', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const index = demoIndex;
    t.ok(index.alerts.length > 0, `the demo call raised ${index.alerts.length} alert(s)`);
    const live = { ...index, callId: 'desk-1-c7', line: { name: 'desk-1', agentId: 'a-107', startedAt: '2026-12-04T09:59:00.000Z', endedAt: '2026-12-04T09:59:47.341Z', boundaries: 'pbx', endedBy: 'pbx' } };
    await store.storeBatch([rec('b1', 1, 'index', index), rec('b1', 2, 'index', live)], 'open');
    const call = await store.getCall('b1', 'demo-call');
    t.match(call, {
      site: 's1', box: 'b1', callId: 'demo-call', seq: 1, line: null, agent: null, durationSec: index.durationSec,
      talkRatio: index.metrics.talkRatio, longestSilenceSec: index.metrics.longestSilenceSec,
      overtalkCount: index.metrics.overtalkCount.agent + index.metrics.overtalkCount.customer, overtalkSec: index.metrics.overtalkTotalSec,
      agitated: true, alertCount: index.alerts.length, endedAt: AT,
    });
    t.equal(Date.parse(call!.endedAt) - Date.parse(call!.startedAt), Math.round(index.durationSec * 1000), 'a recording starts its duration before the box took its index');
    t.match(await store.getCall('b1', 'desk-1-c7'), { line: 'desk-1', agent: 'a-107', startedAt: '2026-12-04T09:59:00.000Z', endedAt: '2026-12-04T09:59:47.341Z' }, 'a live call has its line, agent and wall-clock times');
    const alerts = await store.alertsFor('b1', 'demo-call');
    t.same(alerts.map((a) => a.alertId), index.alerts.map((a) => a.id), 'the index\'s alerts are rows');
    t.match(alerts[0], { rule: index.alerts[0].rule, severity: index.alerts[0].severity, channel: index.alerts[0].channel, start: index.alerts[0].start, end: index.alerts[0].end, raisedAt: index.alerts[0].raisedAt, revision: index.alerts[0].revision ?? 1, evidence: index.alerts[0].evidence });
    t.same(JSON.parse((await raw(store, "SELECT payload FROM records WHERE box = 'b1' AND seq = 1") as { payload: string }[])[0].payload), index, 'the index is kept whole, as its record');
    const [callRow] = (await raw(store, "SELECT * FROM calls WHERE call_id = 'demo-call'")) as Record<string, unknown>[];
    t.notOk(Object.values(callRow).some((v) => typeof v === 'string' && v.includes('"utterances"')), 'and only there: the calls row holds no second copy of it');
    t.same(await store.callIndex('b1', 'demo-call'), index, 'callIndex gives the stored index, parsed');
    t.equal(await store.callIndex('b1', 'no-such-call'), null, 'an unknown call has no index');
    t.equal(await store.callIndex('b2', 'demo-call'), null, 'a call id is looked up within its box');
    await store.storeBatch([rec('b1', 9, 'index', { ...index, durationSec: 99 })], 'open');
    t.match(await store.callIndex('b1', 'demo-call'), { durationSec: 99 }, 'a later index of the call replaces the one held');
    // Synthetic or unknown-shaped records are kept, not listed as calls.
    await store.storeBatch([rec('b1', 3, 'index', { callId: 'no duration' }), rec('b1', 4, 'alert', { rule: 'no id' })], 'open');
    t.equal(await store.countRecords('b1'), 5);
    t.same(await raw(store, 'SELECT COUNT(*) AS n FROM calls'), [{ n: 2 }]);
  });

  t.test('the call list: newest first, by site and agent, keyset pages', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const batch = Array.from({ length: 7 }, (_, i) =>
      rec(`b${i % 2}`, i + 1, 'index', { callId: `c${i}`, durationSec: 30, line: { name: 'd', agentId: i % 3 === 0 ? 'ann' : 'bob', startedAt: `2026-12-04T10:0${i}:00.000Z`, endedAt: `2026-12-04T10:0${i}:30.000Z` } }),
    );
    await store.storeBatch([...batch, rec('b9', 1, 'index', { callId: 'other-site', durationSec: 5 }, 's2')], 'open');
    const seen: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<Store['listCalls']>> = await store.listCalls({ site: 's1', limit: 3, after: next });
      seen.push(...page.calls.map((c) => c.callId));
      next = page.next;
      pages++;
    } while (next);
    t.same(seen, ['c6', 'c5', 'c4', 'c3', 'c2', 'c1', 'c0'], 'every call of the site once, newest first');
    t.equal(pages, 3);
    t.same((await store.listCalls({ site: 's1', agent: 'ann' })).calls.map((c) => c.callId), ['c6', 'c3', 'c0']);
  });

  t.test('the call list filters: each narrows to exactly the calls it names, and pages stay whole', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const call = (i: number, o: { box?: string; line?: string; agent?: string; lang?: string; dur?: number; silence?: number; over?: [number, number]; rule?: string; sev?: string; agitated?: boolean }) =>
      rec(o.box ?? 'b1', i + 1, 'index', {
        callId: `f${i}`, durationSec: o.dur ?? 60,
        line: { name: o.line ?? 'd1', agentId: o.agent ?? 'ann', startedAt: `2026-12-04T1${i}:00:00.000Z`, endedAt: `2026-12-04T1${i}:01:00.000Z` },
        recognition: { agent: { language: o.lang ?? 'en' } },
        metrics: { talkRatio: 0.5, longestSilenceSec: o.silence ?? 2, overtalkCount: { agent: o.over?.[0] ?? 0, customer: o.over?.[1] ?? 0 }, overtalkTotalSec: 1 },
        emotion: o.agitated ? [{ channel: 'customer' }] : [],
        alerts: o.rule ? [{ id: `a${i}`, rule: o.rule, severity: o.sev ?? 'warn', channel: 'agent' }] : [],
      });
    await store.storeBatch([
      call(0, { lang: 'zh', dur: 30 }),
      call(1, { box: 'b2', silence: 12, rule: 'dead-air', sev: 'info' }),
      call(2, { line: 'd2', agent: 'bob', over: [2, 1], rule: 'script-missing', sev: 'critical' }),
      call(3, { agitated: true, dur: 300, rule: 'dead-air', sev: 'critical' }),
      call(4, { lang: 'zh', silence: 8 }),
    ], 'open');
    const ids = async (f: Omit<Parameters<Store['listCalls']>[0], 'site'>) => (await store.listCalls({ site: 's1', ...f })).calls.map((c) => c.callId);
    t.same(await ids({ box: 'b2' }), ['f1']);
    t.same(await ids({ line: 'd2' }), ['f2']);
    t.same(await ids({ agent: 'ann', language: 'zh' }), ['f4', 'f0']);
    t.same(await ids({ from: '2026-12-04T11:00:00.000Z', to: '2026-12-04T13:00:00.000Z' }), ['f2', 'f1'], 'from is inclusive, to is not');
    t.same(await ids({ rule: 'dead-air' }), ['f3', 'f1']);
    t.same(await ids({ severity: 'critical' }), ['f3', 'f2']);
    t.same(await ids({ rule: 'dead-air', severity: 'critical' }), ['f3'], 'rule and severity of the same alert');
    t.same(await ids({ silenceOverSec: 8 }), ['f1'], 'over, not at');
    t.same(await ids({ agitated: true }), ['f3']);
    t.same(await ids({ agitated: false }), ['f4', 'f2', 'f1', 'f0']);
    t.same(await ids({ overtalkAtLeast: 3 }), ['f2']);
    t.same(await ids({ minDurationSec: 31, maxDurationSec: 299 }), ['f4', 'f2', 'f1']);
    const paged: string[] = [];
    let next: string | null = null;
    do {
      const page: Awaited<ReturnType<Store['listCalls']>> = await store.listCalls({ site: 's1', box: 'b1', limit: 1, after: next });
      paged.push(...page.calls.map((c) => c.callId));
      next = page.next;
    } while (next);
    t.same(paged, ['f4', 'f3', 'f2', 'f0'], 'a filtered list pages through every match once');
  });

  t.test('the highest alert revision wins, whatever order revisions arrive in', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const base = demoIndex.alerts[0];
    const revision = (n: number) => ({ callId: 'c1', line: { name: 'desk-1' }, ...base, ...(n > 1 ? { revision: n, revisedAt: base.raisedAt + n } : {}), evidence: `evidence of revision ${n}` });
    const orders = [[1, 2, 3], [3, 1, 2], [2, 3, 1], [3, 2, 1]];
    for (const [i, order] of orders.entries()) {
      const box = `box-${i}`;
      // each revision in its own batch, as records reaching different ingest processes would be
      for (const [k, n] of order.entries()) await store.storeBatch([rec(box, k + 1, 'alert', revision(n))], 'open');
      const [row] = await store.alertsFor(box, 'c1');
      t.match(row, { alertId: base.id, revision: 3, evidence: 'evidence of revision 3' }, `order ${order.join(',')}: revision 3 kept`);
    }
    // An equal revision changes nothing; the call's index (latest revision) agrees.
    await store.storeBatch([rec('box-0', 10, 'alert', { ...revision(3), evidence: 'same revision, other text' })], 'open');
    t.equal((await store.alertsFor('box-0', 'c1'))[0].evidence, 'evidence of revision 3', 'an equal revision does not replace');
    await store.storeBatch([rec('box-0', 11, 'index', { ...demoIndex, callId: 'c1', alerts: [{ ...base, revision: 2 }] })], 'open');
    t.equal((await store.alertsFor('box-0', 'c1'))[0].revision, 3, 'an index holding an older revision does not lower it');
  });

  t.test('one batch holding several records of a call, an alert\'s revisions and a record twice: as if stored one by one', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const base = demoIndex.alerts[0];
    const alert = (n: number, evidence = `evidence of revision ${n}`) => ({ ...base, callId: 'c1', revision: n, evidence });
    const index = (durationSec: number, revision: number) => ({ ...demoIndex, callId: 'c1', durationSec, alerts: [alert(revision)] });
    // ingest's batches are in arrival order, not seq order: the newest index (seq 4) comes before an older one
    const result = await store.storeBatch(
      [rec('b1', 4, 'index', index(40, 2)), rec('b1', 1, 'alert', alert(3)), rec('b1', 2, 'index', index(20, 1)), rec('b1', 5, 'alert', alert(3, 'same revision, later record')), rec('b1', 1, 'alert', alert(3))],
      'open',
    );
    t.same(result, { stored: 4, duplicates: 1, heldApart: 0 , refused: [] }, 'the record sent twice is stored once and counted a duplicate');
    t.match(await store.getCall('b1', 'c1'), { seq: 4, durationSec: 40 }, 'the call is its highest-seq index');
    t.match(await store.callIndex('b1', 'c1'), { durationSec: 40 }, 'and its index is that one');
    const [row] = await store.alertsFor('b1', 'c1');
    t.match(row, { revision: 3, evidence: 'evidence of revision 3', seq: 1 }, 'the alert at its highest revision, from the first record holding it');
    const again = await store.storeBatch([rec('b1', 2, 'index', index(20, 1)), rec('b1', 3, 'index', index(30, 1))], 'open');
    t.same(again, { stored: 1, duplicates: 1, heldApart: 0 , refused: [] });
    t.match(await store.getCall('b1', 'c1'), { seq: 4, durationSec: 40 }, 'an older index stored later does not replace the call');
  });

  t.test('a withdrawn alert: kept with its reason, left out of the call list, its filters and the review queue; a late earlier revision does not bring it back', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const queued = async () => (await reviewQueue((store as SqlStore).db, { sites: ['s1'] })).items.map((i) => i.alertId);
    const stored = async () => Object.fromEntries((await store.alertsFor('b1', 'w1')).map((a) => [a.alertId, a]));
    const line = { name: 'desk-1', agentId: 'a-1', startedAt: '2026-12-04T09:59:00.000Z', endedAt: '2026-12-04T10:00:00.000Z' };
    const raised = { id: 'guaranteed-return-1', rule: 'guaranteed-return', severity: 'critical', title: 'Guaranteed return promised', channel: 'customer', start: 12, end: 13.5, raisedAt: 14, evidence: 'customer "guaranteed return"' };
    const revised = { ...raised, revision: 2, revisedAt: 16, evidence: 'customer "guaranteed return, twenty percent"' };
    // The reason quotes a card number: an unsigned record is redacted again on arrival, the reason with it.
    const reason = "withdrawn: the customer side was taken for English until 24.1 s and is Mandarin (card 4111 1111 1111 1111); the words this alert quoted are no longer the call's";
    const withdrawal = { ...revised, revision: 3, revisedAt: 24.1, withdrawn: reason };
    const deadAir = { id: 'dead-air-1', rule: 'dead-air', severity: 'warning', title: 'Dead air', channel: 'both', start: 30, end: 40, raisedAt: 40.9, evidence: 'no speech on either side for 10 s' };
    const alert = (seq: number, a: object) => rec('b1', seq, 'alert', { callId: 'w1', line, ...a });

    await store.storeBatch([alert(1, raised), alert(2, deadAir)], 'open');
    t.same(await queued(), ['guaranteed-return-1', 'dead-air-1'], 'raised: both queued, the critical first');
    // The withdrawal (seq 4) reaches the store before revision 2 (seq 3): another ingest process, a resend.
    await store.storeBatch([alert(4, withdrawal)], 'open');
    await store.storeBatch([alert(3, revised)], 'open');
    const rows = await stored();
    t.match(rows['guaranteed-return-1'], { revision: 3, severity: 'critical', evidence: revised.evidence }, 'the late revision 2 does not un-withdraw it; the evidence is as the box last sent it');
    t.equal(rows['guaranteed-return-1'].withdrawn, reason.replace('4111 1111 1111 1111', '**** **** **** 1111'), 'the reason is stored, redacted');
    t.equal(rows['dead-air-1'].withdrawn, null, 'the other alert stands');
    t.notOk(JSON.stringify(await raw(store, 'SELECT * FROM alerts')).includes('4111 1111'), 'no column holds the card number');
    // At the hang-up the index holds each alert at its latest revision: the withdrawal too.
    await store.storeBatch([rec('b1', 5, 'index', { callId: 'w1', durationSec: 60, line, alerts: [withdrawal, deadAir] })], 'open');
    t.equal((await stored())['guaranteed-return-1'].withdrawn, rows['guaranteed-return-1'].withdrawn, 'the index changes nothing of it');

    const ids = async (f: Omit<CallQuery, 'site'>) => (await store.listCalls({ site: 's1', ...f })).calls.map((c) => c.callId);
    t.equal((await store.getCall('b1', 'w1'))?.alertCount, 1, 'the call list counts the standing alert only');
    t.same(await ids({ rule: 'guaranteed-return' }), [], 'a search for calls with the withdrawn alert\'s rule finds none');
    t.same(await ids({ severity: 'critical' }), [], 'nor with its severity');
    t.same(await ids({ rule: 'dead-air', severity: 'warning' }), ['w1'], 'the standing alert still finds its call');
    t.same(await queued(), ['dead-air-1'], 'the review queue holds the standing alert only');

    const result = await store.storeBatch(
      [alert(6, { ...deadAir, revision: 2, withdrawn: true }), rec('b1', 7, 'index', { callId: 'w2', durationSec: 60, alerts: [deadAir, { ...raised, withdrawn: { why: 'no' } }] })],
      'open',
    );
    t.same(result.refused, [
      { box: 'b1', seq: 6, reason: 'withdrawn is not text' },
      { box: 'b1', seq: 7, reason: 'alerts[1].withdrawn is not text' },
    ], 'a reason that is not text: its record is refused alone, the field named');
    t.equal((await stored())['dead-air-1'].withdrawn, null, 'and the alert it named still stands');
  });

  t.test('box state: the latest availability, status and stats', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    t.equal(await store.boxState('s1', 'b1'), null);
    await store.putBoxState('s1', 'b1', 'availability', 'online', 1);
    await store.putBoxState('s1', 'b1', 'status', JSON.stringify({ schema: 'earshot/status@1', box: 'b1', site: 's1', state: 'ok', problems: [] }), 2);
    await store.putBoxState('s1', 'b1', 'availability', 'offline', 3);
    t.same(await store.boxState('s1', 'b1'), { site: 's1', box: 'b1', availability: 'offline', status: { schema: 'earshot/status@1', box: 'b1', site: 's1', state: 'ok', problems: [] }, stats: null });
  });

  t.test('registration: records of boxes and sites the centre was not told of are held apart', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await store.registerBox('s1', 'b1');
    await store.registerBox('s1', 'b1'); // again: nothing changes
    await store.registerBox('s2', 'b2');
    await t.rejects(store.registerBox('s2', 'b1'), /box b1 is already registered at site s1/);
    t.same((await store.listBoxes()).map((b) => `${b.site}/${b.box}`), ['s1/b1', 's2/b2']);
    const call = (box: string, seq: number, site: string) => rec(box, seq, 'index', { callId: `${box}-${seq}`, durationSec: 10 }, site);
    const result = await store.storeBatch([call('b1', 1, 's1'), call('b3', 1, 's1'), call('b2', 1, 's1'), call('b4', 1, 'nowhere')], 'closed');
    t.same(result, { stored: 1, duplicates: 0, heldApart: 3 , refused: [] });
    t.same(await store.storeBatch([call('b3', 1, 's1')], 'closed'), { stored: 0, duplicates: 1, heldApart: 0 , refused: [] }, 'a resend of a held-apart record is a duplicate');
    t.same(await store.seqsFor('b3'), [], 'not with the site\'s records');
    t.same((await store.listCalls({ site: 's1' })).calls.map((c) => c.callId), ['b1-1'], 'nor in its calls');
    const held = await store.listUnregistered();
    t.same(
      held.map((h) => [h.site, h.box, h.seq, h.reason]).sort(),
      [
        ['nowhere', 'b4', 1, 'site nowhere is not registered'],
        ['s1', 'b2', 1, 'box b2 is registered at site s2, not s1'],
        ['s1', 'b3', 1, 'box b3 is not registered at site s1'],
      ],
      'each held apart, with why',
    );
    t.match(held.find((h) => h.box === 'b3'), { kind: 'index', data: { callId: 'b3-1' } }, 'with what it said');
    t.same(await store.storeBatch([call('b5', 1, 's9')], 'open'), { stored: 1, duplicates: 0, heldApart: 0 , refused: [] }, 'open registration stores every box');
  });

  /** The same database again: a SQLite store's location is its file, a PostgreSQL one's is mapped back to its URL. */
  const openAgain = (location: string): Promise<Store> => openStore(pgUrlOf(location));
}

let pgCluster: Postgres | null = null;
const pgUrls = new Map<string, string>();
const pgUrlOf = (location: string) => pgUrls.get(location) ?? location;

t.test('SQLite store', async (t) => {
  let n = 0;
  const dir = t.testdir();
  storeSuite(
    t,
    () => openStore(join(dir, `store-${++n}.sqlite`)),
    async (store, sql) => {
      const db = new Database(store.location);
      try {
        return /^\s*select/i.test(sql) ? db.prepare(sql).all() : (db.exec(sql), []);
      } finally {
        db.close();
      }
    },
  );
});

t.test('SQLite keeps its planner statistics: a filter most calls pass reads the list in order, one few pass reads a range', async (t) => {
  const file = join(t.testdir(), 'planned.sqlite');
  let store = await openStore(file);
  const calls = Array.from({ length: 3000 }, (_, i) =>
    rec('b1', i + 1, 'index', {
      callId: `p${i}`, durationSec: 60 + (i % 240),
      line: { name: 'd1', agentId: 'ann', startedAt: new Date(Date.parse(AT) + i * 60_000).toISOString() },
      metrics: { overtalkCount: { agent: i === 1234 ? 2 : 0, customer: i === 1234 ? 1 : 0 } },
      emotion: i % 3 === 0 ? [{ channel: 'customer' }] : [],
    }),
  );
  for (let i = 0; i < calls.length; i += 500) await store.storeBatch(calls.slice(i, i + 500), 'open');
  await store.close();
  // what a centre restarted on a grown store does: PRAGMA optimize at open analyses what changed
  store = await openStore(file);
  t.teardown(() => store.close());
  const plan = (q: CallQuery) => {
    const list = callListSql({ ...q, limit: 50 })!;
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare(`EXPLAIN QUERY PLAN ${list.sql}`).all(...list.params) as { detail: string }[]).map((r) => r.detail).join('; ');
    } finally {
      db.close();
    }
  };
  const common = { site: 's1', agitated: true, minDurationSec: 30 };
  t.match(plan(common), /USING INDEX calls_site_started/, 'agitated and over 30 s: newest first along the list index');
  t.notMatch(plan(common), /TEMP B-TREE/, 'not a sort of every call over 30 s (350 ms at 250,000 calls)');
  t.equal((await store.listCalls({ ...common, limit: 50 })).calls.length, 50);
  t.match(plan({ site: 's1', overtalkAtLeast: 2 }), /USING INDEX calls_site_overtalk/, 'over-talk at least 2: a range of the over-talk index');
  t.same((await store.listCalls({ site: 's1', overtalkAtLeast: 2 })).calls.map((c) => c.callId), ['p1234']);
});

t.test('PostgreSQL store', { skip: postgresMissing() ?? false }, async (t) => {
  pgCluster = await Postgres.start();
  t.teardown(() => pgCluster?.dispose());
  storeSuite(
    t,
    async () => {
      const url = await pgCluster!.createDatabase();
      const store = await openStore(url);
      pgUrls.set(store.location, url);
      return store;
    },
    async (store, sql) => {
      const c = new pg.Client({ connectionString: pgUrlOf(store.location) });
      await c.connect();
      try {
        const r = await c.query(sql);
        return (r.rows ?? []).map((row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, k === 'n' ? Number(v) : v])));
      } finally {
        await c.end();
      }
    },
  );
});
