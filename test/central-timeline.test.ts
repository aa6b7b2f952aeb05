/**
 * The call page's picture, from the real indexes of the bundled demo calls (analysed here by the real
 * pipeline, with the speech models where the machine has them): one mark per utterance, silence, over-talk,
 * agitated stretch, keyword hit and alert, each on its lane; an index without words or optional fields still
 * draws; a click's time finds the words said then.
 */
import t from 'tap';
import type { CallIndex } from '../edge/index/call-index.js';
import { timelineOf, transcriptOf, wordsAt, type Lane, type MarkKind } from '../central/web/timeline.js';
import { demoIndexes } from './support/demo-indexes.js';

const demos = await demoIndexes();
const LANES: Lane[] = ['agent', 'customer', 'both'];

/** What the index says each lane should hold, kind by kind. */
function expected(ix: CallIndex): Record<Lane, Record<MarkKind, number>> {
  const out = {} as Record<Lane, Record<MarkKind, number>>;
  for (const lane of LANES) {
    out[lane] = {
      utterance: ix.utterances.filter((u) => u.channel === lane).length,
      silence: lane === 'both' ? ix.silences.length : 0,
      overtalk: ix.overtalk.filter((o) => o.by === lane).length,
      agitation: ix.emotion.filter((e) => e.channel === lane).length,
      keyword: ix.keywords.filter((k) => k.channel === lane).length,
      alert: ix.alerts.filter((a) => a.channel === lane).length,
    };
  }
  return out;
}

t.test('the demo calls give something of every kind to draw', async (t) => {
  t.equal(demos.length, 3, 'three demo calls analysed');
  const total = (f: (ix: CallIndex) => number) => demos.reduce((n, d) => n + f(d.index), 0);
  t.ok(total((ix) => ix.utterances.filter((u) => u.channel === 'agent').length) > 0 && total((ix) => ix.utterances.filter((u) => u.channel === 'customer').length) > 0, 'speech on both sides');
  t.ok(total((ix) => ix.silences.length) > 0, 'silences');
  t.ok(total((ix) => ix.overtalk.length) > 0, 'over-talk');
  t.ok(total((ix) => ix.emotion.length) > 0, 'agitation');
  t.ok(total((ix) => ix.alerts.length) > 0, 'alerts');
  t.ok(total((ix) => ix.alerts.filter((a) => a.channel === 'both').length) > 0, 'an alert on both sides (dead air)');
  if (total((ix) => ix.utterances.filter((u) => u.words?.length).length) === 0) t.comment('no speech models here: no words or keyword hits to draw');
  else t.ok(total((ix) => ix.keywords.length) > 0, 'keyword hits');
});

for (const { name, index } of demos) {
  t.test(`${name}: one mark per thing in the index, on its lane`, async (t) => {
    const tl = timelineOf(index);
    const want = expected(index);
    for (const lane of LANES) {
      for (const kind of Object.keys(want[lane]) as MarkKind[]) {
        const got = tl.marks.filter((m) => m.lane === lane && m.kind === kind).length;
        t.equal(got, want[lane][kind], `${lane} lane: ${want[lane][kind]} ${kind} mark(s)`);
      }
    }
    const sum = Object.values(want).reduce((n, k) => n + Object.values(k).reduce((a, b) => a + b, 0), 0);
    t.equal(tl.marks.length, sum, 'and nothing else');
    t.equal(tl.durationSec, index.durationSec);
    t.equal(tl.ticks[0], 0);
    t.ok(tl.ticks.length >= 3 && tl.ticks.length <= 11 && tl.ticks.at(-1)! <= index.durationSec, `axis ticks ${tl.ticks.join(', ')}`);
    // Marks sit where the index puts them and say what they are.
    const alerts = tl.marks.filter((m) => m.kind === 'alert');
    t.same(alerts.map((m) => [m.start, m.end, m.severity]), index.alerts.map((a) => [a.start, a.end, a.severity]), 'alerts at their evidence, coloured by severity');
    for (const a of index.alerts) t.ok(alerts.some((m) => m.title.includes(a.title) && m.title.includes(a.evidence.slice(0, 30))), `the tooltip of ${a.id} has its title and evidence`);
    for (const o of index.overtalk) t.ok(tl.marks.some((m) => m.kind === 'overtalk' && m.start === o.start && m.title.includes(`the ${o.by} talked over`)), 'an over-talk says who interrupted');
    t.ok(tl.marks.every((m) => m.title.length > 0 && m.end >= m.start), 'every mark has a tooltip and a stretch of time');
  });

  t.test(`${name}: the transcript interleaves both sides, and a mark finds its words`, async (t) => {
    const tr = transcriptOf(index);
    t.equal(tr.length, index.utterances.length, 'every utterance');
    t.ok(tr.every((u, i) => i === 0 || tr[i - 1].start <= u.start), 'in time order');
    t.same(new Set(tr.map((u) => u.channel)), new Set(index.utterances.map((u) => u.channel)), 'both sides');
    for (const k of index.keywords) {
      const found = wordsAt(tr, k.channel, k.start, k.end);
      t.ok(found.length > 0, `"${k.term}" at ${k.start} finds words`);
      for (const p of found) {
        const u = tr[p.u];
        t.equal(u.channel, k.channel, 'on the side that said it');
        if (p.w >= 0) t.ok(u.words[p.w].start < k.end && u.words[p.w].end > k.start, `"${u.words[p.w].w}" overlaps "${k.term}"`);
      }
    }
    for (const s of index.silences) {
      const [near] = wordsAt(tr, 'both', s.start, s.end);
      t.ok(near && tr[near.u].end <= s.start + 1e-9 && near.w === -1, `the silence at ${s.start} shows the words said before it`);
    }
  });
}

t.test('an index without words, recognition, line or metrics still draws', async (t) => {
  const full = demos[0].index;
  const bare = JSON.parse(JSON.stringify(full)) as Record<string, unknown> & CallIndex;
  for (const u of bare.utterances) {
    delete u.words;
    delete u.text;
    delete u.script;
    delete u.rate;
  }
  delete bare.recognition;
  delete bare.source;
  delete (bare as Partial<CallIndex>).metrics;
  delete (bare as Partial<CallIndex>).keywords;
  const tl = timelineOf(bare);
  t.equal(tl.marks.filter((m) => m.kind === 'utterance').length, full.utterances.length, 'every utterance drawn');
  t.equal(tl.marks.filter((m) => m.kind === 'keyword').length, 0, 'no keyword marks');
  t.ok(tl.marks.filter((m) => m.kind === 'utterance').every((m) => m.title.endsWith('(not transcribed)')), 'utterances say they were not transcribed');
  const tr = transcriptOf(bare);
  t.ok(tr.every((u) => u.words.length === 0 && u.text === null));
  const u = full.utterances[0];
  t.same(wordsAt(tr, u.channel, u.start, u.end), [{ u: 0, w: -1 }], 'a mark then finds the whole utterance');

  // Without its duration the call is as long as what it holds; junk entries are left out, not fatal.
  const junk = { utterances: [{ channel: 'agent', start: 1, end: 4 }, { channel: 'robot', start: 0, end: 1 }, null, 'x', { channel: 'customer', start: 'a' }], alerts: [{ start: 2, end: 3 }], emotion: 'none' };
  const j = timelineOf(junk);
  t.equal(j.durationSec, 4);
  t.same(j.marks.map((m) => [m.kind, m.lane]), [['utterance', 'agent'], ['alert', 'both']]);
  for (const nothing of [null, undefined, 42, 'index', [], {}]) t.equal(timelineOf(nothing).marks.length, 0, `${JSON.stringify(nothing)}: nothing to draw`);
});
