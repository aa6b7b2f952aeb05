// Agitation on a grid of generated callers: which stretches are flagged, how soon, and how many false alarms
// calm speech raises. Calls are rendered once (scripts/make-call.ts) and analysed once; the emotion
// detector's inputs (each final frame's speaking decision and prosody) are recorded, so thresholds are
// replayed in milliseconds.
//
//   node --import=tsx bench/agitation.ts [--calm-hours 1] [--out /tmp/agitation] [--set riseCap=1.25 ...]
//                                        [--eval-split tuning] [--separability]
//
// Prints one JSON object: detection by pitch/tempo/loudness cell and condition, onset delay, false alarms per
// hour of calm speech (per voice, its calm turns shuffled and concatenated; per real speaker, their clips).
// --eval-split takes the callers from the accuracy bench's evaluation set instead of the grid: that split's
// agitation, calm and long calm calls (EARSHOT_BENCH_ACCURACY_CALLS per language, 200 by default, and
// EARSHOT_BENCH_ACCURACY_SEED), each call its own condition (one voice a side) and --calm-hours shared among
// them. Fit on tuning, report held-out. --separability adds, per calm speaker, the loosest f0Rise at which their
// calm speech alarms and, per cell, the loosest that flags all its stretches (see separability()). Recorded
// frames are cached under --out, keyed by the prosody code (a changed pitch tracker re-records) and, for the
// evaluation set, by the call's script.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { renderCall, type CallScript, type TruthTurn } from '../scripts/make-call.js';
import { analyzeRecording } from '../edge/analyze.js';
import { EmotionDetector } from '../edge/analysis/emotion.js';
import { FRAME_SEC } from '../edge/analysis/pipeline.js';
import type { FrameProsody } from '../edge/analysis/prosody.js';
import type { Channel, EmotionFound } from '../edge/events.js';
import { SileroVadModel } from '../models/vad.js';
import { defaultConfig, type AnalysisConfig } from '../provisioning/config.js';
import { LIBRIVOX, envInt } from './accuracy.js';
import { mulberry32 } from '../lib/seeded-random.js';
import { evalSet, renderEvalCall, twoLargeRises, type Split } from '../scripts/eval-set.js';


export const PITCHES = [0.1, 0.2, 0.3, 0.5];
export const TEMPOS = [1.0, 1.15, 1.3];
export const GAINS = [0, 4, 8];

const EN_SENTENCES = [
  'I have been waiting for the engineer since eight this morning and nobody has called me.',
  'The bill says I used forty gigabytes of data but my phone was switched off all week.',
  'Could you tell me why my payment went out twice this month from my account?',
  'I was promised a call back on Tuesday and I am still waiting to hear from someone.',
  'My broadband keeps dropping every evening and the router lights go red.',
  'I would like to know when the replacement card will arrive at my address.',
  'The delivery driver left the parcel outside in the rain without knocking.',
  'I changed my plan last month but I am still being charged the old price.',
];
const ZH_SENTENCES = [
  '我昨天打过电话了，可是到现在还没有人处理我的问题。',
  '这个月的账单多收了我一百块钱，我想知道是怎么回事。',
  '我的快递已经等了一个星期，还是没有送到。',
  '你们上次说会给我回电话，结果一直没有人打来。',
  '我的银行卡被扣了两次款，请帮我查一下。',
  '网络每天晚上都会断开，我已经重启了很多次路由器。',
];

interface Condition {
  name: string;
  language: 'en' | 'zh';
  customer: string;
  agent: string;
  sampleRate: 8000 | 16000;
  encoding: 'pcm16' | 'mulaw';
  noiseDb?: number;
}
const CONDITIONS: Condition[] = [
  { name: 'kal-16k', language: 'en', customer: 'kal', agent: 'slt', sampleRate: 16000, encoding: 'pcm16' },
  { name: 'slt-8k-mulaw', language: 'en', customer: 'slt', agent: 'kal', sampleRate: 8000, encoding: 'mulaw' },
  { name: 'ked-noise-40', language: 'en', customer: 'voice_ked_diphone', agent: 'slt', sampleRate: 16000, encoding: 'pcm16', noiseDb: -40 },
  { name: 'zh-8k-mulaw-noise-45', language: 'zh', customer: 'cmn-latn-pinyin', agent: 'cmn-latn-pinyin+f3', sampleRate: 8000, encoding: 'mulaw', noiseDb: -45 },
];
const CELLS_PER_CALL = 12;

/** The detector's inputs for one side: each final frame. */
export interface FrameRecord {
  speaking: boolean;
  prosody: FrameProsody;
}
interface Recorded {
  name: string;
  condition: string;
  turns: TruthTurn[];
  frames: FrameRecord[];
}

function cells(): { pitch: number; tempo: number; gainDb: number }[] {
  return PITCHES.flatMap((pitch) => TEMPOS.flatMap((tempo) => GAINS.map((gainDb) => ({ pitch, tempo, gainDb }))));
}

function scriptFor(c: Condition, part: number, grid: ReturnType<typeof cells>): CallScript {
  const pool = c.language === 'zh' ? ZH_SENTENCES : EN_SENTENCES;
  let n = part * 5;
  const say = () => pool[n++ % pool.length];
  const turns: CallScript['turns'] = [{ speaker: 'agent', text: c.language === 'zh' ? '您好，请问有什么可以帮您？' : 'Hello, how can I help you today?' }];
  for (let i = 0; i < 3; i++) turns.push({ speaker: 'customer', after: i === 0 ? 0.5 : 1.5, text: say() });
  for (const a of grid) {
    turns.push({ speaker: 'customer', after: 1.5, agitation: a, text: say() });
    turns.push({ speaker: 'customer', after: 1.5, text: say() });
  }
  return {
    name: `agit-${c.name}-${part}`,
    language: c.language,
    sampleRate: c.sampleRate,
    encoding: c.encoding,
    channels: 'stereo',
    voices: { agent: c.agent, customer: c.customer },
    ...(c.noiseDb !== undefined ? { noiseDb: c.noiseDb } : {}),
    turns,
  };
}

/** Analyses a recording once, keeping what the customer's emotion detector was fed. */
async function record(input: { stereo: string }, vadModel: SileroVadModel, channel: Channel = 'customer'): Promise<FrameRecord[]> {
  const frames: FrameRecord[] = [];
  type Push = (this: { channel: Channel }, frame: number, speaking: boolean, prosody: FrameProsody, at: number) => unknown;
  const proto = EmotionDetector.prototype as unknown as { push: Push };
  const original = proto.push;
  proto.push = function (this: { channel: Channel }, frame: number, speaking: boolean, prosody: FrameProsody, at: number) {
    if (this.channel === channel) frames.push({ speaking, prosody });
    return original.call(this, frame, speaking, prosody, at);
  };
  try {
    await analyzeRecording(input, { config: defaultConfig(), vadModel, keepEvents: false });
  } finally {
    proto.push = original;
  }
  return frames;
}

/** Replays recorded frames into a fresh detector: every event, ongoing reports included. */
export function replay(frames: FrameRecord[], config: AnalysisConfig['emotion']): EmotionFound[] {
  const d = new EmotionDetector('customer', config, FRAME_SEC);
  const out: EmotionFound[] = [];
  frames.forEach((f, i) => {
    const e = d.push(i, f.speaking, f.prosody, (i + 1) * FRAME_SEC);
    if (e) out.push(e);
  });
  const last = d.finish(frames.length * FRAME_SEC);
  if (last) out.push(last);
  return out;
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      'calm-hours': { type: 'string', default: '1' },
      out: { type: 'string', default: '/tmp/agitation' },
      set: { type: 'string', multiple: true },
      'eval-split': { type: 'string' },
      separability: { type: 'boolean', default: false },
    },
  });
  // Frames recorded by another pitch tracker or loudness envelope would replay stale figures.
  const prosodyKey = createHash('sha256').update(readFileSync(new URL('../edge/analysis/prosody.ts', import.meta.url))).digest('hex').slice(0, 12);
  const OUT = path.join(args.out as string, prosodyKey);
  mkdirSync(OUT, { recursive: true });
  const vad = await SileroVadModel.load();
  const config = { ...defaultConfig().analysis.emotion };
  for (const kv of args.set ?? []) {
    const [key, value] = kv.split('=');
    if (!(key in config) || !Number.isFinite(Number(value))) throw new Error(`--set ${kv}: not analysis.emotion.<number setting>=<number>`);
    (config as Record<string, number>)[key] = Number(value);
  }
  const split = args['eval-split'];
  if (split !== undefined) {
    if (split !== 'tuning' && split !== 'held-out') throw new Error(`--eval-split must be tuning or held-out, got "${split}"`);
    const recorded = await recordEvalSplit(split, OUT, vad);
    const hours = Number(args['calm-hours']) / recorded.length;
    console.log(JSON.stringify({ ...evaluate(recorded, {}, config, hours), ...(args.separability ? { separability: separability(recorded, {}, config, hours) } : {}) }, null, 1));
    return;
  }
  const recorded: Recorded[] = [];
  const grid = cells();
  // One call per condition, each a third of the grid in turn (the machine is shared: rendering is the cost).
  for (const [k, c] of CONDITIONS.entries()) {
    for (const part of [k % Math.ceil(grid.length / CELLS_PER_CALL)]) {
      const script = scriptFor(c, part, grid.slice(part * CELLS_PER_CALL, (part + 1) * CELLS_PER_CALL));
      const cache = path.join(OUT, `${script.name}.frames.json`);
      if (existsSync(cache)) {
        recorded.push(JSON.parse(readFileSync(cache, 'utf8')) as Recorded);
        continue;
      }
      const call = await renderCall(script, path.join(OUT, 'calls', `${script.name}.wav`));
      const frames = await record({ stereo: call.wav as string }, vad);
      const r: Recorded = { name: script.name, condition: c.name, turns: call.truth.turns.filter((t) => t.channel === 'customer'), frames };
      writeFileSync(cache, JSON.stringify(r));
      recorded.push(r);
      process.stderr.write(`${script.name}\n`);
    }
  }
  // Real calm speech, one speaker per long call (a change of speaker reads as a raised voice, which no call
  // has): LibriVox's one reader, all five clips shuffled; each Mandarin clip alone, looped (the seven are
  // not one speaker).
  const real: Record<string, FrameRecord[][]> = {};
  const realClip = async (file: string): Promise<FrameRecord[]> => {
    const cache = path.join(OUT, `real-${path.basename(path.dirname(file))}-${path.basename(file)}.frames.json`);
    if (!existsSync(cache)) {
      const stereo = cache.replace(/\.frames\.json$/, '');
      // agent silent on the left, the clip on the right
      execFileSync('sox', ['-M', '-v', '0', file, file, '-r', '16000', '-b', '16', stereo]);
      writeFileSync(cache, JSON.stringify(await record({ stereo }, vad)));
    }
    return JSON.parse(readFileSync(cache, 'utf8')) as FrameRecord[];
  };
  const wavs = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((x) => x.endsWith('.wav')).sort().map((x) => path.join(dir, x)) : []);
  const librivox = wavs(LIBRIVOX);
  if (librivox.length) real['en-real-librivox'] = await Promise.all(librivox.map(realClip));
  for (const file of wavs(path.resolve('../shared/audio/zh-real'))) real[`zh-real-${path.basename(file, '.wav')}`] = [await realClip(file)];
  const hours = Number(args['calm-hours']);
  console.log(JSON.stringify({ ...evaluate(recorded, real, config, hours), ...(args.separability ? { separability: separability(recorded, real, config, hours) } : {}) }, null, 1));
}

/** The customer side of one split's agitation and calm calls, each its own condition: one voice, one baseline. */
async function recordEvalSplit(split: Split, out: string, vad: SileroVadModel): Promise<Recorded[]> {
  // The accuracy bench's settings and seed, at the size its reported figures use.
  const perLanguage = envInt('EARSHOT_BENCH_ACCURACY_CALLS', 200);
  const seed = process.env.EARSHOT_BENCH_ACCURACY_SEED || undefined;
  const recorded: Recorded[] = [];
  for (const call of evalSet({ seed, callsPerLanguage: perLanguage, split })) {
    if (call.kind !== 'agitation' && call.kind !== 'calm' && call.kind !== 'long-calm') continue;
    const scriptKey = createHash('sha256').update(JSON.stringify(call.script)).digest('hex').slice(0, 12);
    const cache = path.join(out, `eval-${call.id}-${scriptKey}.frames.json`);
    if (existsSync(cache)) {
      recorded.push(JSON.parse(readFileSync(cache, 'utf8')) as Recorded);
      continue;
    }
    const { rendered, truth } = await renderEvalCall(call);
    const r: Recorded = { name: call.id, condition: call.id, turns: truth.turns.filter((t) => t.channel === 'customer'), frames: await record({ stereo: rendered.wav as string }, vad) };
    writeFileSync(cache, JSON.stringify(r));
    recorded.push(r);
  }
  return recorded;
}

/** Frames of the calm customer turns (with the pause after each), to be concatenated into long calm calls. */
function calmPieces(r: Recorded): FrameRecord[][] {
  const pieces: FrameRecord[][] = [];
  for (const t of r.turns) {
    if (t.agitation) continue;
    const from = Math.floor((t.start - 0.3) / FRAME_SEC);
    const to = Math.min(r.frames.length, Math.ceil((t.end + 1.2) / FRAME_SEC));
    pieces.push(r.frames.slice(Math.max(0, from), to));
  }
  return pieces;
}

/** Long calm calls: every voice's calm turns, shuffled and concatenated per condition to `calmHours` each. */
function longCalmCalls(recorded: Recorded[], real: Record<string, FrameRecord[][]>, calmHours: number): Record<string, FrameRecord[]> {
  const calls: Record<string, FrameRecord[]> = {};
  const conditions = [...new Set(recorded.map((r) => r.condition))];
  for (const cond of [...conditions, ...Object.keys(real)]) {
    const pieces = real[cond] ?? recorded.filter((r) => r.condition === cond).flatMap(calmPieces);
    if (pieces.length === 0) continue;
    const frames: FrameRecord[] = [];
    const rand = mulberry32(7);
    while (frames.length * FRAME_SEC < calmHours * 3600) for (const f of pieces[Math.floor(rand() * pieces.length)]) frames.push(f);
    calls[cond] = frames;
  }
  return calls;
}

/** What flags a stretch: the first emotion event overlapping it that starts by 1.5 s after it does. */
function flagOf(events: EmotionFound[], t: TruthTurn): EmotionFound | undefined {
  return events.find((e) => e.start < t.end && e.end > t.start && e.start <= t.start + 1.5);
}

const cellOf = (a: NonNullable<TruthTurn['agitation']>) => `p${a.pitch}/t${a.tempo}/g${a.gainDb}`;

/**
 * How far apart calm and agitated speech lie along pitch, the cue the faint cells rest on, every other setting
 * as configured: for each calm speaker, the loosest f0Rise at which their calm speech (looped to `calmHours`)
 * raises a false alarm; for each cell, the loosest f0Rise that still flags every one of its stretches. A cell
 * that needs an f0Rise at or below where a real speaker's calm speech already alarms cannot be flagged by a
 * pitch threshold without false alarms on that speaker: what the threshold trades, measured rather than argued.
 */
export function separability(recorded: Recorded[], real: Record<string, FrameRecord[][]>, config: AnalysisConfig['emotion'], calmHours: number) {
  const steps = Array.from({ length: 30 }, (_, i) => Math.round((0.3 - i * 0.01) * 100) / 100);
  const calm = longCalmCalls(recorded, real, calmHours);
  const alarmsFrom: Record<string, number | null> = Object.fromEntries(Object.keys(calm).map((c) => [c, null]));
  const stretchFlaggedFrom = new Map<TruthTurn, number | null>();
  for (const r of recorded) for (const t of r.turns) if (t.agitation) stretchFlaggedFrom.set(t, null);
  // From strict to loose: the first f0Rise that alarms (or flags) is the loosest-that-does from above.
  for (const f0Rise of steps) {
    const at = { ...config, f0Rise };
    for (const [cond, frames] of Object.entries(calm)) {
      if (alarmsFrom[cond] === null && replay(frames, at).some((e) => !e.ongoing)) alarmsFrom[cond] = f0Rise;
    }
    for (const r of recorded) {
      const pending = r.turns.filter((t) => t.agitation && stretchFlaggedFrom.get(t) === null);
      if (pending.length === 0) continue;
      const events = replay(r.frames, at);
      for (const t of pending) if (flagOf(events, t)) stretchFlaggedFrom.set(t, f0Rise);
    }
  }
  const byCell: Record<string, number | null> = {};
  for (const [t, from] of stretchFlaggedFrom) {
    const key = cellOf(t.agitation as NonNullable<TruthTurn['agitation']>);
    // Every stretch of the cell: the strictest of their loosest.
    byCell[key] = key in byCell ? (byCell[key] === null || from === null ? null : Math.min(byCell[key] as number, from)) : from;
  }
  return {
    what: `f0Rise from ${steps[0]} down to ${steps[steps.length - 1]}, the other settings as configured (f0Rise now ${config.f0Rise}); null: not even at ${steps[steps.length - 1]}`,
    calmAlarmsFromF0Rise: alarmsFrom,
    cellFlaggedFromF0Rise: Object.fromEntries(Object.entries(byCell).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))),
  };
}

export function evaluate(recorded: Recorded[], real: Record<string, FrameRecord[][]>, config: AnalysisConfig['emotion'], calmHours: number) {
  const byCell: Record<string, { n: number; hit: number }> = {};
  const byCondition: Record<string, { n: number; hit: number; falseAlarms: number; calmSec: number }> = {};
  const delays: number[] = [];
  const firstReports: number[] = [];
  const strong = { n: 0, hit: 0 };
  let reportedInTime = 0;
  for (const r of recorded) {
    const events = replay(r.frames, config);
    const cond = (byCondition[r.condition] ??= { n: 0, hit: 0, falseAlarms: 0, calmSec: 0 });
    for (const t of r.turns) {
      const mine = events.filter((e) => e.start < t.end && e.end > t.start);
      if (!t.agitation) {
        cond.calmSec += t.end - t.start;
        continue;
      }
      const key = cellOf(t.agitation);
      const cell = (byCell[key] ??= { n: 0, hit: 0 });
      cell.n++;
      cond.n++;
      const first = flagOf(events, t);
      // What the customer-agitation alert waits for: the first report, by then.
      if (mine.some((e) => e.emittedAt <= t.start + 1.5)) reportedInTime++;
      if (twoLargeRises(t.agitation)) {
        strong.n++;
        if (first) strong.hit++;
      }
      if (first) {
        cell.hit++;
        cond.hit++;
        delays.push(first.start - t.start);
        firstReports.push(first.emittedAt - t.start);
      }
    }
    const agitated = r.turns.filter((t) => t.agitation);
    const closed = events.filter((e) => !e.ongoing);
    cond.falseAlarms += closed.filter((e) => !agitated.some((t) => e.start < t.end + 1 && e.end > t.start)).length;
  }
  const long: Record<string, { hours: number; falseAlarms: number }> = {};
  for (const [cond, frames] of Object.entries(longCalmCalls(recorded, real, calmHours))) {
    const events = replay(frames, config).filter((e) => !e.ongoing);
    long[cond] = { hours: (frames.length * FRAME_SEC) / 3600, falseAlarms: events.length };
  }
  const total = Object.values(byCondition).reduce((s, c) => ({ n: s.n + c.n, hit: s.hit + c.hit }), { n: 0, hit: 0 });
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))];
  return {
    config,
    recall: total.hit / total.n,
    stretches: total.n,
    twoLargeRises: { stretches: strong.n, recall: strong.hit / strong.n },
    /** Stretches reported (an ongoing or closing event out) within 1.5 s of their start: the alert's own recall. */
    reportedWithin15Sec: reportedInTime / total.n,
    onsetDelaySec: { p50: q(delays, 0.5), p95: q(delays, 0.95) },
    firstReportAfterStartSec: { p50: q(firstReports, 0.5), p95: q(firstReports, 0.95) },
    byCondition,
    longCalm: long,
    longCalmTotal: (() => {
      const hours = Object.values(long).reduce((x, c) => x + c.hours, 0);
      const falseAlarms = Object.values(long).reduce((x, c) => x + c.falseAlarms, 0);
      return { hours, falseAlarms, perHour: falseAlarms / hours };
    })(),
    missedCells: Object.entries(byCell)
      .filter(([, c]) => c.hit < c.n)
      .map(([k, c]) => `${k}: ${c.hit}/${c.n}`),
  };
}

if (process.argv[1]?.endsWith("bench/agitation.ts")) await main();
