import t from 'tap';
import { buildCallIndex } from '../edge/index/call-index.js';
import { callIndexProblems } from '../edge/index/validate.js';
import { CallState } from '../edge/call/call-state.js';
import { turnsOf } from '../edge/call/turns.js';
import type { PipelineEvent } from '../edge/events.js';

const utterance = (channel: 'agent' | 'customer', start: number, end: number): PipelineEvent => ({ type: 'utterance.end', channel, start, end, loudnessDb: -25, f0Hz: 120, emittedAt: end + 0.6 });
const words = (channel: 'agent' | 'customer', start: number, text: string, language: 'en' | 'zh' = 'en'): PipelineEvent => {
  const ws = text.split(' ').map((w, i) => ({ w, start: start + i * 0.4, end: start + i * 0.4 + 0.3, conf: 0.8 }));
  return { type: 'words', channel, language, script: language === 'zh' ? 'pinyin' : 'latin', start, end: start + ws.length * 0.4, text, words: ws, confidence: 0.8, emittedAt: start + 5 };
};

function build(events: PipelineEvent[], watched: string[] = []) {
  const call = new CallState({ maxPauseSec: 2, backchannelSec: 1, interruptionGapSec: 1 });
  for (const e of events) call.apply(e);
  call.apply({ type: 'call.end', durationSec: 30, emittedAt: 30 });
  return buildCallIndex(call, { callId: 'c1', alerts: [], watched });
}

t.test('recognised words join the utterance they fall in; text and rate follow', async (t) => {
  const index = build([utterance('agent', 1, 4), utterance('customer', 5, 7), words('agent', 1.2, 'thank you for calling'), words('customer', 5.1, 'hi there')]);
  t.same(callIndexProblems(index), []);
  t.equal(index.utterances[0].text, 'thank you for calling');
  t.equal(index.utterances[0].rate, 1.33, '4 words in 3 s');
  t.equal(index.utterances[1].text, 'hi there');
  t.same(index.metrics.speechRate, { agent: 1.33, customer: 1 });
});

t.test('watched phrases said but not spotted are indexed from the transcript (source asr), once', async (t) => {
  const events = [utterance('agent', 1, 8), words('agent', 1.2, 'please read me your bank card number')];
  const asr = build(events, ['bank card', 'password']);
  t.same(asr.keywords.map((k) => [k.term, k.channel, k.source]), [['bank card', 'agent', 'asr']]);
  t.ok(asr.keywords[0].start >= 2.8 && asr.keywords[0].end <= 4.0, 'timed by the words');
  const spotted = build([...events, { type: 'keyword', channel: 'agent', term: 'bank card', start: 2.9, end: 3.6, score: 0.1, source: 'kws', emittedAt: 4 }], ['bank card']);
  t.same(spotted.keywords.map((k) => k.source), ['kws'], 'a spotter hit on the same words is not repeated');
  const zh = build([utterance('agent', 1, 6), words('agent', 1.2, 'qǐng gào sù wǒ yàn zhèng mǎ', 'zh')], ['验证码']);
  t.same(zh.keywords.map((k) => [k.term, k.source]), [['验证码', 'asr']], 'Mandarin matched through pinyin');
});

t.test('a character model: characters in text, pinyin beside them, and pinyin search still works', async (t) => {
  const ev = words('agent', 1.2, '请 告诉 我 验证码', 'zh');
  if (ev.type === 'words') ev.script = 'hanzi';
  const index = build([utterance('agent', 1, 6), ev], ['验证码']);
  t.same(callIndexProblems(index), []);
  t.equal(index.utterances[0].text, '请告诉我验证码');
  t.equal(index.utterances[0].pinyin, 'qǐng gào sù wǒ yàn zhèng mǎ');
  t.same(index.keywords.map((k) => [k.term, k.source]), [['验证码', 'asr']]);
});

t.test('every recognised word is kept: words the VAD did not hear make an utterance of their own', async (t) => {
  // The recogniser heard a quiet "okay" at 5.5 s that the VAD missed, and the customer, whom the VAD never heard.
  const index = build([utterance('agent', 1, 4), utterance('agent', 12, 14), words('agent', 1.2, 'thank you for calling'), words('agent', 5.5, 'okay'), words('customer', 20, 'hello there')]);
  t.same(callIndexProblems(index), []);
  t.same(
    index.utterances.map((u) => [u.channel, u.start, u.end, u.text, u.vad]),
    [
      ['agent', 1, 4, 'thank you for calling', undefined],
      ['agent', 5.5, 5.8, 'okay', false],
      ['agent', 12, 14, undefined, undefined],
      ['customer', 20, 20.7, 'hello there', false],
    ],
  );
  t.match(index.utterances[3], { loudnessDb: -120, f0Hz: null }, 'no frame of it was heard as speech');
  t.same([index.metrics.agentTalkSec, index.metrics.customerTalkSec, index.metrics.utteranceCount], [5, 0, { agent: 2, customer: 0 }], 'nor is it talk');
  t.same(index.metrics.speechRate, { agent: 1.33, customer: null }, 'or transcribed talk time');
});

t.test("speech rate: words per second of that side's transcribed talk time", async (t) => {
  const index = build([utterance('agent', 1, 4), utterance('agent', 5, 9), utterance('customer', 10, 12), words('agent', 1.2, 'one two three four five six')]);
  t.equal(index.metrics.agentTalkSec, 7);
  t.equal(index.metrics.speechRate.agent, 2, '6 words over the 3 s utterance that holds them; the untranscribed one does not dilute it');
  t.equal(index.metrics.speechRate.customer, null, 'nothing transcribed');
});

t.test("turns: one side joined across its own short pauses and the other side's back-channels", async (t) => {
  const u = (channel: 'agent' | 'customer', start: number, end: number, open = false) => ({ channel, start, end, open });
  const rules = { maxPauseSec: 2, backchannelSec: 1 };
  t.same(turnsOf([u('agent', 0, 3), u('agent', 4, 9), u('customer', 9.5, 11), u('agent', 11.5, 14)], rules).map((x) => [x.channel, x.start, x.end]), [['agent', 0, 9], ['customer', 9.5, 11], ['agent', 11.5, 14]], 'a reply of 1.5 s ends the turn');
  t.same(turnsOf([u('agent', 0, 3), u('customer', 3.2, 3.7), u('agent', 4, 9)], rules).map((x) => [x.channel, x.start, x.end]), [['agent', 0, 9]], 'an "mm-hm" of 0.5 s does not');
  t.same(turnsOf([u('agent', 0, 3), u('customer', 3.2, 3.7), u('agent', 6, 8)], rules).map((x) => [x.channel, x.start, x.end]), [['agent', 0, 3], ['customer', 3.2, 3.7], ['agent', 6, 8]], 'a short answer the agent waits 2.3 s after is a turn');
  t.same(turnsOf([u('agent', 0, 3), u('customer', 3.2, 3.7, true), u('agent', 4, 9)], rules).length, 3, 'live, a reply still going may yet be long: it ends the turn until it stops short');
  t.same(turnsOf([], rules), []);
  const index = build([utterance('agent', 0, 3), utterance('customer', 3.2, 3.7), utterance('agent', 4, 9), utterance('customer', 12, 15)]);
  t.same(index.turns, [{ channel: 'agent', start: 0, end: 9, durationSec: 9 }, { channel: 'customer', start: 12, end: 15, durationSec: 3 }]);
  t.same(index.metrics.longestMonologue, index.turns[0], 'the longest monologue is the longest turn');
});
