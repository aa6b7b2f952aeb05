// A phrase heard by both spotters (the acoustic one and the transcript one, edge/analysis/transcript-spotter.ts)
// is one occurrence: the call's index lists it once, so the call page and search do not show it twice.
import t from 'tap';
import { CallState } from '../edge/call/call-state.js';

const kw = (source: 'kws' | 'asr', start: number, end: number, channel: 'agent' | 'customer' = 'agent', term = 'verification code') =>
  ({ type: 'keyword', term, channel, start, end, score: 0.5, source, emittedAt: end }) as const;

t.test('one occurrence heard by both spotters is kept once, with the acoustic times; other occurrences stay', async (t) => {
  const call = new CallState();
  call.apply(kw('asr', 10.1, 11.2));
  call.apply(kw('kws', 10.3, 11.0));
  call.apply(kw('asr', 30, 31));
  call.apply(kw('kws', 10.4, 11.1, 'customer'));
  call.apply(kw('kws', 50, 51));
  call.apply(kw('asr', 50.2, 50.9));
  call.apply(kw('asr', 10.5, 11, 'agent', 'bank card'));
  t.same(
    call.keywords.map((k) => `${k.channel} ${k.term} ${k.start} ${k.source}`),
    ['agent verification code 10.3 kws', 'agent verification code 30 asr', 'customer verification code 10.4 kws', 'agent verification code 50 kws', 'agent bank card 10.5 asr'],
  );
});

t.test('a spotter hit lies in the utterance its words would join: one still going, or one it starts a little before', async (t) => {
  const call = new CallState();
  call.apply({ type: 'utterance.start', channel: 'agent', start: 1, emittedAt: 1.3 });
  call.apply({ type: 'utterance.end', channel: 'agent', start: 1, end: 4, loudnessDb: -25, f0Hz: 150, emittedAt: 4.5 });
  call.apply({ type: 'utterance.start', channel: 'agent', start: 8, emittedAt: 8.3 });
  const first = call.utteranceAt('agent', 0.7, 1.6);
  t.match(first, { start: 1, end: 4, open: false }, 'a hit a little before the VAD start');
  t.equal(call.utteranceAt('agent', 3, 3.8), first, 'later in the same utterance: the same one');
  t.match(call.utteranceAt('agent', 20, 21), { start: 8, open: true }, 'an utterance still going holds what comes after its start');
  t.equal(call.utteranceAt('agent', 5.5, 6.5), null, 'between utterances: none');
  t.equal(call.utteranceAt('customer', 2, 3), null, 'the other side: none');
});
