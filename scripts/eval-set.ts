// The accuracy evaluation set (issue 19): calls generated from a seed through make-call, each with an
// evaluation truth (language, agitated stretches and their degree, overlaps and who cut in, every rule phrase
// said and when, and which built-in rule should alert), split by a hash of the call's id into a tuning set and
// a held-out set that is only ever reported. Call i of a language is the same call whatever N is, so growing
// the set never changes or moves the calls already in it.
//
// CLI: node --import=tsx scripts/eval-set.ts [--calls N] [--seed S] [--split tuning|held-out|all] [--out dir] [--jobs N]
//      renders the calls (cached under .cache/eval) and prints each call's audio and truth paths.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { parse as parseYaml } from 'yaml';
import { builtinPackFiles } from '../edge/rules/pack.js';
import { seededRandom } from '../lib/seeded-random.js';
import type { PackSpec, RuleSpec } from '../edge/rules/types.js';
import {
  overlapsIn,
  renderCached,
  type Agitation,
  type CallScript,
  type CallTruth,
  type CallTurn,
  type Encoding,
  type Language,
  type RenderedCall,
  type Speaker,
  type TruthOverlap,
  type VoiceStyle,
} from './make-call.js';

/** Bump when the calls a seed produces change, so cached renders and truths are rebuilt. */
export const EVAL_SET_VERSION = 'earshot-eval-set@1';
export const DEFAULT_SEED = 'earshot-eval-1';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const EVAL_CACHE_DIR = path.join(REPO, '.cache/eval');

export type Split = 'tuning' | 'held-out';
/** Share of calls held out; the rest is for tuning. */
const HELD_OUT_SHARE = 0.5;

/** Which split an item belongs to: a pure function of its id, so no call ever moves between sets. */
export function splitOf(id: string): Split {
  const h = createHash('sha256').update(`split\0${id}`).digest().readUInt32LE(0) / 2 ** 32;
  return h < HELD_OUT_SHARE ? 'held-out' : 'tuning';
}

// ---------------------------------------------------------------------------
// The built-in rules' phrases, read from the packs themselves so the set follows them.

export interface RulePhrase {
  rule: string;
  language: Language;
  phrase: string;
  /** Side that must say it for the rule to alert; undefined: either. */
  channel?: Speaker;
  /** refund-lure style: this is one of the rule's `near` phrases. */
  near?: boolean;
}

export interface BuiltinRule {
  id: string;
  spec: RuleSpec;
}

export function builtinRules(): BuiltinRule[] {
  return builtinPackFiles().flatMap((file) => (parseYaml(readFileSync(file, 'utf8')) as PackSpec).rules.map((spec) => ({ id: spec.id, spec })));
}

export function rulePhrases(rules = builtinRules()): RulePhrase[] {
  const out: RulePhrase[] = [];
  for (const { id, spec } of rules) {
    const channel = spec.channel === 'agent' || spec.channel === 'customer' ? spec.channel : undefined;
    for (const language of ['en', 'zh'] as const) {
      // Detector rules' phrases (late-hangup's closings) are words too: the spotters listen for them.
      for (const phrase of spec.phrases?.[language] ?? []) out.push({ rule: id, language, phrase, ...(spec.detector ? {} : channel ? { channel } : {}) });
      const nearChannel = spec.near?.channel === 'agent' || spec.near?.channel === 'customer' ? spec.near.channel : undefined;
      for (const phrase of spec.near?.phrases[language] ?? []) out.push({ rule: id, language, phrase, near: true, ...(nearChannel ? { channel: nearChannel } : {}) });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Deterministic choices

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const between = (rand: () => number, lo: number, hi: number, digits = 2): number => Number((lo + rand() * (hi - lo)).toFixed(digits));

// ---------------------------------------------------------------------------
// Voices and conditions

/** Festival voices of Debian's festvox-us-slt-hts, festvox-kallpc16k and festvox-kdlpc16k. */
export const EN_VOICES = ['slt', 'kal', 'voice_ked_diphone'] as const;
/** espeak-ng's Mandarin pinyin voice with the variants Debian's espeak-ng-data ships. */
export const ZH_VOICES = ['', '+f1', '+f2', '+f3', '+f4', '+f5', '+m1', '+m2', '+m3', '+m4', '+m5', '+m6', '+m7', '+klatt', '+croak'].map((v) => `cmn-latn-pinyin${v}`);
/** Debian packages the set's voices and tools come from (scripts/test-deps.sh installs them). */
export const EVAL_SET_PACKAGES = 'festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k espeak-ng sox libsox-fmt-all';

export const LINES: { sampleRate: 8000 | 16000; encoding: Encoding }[] = [
  { sampleRate: 16000, encoding: 'pcm16' },
  { sampleRate: 8000, encoding: 'mulaw' },
  { sampleRate: 8000, encoding: 'alaw' },
];
/** White line noise, dBFS RMS; calm speech sits near -25 dBFS RMS, so these are about clean, 25, 17 and 11 dB SNR. */
export const NOISE_DB = [-70, -50, -42, -36];
/** Noise at or above this level makes a call "noisy" in the tables. */
export const NOISY_FROM_DB = -55;

/** The agitation grid: every combination is used, one per agitation call, in a fixed scattered order. */
export const AGITATION_GRID: Agitation[] = [0.1, 0.2, 0.3, 0.4, 0.5].flatMap((pitch) =>
  [1.0, 1.1, 1.2, 1.3].flatMap((tempo) => [0, 2, 4, 6, 8].map((gainDb) => ({ pitch, tempo, gainDb }))),
);
/** "A large rise in two of them": the definition of a plainly agitated caller. */
export const twoLargeRises = (a: Agitation): boolean => [a.pitch >= 0.3, a.tempo >= 1.2, a.gainDb >= 5].filter(Boolean).length >= 2;

// ---------------------------------------------------------------------------
// Sentences. Neutral ones must contain no rule phrase (checked by `phraseFreeProblems`).

const CALM: Record<Language, { agent: string[]; customer: string[] }> = {
  en: {
    agent: [
      'Good morning, this is the support line, how can I help you today?',
      'Let me look into that for you, it will only take a moment.',
      'I can see your order here, it was sent out on Tuesday.',
      'The parcel should arrive within three working days.',
      'Is there anything else I can help you with today?',
      'I have updated the delivery address on your order.',
      'The new plan starts on the first of next month.',
      'I will send you an email with the details shortly.',
      'Could you tell me the name on the order, please?',
      'That model is in stock at our city centre shop.',
      'Our opening hours are nine to five on weekdays.',
      'I understand, I will make a note of that on the file.',
    ],
    customer: [
      'Hello, I am calling about the parcel I ordered last week.',
      'It has not arrived yet and I wanted to check where it is.',
      'My name is Sarah Miller, and I live in Leeds.',
      'Oh good, that is quicker than I expected.',
      'Can I change the colour of the jacket I ordered?',
      'I would like to move to the cheaper monthly plan.',
      'Yes please, an email would be very helpful.',
      'No, I think that was everything, thanks a lot.',
      'The tracking page has not changed since Monday.',
      'I will be at home on Thursday afternoon.',
      'Is the blue one also available in a larger size?',
      'That sounds fine to me, thank you for checking.',
    ],
  },
  zh: {
    agent: [
      '您好，这里是客服中心，请问有什么可以帮您？',
      '好的，我帮您查一下，请稍等。',
      '您的订单已经在周二发出了。',
      '包裹预计三个工作日内送到。',
      '我已经帮您修改了收货地址。',
      '新的套餐从下个月一号开始生效。',
      '稍后我会给您发一条短信说明。',
      '请问订单上的名字是什么？',
      '这款手机在市中心的门店有货。',
      '我们的营业时间是周一到周五九点到五点。',
      '明白了，我帮您记录一下。',
      '请问还有其他问题吗？',
    ],
    customer: [
      '你好，我想问一下上周买的东西。',
      '包裹到现在还没有收到。',
      '我姓王，住在北京朝阳区。',
      '那太好了，比我想的快。',
      '我想换一个便宜一点的套餐。',
      '好的，发短信给我就行。',
      '没有了，就这些，谢谢你。',
      '物流信息从周一开始就没有更新。',
      '我星期四下午在家。',
      '蓝色的那款有大一点的尺码吗？',
      '可以，这样安排挺好的。',
      '我昨天在网上看到一个新的活动。',
    ],
  },
};

/** Long turns for being cut into mid-sentence and for monologues. */
const LONG: Record<Language, string[]> = {
  en: [
    'So what happened was that I ordered the jacket on Monday, and then on Wednesday I got a message saying it was delayed, and nobody has told me why.',
    'Our standard plan includes unlimited calls and texts, ten gigabytes of data every month, and free calls to other customers on the same network at any time.',
    'I have been waiting for the engineer since eight this morning, and I took the whole day off work for this visit, and still there is nobody here.',
    'The delivery team works from seven in the morning until nine at night, and they will send you a text message with a one hour window on the day.',
    'When you return an item, please keep the original packaging and the receipt, and drop it at any post office within thirty days of delivery.',
    'We have three options for the upgrade, the basic one, the family bundle with four lines, and the premium plan that also includes streaming services.',
  ],
  zh: [
    '事情是这样的，我星期一下的单，星期三收到短信说要延迟发货，到现在也没有人告诉我是什么原因。',
    '我们的标准套餐包含不限量的通话和短信，每个月十个G的流量，同网用户之间通话全部免费。',
    '我从早上八点就开始等师傅上门，今天特地请了一天假，可是到现在还没有人来。',
    '配送人员每天早上七点到晚上九点工作，送货当天会提前给您发短信通知具体时间。',
    '如果需要退回商品，请保留原包装和购物小票，在收货后三十天内送到任何一家邮局。',
    '升级有三种选择，基础版，四个号码的家庭套餐，还有包含视频会员的高级套餐。',
  ],
};

const AGITATED: Record<Language, string[]> = {
  en: [
    'This is the third time I am calling about the same problem and nothing has happened!',
    'I have been on hold for forty minutes and I am really fed up with this!',
    'You told me last week it would be fixed and it is still broken!',
    'I want this sorted out today, I cannot keep ringing you every single day!',
  ],
  zh: [
    '这已经是我第三次打电话说同一个问题了，到现在还是没有解决！',
    '我等了四十分钟，真的受够了！',
    '上周你们说会修好，现在还是坏的！',
    '今天必须给我解决，我不可能每天都打电话过来！',
  ],
};

/** Sentence shapes a phrase is said in: at the start, in the middle, at the end, in a question. */
const SHAPES: Record<Language, string[]> = {
  en: [
    '{p}, that is what I wanted to say.',
    'Well, I just want to mention {p} before we go on.',
    'Okay, so the thing is, {p}.',
    'Can I ask you about {p} for a second?',
    'As I said earlier, {p}, and that is all for now.',
  ],
  zh: ['{p}，这个我先跟您说一下。', '好的，我这边想说的是{p}，您看可以吗？', '嗯，那个，{p}。', '请问{p}的事情怎么处理？', '刚才也说了，{p}，就这样。'],
};

const CLOSINGS: Record<Language, string> = { en: 'Alright, {p}.', zh: '好的，{p}。' };
const OPENING_QUESTION: Record<Language, string> = { en: 'Hello? Hello, is anybody there?', zh: '喂？喂，有人吗？' };
const LAST_WORDS: Record<Language, string> = { en: 'Wait, I still have one more question about', zh: '等一下，我还有一个问题想问一下' };

/** Problems if a neutral sentence contains a rule phrase (English by whole word, Mandarin as a substring). */
export function phraseFreeProblems(phrases = rulePhrases()): string[] {
  const problems: string[] = [];
  for (const language of ['en', 'zh'] as const) {
    const neutral = [...CALM[language].agent, ...CALM[language].customer, ...LONG[language], ...AGITATED[language], ...SHAPES[language], CLOSINGS[language], OPENING_QUESTION[language], LAST_WORDS[language]];
    for (const s of neutral) {
      for (const p of phrases.filter((x) => x.language === language)) {
        const hit = language === 'en' ? new RegExp(`\\b${p.phrase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'i').test(s) : s.includes(p.phrase);
        if (hit) problems.push(`"${s}" contains ${p.rule}'s "${p.phrase}"`);
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Calls

export type EvalKind = 'phrase' | 'agitation' | 'overtalk' | 'calm' | 'long-calm' | 'late-hangup' | 'dead-air' | 'silent-agent' | 'hurried-hangup' | 'monologue';
/** One cycle of call kinds; call i of a language is of kind CYCLE[i % length]. */
const CYCLE: EvalKind[] = ['phrase', 'agitation', 'overtalk', 'timing' as EvalKind, 'phrase', 'agitation', 'calm', 'timing' as EvalKind];
const TIMING_KINDS: EvalKind[] = ['late-hangup', 'dead-air', 'silent-agent', 'hurried-hangup', 'monologue', 'long-calm'];

/** A phrase said in a turn of the script: `turn` indexes the script's turns. */
interface PlannedPhrase extends RulePhrase {
  turn: number;
  /** Offset of the phrase inside the turn's text, as a share of its characters (a time estimate). */
  at: number;
  len: number;
}

export interface EvalCall {
  id: string;
  language: Language;
  kind: EvalKind;
  split: Split;
  script: CallScript;
  phrases: PlannedPhrase[];
}

export interface PhraseOccurrence {
  rule: string;
  phrase: string;
  channel: Speaker;
  /** Estimated from the phrase's place in the turn's text; the turn's own span bounds it. */
  start: number;
  end: number;
  turnStart: number;
  turnEnd: number;
}

export interface AgitatedStretch {
  channel: Speaker;
  start: number;
  end: number;
  agitation: Agitation;
  twoLargeRises: boolean;
}

/** Per built-in rule: true it must alert, false it must not, null too close to its threshold to judge. */
export type ExpectedAlerts = Record<string, boolean | null>;

export interface EvalTruth extends CallTruth {
  evalSchema: 'earshot/eval-truth@1';
  id: string;
  kind: EvalKind | 'real';
  split: Split;
  noiseDb: number | null;
  /** Real recordings: only this side has speech. */
  speechOn?: Speaker[];
  agitated: AgitatedStretch[];
  overlaps: TruthOverlap[];
  phrases: PhraseOccurrence[];
  expectedAlerts: ExpectedAlerts;
}

class ScriptBuilder {
  readonly turns: CallTurn[] = [];
  readonly phrases: PlannedPhrase[] = [];
  constructor(readonly rand: () => number, readonly language: Language) {}
  say(speaker: Speaker, text: string, extra: Partial<CallTurn> = {}): number {
    const when = extra.at !== undefined ? { at: extra.at } : { after: extra.after ?? this.gap() };
    this.turns.push({ ...extra, speaker, text, ...when });
    return this.turns.length - 1;
  }
  /** Says `phrase` inside a sentence of one of the shapes; the phrase is recorded with its place in the text. */
  sayPhrase(speaker: Speaker, p: RulePhrase, shape = pick(this.rand, SHAPES[this.language])): void {
    const text = shape.replace('{p}', p.phrase);
    const i = this.say(speaker, text.charAt(0).toUpperCase() + text.slice(1));
    const at = text.indexOf(p.phrase);
    this.phrases.push({ ...p, turn: i, at: at / text.length, len: p.phrase.length / text.length });
  }
  calm(speaker: Speaker): number {
    return this.say(speaker, pick(this.rand, CALM[this.language][speaker]));
  }
  exchange(n: number): void {
    for (let k = 0; k < n; k++) {
      this.calm('customer');
      this.calm('agent');
    }
  }
  /** Pauses between turns: mostly short, sometimes a thoughtful 3 s. */
  gap(): number {
    return this.rand() < 0.15 ? between(this.rand, 2.5, 3.5) : between(this.rand, 0.3, 1.6);
  }
}

function closingPhrases(language: Language, phrases: RulePhrase[]): RulePhrase[] {
  return phrases.filter((p) => p.rule === 'late-hangup' && p.language === language);
}

/** `by` cuts into the other side's long sentence, then the other side answers. */
function overtalk(b: ScriptBuilder, by: Speaker): void {
  const other: Speaker = by === 'agent' ? 'customer' : 'agent';
  if (b.turns[b.turns.length - 1].speaker === other) b.calm(by);
  b.say(other, pick(b.rand, LONG[b.language]));
  // Short overlaps (a back-channel length) are there to be told apart from real interruptions.
  const overlap = b.rand() < 0.75 ? between(b.rand, 1.4, 2.6) : between(b.rand, 0.3, 0.6);
  b.say(by, pick(b.rand, LONG[b.language]), { after: -overlap });
  b.calm(other);
}

/** Call i of `language` for `seed`: everything about it follows from those three. */
export function evalCall(seed: string, language: Language, i: number, phrases = rulePhrases()): EvalCall {
  const id = `${language}-${String(i).padStart(4, '0')}`;
  const rand = seededRandom(`${seed}\0${EVAL_SET_VERSION}\0${id}`);
  const cycle = Math.floor(i / CYCLE.length);
  const pos = i % CYCLE.length;
  // The how-many-th call of its kind this is: phrases and agitation degrees are walked in that order.
  const ordinal = cycle * CYCLE.filter((k) => k === CYCLE[pos]).length + CYCLE.slice(0, pos).filter((k) => k === CYCLE[pos]).length;
  let kind = CYCLE[pos];
  if ((kind as string) === 'timing') kind = TIMING_KINDS[ordinal % TIMING_KINDS.length];
  const b = new ScriptBuilder(rand, language);
  const closings = closingPhrases(language, phrases);
  const wordPhrases = phrases.filter((p) => p.language === language && p.rule !== 'late-hangup');
  const main = wordPhrases.filter((p) => !p.near);
  const near = wordPhrases.filter((p) => p.near);

  const voices = language === 'en' ? [...EN_VOICES] : ZH_VOICES;
  const agentVoice = pick(rand, voices);
  const customerVoice = pick(rand, voices.filter((v) => v !== agentVoice));
  const style = (): VoiceStyle => ({ pitch: pick(rand, [-0.1, 0, 0, 0.1]), tempo: pick(rand, [0.9, 1, 1, 1.1]) });
  const line = pick(rand, [LINES[0], LINES[0], LINES[1], LINES[2]]);
  const noiseDb = pick(rand, [NOISE_DB[0], NOISE_DB[0], NOISE_DB[0], NOISE_DB[1], NOISE_DB[2], NOISE_DB[3]]);
  let tail = between(rand, 2, 4);
  let lead = between(rand, 0.3, 1);

  if (kind === 'silent-agent') {
    // The customer opens and the agent only answers after 8 s.
    lead = 0.5;
    b.say('customer', OPENING_QUESTION[language], { at: 0.5 });
    b.say('agent', CALM[language].agent[0], { at: 9 });
  } else {
    b.say('agent', CALM[language].agent[0], { after: 0 });
  }
  b.exchange(1);

  if (kind === 'phrase') {
    // Two items of the phrase list per call, walked in order so every phrase is said once per pass.
    for (const k of [2 * ordinal, 2 * ordinal + 1]) {
      const all = [...main, ...near];
      const p = all[k % all.length];
      if (p.rule === 'refund-lure' || p.near) {
        // The lure needs both halves: a refund (either side) and the agent asking for card details.
        const refund = p.near ? main.filter((x) => x.rule === p.rule)[k % main.filter((x) => x.rule === p.rule).length] : p;
        const card = p.near ? p : near.filter((x) => x.rule === p.rule)[k % near.filter((x) => x.rule === p.rule).length];
        b.sayPhrase(rand() < 0.5 ? 'customer' : 'agent', refund);
        b.calm('customer');
        b.sayPhrase('agent', card);
      } else {
        b.sayPhrase(p.channel ?? 'agent', p);
      }
      b.exchange(1);
    }
    // Every third phrase call, the customer says an agent-only phrase: no alert may follow from it.
    if (ordinal % 3 === 0) {
      const expected = new Set(b.phrases.map((x) => x.rule));
      const wrong = main.filter((x) => x.channel === 'agent' && !expected.has(x.rule));
      if (wrong.length) {
        b.sayPhrase('customer', wrong[ordinal % wrong.length]);
        b.calm('agent');
      }
    }
  } else if (kind === 'agitation') {
    // Stepping by 37 (prime to the grid's 100) visits every combination once per 100 agitation calls.
    const agitation = AGITATION_GRID[(ordinal * 37 + (language === 'zh' ? 11 : 0)) % AGITATION_GRID.length];
    b.exchange(1);
    b.say('customer', pick(rand, AGITATED[language]), { agitation });
    b.calm('agent');
    b.exchange(1);
  } else if (kind === 'overtalk') {
    // Agents cut in more often than customers in these calls, as the rule is about them.
    overtalk(b, rand() < 0.65 ? 'agent' : 'customer');
    overtalk(b, rand() < 0.65 ? 'agent' : 'customer');
  } else if (kind === 'dead-air') {
    b.say('customer', CALM[language].customer[0]);
    b.say('agent', CALM[language].agent[1], { after: 13 });
    b.exchange(1);
  } else if (kind === 'monologue') {
    b.calm('customer');
    for (const text of LONG[language].slice(cycle % 2, (cycle % 2) + 5)) b.say('agent', text, { after: 0.3 });
    b.exchange(1);
  } else if (kind === 'long-calm') {
    b.exchange(12);
  } else if (kind === 'calm') {
    b.exchange(1);
    overtalk(b, rand() < 0.5 ? 'agent' : 'customer');
  } else {
    b.exchange(1);
  }

  // The agent closes every call; the closing phrases walk the rule's list.
  const closing = closings[(i + cycle) % closings.length];
  if (closing) b.sayPhrase('agent', closing, CLOSINGS[language]);
  if (kind === 'late-hangup') tail = between(rand, 11, 13);
  if (kind === 'hurried-hangup') {
    b.say('customer', LAST_WORDS[language]);
    tail = 0.2;
  }

  const script: CallScript = {
    name: `eval-${id}`,
    language,
    sampleRate: line.sampleRate,
    encoding: line.encoding,
    voices: { agent: agentVoice, customer: customerVoice },
    styles: { agent: style(), customer: style() },
    lead,
    tail,
    noiseDb,
    turns: b.turns,
  };
  return { id, language, kind, split: splitOf(id), script, phrases: b.phrases };
}

export interface EvalSetOptions {
  seed?: string;
  callsPerLanguage: number;
  split?: Split | 'all';
}

export function evalSet(options: EvalSetOptions): EvalCall[] {
  const seed = options.seed ?? DEFAULT_SEED;
  const phrases = rulePhrases();
  const calls: EvalCall[] = [];
  for (const language of ['en', 'zh'] as const) {
    for (let i = 0; i < options.callsPerLanguage; i++) calls.push(evalCall(seed, language, i, phrases));
  }
  return options.split && options.split !== 'all' ? calls.filter((c) => c.split === options.split) : calls;
}

// ---------------------------------------------------------------------------
// Truth after rendering: spans come from the rendered turns, so thresholds are judged on what is heard.

/** How far from a rule's threshold a call must be for the truth to say yes or no. */
const MARGIN_SEC = 1;

function param(rules: BuiltinRule[], id: string, key: string, fallback: number): number {
  return rules.find((r) => r.id === id)?.spec.params?.[key] ?? fallback;
}

function judge(value: number, threshold: number, margin = MARGIN_SEC): boolean | null {
  if (value > threshold + margin) return true;
  if (value < threshold - margin) return false;
  return null;
}

/** One of two ways to raise a rule: true if either says so, undecided if either is, else false. */
const either = (a: boolean | null, b: boolean | null): boolean | null => (a === true || b === true ? true : a === null || b === null ? null : false);

/**
 * The silent agent mid-call, as the rule defines it (edge/rules/detectors/silent-agent.ts): between two of the
 * agent's turns, a customer turn, a pause of yieldGapSec or more, more from the customer, and the agent still
 * silent more than unansweredSec after that first turn ended. Two customer turns in a row happen in any call
 * the generator writes, so this is judged on every call, not only the ones written to have it.
 */
function unansweredCustomer(turns: readonly { channel: string; start: number; end: number }[], durationSec: number, unansweredSec: number, yieldGapSec: number): boolean | null {
  const GAP_MARGIN_SEC = 0.3;
  let verdict: boolean | null = false;
  let since = 0;
  for (let i = 0; i <= turns.length; i++) {
    if (i < turns.length && turns[i].channel !== 'agent') continue;
    const next = i < turns.length ? turns[i].start : durationSec;
    const customer = turns.filter((t) => t.channel === 'customer' && t.end > since && t.start < next);
    const first = customer[0];
    if (first) {
      const gap = Math.max(-Infinity, ...customer.slice(1).map((t) => t.start - first.end));
      const yielded = gap >= yieldGapSec + GAP_MARGIN_SEC ? true : gap >= yieldGapSec - GAP_MARGIN_SEC ? null : false;
      const silent = judge(next - first.end, unansweredSec);
      verdict = either(verdict, yielded === false || silent === false ? false : yielded && silent ? true : null);
    }
    if (i < turns.length) since = Math.max(since, turns[i].end);
  }
  return verdict;
}

export function expectedAlerts(truth: Omit<EvalTruth, 'expectedAlerts'>, rules = builtinRules()): ExpectedAlerts {
  const turns = [...truth.turns].sort((a, b) => a.start - b.start);
  const out: ExpectedAlerts = {};
  const lastEnd = Math.max(...turns.map((t) => t.end));
  for (const { id, spec } of rules) {
    if (spec.detector === 'late-hangup') {
      const closing = truth.phrases.filter((p) => p.rule === id && p.start > param(rules, id, 'ignoreFirstSec', 10));
      out[id] = closing.length ? judge(truth.durationSec - lastEnd, param(rules, id, 'silenceSec', 8), 1.5) : false;
    } else if (spec.detector === 'dead-air') {
      let longest = 0;
      let end = turns[0].end;
      for (const t of turns.slice(1)) {
        longest = Math.max(longest, t.start - end);
        end = Math.max(end, t.end);
      }
      out[id] = judge(longest, param(rules, id, 'silenceSec', 10));
    } else if (spec.detector === 'silent-agent') {
      const firstAgent = turns.find((t) => t.channel === 'agent')?.start ?? truth.durationSec;
      out[id] = either(judge(firstAgent, param(rules, id, 'connectSec', 6)), unansweredCustomer(turns, truth.durationSec, param(rules, id, 'unansweredSec', 6), param(rules, id, 'yieldGapSec', 1)));
    } else if (spec.detector === 'hurried-hangup') {
      const lastCustomer = Math.max(0, ...turns.filter((t) => t.channel === 'customer').map((t) => t.end));
      const after = truth.durationSec - lastCustomer;
      const within = param(rules, id, 'withinSec', 1);
      out[id] = after < within - 0.3 ? true : after > within + 0.5 ? false : null;
    } else if (spec.detector === 'emotion') {
      out[id] = truth.agitated.some((a) => a.channel === (spec.channel ?? 'customer'));
    } else if (spec.detector === 'overtalk') {
      const minSec = param(rules, id, 'minSec', 1);
      const mine = truth.overlaps.filter((o) => o.by === (spec.channel ?? 'agent'));
      const longest = Math.max(0, ...mine.map((o) => o.end - o.start));
      out[id] = longest > minSec + 0.3 ? true : longest < minSec - 0.3 ? false : null;
    } else if (spec.detector === 'monologue') {
      // One side's turns with no turn of the other's in between make one stretch of holding the floor.
      const side = spec.channel ?? 'agent';
      let longest = 0;
      let from: number | null = null;
      let to = 0;
      for (const t of turns) {
        if (t.channel === side) {
          from ??= t.start;
          to = Math.max(to, t.end);
          longest = Math.max(longest, to - from);
        } else if (t.end - t.start >= 1) from = null;
      }
      out[id] = judge(longest, param(rules, id, 'minSec', 30), 2);
    } else if (!spec.detector) {
      const said = (near: boolean, channel?: string) =>
        truth.phrases.filter((p) => p.rule === id && (near ? spec.near?.phrases[truth.language]?.includes(p.phrase) : spec.phrases?.[truth.language]?.includes(p.phrase)) && (!channel || channel === 'any' || p.channel === channel));
      const main = said(false, spec.channel);
      if (spec.near) {
        const within = spec.near.withinSec;
        const partners = said(true, spec.near.channel);
        out[id] = main.some((m) => partners.some((n) => Math.abs(n.start - m.start) <= within));
      } else out[id] = main.length > 0;
    } else out[id] = null;
  }
  return out;
}

/** The evaluation truth of a rendered call. */
export function evalTruthOf(call: EvalCall, rendered: RenderedCall, rules = builtinRules()): EvalTruth {
  const t = rendered.truth;
  const agitated = t.turns
    .filter((x) => x.agitation)
    .map((x) => ({ channel: x.channel, start: x.start, end: x.end, agitation: x.agitation as Agitation, twoLargeRises: twoLargeRises(x.agitation as Agitation) }));
  const phrases = call.phrases.map((p) => {
    const turn = t.turns[p.turn];
    const dur = turn.end - turn.start;
    return {
      rule: p.rule,
      phrase: p.phrase,
      channel: turn.channel,
      start: Number((turn.start + p.at * dur).toFixed(3)),
      end: Number((turn.start + (p.at + p.len) * dur).toFixed(3)),
      turnStart: turn.start,
      turnEnd: turn.end,
    };
  });
  const base = {
    ...t,
    evalSchema: 'earshot/eval-truth@1' as const,
    id: call.id,
    kind: call.kind,
    split: call.split,
    noiseDb: call.script.noiseDb ?? -70,
    agitated,
    overlaps: overlapsIn(t),
    phrases,
  };
  return { ...base, expectedAlerts: expectedAlerts(base, rules) };
}

export interface RenderedEvalCall {
  call: EvalCall;
  rendered: RenderedCall;
  truth: EvalTruth;
  /** `<base>.eval.json`, beside the audio. */
  truthPath: string;
}

/** Renders (or reuses the cached render of) one call and writes its evaluation truth beside it. */
export async function renderEvalCall(call: EvalCall, cacheDir = EVAL_CACHE_DIR, rules = builtinRules()): Promise<RenderedEvalCall> {
  const rendered = await renderCached(call.script, { dir: cacheDir, label: call.id, keyText: `${EVAL_SET_VERSION}\0${JSON.stringify(call.script)}` });
  const truth = evalTruthOf(call, rendered, rules);
  const truthPath = rendered.truthPath.replace(/\.truth\.json$/, '.eval.json');
  await writeFile(truthPath, JSON.stringify(truth, null, 2) + '\n');
  return { call, rendered, truth, truthPath };
}

// ---------------------------------------------------------------------------
// CLI

async function main(argv: string[]): Promise<void> {
  let calls = 20;
  let seed = DEFAULT_SEED;
  let split: Split | 'all' = 'all';
  let out = EVAL_CACHE_DIR;
  let jobs = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (a === '--calls') calls = Number(v);
    else if (a === '--seed') seed = v;
    else if (a === '--split' && (v === 'tuning' || v === 'held-out' || v === 'all')) split = v;
    else if (a === '--out') out = v;
    else if (a === '--jobs') jobs = Number(v);
    else throw new Error('usage: eval-set [--calls N] [--seed S] [--split tuning|held-out|all] [--out dir] [--jobs N]');
  }
  if (!Number.isInteger(calls) || calls < 1) throw new Error(`--calls must be a whole number >= 1, got ${calls}`);
  const problems = phraseFreeProblems();
  if (problems.length) throw new Error(`neutral sentences contain rule phrases:\n${problems.join('\n')}`);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a whole number >= 1, got ${jobs}`);
  const limit = pLimit(jobs);
  const rules = builtinRules();
  await Promise.all(
    evalSet({ seed, callsPerLanguage: calls, split }).map((call) =>
      limit(async () => {
        const r = await renderEvalCall(call, out, rules);
        console.log(`${call.split}\t${call.kind}\t${r.rendered.wav ?? r.rendered.agentWav}\t${r.truthPath}`);
      }),
    ),
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
