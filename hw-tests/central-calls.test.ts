/**
 * The call list, its CSV and the call API over HTTP, against SQLite and a real PostgreSQL (one throw-away
 * cluster for this file): each filter narrows to exactly the calls it names, each order is the order it
 * says (ties included), keyset pages visit every call once, bad parameters are a 400 naming the parameter,
 * nothing of a site the caller may not see comes back, the CSV quotes and guards its cells and is audited,
 * a long export says it was cut, and every order runs as one range scan of its index.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { resolveConfig } from '../provisioning/config.js';
import { analyzeRecording } from '../edge/analyze.js';
import { configWithRules } from '../edge/rules/setup.js';
import { repoRoot } from '../test/support/cli.js';
import type { CallIndex } from '../edge/index/call-index.js';
import { openStore, type CallSort, type IncomingRecord } from '../central/store/store.js';
import { callListSql, type SqlStore } from '../central/store/sql-store.js';
import { listAudit } from '../central/audit.js';
import { EXPORT_MAX } from '../central/calls/params.js';
import type { ListedCall } from '../central/calls/routes.js';
import type { Caller } from '../central/web/access.js';
import { callerByHeader, startCallsWeb } from './helpers/calls-web.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';
import { tempDir } from '../test/support/uplink.js';

let template: CallIndex;
t.before(async () => {
  const { config, rules } = configWithRules(resolveConfig({}));
  template = (await analyzeRecording({ stereo: join(repoRoot, 'demo', 'demo-call.wav') }, { config, rules })).index;
});

/** What a test call is, independently of the store: the reference the API's answers are checked against. */
interface Spec {
  site: string;
  box: string;
  callId: string;
  line: string;
  agent: string | null;
  startedAt: string;
  durationSec: number;
  language: string;
  silence: number | null;
  over: [number, number];
  emotion: boolean;
  alerts: { rule: string; severity: string }[];
}

const AWKWARD_AGENT = '=SUM(1,2) "boss"';
const N = 60;
const SPECS: Spec[] = Array.from({ length: N }, (_, i) => {
  const site = ['s1', 's2', 's3'][i % 3];
  return {
    site,
    box: site === 's1' ? (i % 2 ? 'b1' : 'b2') : site === 's2' ? 'b3' : 'b4',
    callId: `c${String(i).padStart(2, '0')}`,
    line: `desk-${i % 4}`,
    agent: i === 7 ? AWKWARD_AGENT : i % 5 === 4 ? null : `A${i % 5}`,
    // Six calls to a minute: ties in time within a site (i and i+3), broken by box and call id.
    startedAt: new Date(Date.parse('2026-12-01T08:00:00.000Z') + Math.floor(i / 6) * 60_000).toISOString(),
    durationSec: 30 + (i % 7) * 15,
    language: i % 4 === 3 ? 'zh' : 'en',
    silence: i % 5 === 0 ? null : (i % 4) * 3.5,
    over: [i % 3, (i >> 1) % 2],
    emotion: i % 6 === 1,
    alerts: [[], [{ rule: 'guaranteed-return', severity: 'critical' }], [{ rule: 'dead-air', severity: 'warning' }, { rule: 'customer-agitation', severity: 'info' }], [{ rule: 'dead-air', severity: 'info' }], []][i % 5],
  };
});
const agitated = (s: Spec) => s.emotion || s.alerts.some((a) => a.rule === 'customer-agitation');
const key = (s: Spec) => `${s.box}/${s.callId}`;

/** A real index (the demo call's) reshaped to the spec, as a box would publish it. */
function record(s: Spec, seq: number): IncomingRecord {
  const metrics: Record<string, unknown> = { ...template.metrics, overtalkCount: { agent: s.over[0], customer: s.over[1] } };
  if (s.silence === null) delete metrics.longestSilenceSec;
  else metrics.longestSilenceSec = s.silence;
  const endedAt = new Date(Date.parse(s.startedAt) + s.durationSec * 1000).toISOString();
  const index = {
    ...template,
    callId: s.callId,
    durationSec: s.durationSec,
    line: { name: s.line, ...(s.agent === null ? {} : { agentId: s.agent }), startedAt: s.startedAt, endedAt, boundaries: 'pbx', endedBy: 'pbx' },
    recognition: { agent: { language: s.language }, customer: { language: s.language } },
    metrics,
    emotion: s.emotion ? template.emotion.length ? template.emotion : [{ channel: 'customer', start: 1, end: 3, score: 0.7, f0RisePct: 25, loudnessRiseDb: 5 }] : [],
    alerts: s.alerts.map((a, k) => ({ id: `${a.rule}-${k + 1}`, rule: a.rule, severity: a.severity, title: a.rule, channel: 'agent', start: 1, end: 2, raisedAt: 2, evidence: `evidence ${k}` })),
  };
  return { site: s.site, box: s.box, seq, kind: 'index', at: endedAt, data: index };
}

/** The reference orders: the order's key, then newest first, then box and call id (C collation). */
const SORT_KEY: Record<CallSort, ((s: Spec) => number) | null> = {
  newest: null,
  oldest: null,
  duration: (s) => s.durationSec,
  silence: (s) => s.silence ?? -1,
  alerts: (s) => s.alerts.length,
};
function sorted(specs: Spec[], sort: CallSort): string[] {
  const sign = sort === 'oldest' ? 1 : -1;
  const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
  const k = SORT_KEY[sort];
  return [...specs]
    .sort((a, b) => sign * ((k ? cmp(k(a), k(b)) : 0) || cmp(a.startedAt, b.startedAt) || cmp(a.box, b.box) || cmp(a.callId, b.callId)))
    .map(key);
}

const CALLERS: Record<string, Caller> = {
  default: { name: 'root', role: 'admin', sites: '*' },
  sup1: { name: 'sam', role: 'supervisor', sites: ['s1'] },
  qa12: { name: 'quinn', role: 'qa', sites: ['s1', 's2'] },
  ro2: { name: 'rita', role: 'readonly', sites: ['s2'] },
};
const visibleTo = (who: keyof typeof CALLERS) => SPECS.filter((s) => CALLERS[who].sites === '*' || CALLERS[who].sites.includes(s.site));

function apiSuite(t: Test, open: () => Promise<SqlStore>) {
  let url: string;
  let store: SqlStore;
  t.before(async () => {
    store = await open();
    await store.storeBatch(SPECS.map((s, i) => record(s, i + 1)), 'open');
    const web = await startCallsWeb(store, callerByHeader(CALLERS));
    url = web.url;
    t.teardown(async () => {
      await web.close();
      await store.close();
    });
  });
  const get = (path: string, who = 'default') => fetch(`${url}${path}`, { headers: { 'x-test-caller': who } });
  const list = async (query: string, who = 'default') => {
    const res = await get(`/api/calls?${query}`, who);
    const body = (await res.json()) as { calls: ListedCall[]; next: string | null; error?: string; parameter?: string };
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${body.error}`);
    return body;
  };
  /** Every page of a list, following `next`. */
  const all = async (query: string, who = 'default') => {
    const seen: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const page = await list(`${query}${next ? `&after=${encodeURIComponent(next)}` : ''}`, who);
      seen.push(...page.calls.map((c) => `${c.box}/${c.callId}`));
      next = page.next;
      pages++;
    } while (next && pages < 100);
    return { seen, pages };
  };

  t.test('the calls come back as stored, with their alerts by severity', async (t) => {
    const { calls } = await list('limit=500');
    t.equal(calls.length, N, 'an admin sees every site');
    const c = calls.find((x) => x.callId === 'c02')!;
    const s = SPECS[2];
    t.match(c, { site: s.site, box: s.box, line: s.line, agent: s.agent, startedAt: s.startedAt, durationSec: s.durationSec, language: s.language, longestSilenceSec: s.silence, overtalkCount: s.over[0] + s.over[1], agitated: true, alertCount: 2 });
    t.same(c.severities, { warning: 1, info: 1 }, 'its alerts counted by severity');
    t.same(calls.find((x) => x.callId === 'c00')!.severities, {}, 'a call without alerts has none');
    t.equal(calls.find((x) => x.callId === 'c05')!.longestSilenceSec, null, 'an index without the figure has none');
  });

  t.test('each filter narrows to exactly the calls it names', async (t) => {
    const from = SPECS[12].startedAt;
    const to = SPECS[30].startedAt;
    const cases: [string, (s: Spec) => boolean][] = [
      ['site=s2', (s) => s.site === 's2'],
      ['box=b1', (s) => s.box === 'b1'],
      ['line=desk-2', (s) => s.line === 'desk-2'],
      ['agent=A1', (s) => s.agent === 'A1'],
      [`agent=${encodeURIComponent(AWKWARD_AGENT)}`, (s) => s.agent === AWKWARD_AGENT],
      [`from=${from}`, (s) => s.startedAt >= from],
      [`to=${to}`, (s) => s.startedAt < to],
      [`from=${from}&to=${to}`, (s) => s.startedAt >= from && s.startedAt < to],
      // A time in another zone is the same instant.
      [`from=${encodeURIComponent(new Date(Date.parse(from)).toISOString().replace('T08:', 'T10:').replace('.000Z', '+02:00'))}`, (s) => s.startedAt >= from],
      ['rule=dead-air', (s) => s.alerts.some((a) => a.rule === 'dead-air')],
      ['severity=critical', (s) => s.alerts.some((a) => a.severity === 'critical')],
      ['rule=dead-air&severity=info', (s) => s.alerts.some((a) => a.rule === 'dead-air' && a.severity === 'info')],
      ['language=zh', (s) => s.language === 'zh'],
      ['silenceOverSec=3.5', (s) => s.silence !== null && s.silence > 3.5],
      ['agitated=true', agitated],
      ['agitated=false', (s) => !agitated(s)],
      ['overtalkAtLeast=2', (s) => s.over[0] + s.over[1] >= 2],
      ['minDurationSec=60', (s) => s.durationSec >= 60],
      ['maxDurationSec=75', (s) => s.durationSec <= 75],
      ['minDurationSec=45&maxDurationSec=90&site=s1', (s) => s.durationSec >= 45 && s.durationSec <= 90 && s.site === 's1'],
      ['agent=A2&language=en&box=b3', (s) => s.agent === 'A2' && s.language === 'en' && s.box === 'b3'],
      // Blank fields, as a form sends them, are not filters.
      ['agent=&rule=&site=s3', (s) => s.site === 's3'],
    ];
    for (const [query, pred] of cases) {
      const want = sorted(SPECS.filter(pred), 'newest');
      t.ok(want.length > 0 && want.length < N, `${query}: the fixture has ${want.length} such call(s)`);
      const { calls } = await list(`${query}&limit=500`);
      t.same(calls.map((c) => `${c.box}/${c.callId}`), want, `${query}: exactly those, newest first`);
    }
  });

  t.test('each order is the order it says, across sites and within one, and pages visit every call once', async (t) => {
    for (const sort of Object.keys(SORT_KEY) as CallSort[]) {
      const want = sorted(SPECS, sort);
      t.same((await list(`sort=${sort}&limit=500`)).calls.map((c) => `${c.box}/${c.callId}`), want, `${sort}: one page in order`);
      const paged = await all(`sort=${sort}&limit=7`);
      t.same(paged.seen, want, `${sort}: pages of 7 give every call once, in order`);
      t.equal(paged.pages, Math.ceil(N / 7));
      const s1 = sorted(SPECS.filter((s) => s.site === 's1'), sort);
      t.same((await all(`sort=${sort}&limit=3&site=s1`)).seen, s1, `${sort}: one site's pages of 3`);
      const filtered = sorted(SPECS.filter((s) => s.durationSec >= 60 && s.site !== 's3'), sort);
      t.same((await all(`sort=${sort}&limit=2&minDurationSec=60`, 'qa12')).seen, filtered, `${sort}: a filtered list over two sites, pages of 2`);
    }
    // The fixture has ties in every key, or the test would not test them.
    for (const sort of ['duration', 'silence', 'alerts'] as const) t.ok(new Set(SPECS.map(SORT_KEY[sort]!)).size < N / 4, `${sort}: many ties`);
    t.ok(new Set(SPECS.filter((s) => s.site === 's1').map((s) => s.startedAt)).size < N / 3, 'ties in time within a site');
    t.equal((await list('limit=500')).next, null, 'the last page has no next');
  });

  t.test('bad parameters are a 400 naming the parameter', async (t) => {
    const { next } = await list('sort=duration&limit=5');
    const cases: [string, string, RegExp?][] = [
      ['silenceOverSec=abc', 'silenceOverSec'],
      ['silenceOverSec=-1', 'silenceOverSec'],
      ['from=yesterday', 'from'],
      ['from=2026-12-04T10:00', 'from', /zone/],
      ['to=2026-13-45', 'to'],
      [`from=${SPECS[30].startedAt}&to=${SPECS[12].startedAt}`, 'to', /after from/],
      ['severity=fatal', 'severity', /info, warning, critical/],
      ['agitated=maybe', 'agitated'],
      ['overtalkAtLeast=1.5', 'overtalkAtLeast'],
      ['minDurationSec=x', 'minDurationSec'],
      ['minDurationSec=90&maxDurationSec=60', 'maxDurationSec'],
      ['language=EN!', 'language'],
      ['sort=random', 'sort', /newest/],
      ['limit=0', 'limit'],
      ['limit=100000', 'limit'],
      ['after=garbage', 'after'],
      [`after=${encodeURIComponent(next!)}`, 'after', /another|duration/],
      ['silence=5', 'silence', /not a parameter/],
      ['agent=A1&agent=A2', 'agent', /more than once/],
      [`agent=${'x'.repeat(300)}`, 'agent'],
    ];
    for (const [query, parameter, message] of cases) {
      const res = await get(`/api/calls?${query}`);
      const body = (await res.json()) as { error: string; parameter: string };
      t.equal(res.status, 400, `${query.slice(0, 60)}: 400`);
      t.equal(body.parameter, parameter, `names ${parameter}`);
      t.ok(body.error.startsWith(`${parameter}: `) && (!message || message.test(body.error)), body.error.slice(0, 120));
    }
    t.equal((await get('/api/calls.csv?sort=nope')).status, 400, 'the CSV reads its parameters the same way');
    t.equal((await get('/api/calls.csv?after=x')).status, 400, 'and has no pages');
  });

  t.test('nothing of a site the caller may not see', async (t) => {
    t.same((await all('limit=9', 'sup1')).seen, sorted(visibleTo('sup1'), 'newest'), 'a supervisor of s1: every call of s1 and only those');
    t.same((await all('limit=9&sort=alerts', 'qa12')).seen, sorted(visibleTo('qa12'), 'alerts'), 'a reviewer of s1 and s2: both, merged in order');
    for (const [who, site] of [['sup1', 's2'], ['qa12', 's3'], ['ro2', 's1']]) {
      const res = await get(`/api/calls?site=${site}`, who);
      t.equal(res.status, 404, `${who} asking for ${site}: 404`);
      t.same(await res.json(), { error: `no site ${site}` }, 'as for a site that does not exist');
    }
    const hidden = SPECS.find((s) => s.site === 's2')!;
    const res = await get(`/api/calls/${hidden.box}/${hidden.callId}`, 'sup1');
    t.equal(res.status, 404, "a call of another site is not found");
    t.same(await res.json(), await (await get('/api/calls/b1/no-such-call', 'sup1')).json(), 'exactly as a call that does not exist');
    t.equal((await get(`/api/calls/${hidden.box}/${hidden.callId}`, 'ro2')).status, 200, 'its own site sees it');
    t.same(await (await get('/api/calls/sites', 'qa12')).json(), { sites: ['s1', 's2'] }, 'the sites offered are the caller\'s');
    t.same(await (await get('/api/calls/sites')).json(), { sites: ['s1', 's2', 's3'] }, 'an admin: every site with calls');
    t.equal((await get('/api/calls', 'nobody')).status, 401, 'not signed in');
  });

  t.test('one call: its row, its index as stored, its alerts', async (t) => {
    const s = SPECS[7];
    const res = await get(`/api/calls/${s.box}/${s.callId}`, 'qa12');
    t.equal(res.status, 200);
    const body = (await res.json()) as { call: ListedCall; index: unknown; alerts: { alertId: string; severity: string; evidence: string }[] };
    t.match(body.call, { site: s.site, box: s.box, callId: s.callId, agent: AWKWARD_AGENT });
    t.same(body.index, record(s, 8).data, 'the index the box sent');
    const want = s.alerts.map((a, k) => [`${a.rule}-${k + 1}`, a.severity, `evidence ${k}`]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    t.same(body.alerts.map((a) => [a.alertId, a.severity, a.evidence]), want, 'its alerts with their evidence (raised together: by id)');
    t.equal((await get('/api/calls/b1/c99')).status, 404, 'an unknown call');
    for (const page of ['/calls', `/calls/${s.box}/${s.callId}`]) {
      const p = await get(page, 'qa12');
      t.equal(p.status, 200, `${page} is a page`);
      t.match(p.headers.get('content-type'), /text\/html/);
    }
  });

  t.test('CSV: the same list, quoted and guarded, audited with its filter', async (t) => {
    t.equal((await get('/api/calls.csv', 'sup1')).status, 403, 'a supervisor may not export');
    t.equal((await get('/api/calls.csv?site=s3', 'qa12')).status, 404, 'nor may anyone export a site they cannot see');
    const res = await get('/api/calls.csv?sort=oldest&maxDurationSec=90', 'qa12');
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/csv/);
    t.match(res.headers.get('content-disposition'), /^attachment; filename="calls-\d{8}T\d{6}\.csv"$/);
    t.equal(res.headers.get('x-earshot-truncated'), null, 'not cut');
    const text = await res.text();
    const lines = text.split('\r\n');
    t.equal(lines.at(-1), '', 'CRLF line ends, one after the last row');
    t.equal(lines[0], 'started_at,ended_at,site,box,call_id,line,agent,duration_sec,language,talk_ratio,longest_silence_sec,overtalk_count,overtalk_sec,agitated,alerts,critical,warning,info');
    const want = SPECS.filter((s) => s.site !== 's3' && s.durationSec <= 90);
    t.same(lines.slice(1, -1).map((l) => l.split(',').slice(3, 5).join('/')), sorted(want, 'oldest'), 'the rows of the list, in its order');
    const awkward = lines.find((l) => l.includes(',c07,'))!;
    t.ok(awkward.includes(`,"'=SUM(1,2) ""boss""",`), `a cell with a comma and quotes is quoted, and a formula is defused: ${awkward}`);
    t.match(lines.find((l) => l.includes(',c22,')), /,true,2,0,1,1$/, 'agitated, alerts, critical, warning, info');
    const [entry] = await listAudit(store.db, { action: 'export.calls' });
    t.match(entry, { username: 'quinn', action: 'export.calls', detail: { filter: { sort: 'oldest', maxDurationSec: 90 }, sites: ['s1', 's2'], rows: want.length, truncated: false } }, 'the export is in the audit log: who, what filter, how many');
  });
}

/** A long list: an export that says it was cut, and the planner's word that every order is an index range scan. */
function bulkSuite(t: Test, open: () => Promise<SqlStore>) {
  t.test(`more calls than one export holds; every order on its index`, async (t) => {
    const store = await open();
    const total = EXPORT_MAX + 1;
    // One statement: the store's own projection would take minutes for this many on PostgreSQL.
    await store.db.run(
      `WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO calls (box, call_id, site, seq, line, agent, started_at, ended_at, duration_sec, language, talk_ratio, longest_silence_sec, overtalk_count, overtalk_sec, agitated, alert_count)
       SELECT 'bx', 'k' || i, 'bulk', i, 'desk', 'A', '2026-01-01T00:00:00.000Z', '2026-01-01T00:01:00.000Z', i % 100, 'en', 0.5,
              CASE WHEN i % 10 = 0 THEN NULL ELSE i % 7 END, 0, 0, 0, i % 4 FROM n`,
      [total],
    );
    await store.db.exec('ANALYZE');
    const web = await startCallsWeb(store, callerByHeader({ default: { name: 'root', role: 'admin', sites: '*' } }));
    t.teardown(async () => {
      await web.close();
      await store.close();
    });
    const res = await fetch(`${web.url}/api/calls.csv?sort=duration`);
    t.equal(res.status, 200);
    t.match(res.headers.get('x-earshot-truncated'), new RegExp(`only the first ${EXPORT_MAX} calls`), 'the answer says it was cut');
    const rows = (await res.text()).split('\r\n').slice(1, -1);
    t.equal(rows.length, EXPORT_MAX, `${EXPORT_MAX} rows`);
    t.equal(new Set(rows.map((r) => r.split(',')[4])).size, EXPORT_MAX, 'each call once across the pages it was read in (all tied in time)');
    const [entry] = await listAudit(store.db, { action: 'export.calls' });
    t.match(entry.detail, { rows: EXPORT_MAX, truncated: true }, 'the audit says so too');

    const INDEX: Record<CallSort, string> = { newest: 'calls_site_started', oldest: 'calls_site_started', duration: 'calls_site_duration', silence: 'calls_site_silence', alerts: 'calls_site_alerts' };
    for (const sort of Object.keys(INDEX) as CallSort[]) {
      const page = await store.listCalls({ site: 'bulk', sort, limit: 50 });
      const list = callListSql({ site: 'bulk', sort, limit: 50, after: page.next })!;
      const plan = (await store.db.all<Record<string, string>>(`EXPLAIN ${store.dialect === 'sqlite' ? 'QUERY PLAN ' : ''}${list.sql}`, list.params))
        .map((r) => r.detail ?? r['QUERY PLAN'])
        .join('\n');
      t.match(plan, INDEX[sort], `${sort}: read from ${INDEX[sort]}`);
      t.notMatch(plan, /TEMP B-TREE|Sort/, `${sort}: no sort of the site's calls`);
      if (store.dialect === 'sqlite') t.match(plan, /\(started_at,box,call_id\)<|\(started_at,box,call_id\)>|,started_at,box,call_id\)</, `${sort}: the page boundary is a range on it`);
      else t.match(plan, /Index Cond: .*ROW\(/, `${sort}: the page boundary is a range on it`);
    }
  });
}

t.test('SQLite', async (t) => {
  const dir = tempDir('central-calls');
  let n = 0;
  const open = async () => (await openStore(join(dir, `calls-${++n}.sqlite`))) as SqlStore;
  t.test('API', async (t) => apiSuite(t, open));
  bulkSuite(t, open);
});

t.test('PostgreSQL', { skip: postgresMissing() ?? false }, async (t) => {
  const pg = await Postgres.start();
  t.teardown(() => pg.dispose());
  const open = async () => (await openStore(await pg.createDatabase('calls'))) as SqlStore;
  t.test('API', async (t) => apiSuite(t, open));
  bulkSuite(t, open);
});
