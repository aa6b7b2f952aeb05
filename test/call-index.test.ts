import t from 'tap';
import { CallIndexBuilder, longestMonologue } from '../edge/index/call-index.js';
import { callIndexProblems } from '../edge/index/validate.js';
import type { PipelineEvent } from '../edge/events.js';

const utterance = (channel: 'agent' | 'customer', start: number, end: number): PipelineEvent => ({ type: 'utterance.end', channel, start, end, loudnessDb: -25, f0Hz: 120, emittedAt: end + 0.6 });
const words = (channel: 'agent' | 'customer', start: number, text: string, language: 'en' | 'zh' = 'en'): PipelineEvent => {
  const ws = text.split(' ').map((w, i) => ({ w, start: start + i * 0.4, end: start + i * 0.4 + 0.3, conf: 0.8 }));
  return { type: 'words', channel, language, script: language === 'zh' ? 'pinyin' : 'latin', start, end: start + ws.length * 0.4, text, words: ws, confidence: 0.8, emittedAt: start + 5 };
};

function build(events: PipelineEvent[], watched: string[] = []) {
  const b = new CallIndexBuilder('c1', 2, undefined, watched);
  for (const e of events) b.apply(e);
  b.apply({ type: 'call.end', durationSec: 30, emittedAt: 30 });
  return b.build();
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

t.test('longest monologue joins one side across short pauses, broken by the other side', async (t) => {
  const u = (channel: 'agent' | 'customer', start: number, end: number) => ({ channel, start, end, loudnessDb: -20, f0Hz: null });
  t.same(longestMonologue([u('agent', 0, 3), u('agent', 4, 9), u('customer', 9.5, 10), u('agent', 11, 14)], 2), { channel: 'agent', start: 0, end: 9, durationSec: 9 });
  t.same(longestMonologue([u('agent', 0, 3), u('agent', 6, 8)], 2), { channel: 'agent', start: 0, end: 3, durationSec: 3 }, 'a 3 s pause ends it');
  t.equal(longestMonologue([], 2), null);
});
