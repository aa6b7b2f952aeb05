/**
 * The review loop and the floor figures through their HTTP API, against SQLite and against a real
 * PostgreSQL (one throw-away cluster for the file): confirm, reject and a later review replacing the verdict
 * (history kept, audited without the note's text); the queue's order and keyset pages; precision, the weekly
 * trend and the threshold tables on a hand-computed set; CSV content and its audit rows; bad input answered
 * 400 with the parameter named; every route refusing another site's data (404) and a role without the
 * capability (403); a site's day of figures; acknowledgements kept in the store; a verdict on an alert its
 * box withdrew refused (409, with the box's reason), and one given before the withdrawal kept but out of
 * the queue and every figure.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { listAudit } from '../central/audit.js';
import { openStore } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { SqlAckStore } from '../central/store/ack-store.js';
import { severityRank } from '../central/review.js';
import { startCentral } from '../central/central.js';
import { centralExtras } from '../central/central-command.js';
import { defaultConfig } from '../provisioning/config.js';
import { buildPages, callRecord, credential, deadAir, FIGURE_CALLS, REVIEW_CALLS, reviewWeb, storeCalls, type CallSpec } from './helpers/review-fixture.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';
import { memoryLog, tempDir } from '../test/support/uplink.js';

const RANGE = 'from=2026-11-30T00:00:00.000Z&to=2026-12-14T00:00:00.000Z';

t.before(() => buildPages());

function suite(t: Test, open: () => Promise<SqlStore>) {
  t.test('review API', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    await storeCalls(store, [...REVIEW_CALLS, ...FIGURE_CALLS]);
    const web = await reviewWeb(store, memoryLog('fatal').log);
    t.teardown(() => web.close());
    const call = async (as: string | null, path: string, init: { method?: string; body?: unknown } = {}) => {
      const headers: Record<string, string> = {};
      if (as) headers['x-as'] = as;
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${web.url}${path}`, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body) });
      const text = await res.text();
      const json = res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, any>) : null;
      return { status: res.status, json: json as Record<string, any>, text, headers: res.headers };
    };
    const review = (as: string, box: string, callId: string, alertId: string, verdict: string, note?: string) => call(as, '/api/reviews', { method: 'POST', body: { box, callId, alertId, verdict, note } });
    const keys = (items: { box: string; callId: string; alertId: string }[]) => items.map((i) => `${i.box}/${i.callId}/${i.alertId}`);

    t.test('the severity rank the store computes is central/review.ts severityRank', async (t) => {
      const rows = await store.db.all<{ severity: string; severity_rank: number }>('SELECT DISTINCT severity, severity_rank FROM alerts');
      t.ok(rows.length >= 3);
      for (const r of rows) t.equal(Number(r.severity_rank), severityRank(r.severity), r.severity);
    });

    t.test('scores are derived when the index is stored, in the unit of each rule', async (t) => {
      const rows = await store.db.all<{ call_id: string; alert_id: string; score: number | null; score_kind: string | null }>("SELECT call_id, alert_id, score, score_kind FROM alerts WHERE site = 's1' ORDER BY call_id, alert_id");
      t.same(rows.map((r) => [r.call_id, r.alert_id, r.score === null ? null : Number(r.score), r.score_kind]), [
        ['c1', 'customer-agitation-1', 0.8, 'emotion'],
        ['c1', 'dead-air-1', 12, 'silence'],
        ['c2', 'dead-air-1', 15, 'silence'],
        ['c3', 'credential-request-1', 0.6, 'phrase'],
        ['c4', 'dead-air-1', 11, 'silence'],
        ['c4', 'hurried-hangup-1', null, null],
        ['c7', 'dead-air-1', 12, 'silence'],
      ], 'dead air scores its whole silence (12 s), not the 10 s the alert was raised at');
      const calls = await store.db.all<{ call_id: string; talk_sec: number; silence_sec: number }>("SELECT call_id, talk_sec, silence_sec FROM calls WHERE call_id = 'f1'");
      t.same(calls.map((c) => [Number(c.talk_sec), Number(c.silence_sec)]), [[85, 20]], 'talk is anyone speaking (over-talk once), silence both sides quiet');
    });

    t.test('the queue: critical first, then by score, then newest; keyset pages', async (t) => {
      const order = ['b1/c3/credential-request-1', 'b1/c2/dead-air-1', 'b1/c7/dead-air-1', 'b1/c1/dead-air-1', 'b1/c4/dead-air-1', 'b1/c4/hurried-hangup-1', 'b1/c1/customer-agitation-1'];
      const all = await call('qa-a', '/api/review/queue');
      t.equal(all.status, 200);
      t.same(keys(all.json.items), order, 'equal scores (c7, c1: 12 s): the newer first; no score after every score of its severity');
      t.equal(all.json.next, null);
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      do {
        const page = await call('qa-a', `/api/review/queue?limit=3${after ? `&after=${encodeURIComponent(after)}` : ''}`);
        seen.push(...keys(page.json.items));
        after = page.json.next;
        pages++;
      } while (after);
      t.same(seen, order, 'pages of 3 give every alert once, in order');
      t.equal(pages, 3);
      t.match(all.json.items[0], { site: 's1', rule: 'credential-request', severity: 'critical', score: 0.6, scoreKind: 'phrase', title: 'Agent asks for a password', callStartedAt: '2026-12-02T14:00:00.000Z' });
      t.same(keys((await call('qa-a', '/api/review/queue?severity=warning&rule=dead-air')).json.items), order.slice(1, 5), 'filtered by rule and severity');
      t.same(keys((await call('qa-a', '/api/review/queue?from=2026-12-07')).json.items), ['b1/c7/dead-air-1', 'b1/c4/dead-air-1', 'b1/c4/hurried-hangup-1'], 'filtered by time');
      t.same(keys((await call('admin', '/api/review/queue?site=s2')).json.items), ['b2/c6/dead-air-1'], 'an admin names any site');
      // Every site, read one site at a time and merged: the same order, page after page.
      const merged = [
        'b3/f4/credential-request-1', 'b1/c3/credential-request-1', 'b2/c6/dead-air-1', 'b1/c2/dead-air-1', 'b3/f5/dead-air-1', 'b3/f1/dead-air-1', 'b1/c7/dead-air-1',
        'b1/c1/dead-air-1', 'b3/f2/dead-air-1', 'b1/c4/dead-air-1', 'b1/c4/hurried-hangup-1', 'b1/c1/customer-agitation-1', 'b3/f1/customer-agitation-1',
      ];
      t.same(keys((await call('admin', '/api/review/queue')).json.items), merged, "an admin's queue: every site's, in one order");
      const paged: string[] = [];
      after = null;
      do {
        const page = await call('admin', `/api/review/queue?limit=4${after ? `&after=${encodeURIComponent(after)}` : ''}`);
        paged.push(...keys(page.json.items));
        after = page.json.next;
      } while (after);
      t.same(paged, merged, 'and its pages');
    });

    t.test('CSV of the queue, guarded against formulas, and audited', async (t) => {
      const csv = await call('qa-a', '/api/review/export/queue.csv');
      t.equal(csv.status, 200);
      t.match(csv.headers.get('content-type'), /^text\/csv/);
      t.match(csv.headers.get('content-disposition'), /^attachment; filename="earshot-queue-\d{4}-\d{2}-\d{2}\.csv"$/);
      const lines = csv.text.split('\r\n');
      t.equal(lines[0], 'severity,rule,score,unit,site,box,call_id,alert_id,call_started_at,agent,line,alert_at,start_sec,end_sec,title,evidence');
      t.equal(lines.length, 1 + 7 + 1, 'a row per alert waiting, and the closing CRLF');
      t.equal(lines[1], `critical,credential-request,0.6,score,s1,b1,c3,credential-request-1,2026-12-02T14:00:00.000Z,"'=HYPERLINK(""http://evil"")",desk-1,2026-12-02T14:01:00.000Z,12,12.8,Agent asks for a password,"agent ""read me the verification code"""`, 'a formula from a box is text in the spreadsheet');
      const [entry] = await listAudit(store.db, { action: 'export.' });
      t.match(entry, { username: 'quinn', action: 'export.queue', detail: { sites: ['s1'], rows: 7 } });
    });

    t.test('confirm, reject, and a later review replaces the verdict; history kept; audited without the note', async (t) => {
      const note = 'customer read out "4111 1111" before the silence';
      const first = await review('qa-a', 'b1', 'c1', 'dead-air-1', 'confirmed', note);
      t.equal(first.status, 200);
      t.match(first.json, { review: { site: 's1', box: 'b1', callId: 'c1', alertId: 'dead-air-1', verdict: 'confirmed', note, reviewer: 'quinn' }, replaced: null });
      t.equal((await review('qa-a', 'b1', 'c2', 'dead-air-1', 'rejected')).status, 200);
      const again = await review('admin', 'b1', 'c2', 'dead-air-1', 'confirmed', '   ');
      t.match(again.json, { review: { verdict: 'confirmed', note: null, reviewer: 'ada' }, replaced: 'rejected' }, 'a blank note is none');
      for (const [box, callId, alertId, verdict] of [['b1', 'c4', 'dead-air-1', 'rejected'], ['b1', 'c3', 'credential-request-1', 'confirmed'], ['b1', 'c1', 'customer-agitation-1', 'rejected']]) {
        t.equal((await review('qa-a', box, callId, alertId, verdict)).status, 200, `${callId}/${alertId} ${verdict}`);
      }
      t.equal((await review('qa-b', 'b2', 'c6', 'dead-air-1', 'rejected')).status, 200);
      t.equal((await review('admin', 'b2', 'c6', 'dead-air-1', 'confirmed')).status, 200);

      const history = await call('qa-a', '/api/reviews?box=b1&callId=c2');
      t.equal(history.status, 200);
      t.same(history.json.alerts.map((a: { alertId: string; verdict: string }) => [a.alertId, a.verdict]), [['dead-air-1', 'confirmed']], 'the later review is the verdict that counts');
      t.same(history.json.history.map((r: { verdict: string; reviewer: string }) => [r.verdict, r.reviewer]), [['rejected', 'quinn'], ['confirmed', 'ada']], 'and both are kept');

      const audits = (await listAudit(store.db, { action: 'review.' })).reverse();
      t.same(audits.map((a) => [a.username, a.action]), [
        ['quinn', 'review.confirm'], ['quinn', 'review.reject'], ['ada', 'review.confirm'], ['quinn', 'review.reject'], ['quinn', 'review.confirm'], ['quinn', 'review.reject'], ['bea', 'review.reject'], ['ada', 'review.confirm'],
      ], 'one audit row per review, who and what');
      t.same(audits[0].detail, { site: 's1', box: 'b1', callId: 'c1', alertId: 'dead-air-1', rule: 'dead-air', noteLength: note.length, replaces: null });
      t.match(audits[2].detail, { replaces: 'rejected', noteLength: 0 });
      t.notOk(JSON.stringify(audits).includes('4111'), "the note's text is not in the audit log");

      t.same(keys((await call('qa-a', '/api/review/queue')).json.items), ['b1/c7/dead-air-1', 'b1/c4/hurried-hangup-1'], 'reviewed alerts leave the queue');
    });

    t.test('precision per rule and site, the share reviewed', async (t) => {
      const p = await call('qa-a', `/api/review/precision?${RANGE}`);
      t.equal(p.status, 200);
      t.same(p.json.byRule, [
        { key: 'credential-request', alerts: 1, reviewed: 1, confirmed: 1, precision: 1, reviewedShare: 1 },
        { key: 'customer-agitation', alerts: 1, reviewed: 1, confirmed: 0, precision: 0, reviewedShare: 1 },
        { key: 'dead-air', alerts: 4, reviewed: 3, confirmed: 2, precision: 2 / 3, reviewedShare: 0.75 },
        { key: 'hurried-hangup', alerts: 1, reviewed: 0, confirmed: 0, precision: null, reviewedShare: 0 },
      ]);
      t.same(p.json.bySite, [{ key: 's1', alerts: 7, reviewed: 5, confirmed: 3, precision: 0.6, reviewedShare: 5 / 7 }], 'only the reviewer\'s site');
      const admin = await call('admin', `/api/review/precision?${RANGE}`);
      t.same(admin.json.bySite.map((r: { key: string; precision: number | null }) => [r.key, r.precision]), [['s1', 0.6], ['s2', 1], ['s3', null]]);
      t.match(admin.json.byRule.find((r: { key: string }) => r.key === 'dead-air'), { alerts: 8, reviewed: 4, confirmed: 3 }, 'every site for an admin (s3: 3 dead-air alerts, none reviewed)');
      const csv = await call('qa-a', `/api/review/export/precision.csv?${RANGE}`);
      t.equal(csv.text, 'rule,alerts,reviewed,reviewed_share,confirmed,precision\r\ncredential-request,1,1,1,1,1\r\ncustomer-agitation,1,1,1,0,0\r\ndead-air,4,3,0.75,2,0.6667\r\nhurried-hangup,1,0,0,0,\r\n');
      const sites = await call('qa-a', `/api/review/export/precision-sites.csv?${RANGE}`);
      t.equal(sites.text, 'site,alerts,reviewed,reviewed_share,confirmed,precision\r\ns1,7,5,0.7143,3,0.6\r\n');
    });

    t.test('weekly trend per rule: alerts and confirmed per 100 calls', async (t) => {
      const tr = await call('qa-a', `/api/review/trend?${RANGE}`);
      t.equal(tr.status, 200);
      t.same(tr.json.weeks, [{ week: '2026-W49', start: '2026-11-30', calls: 3 }, { week: '2026-W50', start: '2026-12-07', calls: 3 }]);
      const third = 100 / 3;
      t.same(tr.json.rules, [
        { rule: 'credential-request', alerts: [1, 0], confirmed: [1, 0], alertsPer100Calls: [third, 0], confirmedPer100Calls: [third, 0] },
        { rule: 'customer-agitation', alerts: [1, 0], confirmed: [0, 0], alertsPer100Calls: [third, 0], confirmedPer100Calls: [0, 0] },
        { rule: 'dead-air', alerts: [2, 2], confirmed: [2, 0], alertsPer100Calls: [2 * third, 2 * third], confirmedPer100Calls: [2 * third, 0] },
        { rule: 'hurried-hangup', alerts: [0, 1], confirmed: [0, 0], alertsPer100Calls: [0, third], confirmedPer100Calls: [0, 0] },
      ]);
      const csv = await call('qa-a', `/api/review/export/trend.csv?${RANGE}&rule=dead-air`);
      t.equal(csv.text, 'week,week_start,rule,calls,alerts,confirmed,alerts_per_100_calls,confirmed_per_100_calls\r\n2026-W49,2026-11-30,dead-air,3,2,2,66.667,66.667\r\n2026-W50,2026-12-07,dead-air,3,2,0,66.667,0\r\n');
    });

    t.test('threshold tables of the rules with a score', async (t) => {
      const th = await call('qa-a', `/api/review/thresholds?${RANGE}`);
      t.equal(th.status, 200);
      t.same(th.json.rules.map((r: { rule: string; kind: string; unit: string; reviewed: number; rows: unknown }) => [r.rule, r.kind, r.unit, r.reviewed, r.rows]), [
        ['credential-request', 'phrase', 'score', 1, [{ threshold: 0.6, kept: 1, confirmed: 1, precision: 1 }]],
        ['customer-agitation', 'emotion', 'score', 1, [{ threshold: 0.8, kept: 1, confirmed: 0, precision: 0 }]],
        ['dead-air', 'silence', 's', 3, [
          { threshold: 11, kept: 3, confirmed: 2, precision: 2 / 3 },
          { threshold: 12, kept: 2, confirmed: 2, precision: 1 },
          { threshold: 15, kept: 1, confirmed: 1, precision: 1 },
        ]],
      ], 'dead air at 12 s would have kept both confirmed and dropped the rejected 11 s; hurried hang-up has no score and is left out');
      const csv = await call('qa-a', `/api/review/export/thresholds.csv?${RANGE}&rule=dead-air`);
      t.equal(csv.text, 'rule,score_kind,unit,threshold,kept,confirmed,precision\r\ndead-air,silence,s,11,3,2,0.6667\r\ndead-air,silence,s,12,2,2,1\r\ndead-air,silence,s,15,1,1,1\r\n');
      const audits = await listAudit(store.db, { action: 'export.' });
      t.same(audits.map((a) => a.action).reverse(), ['export.queue', 'export.precision', 'export.precision-sites', 'export.trend', 'export.thresholds'], 'every export audited');
      t.same(audits[0].detail, { sites: ['s1'], rule: 'dead-air', from: '2026-11-30T00:00:00.000Z', to: '2026-12-14T00:00:00.000Z', rows: 3 }, 'with the filter it was made with');
    });

    t.test('floor figures of a day, hand-computed', async (t) => {
      const f = await call('sup-c', '/api/figures/s3?day=2026-12-10');
      t.equal(f.status, 200);
      const hours = Array.from({ length: 24 }, () => 0);
      hours[8] = 2;
      hours[13] = 1;
      hours[23] = 1;
      t.same(f.json, {
        site: 's3', day: '2026-12-10', tz: 0, from: '2026-12-10T00:00:00.000Z', to: '2026-12-11T00:00:00.000Z',
        calls: 4, callsPerHour: hours, avgHandleSec: 165,
        talkSec: 470, silenceSec: 95, talkShare: 470 / 660, silenceShare: 95 / 660, talkToSilence: 470 / 95,
        alerts: 4, alertsPer100Calls: 100,
        topRules: [{ rule: 'dead-air', alerts: 2, per100Calls: 50 }, { rule: 'credential-request', alerts: 1, per100Calls: 25 }, { rule: 'customer-agitation', alerts: 1, per100Calls: 25 }],
        topAgents: [{ agent: 'ann', calls: 2, alerts: 2, per100Calls: 100 }, { agent: 'bob', calls: 1, alerts: 1, per100Calls: 100 }, { agent: 'cy', calls: 1, alerts: 1, per100Calls: 100 }],
      });
      const west = await call('sup-c', '/api/figures/s3?day=2026-12-10&tz=-60');
      t.match(west.json, { from: '2026-12-10T01:00:00.000Z', to: '2026-12-11T01:00:00.000Z', calls: 5, alerts: 5 }, 'a day in UTC-1 takes the call at 00:10 UTC of the 11th');
      t.same([west.json.callsPerHour[7], west.json.callsPerHour[12], west.json.callsPerHour[22], west.json.callsPerHour[23]], [2, 1, 1, 1], 'counted in local hours');
      t.same(west.json.topAgents.slice(0, 2).map((a: { agent: string; calls: number }) => [a.agent, a.calls]), [['ann', 2], ['bob', 2]], 'bob has his second call that day; a tie goes by name');
      const india = await call('sup-c', '/api/figures/s3?day=2026-12-10&tz=330');
      t.same(india.json.callsPerHour.reduce((a: number, b: number) => a + b, 0), india.json.calls, 'a half-hour zone splits no call out of its hours');
      t.match((await call('sup-c', '/api/figures/s3?day=2026-12-12')).json, { calls: 0, avgHandleSec: null, alertsPer100Calls: null, talkShare: null, topRules: [], topAgents: [] }, 'a day without calls');
    });

    t.test('bad input: 400 naming what is wrong, never a 500', async (t) => {
      const cases: [string, string, { method?: string; body?: unknown }, RegExp][] = [
        ['qa-a', '/api/reviews', { method: 'POST', body: { box: 'b1', callId: 'c1', alertId: 'dead-air-1', verdict: 'maybe' } }, /^verdict: one of confirmed, rejected/],
        ['qa-a', '/api/reviews', { method: 'POST', body: { callId: 'c1', alertId: 'dead-air-1', verdict: 'confirmed' } }, /^box: required/],
        ['qa-a', '/api/reviews', { method: 'POST', body: { box: 'b1', callId: 'c1', alertId: 'dead-air-1', verdict: 'confirmed', note: 'x'.repeat(2001) } }, /^note: longer than 2000/],
        ['qa-a', '/api/reviews', { method: 'POST', body: { box: 'b1', callId: 'c1', alertId: 'dead-air-1', verdict: 'confirmed', note: 7 } }, /^note: a string/],
        ['qa-a', '/api/reviews', { method: 'POST', body: '["b1"]' }, /^a JSON object/],
        ['qa-a', '/api/review/queue?after=bm90LWEtY3Vyc29y', {}, /^after: not a queue cursor/],
        ['qa-a', '/api/review/queue?severity=urgent', {}, /^severity: one of info, warning, critical/],
        ['qa-a', '/api/review/queue?limit=0', {}, /^limit: a whole number from 1 to 200/],
        ['qa-a', '/api/review/precision?from=yesterday', {}, /^from: not a date or a time with its zone/],
        ['qa-a', '/api/review/trend?from=2026-12-10&to=2026-12-01', {}, /^from .* must be before to/],
        ['qa-a', '/api/review/trend?from=2020-01-01&to=2026-01-01', {}, /at most two years/],
        ['qa-a', '/api/reviews?box=b1', {}, /^box and callId: required/],
        ['qa-a', '/api/review/queue?rule=a&rule=b', {}, /^rule: given more than once/],
        ['sup-c', '/api/figures/s3?day=2026-02-31', {}, /^day: a date as YYYY-MM-DD/],
        ['sup-c', '/api/figures/s3?day=2026-12-10&tz=9999', {}, /^tz: a whole number from -720 to 840/],
      ];
      for (const [as, path, init, message] of cases) {
        const r = await call(as, path, init);
        t.equal(r.status, 400, `${init.method ?? 'GET'} ${path.slice(0, 60)}: 400`);
        t.match(r.json?.error, message);
      }
      const unknown = await call('qa-a', '/api/reviews', { method: 'POST', body: { box: 'b1', callId: 'c1', alertId: 'no-such-1', verdict: 'confirmed' } });
      t.equal(unknown.status, 404, 'an alert the store does not hold');
      t.equal((await call('qa-a', '/api/review/export/everything.csv')).status, 404, 'a list that does not exist');
    });

    t.test('site isolation: nothing of another site from any route', async (t) => {
      const reviewsBefore = (await store.db.all<{ n: number }>('SELECT COUNT(*) AS n FROM reviews'))[0].n;
      const auditsBefore = (await listAudit(store.db, { limit: 1000 })).length;
      const notFound: [string, string, { method?: string; body?: unknown }][] = [
        ['qa-a', '/api/reviews', { method: 'POST', body: { box: 'b2', callId: 'c6', alertId: 'dead-air-1', verdict: 'rejected' } }],
        ['qa-a', '/api/reviews?box=b2&callId=c6', {}],
        ['qa-a', '/api/review/queue?site=s2', {}],
        ['qa-a', `/api/review/precision?site=s2&${RANGE}`, {}],
        ['qa-a', `/api/review/trend?site=s2&${RANGE}`, {}],
        ['qa-a', `/api/review/thresholds?site=s2&${RANGE}`, {}],
        ['qa-a', '/api/review/export/queue.csv?site=s2', {}],
        ['qa-a', `/api/review/export/precision.csv?site=s2&${RANGE}`, {}],
        ['qa-a', `/api/review/export/trend.csv?site=s2&${RANGE}`, {}],
        ['qa-a', `/api/review/export/thresholds.csv?site=s2&${RANGE}`, {}],
        ['qa-a', '/api/figures/s2?day=2026-12-01', {}],
        ['sup-a', '/api/figures/s3?day=2026-12-10', {}],
        ['qa-b', '/api/reviews?box=b1&callId=c1', {}],
      ];
      for (const [as, path, init] of notFound) {
        const r = await call(as, path, init);
        t.equal(r.status, 404, `${as}: ${init.method ?? 'GET'} ${path}: 404`);
        t.notOk(r.text.includes('dead-air') || r.text.includes('b2/'), 'and nothing of it in the answer');
      }
      t.equal((await store.db.all<{ n: number }>('SELECT COUNT(*) AS n FROM reviews'))[0].n, reviewsBefore, 'no review of another site was written');
      t.equal((await listAudit(store.db, { limit: 1000 })).length, auditsBefore, 'nor audited');
      // Lists leave other sites out.
      t.same((await call('qa-a', '/api/review/sites')).json, { sites: ['s1'] });
      t.same((await call('admin', '/api/review/sites')).json, { sites: ['s1', 's2', 's3'] });
      t.same((await call('sup-c', '/api/figures/sites')).json, { sites: ['s3'] });
      t.same((await call('qa-b', '/api/review/queue')).json.items, [], "qa-b's queue has none of s1's alerts");
      t.same((await call('qa-b', `/api/review/precision?${RANGE}`)).json.bySite.map((r: { key: string }) => r.key), ['s2']);
      t.same((await call('qa-b', `/api/review/trend?${RANGE}`)).json.rules.map((r: { rule: string }) => r.rule), ['dead-air']);
      t.same((await call('qa-b', `/api/review/trend?${RANGE}`)).json.weeks.map((w: { calls: number }) => w.calls), [1, 0], "calls of qa-b's site only");
      t.same((await call('qa-b', `/api/review/thresholds?${RANGE}`)).json.rules.map((r: { rule: string; reviewed: number }) => [r.rule, r.reviewed]), [['dead-air', 1]]);
      t.equal((await call('qa-b', '/api/review/export/queue.csv')).text.split('\r\n').length, 2, "qa-b's CSV: the header only");
    });

    t.test('roles: what a role may not do is 403, no session 401', async (t) => {
      for (const [as, method, path, status] of [
        ['sup-a', 'GET', '/review', 403], ['qa-a', 'GET', '/review', 200], ['sup-a', 'GET', '/figures', 200],
        ['sup-a', 'GET', '/api/review/queue', 403], ['sup-a', 'POST', '/api/reviews', 403], ['sup-a', 'GET', '/api/review/export/queue.csv', 403],
        ['sup-a', 'GET', '/api/review/precision', 403], ['sup-a', 'GET', '/api/figures/s1', 200], ['qa-a', 'GET', '/api/figures/s1', 200],
        [null, 'GET', '/api/review/queue', 401], [null, 'GET', '/api/figures/s1', 401], [null, 'GET', '/figures', 401],
      ] as const) {
        const r = await call(as, path, method === 'POST' ? { method, body: { box: 'b1', callId: 'c7', alertId: 'dead-air-1', verdict: 'rejected' } } : {});
        t.equal(r.status, status, `${as ?? 'nobody'}: ${method} ${path}`);
      }
      t.match((await call('qa-a', '/review')).text, /<script defer src="\/assets\/review\.js">/, 'the page');
    });
  });

  t.test('a withdrawn alert: a verdict on it is refused with the reason; one given before is kept, out of the queue and the figures', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const web = await reviewWeb(store, memoryLog('fatal').log);
    t.teardown(() => web.close());
    const post = async (callId: string, alertId: string, verdict: string) => {
      const res = await fetch(`${web.url}/api/reviews`, { method: 'POST', headers: { 'x-as': 'qa-a', 'content-type': 'application/json' }, body: JSON.stringify({ box: 'b1', callId, alertId, verdict }) });
      return { status: res.status, json: (await res.json()) as Record<string, any> };
    };
    const get = async (path: string) => (await (await fetch(`${web.url}${path}`, { headers: { 'x-as': 'qa-a' } })).json()) as Record<string, any>;
    const reason = "withdrawn: the agent side was taken for English until 9.2 s and is Mandarin; the words this alert quoted are no longer the call's";
    const withdrawn = (a: Record<string, unknown>) => ({ ...a, revision: 2, revisedAt: 24.1, withdrawn: reason });
    const phrase = (start: number): Record<string, unknown> => ({ id: 'credential-request-1', ...credential(start, 0.6).alert });
    const live = (seq: number, callId: string, data: Record<string, unknown>) => ({ site: 's1', box: 'b1', seq, kind: 'alert' as const, at: '2026-12-02T09:00:30.000Z', data: { callId, ...data } });

    // Raised live on two calls; w2's is confirmed while it stands; then the box withdraws both.
    await store.storeBatch([live(1, 'w1', phrase(12)), live(2, 'w2', phrase(20))], 'open');
    t.equal((await post('w2', 'credential-request-1', 'confirmed')).status, 200, "w2's alert confirmed while it stood");
    await store.storeBatch([live(3, 'w1', withdrawn(phrase(12))), live(4, 'w2', withdrawn(phrase(20)))], 'open');
    // At the hang-up each call's index holds its alerts at their latest revision: the withdrawals too.
    const index = (spec: CallSpec) => {
      const r = callRecord(spec);
      const alerts = (r.data as { alerts: Record<string, unknown>[] }).alerts;
      alerts[0] = withdrawn(alerts[0]);
      return r;
    };
    await store.storeBatch([
      index({ site: 's1', box: 'b1', seq: 5, callId: 'w1', startedAt: '2026-12-02T09:00:00.000Z', alerts: [credential(12, 0.6), deadAir(30, 12)] }),
      index({ site: 's1', box: 'b1', seq: 6, callId: 'w2', startedAt: '2026-12-02T10:00:00.000Z', alerts: [credential(20, 0.6)] }),
    ], 'open');

    const reviewsBefore = await store.db.all('SELECT id FROM reviews');
    for (const callId of ['w1', 'w2']) {
      const refused = await post(callId, 'credential-request-1', 'rejected');
      t.equal(refused.status, 409, `${callId}: a verdict on the withdrawn alert is refused`);
      t.equal(refused.json.error, `alert credential-request-1 was withdrawn by the box: ${reason}`, "saying why, with the box's reason");
    }
    t.same(await store.db.all('SELECT id FROM reviews'), reviewsBefore, 'no review written');
    t.equal((await listAudit(store.db, { action: 'review.' })).length, 1, 'nor audited');
    t.same(await store.db.all("SELECT verdict FROM alerts WHERE call_id = 'w2' AND alert_id = 'credential-request-1'"), [{ verdict: 'confirmed' }], 'the verdict given before the withdrawal is kept');
    t.equal((await post('w1', 'dead-air-1', 'confirmed')).status, 200, 'the standing alert of the same call is reviewed as ever');

    t.match((await get('/api/reviews?box=b1&callId=w2')).alerts, [{ alertId: 'credential-request-1', verdict: 'confirmed', withdrawn: reason }], "the call's alerts say it was withdrawn, and the verdict it had");
    t.same((await get('/api/review/queue')).items, [], 'the queue holds neither withdrawn alert');
    const precision = await get(`/api/review/precision?${RANGE}`);
    t.same(precision.byRule, [{ key: 'dead-air', alerts: 1, reviewed: 1, confirmed: 1, precision: 1, reviewedShare: 1 }], 'precision counts the standing alert only, not the confirmed-then-withdrawn one');
    t.same(precision.bySite, [{ key: 's1', alerts: 1, reviewed: 1, confirmed: 1, precision: 1, reviewedShare: 1 }]);
    t.same((await get(`/api/review/trend?${RANGE}`)).rules.map((r: { rule: string }) => r.rule), ['dead-air'], 'the trend');
    t.same((await get(`/api/review/thresholds?${RANGE}`)).rules.map((r: { rule: string }) => r.rule), ['dead-air'], 'the threshold tables');
    t.match(await get('/api/figures/s1?day=2026-12-02'), { calls: 2, alerts: 1, topRules: [{ rule: 'dead-air', alerts: 1 }] }, "the floor figures: the day's one standing alert");
    t.equal((await get('/api/figures/s1?day=2026-12-02')).topRules.length, 1);
  });

  t.test('acknowledgements in the store: the first stands, audited once', async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    const acks = new SqlAckStore(store.db);
    const about = { site: 's1', box: 'b1', callId: 'c1', alertId: 'dead-air-1' };
    const first = await acks.acknowledge('b1/c1/dead-air-1', { by: 'sam', at: '2026-12-01T09:12:00.000Z' }, about);
    const second = await acks.acknowledge('b1/c1/dead-air-1', { by: 'sue', at: '2026-12-01T09:13:00.000Z' }, about);
    t.same(second, first, 'a later acknowledgement returns the first');
    t.same(await acks.get('b1/c1/dead-air-1'), { by: 'sam', at: '2026-12-01T09:12:00.000Z' });
    t.equal(await acks.get('b1/c1/other'), undefined);
    const audits = await listAudit(store.db, { action: 'alert.' });
    t.same(audits.map((a) => [a.username, a.action, a.detail]), [['sam', 'alert.acknowledge', { key: 'b1/c1/dead-air-1', ...about }]]);
  });

  t.test("a restarted centre's floor names the call of an alert it knows only from the call's index", async (t) => {
    const store = await open();
    t.teardown(() => store.close());
    // No live alert record: a recording analysed and published, or a box whose alert records were lost.
    await storeCalls(store, [{ site: 's1', box: 'b1', seq: 1, callId: 'idx-only', startedAt: '2026-12-02T10:00:00.000Z', alerts: [deadAir(10, 9)] }]);
    const recent = await new SqlAckStore(store.db).recentAlerts('2000-01-01T00:00:00.000Z', 10);
    t.match(recent.map((r) => r.record.data), [{ callId: 'idx-only', id: 'dead-air-1', rule: 'dead-air' }], 'the rebuilt alert record has its callId (it was empty, so its floor key named no call)');
  });
}

t.test('SQLite', async (t) => {
  const dir = tempDir('central-review');
  let n = 0;
  suite(t, async () => (await openStore(join(dir, `review-${++n}.sqlite`))) as SqlStore);
});

t.test('PostgreSQL', { skip: postgresMissing() ?? false }, async (t) => {
  const pg = await Postgres.start();
  t.teardown(() => pg.dispose());
  suite(t, async () => (await openStore(await pg.createDatabase('review'))) as SqlStore);
});

t.test('earshot central serves the review routes and keeps acknowledgements in its store', async (t) => {
  const dir = tempDir('central-review-app');
  const log = memoryLog('fatal').log;
  const db = join(dir, 'central.sqlite');
  const central = await startCentral({ ingest: { ...defaultConfig().ingest, broker: 'mqtt://127.0.0.1:9', db }, listen: '127.0.0.1:0', accounts: false, log }, await centralExtras());
  t.teardown(() => central.close());
  t.equal((await fetch(`${central.url}/review`)).status, 200, '/review');
  t.equal((await fetch(`${central.url}/figures`)).status, 200, '/figures');
  t.same(await (await fetch(`${central.url}/api/review/queue`)).json(), { items: [], next: null });
  // An alert as the live page has it, acknowledged through the live page's route.
  central.web.floor.alertRecord({ schema: 'earshot/record@1', box: 'b1', site: 's1', seq: 7, kind: 'alert', at: new Date().toISOString(), data: { callId: 'c1', id: 'dead-air-1', rule: 'dead-air', severity: 'warning', title: 'Dead air' } });
  const ack = await fetch(`${central.url}/api/alerts/b1/7/ack`, { method: 'POST' });
  t.equal(ack.status, 200);
  const store = central.ingest.store as SqlStore;
  t.match(await store.db.all('SELECT alert_key, site, by_user FROM alert_acks'), [{ alert_key: 'b1/c1/dead-air-1', site: 's1', by_user: 'anonymous' }], 'kept in the store');
  t.match(await listAudit(store.db, { action: 'alert.' }), [{ action: 'alert.acknowledge', detail: { site: 's1', box: 'b1', callId: 'c1', alertId: 'dead-air-1' } }]);
});
