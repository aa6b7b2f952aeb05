/**
 * Scores of real alerts: the demo calls through the whole pipeline and the real rule engine (with the speech
 * models from ../shared/models, as the rule tests use), stored through the store's ingest path, each alert
 * scored in the unit of its rule from its call's index. Thresholds are lowered where a demo call would not
 * otherwise raise a kind of alert; a site's own rule (not one the centre knows) is scored by what the index
 * holds at the alert.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeRecording } from '../edge/analyze.js';
import { RulePackRegistry } from '../edge/rules/pack.js';
import { loadSpeechModels } from '../edge/speech-setup.js';
import type { CallIndex } from '../edge/index/call-index.js';
import { rulesConfig } from './support/rule-calls.js';
import { sharedVad } from './support/analysis.js';
import { repoRoot } from './support/cli.js';
import { openStore } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { alertScore } from '../central/review/score.js';
import { tempDir } from './support/temp.js';

const registry = RulePackRegistry.withBuiltins();
// A site's own rule, unknown to the centre: the customer talking over the agent.
const sitePack = join(tempDir('site-pack'), 'site.yml');
writeFileSync(sitePack, 'pack: site\nrules:\n  - id: customer-interrupts\n    severity: info\n    detector: overtalk\n    channel: customer\n    params: { minSec: 1 }\n');
registry.load(sitePack);
const rules = registry.rules({
  'silent-agent': { params: { unansweredSec: 1.5, yieldGapSec: 0.3 } },
  'late-hangup': { params: { silenceSec: 0.5 } },
});
const config = rulesConfig(rules);
// Short silences in the index too, so the late hang-up's half second is there to measure.
config.analysis.silence.minSec = 0.5;

let invest: CallIndex;
let demo: CallIndex;
let scores: Map<string, { score: number | null; kind: string | null }>;

t.before(async () => {
  const vadModel = await sharedVad();
  invest = (await analyzeRecording({ stereo: join(repoRoot, 'demo', 'demo-invest-en.wav') }, { config, rules, vadModel, speechModels: await loadSpeechModels(config) })).index;
  demo = (await analyzeRecording({ stereo: join(repoRoot, 'demo', 'demo-call.wav') }, { config, rules, vadModel })).index;
  const store = (await openStore(':memory:')) as SqlStore;
  const rec = (seq: number, data: CallIndex) => ({ site: 's1', box: 'b1', seq, kind: 'index' as const, at: '2026-12-04T10:00:00.000Z', data });
  await store.storeBatch([rec(1, invest), rec(2, demo)], 'open');
  const rows = await store.db.all<{ call_id: string; alert_id: string; score: number | null; score_kind: string | null }>('SELECT call_id, alert_id, score, score_kind FROM alerts');
  scores = new Map(rows.map((r) => [`${r.call_id}/${r.alert_id}`, { score: r.score, kind: r.score_kind }]));
  await store.close();
});

const alertOf = (index: CallIndex, rule: string) => {
  const a = index.alerts.find((x) => x.rule === rule);
  if (!a) throw new Error(`${index.callId} raised no ${rule} (alerts: ${index.alerts.map((x) => x.id).join(', ')})`);
  return a;
};
const stored = (index: CallIndex, rule: string) => scores.get(`${index.callId}/${alertOf(index, rule).id}`);

t.test('dead air: the whole silence, not the threshold the alert was raised at', async (t) => {
  const a = alertOf(invest, 'dead-air');
  const silence = invest.silences.find((s) => Math.abs(s.start - a.start) < 0.05)!;
  t.equal(a.end - a.start, 10, 'the live alert spans the 10 s threshold only');
  t.ok(silence.durationSec > 10, `the silence lasted ${silence.durationSec} s`);
  t.same(stored(invest, 'dead-air'), { score: silence.durationSec, kind: 'silence' });
});

t.test('late hang-up: the silence after the closing', async (t) => {
  const a = alertOf(invest, 'late-hangup');
  const silence = invest.silences.find((s) => s.position === 'end')!;
  t.equal(silence.start, a.start);
  t.same(stored(invest, 'late-hangup'), { score: silence.durationSec, kind: 'silence' });
});

t.test('silent agent: until the agent spoke again', async (t) => {
  const a = alertOf(invest, 'silent-agent');
  const next = invest.utterances.filter((u) => u.channel === 'agent' && u.start >= a.start).sort((x, y) => x.start - y.start)[0];
  t.ok(next, 'the agent spoke again');
  t.same(stored(invest, 'silent-agent'), { score: Math.round((next.start - a.start) * 1000) / 1000, kind: 'silent-agent' });
  t.ok(stored(invest, 'silent-agent')!.score! > 1.5, 'longer than the threshold it was raised at');
});

t.test('phrase rules: the keyword score of the hit the alert was raised on', async (t) => {
  for (const rule of ['guaranteed-return', 'stock-tip']) {
    const a = alertOf(invest, rule);
    const hit = invest.keywords!.find((k) => k.channel === a.channel && Math.abs(k.start - a.start) < 0.05 && Math.abs(k.end - a.end) < 0.05);
    t.ok(hit, `${rule}: the index has the hit`);
    t.same(stored(invest, rule), { score: hit!.score, kind: 'phrase' }, `${rule}: ${hit!.term} (${hit!.source})`);
  }
});

t.test('customer agitation: the emotion score of the stretch', async (t) => {
  const a = alertOf(demo, 'customer-agitation');
  const stretch = demo.emotion.find((e) => e.channel === 'customer' && e.start === a.start)!;
  t.same(stored(demo, 'customer-agitation'), { score: stretch.score, kind: 'emotion' });
});

t.test("a site's own over-talk rule: the over-talk's length, found by what the index holds", async (t) => {
  const a = alertOf(demo, 'customer-interrupts');
  const o = demo.overtalk.find((x) => x.by === 'customer' && x.start <= a.start + 0.05 && a.start <= x.end)!;
  t.ok(o.durationSec > 1);
  t.same(stored(demo, 'customer-interrupts'), { score: o.durationSec, kind: 'overtalk' });
});

t.test('no score where there is none to take', async (t) => {
  const hurried = { id: 'hurried-hangup-1', rule: 'hurried-hangup', severity: 'warning', channel: 'customer', start: 40, end: 45 };
  t.equal(alertScore(hurried, invest), null, 'hurried hang-up: lower is worse, no threshold to keep above');
  const dead = alertOf(invest, 'dead-air');
  t.equal(alertScore(dead, { ...invest, silences: [] }), null, 'an index without the silence: none, not the threshold');
  t.equal(alertScore({ ...dead, rule: 'site-rule' }, { silences: 'nonsense', emotion: [null, 3], keywords: [{ start: 'x' }] }), null, 'a hostile index scores nothing and throws nothing');
  t.equal(alertScore(null, invest), null);
});
