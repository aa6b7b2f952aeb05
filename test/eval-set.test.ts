import t from 'tap';
import type { CallIndex } from '../edge/index/call-index.js';
import {
  AGITATION_GRID,
  builtinRules,
  evalSet,
  expectedAlerts,
  phraseFreeProblems,
  renderEvalCall,
  rulePhrases,
  splitOf,
  type EvalTruth,
} from '../scripts/eval-set.js';
import { parseCallScript } from '../scripts/make-call.js';
import { scoreAccuracy } from './support/accuracy.js';
import { callTracks, peakDb, rmsDb } from './support/calls.js';

t.test('the set follows from its seed; growing it or changing the seed never moves a call between splits', async (t) => {
  const a = evalSet({ seed: 's1', callsPerLanguage: 16 });
  t.same(evalSet({ seed: 's1', callsPerLanguage: 16 }), a, 'same seed, same calls');
  const bigger = evalSet({ seed: 's1', callsPerLanguage: 40 });
  for (const call of a) t.same(bigger.find((c) => c.id === call.id), call, `${call.id} unchanged when the set grows`);
  const other = evalSet({ seed: 's2', callsPerLanguage: 16 });
  t.not(JSON.stringify(other.map((c) => c.script.turns)), JSON.stringify(a.map((c) => c.script.turns)), 'another seed, other calls');
  for (const call of [...bigger, ...other]) t.equal(call.split, splitOf(call.id), `${call.id}: split is the hash of its id`);
  t.same(other.map((c) => c.split), a.map((c) => c.split), 'the seed does not move calls between splits');
  const held = bigger.filter((c) => c.split === 'held-out').length;
  t.ok(held > 20 && held < 60, `both splits used (${held} of ${bigger.length} held out)`);
  t.same(evalSet({ seed: 's1', callsPerLanguage: 40, split: 'held-out' }).map((c) => c.id), bigger.filter((c) => c.split === 'held-out').map((c) => c.id));
  for (const call of a) parseCallScript(call.script, call.id);
});

t.test('the set says every built-in rule phrase in both languages, every agitation degree, and nothing by accident', async (t) => {
  t.same(phraseFreeProblems(), [], 'neutral sentences contain no rule phrase');
  const set = evalSet({ seed: 'cover', callsPerLanguage: 400 });
  const said = new Set(set.flatMap((c) => c.phrases.map((p) => `${c.language} ${p.rule} ${p.phrase}`)));
  const all = rulePhrases();
  t.ok(all.length > 60, `${all.length} phrases in the built-in packs`);
  t.same(all.filter((p) => !said.has(`${p.language} ${p.rule} ${p.phrase}`)).map((p) => p.phrase), [], 'every phrase spoken');
  for (const language of ['en', 'zh'] as const) {
    const degrees = new Set(set.filter((c) => c.language === language).flatMap((c) => c.script.turns.filter((x) => x.agitation).map((x) => JSON.stringify(x.agitation))));
    t.equal(degrees.size, AGITATION_GRID.length, `${language}: the whole agitation grid`);
  }
  const lines = new Set(set.map((c) => `${c.script.sampleRate}/${c.script.encoding}`));
  t.same([...lines].sort(), ['16000/pcm16', '8000/alaw', '8000/mulaw']);
  t.ok(new Set(set.map((c) => c.script.noiseDb)).size >= 4, 'several noise levels');
});

t.test('rendered calls: overlaps and agitated stretches are in the audio where the truth says', async (t) => {
  // Mandarin calls render fastest (espeak-ng): a calm call (it has one interruption) and an agitation call of
  // the bench's default held-out set, rendered into the shared cache so the bench reuses them.
  const set = evalSet({ callsPerLanguage: 24, split: 'held-out' }).filter((c) => c.language === 'zh');
  const rules = builtinRules();
  for (const kind of ['calm', 'agitation'] as const) {
    const call = set.find((c) => c.kind === kind)!;
    const { rendered, truth } = await renderEvalCall(call, undefined, rules);
    const { sampleRate, tracks } = callTracks(rendered);
    if (kind === 'calm') {
      t.equal(truth.overlaps.length, 1, 'one scripted interruption');
      for (const o of truth.overlaps) {
        const other = o.by === 'agent' ? 'customer' : 'agent';
        t.ok(rmsDb(tracks[o.by], sampleRate, o.start, o.end) > -40, `${o.by} speaks in ${o.start}-${o.end}`);
        t.ok(rmsDb(tracks[other], sampleRate, o.start, o.end) > -40, `${other} speaks too`);
        t.ok(peakDb(tracks[o.by], sampleRate, o.start - 0.3, o.start - 0.01) < -45, `${o.by} was silent just before cutting in`);
        t.ok(rmsDb(tracks[other], sampleRate, o.start - 0.5, o.start) > -45, `${other} was mid-sentence`);
        const long = o.end - o.start > 1.3;
        if (o.by === 'agent' && long) t.equal(truth.expectedAlerts['agent-interrupts'], true, 'a long agent cut-in expects agent-interrupts');
      }
    } else {
      t.equal(truth.agitated.length, 1);
      const [a] = truth.agitated;
      const calm = truth.turns.filter((x) => x.channel === 'customer' && !x.agitation);
      const calmPeak = Math.max(...calm.map((x) => peakDb(tracks.customer, sampleRate, x.start, x.end)));
      const peak = peakDb(tracks.customer, sampleRate, a.start, a.end);
      t.ok(Math.abs(peak - calmPeak - a.agitation.gainDb) < 1.5, `+${a.agitation.gainDb} dB asked, ${(peak - calmPeak).toFixed(1)} dB rendered`);
      t.ok(peakDb(tracks.customer, sampleRate, a.start - 0.3, a.start - 0.01) < -45, 'the stretch starts where the truth says');
      t.equal(truth.expectedAlerts['customer-agitation'], true);
    }
    for (const p of truth.phrases) t.ok(p.start >= p.turnStart && p.end <= p.turnEnd + 1e-9, `"${p.phrase}" inside its turn`);
  }
});

t.test('the scorer counts what a hand-built index shows', async (t) => {
  const truth: EvalTruth = {
    schema: 'earshot/call-truth@1',
    evalSchema: 'earshot/eval-truth@1',
    name: 'eval-zh-x',
    id: 'zh-x',
    kind: 'phrase',
    split: 'held-out',
    language: 'zh',
    sampleRate: 8000,
    encoding: 'mulaw',
    channels: 'stereo',
    durationSec: 3600,
    noiseDb: -36,
    turns: [
      { channel: 'agent', start: 1, end: 5, text: '请告诉我密码。' },
      { channel: 'customer', start: 4, end: 9, text: '我等了四十分钟！', agitation: { pitch: 0.4, tempo: 1.2, gainDb: 2 }, effect: 'agitated' },
      { channel: 'customer', start: 20, end: 920, text: '你好。' },
    ],
    agitated: [{ channel: 'customer', start: 4, end: 9, agitation: { pitch: 0.4, tempo: 1.2, gainDb: 2 }, twoLargeRises: true }],
    overlaps: [{ start: 4, end: 5, by: 'customer' }],
    phrases: [{ rule: 'credential-request', phrase: '密码', channel: 'agent', start: 3, end: 3.5, turnStart: 1, turnEnd: 5 }],
    expectedAlerts: { 'credential-request': true, 'forbidden-phrase': false, 'customer-agitation': true, 'agent-interrupts': null },
  };
  const index = {
    recognition: { agent: { language: 'zh' }, customer: { language: 'en' } },
    emotion: [
      { channel: 'customer', start: 4.5, end: 8, score: 0.8, f0RisePct: 35, loudnessRiseDb: 2 },
      { channel: 'customer', start: 100, end: 103, score: 0.6, f0RisePct: 20, loudnessRiseDb: 6 },
    ],
    overtalk: [
      { start: 4, end: 4.4, durationSec: 0.4, by: 'customer' },
      { start: 4.5, end: 5, durationSec: 0.5, by: 'agent' },
    ],
    keywords: [
      { term: '密码', channel: 'agent', start: 3.1, end: 3.6, score: 0.5, source: 'kws' },
      { term: '密码', channel: 'customer', start: 300, end: 300.5, score: 0.4, source: 'kws' },
    ],
    utterances: [],
    alerts: [
      { id: 'credential-request-1', rule: 'credential-request', severity: 'critical', title: '', channel: 'agent', start: 3.1, end: 3.6, raisedAt: 4, evidence: '密码' },
      { id: 'forbidden-phrase-1', rule: 'forbidden-phrase', severity: 'warning', title: '', channel: 'agent', start: 50, end: 51, raisedAt: 52, evidence: '不知道' },
      { id: 'forbidden-phrase-2', rule: 'forbidden-phrase', severity: 'warning', title: '', channel: 'agent', start: 60, end: 61, raisedAt: 62, evidence: 'calm down', revision: 2, withdrawn: 'the agent side was heard as English' },
      { id: 'customer-agitation-1', rule: 'customer-agitation', severity: 'info', title: '', channel: 'customer', start: 4.5, end: 5.5, raisedAt: 5.6, evidence: '' },
    ],
  } as unknown as CallIndex;
  const phrases = [
    { rule: 'credential-request', language: 'zh', phrase: '密码' },
    { rule: 'credential-request', language: 'zh', phrase: '验证码' },
  ];
  const rules = [{ id: 'credential-request', severity: 'critical' }, { id: 'forbidden-phrase' }, { id: 'customer-agitation' }, { id: 'agent-interrupts' }];
  const s = scoreAccuracy([{ truth, index }], phrases, rules);

  t.same(s.language.all, { calls: 1, right: 0, share: 0 }, 'one side in the wrong language makes the call wrong');
  t.same(s.language.byCondition, { 'noisy/8k': { calls: 1, right: 0, share: 0 } });
  t.equal(s.agitation.recall, 1, 'emotion starting 0.5 s into the stretch flags it');
  t.equal(s.agitation.alertRecall, 0, 'an alert raised 1.6 s after the stretch began is too late');
  t.equal(s.agitation.falseAlarms.emotionEvents, 1, 'the emotion at 100 s touches no agitated stretch');
  t.equal(s.agitation.falseAlarms.calmCustomerSpeechHours, 0.25, '900 s of calm customer speech');
  t.equal(s.agitation.falseAlarms.perHour, 4);
  t.same(s.interrupter.byInterrupter.customer, { overlaps: 1, right: 0, share: 0 }, 'an overlap split between both sides is not right');
  t.equal(s.interrupter.detected, 1);
  const pw = s.keywords.phrases['zh credential-request 密码'] as Record<string, number>;
  t.equal(pw.said, 1);
  t.equal(pw.found, 1);
  t.equal(pw.falseAlarms, 1, 'the customer-side hit at 300 s is not the agent saying it');
  t.equal((s.keywords.phrases['zh credential-request 验证码'] as Record<string, number>).said, 0);
  t.same(s.rules.rules['credential-request zh'], { expected: 1, alerted: 1, tp: 1, fp: 0, fn: 0, tn: 0, undecided: 0, withdrawn: 0, recall: 1, precision: 1 });
  t.same(s.rules.rules['forbidden-phrase zh'], { expected: 0, alerted: 1, tp: 0, fp: 1, fn: 0, tn: 0, undecided: 0, withdrawn: 1, recall: null, precision: 0 }, 'a withdrawn alert is counted apart, not as the call alerting');
  t.equal((s.rules.rules['agent-interrupts zh'] as Record<string, number>).undecided, 1, 'a call too close to the threshold is not judged');
  t.equal(s.worstMisses[0].class, 'rule-false-alarm', 'a rule alert where none was due is the worst miss');
  t.ok(s.worstMisses.some((m) => m.class === 'language' && m.got.includes('customer: en')));
});

t.test('the truth expects a silent agent where the rule says one is: after connecting, or a customer who paused for an answer and spoke on', async (t) => {
  const truthOf = (turns: [channel: 'agent' | 'customer', start: number, end: number][], durationSec = 40) => ({
    schema: 'earshot/call-truth@1' as const,
    evalSchema: 'earshot/eval-truth@1' as const,
    name: 'eval-en-x',
    id: 'en-x',
    kind: 'calm' as const,
    split: 'tuning' as const,
    language: 'en' as const,
    sampleRate: 16000,
    encoding: 'pcm16' as const,
    channels: 'stereo' as const,
    durationSec,
    noiseDb: -70,
    turns: turns.map(([channel, start, end]) => ({ channel, start, end, text: 'words' })),
    agitated: [],
    overlaps: [],
    phrases: [],
  });
  const silentAgent = (turns: [channel: 'agent' | 'customer', start: number, end: number][]) => expectedAlerts(truthOf(turns) as Parameters<typeof expectedAlerts>[0])['silent-agent'];
  const asked = (agentBack: number): [channel: 'agent' | 'customer', start: number, end: number][] => [['agent', 0.5, 4], ['customer', 5, 9], ['customer', 12, 14], ['agent', agentBack, agentBack + 3]];
  t.equal(silentAgent(asked(17)), true, 'the customer paused 3 s, spoke again, and the agent answered 8 s after the question');
  t.equal(silentAgent(asked(15.5)), null, '6.5 s: too near the 6 s threshold to judge');
  t.equal(silentAgent(asked(13.5)), false, '4.5 s is an answer in time');
  t.equal(silentAgent([['agent', 0.5, 4], ['customer', 5, 9], ['customer', 9.4, 14], ['agent', 17, 20]]), false, 'no pause for an answer (0.4 s): one turn heard in two');
  t.equal(silentAgent([['customer', 0.5, 3], ['agent', 8, 10]]), true, 'nothing from the agent for 8 s after connecting');
  t.equal(silentAgent([['agent', 0.5, 4], ['customer', 5, 9], ['agent', 20, 22]]), false, 'a customer who said one thing and waited: dead air, not this rule');
});
