import t from 'tap';
import { renderCallByName } from './support/calls.js';
import { analyzeRendered, detectedSpans, truthSpans } from './support/analysis.js';
import { defaultConfig } from '../provisioning/config.js';
import { callIndexProblems } from '../edge/index/validate.js';
import { CHANNELS } from '../edge/events.js';
import { raisedBy } from '../edge/analysis/emotion.js';
import { mulberry32 } from '../lib/seeded-random.js';

const config = defaultConfig();
const TOLERANCE = 0.25;

for (const name of ['en-basic', 'en-8k-mulaw', 'en-split', 'zh-basic', 'en-overtalk']) {
  t.test(`${name}: every utterance found, boundaries within ${TOLERANCE} s of the truth`, async (t) => {
    const call = await renderCallByName(name);
    const { index } = await analyzeRendered(call);
    t.same(callIndexProblems(index), [], 'index matches the published schema');
    t.ok(Math.abs(index.durationSec - call.truth.durationSec) < 0.01, 'duration');
    for (const channel of CHANNELS) {
      const truth = truthSpans(call.truth.turns, channel, config.analysis.vad.minPauseSec);
      const found = detectedSpans(index.utterances, channel, truth);
      truth.forEach((span, i) => {
        t.ok(Math.abs(found[i].start - span.start) <= TOLERANCE, `${channel} speech at ${span.start}: start ${found[i].start}`);
        t.ok(Math.abs(found[i].end - span.end) <= TOLERANCE, `${channel} speech ending ${span.end}: end ${found[i].end}`);
      });
      const phantom = index.utterances.filter(
        (u) => u.channel === channel && !truth.some((s) => u.end > s.start - TOLERANCE && u.start < s.end + TOLERANCE),
      );
      t.same(phantom, [], `${channel}: no speech where nobody spoke`);
    }
  });
}

t.test('a 10 s mid-call silence is found as dead air, with its length', async (t) => {
  const call = await renderCallByName('en-silence');
  const { index } = await analyzeRendered(call);
  const turns = [...call.truth.turns].sort((a, b) => a.start - b.start);
  let gap = { start: 0, end: 0 };
  for (let i = 1; i < turns.length; i++) {
    const lastEnd = Math.max(...turns.slice(0, i).map((x) => x.end));
    if (turns[i].start - lastEnd > gap.end - gap.start) gap = { start: lastEnd, end: turns[i].start };
  }
  t.ok(gap.end - gap.start >= 9.5, `the script has a ~10 s gap (${(gap.end - gap.start).toFixed(2)} s)`);
  const mid = index.silences.filter((s) => s.position === 'mid');
  t.equal(mid.length, 1, 'exactly one mid-call silence');
  t.ok(Math.abs(mid[0].start - gap.start) <= TOLERANCE && Math.abs(mid[0].end - gap.end) <= TOLERANCE, `found ${mid[0].start}-${mid[0].end} for ${gap.start}-${gap.end}`);
  t.ok(mid[0].durationSec >= 9.5 && mid[0].durationSec <= 10.5);
  t.equal(index.metrics.longestSilenceSec, mid[0].durationSec);
});

t.test('over-talk is found and attributed to whoever cut in', async (t) => {
  const call = await renderCallByName('en-overtalk');
  const { index } = await analyzeRendered(call);
  const turns = call.truth.turns;
  const expected: { start: number; end: number; by: string }[] = [];
  for (const a of turns) for (const b of turns) {
    if (a.channel !== b.channel && b.start > a.start && b.start < a.end) expected.push({ start: b.start, end: Math.min(a.end, b.end), by: b.channel });
  }
  t.equal(expected.length, 2, 'the script interrupts twice');
  t.equal(index.overtalk.length, expected.length, 'both interruptions found, nothing else');
  for (const e of expected) {
    const found = index.overtalk.find((o) => o.end > e.start && o.start < e.end);
    t.ok(found, `over-talk at ${e.start}`);
    if (!found) continue;
    t.equal(found.by, e.by, `attributed to the ${e.by}`);
    t.ok(Math.abs(found.start - e.start) <= TOLERANCE, `starts ${found.start} ~ ${e.start}`);
    t.ok(Math.abs(found.end - e.end) <= TOLERANCE, `ends ${found.end} ~ ${e.end}`);
  }
  t.same(index.metrics.overtalkCount, { agent: 1, customer: 1 });
});

for (const [agitated, calm] of [['en-agitated', 'en-calm'], ['zh-agitated', 'zh-basic']]) {
  t.test(`${agitated}: the raised stretch is an emotion event on the customer; ${calm} has none`, async (t) => {
    const call = await renderCallByName(agitated);
    const { index } = await analyzeRendered(call);
    const raised = call.truth.turns.filter((x) => x.effect === 'agitated');
    const span = { start: Math.min(...raised.map((x) => x.start)), end: Math.max(...raised.map((x) => x.end)) };
    t.equal(index.emotion.filter((e) => e.channel === 'agent').length, 0, 'the calm agent is never flagged');
    const onCustomer = index.emotion.filter((e) => e.channel === 'customer');
    t.ok(onCustomer.length >= 1, 'found on the customer');
    for (const e of onCustomer) {
      t.ok(e.start >= span.start - 0.5 && e.end <= span.end + 0.5, `event ${e.start}-${e.end} lies in the raised turns ${span.start}-${span.end}`);
      const rises = { f0: e.f0RisePct / 100, tempo: (e.tempoRisePct ?? 0) / 100, db: e.loudnessRiseDb };
      t.ok(raisedBy(rises, config.analysis.emotion) >= 0.9, `two of pitch, tempo, loudness rose: ${JSON.stringify(rises)}`);
    }
    const covered = onCustomer.reduce((s, e) => s + (e.end - e.start), 0);
    t.ok(covered >= 0.5 * (span.end - span.start), `covers most of the raised speech (${covered.toFixed(1)} of ${(span.end - span.start).toFixed(1)} s)`);

    const calmIndex = (await analyzeRendered(await renderCallByName(calm))).index;
    t.same(calmIndex.emotion, [], `${calm}: no emotion events`);
  });
}

t.test('chunking does not matter: random chunk sizes give the identical index', async (t) => {
  const call = await renderCallByName('en-overtalk');
  const whole = (await analyzeRendered(call, { chunkSamples: 1e9 })).index;
  const random = mulberry32(42);
  for (const [label, chunkSamples] of [
    ['random 1..4000 samples', () => 1 + Math.floor(random() * 4000)],
    ['tiny 1..37 samples', () => 1 + Math.floor(random() * 37)],
    ['20 ms packets', 320],
  ] as const) {
    const chunked = (await analyzeRendered(call, { chunkSamples })).index;
    t.same(chunked, whole, label);
  }
});

t.test('events are emitted while the call runs, not only at the end', async (t) => {
  const call = await renderCallByName('en-silence');
  const { events, index } = await analyzeRendered(call);
  const firstEnd = events.find((e) => e.type === 'utterance.end');
  t.ok(firstEnd, 'utterances end during the call');
  if (firstEnd?.type === 'utterance.end') t.ok(firstEnd.emittedAt - firstEnd.end < 1.0, `known ${(firstEnd.emittedAt - firstEnd.end).toFixed(2)} s after it ended`);
  const silence = events.find((e) => e.type === 'silence' && e.position === 'mid');
  t.ok(silence && silence.emittedAt < index.durationSec - 5, 'the mid-call silence is reported when speech resumes, long before the hang-up');
  if (silence?.type === 'silence') t.ok(silence.emittedAt - silence.end < 1.0, 'within a second of its end');
  t.equal(events[events.length - 1].type, 'call.end');
  for (let i = 1; i < events.length; i++) t.ok(events[i].emittedAt >= events[i - 1].emittedAt, 'media clock never runs backwards');
});
