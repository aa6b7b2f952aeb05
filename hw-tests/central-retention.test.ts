/**
 * Retention and erasure at the centre (central/retention.ts), the same suite on SQLite and on a throw-away
 * PostgreSQL: `forget` removes one call of a site from every table that held it (and only that call) and
 * is audited; a site's retention sweep deletes what is older than its days and leaves the rest, and a site
 * without one; the `earshot central` commands that do it say what they did.
 */
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../test/support/cli.js';
import { openStore, type IncomingRecord } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { randomBytes } from 'node:crypto';
import { customerKey } from '../lib/customer-key.js';
import { forgetCall, forgetCustomer, payloadCallId, setRetention, sweepRetention, UnknownSiteError } from '../central/retention.js';
import { listAudit } from '../central/audit.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';
import { tempDir } from '../test/support/temp.js';

const NOW = Date.parse('2026-12-05T12:00:00.000Z');
const daysAgo = (d: number) => new Date(NOW - d * 86_400_000).toISOString();

/** An index as a box sends it (docs/call-index.md), with words to search and one alert. */
function index(callId: string, endedAt: string) {
  return {
    callId,
    durationSec: 60,
    line: { name: 'line-1', startedAt: new Date(Date.parse(endedAt) - 60_000).toISOString(), endedAt },
    utterances: [{ channel: 'customer', start: 1, end: 3, text: `I want to cancel my subscription ${callId}` }],
    alerts: [{ id: 'escalation-1', rule: 'escalation', severity: 'warning', start: 1, end: 3, raisedAt: 3, evidence: 'cancel my subscription' }],
  };
}
const rec = (seq: number, kind: IncomingRecord['kind'], data: unknown, at: string, site = 's1', box = 'b1'): IncomingRecord => ({ site, box, seq, kind, at, data });

async function held(store: SqlStore, callId: string) {
  const n = async (q: string, p: unknown[]) => Number((await store.db.all<{ n: number }>(q, p))[0].n);
  const cid = payloadCallId(store.db.dialect);
  return {
    call: (await store.getCall('b1', callId)) !== null,
    alerts: (await store.alertsFor('b1', callId)).length,
    reviews: await n('SELECT COUNT(*) AS n FROM reviews WHERE call_id = ?', [callId]),
    records: await n(`SELECT COUNT(*) AS n FROM records WHERE ${cid} = ?`, [callId]),
  };
}

function suite(t: Test, open: () => Promise<SqlStore>) {
  const seed = async (store: SqlStore, calls: { id: string; endedAt: string }[]) => {
    await store.registerBox('s1', 'b1');
    await store.registerBox('s2', 'b2');
    let seq = 0;
    for (const c of calls) {
      await store.storeBatch([rec(++seq, 'index', index(c.id, c.endedAt), c.endedAt), rec(++seq, 'alert', { ...index(c.id, c.endedAt).alerts[0], callId: c.id }, c.endedAt)], 'open');
      await store.db.run('INSERT INTO reviews (site, box, call_id, alert_id, verdict, note, reviewer, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
        's1', 'b1', c.id, 'escalation-1', 'confirmed', `customer said ${c.id}`, 'qa', c.endedAt,
      ]);
    }
  };

  t.test('forget removes one call everywhere, keeps the others, and is audited', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await seed(store, [{ id: 'c1', endedAt: daysAgo(1) }, { id: 'c2', endedAt: daysAgo(1) }]);
    t.same(await held(store, 'c1'), { call: true, alerts: 1, reviews: 1, records: 2 }, 'c1 stored with its alert, review and records');
    const removed = await forgetCall(store.db, 's1', 'c1', 'dpo');
    t.same(removed, { calls: 1, alerts: 1, reviews: 1, records: 2, unregistered: 0, searchText: 1 }, 'what was removed, per table');
    t.same(await held(store, 'c1'), { call: false, alerts: 0, reviews: 0, records: 0 }, 'nothing of c1 is left');
    t.same(await held(store, 'c2'), { call: true, alerts: 1, reviews: 1, records: 2 }, 'c2 untouched');
    const [entry] = await listAudit(store.db, { action: 'call.forget' });
    t.match(entry, { username: 'dpo', action: 'call.forget', detail: { site: 's1', callId: 'c1', removed: { calls: 1 } } }, 'the erasure is in the audit log');
    t.same(await forgetCall(store.db, 's1', 'c1'), { calls: 0, alerts: 0, reviews: 0, records: 0, unregistered: 0, searchText: 0 }, 'forgetting again removes nothing');
    await t.rejects(forgetCall(store.db, 'nowhere', 'c2'), UnknownSiteError, 'an unknown site is refused by name');
    t.same(await held(store, 'c2'), { call: true, alerts: 1, reviews: 1, records: 2 }, 'a call id of another site is not touched');
  });

  t.test("forget-customer erases every call of one caller (by the site's keyed hash), keeps the others, and is audited", async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await seed(store, []);
    const secret = randomBytes(32);
    const ended = daysAgo(1);
    const from = (callId: string, number: string) => {
      const i = index(callId, ended);
      return { ...i, line: { ...i.line, caller: '*******8000', customerKey: customerKey(secret, number) } };
    };
    await store.storeBatch(
      [rec(1, 'index', from('a1', '13800138000'), ended), rec(2, 'index', from('b1', '13900139000'), ended), rec(3, 'index', from('a2', '138-0013-8000'), ended), rec(4, 'index', index('n1', ended), ended)],
      'open',
    );
    const { callIds, removed } = await forgetCustomer(store.db, 's1', customerKey(secret, '138 0013 8000')!, 'dpo');
    t.same(callIds, ['a1', 'a2'], "both of the customer's calls, whichever way the PBX wrote the number");
    t.match(removed, { calls: 2, records: 2 });
    for (const id of ['a1', 'a2']) t.equal(await store.getCall('b1', id), null, `${id} is gone`);
    for (const id of ['b1', 'n1']) t.not(await store.getCall('b1', id), null, `${id} (another caller, or none) is kept`);
    const [entry] = await listAudit(store.db, { action: 'customer.forget' });
    t.match(entry, { username: 'dpo', detail: { site: 's1', callIds: ['a1', 'a2'] } }, 'audited with the call ids');
    t.notOk(JSON.stringify(entry).includes(customerKey(secret, '13800138000')!), 'the audit row does not keep the key');
    t.same((await forgetCustomer(store.db, 's1', customerKey(randomBytes(32), '13900139000')!)).callIds, [], "another site's key finds nothing");
    await t.rejects(forgetCustomer(store.db, 'nowhere', 'x'), UnknownSiteError);
  });

  t.test('the retention sweep deletes what is older than the site keeps, and only at that site', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await seed(store, [{ id: 'old', endedAt: daysAgo(40) }, { id: 'new', endedAt: daysAgo(5) }]);
    await store.storeBatch([rec(1, 'index', index('elsewhere', daysAgo(400)), daysAgo(400), 's2', 'b2')], 'open');
    t.same(await sweepRetention(store.db, NOW), [], 'no site has a retention: nothing is swept');
    await setRetention(store.db, 's1', 30, 'admin');
    await t.rejects(setRetention(store.db, 'nowhere', 30), UnknownSiteError);
    await t.rejects(setRetention(store.db, 's1', 0), /1 or more/);
    const [swept] = await sweepRetention(store.db, NOW);
    t.match(swept, { site: 's1', cutoff: daysAgo(30), removed: { calls: 1, alerts: 1, reviews: 1, records: 2 } });
    t.same(await held(store, 'old'), { call: false, alerts: 0, reviews: 0, records: 0 }, 'the 40-day-old call is gone');
    t.same(await held(store, 'new'), { call: true, alerts: 1, reviews: 1, records: 2 }, 'the 5-day-old call is kept');
    t.not(await store.getCall('b2', 'elsewhere'), null, 'a site without retention keeps its 400-day-old call');
    t.match((await listAudit(store.db, { action: 'retention.sweep' }))[0], { detail: { site: 's1', days: 30 } }, 'the sweep is audited');
  });
}

t.test('SQLite', async (t) => suite(t, async () => (await openStore(':memory:')) as SqlStore));

t.test('PostgreSQL', { skip: postgresMissing() ?? false }, async (t) => {
  const pg = await Postgres.start();
  t.teardown(() => pg.dispose());
  suite(t, async () => (await openStore(await pg.createDatabase())) as SqlStore);
});

t.test('earshot central forget, retention and sweep on a store file', async (t) => {
  const db = join(tempDir('central-forget'), 'ingest.sqlite');
  const store = (await openStore(db)) as SqlStore;
  await store.registerBox('s1', 'b1');
  const ended = new Date(Date.now() - 3_600_000).toISOString();
  await store.storeBatch([rec(1, 'index', index('c1', ended), ended), rec(2, 'index', index('c2', ended), ended)], 'open');
  await store.close();

  const forget = await runCli(['central', 'forget', 's1', 'c1', '--db', db]);
  t.equal(forget.code, 0, forget.stderr);
  t.match(forget.stdout, /earshot central forget s1 c1: removed calls 1, alerts 1, reviews 0, records 1/, 'it says what it removed');
  const set = await runCli(['central', 'retention', 's1', '30', '--db', db]);
  t.match(set.stdout, /^s1\t30 days$/m, 'the retention is set and shown');
  const unknown = await runCli(['central', 'forget', 'nowhere', 'c2', '--db', db]);
  t.not(unknown.code, 0);
  t.match(unknown.stderr, /site nowhere is not registered/, 'an unknown site is named');
  const sweep = await runCli(['central', 'sweep', '--db', db]);
  t.match(sweep.stdout, /s1: before .*: removed calls 0/, 'a sweep with nothing old removes nothing');

  const after = (await openStore(db)) as SqlStore;
  t.teardown(() => after.close());
  t.equal(await after.getCall('b1', 'c1'), null, 'c1 is gone from the file');
  t.not(await after.getCall('b1', 'c2'), null, 'c2 is kept');
  t.same((await listAudit(after.db)).map((a) => a.action).filter((a) => a !== 'retention.sweep'), ['site.retention', 'call.forget'], 'both changes are audited');
});

t.test('earshot central forget-customer: the number and the key file in, the calls named and gone', async (t) => {
  const dir = tempDir('central-forget-customer');
  const db = join(dir, 'ingest.sqlite');
  const keyFile = join(dir, 'customer.key');
  writeFileSync(keyFile, randomBytes(32));
  const store = (await openStore(db)) as SqlStore;
  await store.registerBox('s1', 'b1');
  const ended = new Date(Date.now() - 3_600_000).toISOString();
  const i = index('c9', ended);
  await store.storeBatch([rec(1, 'index', { ...i, line: { ...i.line, customerKey: customerKey(readFileSync(keyFile), '13800138000') } }, ended), rec(2, 'index', index('c8', ended), ended)], 'open');
  await store.close();

  const run = await runCli(['central', 'forget-customer', 's1', '+138 0013 8000', '--key-file', keyFile, '--db', db]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /forget-customer s1: 1 call\(s\) \(c9\): removed calls 1/, 'it names the calls it erased');
  const missing = await runCli(['central', 'forget-customer', 's1', '13800138000', '--key-file', join(dir, 'nope.key'), '--db', db]);
  t.not(missing.code, 0);
  t.match(missing.stderr, /customer key .*nope\.key: cannot read it .*openssl rand/, 'a missing key file is named, with how to make one');
  const after = (await openStore(db)) as SqlStore;
  t.teardown(() => after.close());
  t.equal(await after.getCall('b1', 'c9'), null, 'the caller’s call is gone');
  t.not(await after.getCall('b1', 'c8'), null, 'a call without the key is kept');
});
