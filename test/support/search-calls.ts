/**
 * Calls and queries for testing search at the centre against the evaluator (`earshot search`):
 * - `syntheticCalls(n, seed)`: call indexes in both languages in every shape search reads: English with and
 *   without word timings (capitals, accents, apostrophes, hyphens), Mandarin as tone-marked pinyin words,
 *   as characters with a pinyin field, as characters alone, keyword-spotter hits in both languages.
 * - `variations(templates, n, seed)`: real (analysed) indexes with their utterances reworded from the pool
 *   of each language, some Mandarin turned into characters, some timings dropped, keywords shuffled.
 * - `randomQuery(rng, corpus)`: a query using any operator, its words drawn from the calls so that it finds
 *   something; `vocabulary(indexes)` is that corpus.
 * - `queryCatalogue(corpus)`: fixed queries covering every operator.
 * Everything is a pure function of its seed.
 */
import type { SearchableIndex, SearchKeyword, SearchUtterance } from '../../edge/search/query.js';
import { mulberry32, type Rng } from '../../lib/seeded-random.js';

type Channel = 'agent' | 'customer';
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];

const EN = [
  'Hello, thank you for calling Acme bank.',
  "I'd like a REFUND please, my card was charged twice.",
  'Sure. Which bank card was it?',
  'The refund should go back to my bank-card.',
  'I am sorry to hear that, let me check.',
  'Can I cancel the transfer? The café charged me.',
  'Your verification code is on its way.',
  'This is not working, I want to cancel now!',
  'Thank you, goodbye.',
  'Is my money safe? Near enough, they said.',
  'Please hold while I check the account.',
];
/** Mandarin: characters and their tone-marked pinyin, one syllable per character */
const ZH: [string, string][] = [
  ['您好欢迎致电', 'nín hǎo huān yíng zhì diàn'],
  ['请告诉我验证码', 'qǐng gào sù wǒ yàn zhèng mǎ'],
  ['严正码是多少', 'yán zhèng mǎ shì duō shǎo'],
  ['银行卡被冻结了', 'yín háng kǎ bèi dòng jié le'],
  ['我要退款', 'wǒ yào tuì kuǎn'],
  ['马上转账', 'mǎ shàng zhuǎn zhàng'],
  ['绿色的路', 'lǜ sè de lù'],
  ['谢谢再见', 'xiè xiè zài jiàn'],
  ['取消这个订单', 'qǔ xiāo zhè gè dìng dān'],
];
const EN_KEYWORDS = ['refund', 'thank you for calling', 'cancel', 'bank card', 'guaranteed'];
const ZH_KEYWORDS = ['验证码', '银行卡', '转账', '退款', '你好'];

function timedWords(rng: Rng, start: number, words: string[]): { w: string; start: number; end: number; conf: number }[] {
  let t = start;
  return words.map((w) => {
    const s = +(t + rng() * 0.15).toFixed(3);
    const e = +(s + 0.15 + rng() * 0.4).toFixed(3);
    t = e;
    return { w, start: s, end: e, conf: +rng().toFixed(2) };
  });
}

function englishUtterance(rng: Rng, channel: Channel, start: number): SearchUtterance {
  const text = pick(rng, EN);
  if (rng() < 0.25) return { channel, start, end: +(start + 2 + rng() * 3).toFixed(3), text, script: 'latin' };
  const words = timedWords(rng, start, text.split(' '));
  return { channel, start, end: words.at(-1)!.end, text, script: 'latin', words };
}

function mandarinUtterance(rng: Rng, channel: Channel, start: number): SearchUtterance {
  const [hanzi, py] = pick(rng, ZH);
  const syllables = py.split(' ');
  const shape = rng();
  if (shape < 0.4) {
    // a pinyin model: the words are tone-marked syllables
    const words = timedWords(rng, start, syllables);
    return { channel, start, end: words.at(-1)!.end, text: py, script: 'pinyin', words };
  }
  if (shape < 0.7) {
    // a character model: characters as words, the pinyin beside them
    const words = timedWords(rng, start, [...hanzi]);
    return { channel, start, end: words.at(-1)!.end, text: hanzi, script: 'hanzi', pinyin: py, words };
  }
  if (shape < 0.85) return { channel, start, end: +(start + 3).toFixed(3), text: hanzi, script: 'hanzi', pinyin: py };
  // characters alone: pinyin-pro reads them
  return { channel, start, end: +(start + 3).toFixed(3), text: hanzi };
}

export function syntheticCalls(n: number, seed: number): (SearchableIndex & { callId: string })[] {
  const out: (SearchableIndex & { callId: string })[] = [];
  for (let i = 0; i < n; i++) {
    const rng = mulberry32(seed * 7919 + i);
    const lang = rng() < 0.5 ? 'en' : rng() < 0.7 ? 'zh' : 'mixed';
    const utterances: SearchUtterance[] = [];
    let t = rng() * 2;
    const count = 2 + Math.floor(rng() * 8);
    for (let k = 0; k < count; k++) {
      const channel: Channel = rng() < 0.5 ? 'agent' : 'customer';
      const zh = lang === 'zh' || (lang === 'mixed' && rng() < 0.5);
      const u = zh ? mandarinUtterance(rng, channel, +t.toFixed(3)) : englishUtterance(rng, channel, +t.toFixed(3));
      utterances.push(u);
      t = u.end + rng() * 4;
    }
    const keywords: SearchKeyword[] = [];
    for (let k = 0; k < Math.floor(rng() * 3); k++) {
      const start = +(rng() * t).toFixed(3);
      keywords.push({ term: lang === 'en' || rng() < 0.4 ? pick(rng, EN_KEYWORDS) : pick(rng, ZH_KEYWORDS), channel: rng() < 0.5 ? 'agent' : 'customer', start, end: +(start + 0.6).toFixed(3), score: +rng().toFixed(2), source: 'kws' });
    }
    out.push({ callId: `syn-${seed}-${i}`, durationSec: +(t + 1 + rng() * 5).toFixed(3), utterances, keywords });
  }
  return out;
}

/** Demo-like indexes (CallIndex) varied: utterances reworded from their language's pool, some Mandarin as characters, some without timings. */
export function variations<T extends SearchableIndex & { callId: string }>(templates: T[], n: number, seed: number): T[] {
  const pools: Record<'en' | 'zh', SearchUtterance[]> = { en: [], zh: [] };
  for (const ix of templates) for (const u of ix.utterances ?? []) if (u.words?.length) pools[u.script === 'pinyin' ? 'zh' : 'en'].push(u);
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const rng = mulberry32(seed * 104_729 + i);
    const template = templates[i % templates.length];
    const utterances = (template.utterances ?? []).map((u): SearchUtterance => {
      const lang = u.script === 'pinyin' ? 'zh' : 'en';
      // now and then the other language's words: calls switch language, and queries must find both
      const pool = pools[rng() < 0.15 ? (lang === 'en' ? 'zh' : 'en') : lang];
      if (!pool.length || !u.words?.length) return u;
      const from = pick(rng, pool);
      const shift = u.start - from.start;
      const words = from.words!.map((w) => ({ ...w, start: +(w.start + shift).toFixed(3), end: +(w.end + shift).toFixed(3) }));
      const v: SearchUtterance = { ...u, script: from.script, words, text: words.map((w) => w.w).join(' '), end: Math.max(u.end, words.at(-1)!.end) };
      const r = rng();
      if (r < 0.1) delete v.words; // no word timings: the whole utterance is the span
      else if (r < 0.2 && from.script !== 'pinyin') v.text = v.text!.replace(/\b(\w)/, (c) => c.toUpperCase()) + '.';
      return v;
    });
    const keywords = (template.keywords ?? []).filter(() => rng() < 0.7).map((k) => ({ ...k, channel: rng() < 0.8 ? k.channel : k.channel === 'agent' ? 'customer' : 'agent' }) as SearchKeyword);
    out.push({ ...template, callId: `${template.callId}-v${i}`, utterances, keywords });
  }
  return out;
}

export interface Corpus {
  /** runs of consecutive words, as the transcripts have them */
  phrases: string[][];
  /** Chinese terms in characters */
  hanzi: string[];
}

export function vocabulary(indexes: SearchableIndex[]): Corpus {
  const phrases: string[][] = [];
  for (const ix of indexes.slice(0, 200)) {
    for (const u of ix.utterances ?? []) {
      const words = u.words?.map((w) => w.w) ?? (u.text ?? '').split(/\s+/).filter(Boolean);
      if (words.length) phrases.push(words);
    }
  }
  const hanzi = [...ZH_KEYWORDS, '严正码', '绿', '路', '谢谢', '取消', ...indexes.flatMap((ix) => (ix.keywords ?? []).map((k) => k.term).filter((t) => /\p{Script=Han}/u.test(t)))];
  return { phrases, hanzi: [...new Set(hanzi)] };
}

const quote = (words: string[]) => `"${words.join(' ').replace(/["“”]/g, '')}"`;

function randomTerm(rng: Rng, c: Corpus): string {
  const r = rng();
  if (r < 0.15 && c.hanzi.length) return pick(rng, c.hanzi);
  const run = pick(rng, c.phrases);
  const len = r < 0.65 ? 1 : 2 + Math.floor(rng() * 2);
  const at = Math.floor(rng() * Math.max(1, run.length - len + 1));
  const words = run.slice(at, at + len);
  if (r > 0.95) return quote(['zzyzx', ...words]); // a phrase nobody said
  const bare = words.length === 1 && /^[\p{L}\p{N}'’]+$/u.test(words[0]) && !/^(and|or|not|near)$/i.test(words[0]);
  return bare ? words[0] : quote(words);
}

/** A random query; `scope` is the channel an enclosing scope already chose (a nested one must agree). */
export function randomQuery(rng: Rng, c: Corpus, depth = 0, scope?: Channel, noNot = false): string {
  const r = depth >= 3 ? 0 : rng();
  if (r < 0.35) return randomTerm(rng, c);
  if (r < 0.5) return `(${randomQuery(rng, c, depth + 1, scope)} ${rng() < 0.5 ? 'AND ' : ''}${randomQuery(rng, c, depth + 1, scope)})`;
  if (r < 0.65) return `(${randomQuery(rng, c, depth + 1, scope)} OR ${randomQuery(rng, c, depth + 1, scope)})`;
  if (r < 0.72 && !noNot) return `NOT ${randomQuery(rng, c, depth + 1, scope, true)}`;
  if (r < 0.82) return `(${randomQuery(rng, c, depth + 1, scope, true)} NEAR/${pick(rng, [1, 3, 10, 60])} ${randomQuery(rng, c, depth + 1, scope, true)})`;
  if (r < 0.91) {
    const ch = scope ?? (rng() < 0.5 ? 'agent' : 'customer');
    return `${ch}:(${randomQuery(rng, c, depth + 1, ch, noNot)})`;
  }
  return `${rng() < 0.5 ? 'first' : 'last'}:${pick(rng, [5, 10, 20, 30])}s (${randomQuery(rng, c, depth + 1, scope, noNot)})`;
}

/** Fixed queries: every operator at least once, both languages; `c` supplies words the calls have. */
export function queryCatalogue(c: Corpus): string[] {
  const long = c.phrases.find((p) => p.length >= 4) ?? c.phrases[0];
  const w = (i: number) => c.phrases[i % c.phrases.length][0];
  return [
    'refund',
    'Refund,',
    quote(long.slice(0, 3)),
    `${w(1)} ${w(2)}`,
    `${w(1)} AND ${w(3)}`,
    `${w(4)} OR 验证码`,
    `NOT ${w(5)}`,
    `NOT (refund OR ${w(6)})`,
    `agent:${w(7)}`,
    `customer:(${w(8)} OR 银行卡)`,
    `refund NEAR/5 ${w(9)}`,
    `(${w(2)} OR ${w(3)}) NEAR/10 ${w(4)}`,
    `first:10s ${w(0)}`,
    `last:20s (${w(10)} OR goodbye)`,
    'NOT last:20s agent:(goodbye OR 再见)',
    '验证码',
    '严正码',
    '"yan zheng ma"',
    'lv OR 绿',
    `customer:验证码 NEAR/10 (转账 OR ${w(11)})`,
    `first:30s agent:(${quote(long.slice(0, 2))} OR 您好)`,
    '"thank you for calling"',
    `${w(12)} NEAR/3 ${w(12)}`,
    '"not working" OR "re: refund"',
  ];
}
