// Renders a small YAML call script into a dual-channel call recording with exact
// ground truth of who speaks when. Test fixtures, the demo call and benchmarks all
// come from here, so every truth span must be the audible speech and nothing else.
//
// CLI: node --import=tsx scripts/make-call.ts <script.yml>... [--out dir]

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinyin } from 'pinyin-pro';
import { parse as parseYaml } from 'yaml';
import { seededRandom } from '../lib/seeded-random.js';
import { WavReader } from '../device/wav.js';

/** Bump when rendering changes, so cached renders keyed on it are rebuilt. */
export const GENERATOR_VERSION = 'earshot-make-call@3';

export type Speaker = 'agent' | 'customer';
export type Language = 'en' | 'zh';
export type Encoding = 'pcm16' | 'mulaw' | 'alaw';
export type ChannelLayout = 'stereo' | 'split';
export type Effect = 'agitated';

/** How an agitated turn differs from the speaker's calm turns. */
export interface Agitation {
  /** Pitch rise as a fraction: 0.33 is a third higher. */
  pitch: number;
  /** Speed factor without pitch change: 1.2 is 20% faster. */
  tempo: number;
  /** Peak level above a calm turn's, dB. */
  gainDb: number;
}

/** What `effect: agitated` means on its own: 500 cents (a third) higher, 8% faster, 8 dB louder. */
export const DEFAULT_AGITATION: Agitation = { pitch: 2 ** (500 / 1200) - 1, tempo: 1.08, gainDb: 8 };

export interface CallTurn {
  speaker: Speaker;
  text: string;
  /** Gap in seconds after the end of the previous turn; negative overlaps it. */
  after?: number;
  /** Absolute start time in seconds (exclusive with `after`). */
  at?: number;
  effect?: Effect;
  /** Set (defaults filled) whenever effect is agitated. */
  agitation?: Agitation;
}

/** How one speaker's whole side differs from the bare voice: a different speaking rate and pitch. */
export interface VoiceStyle {
  /** Pitch shift as a fraction, negative lower: 0.1 is 10% higher. */
  pitch?: number;
  /** Speed factor without pitch change. */
  tempo?: number;
}

export interface CallScript {
  name: string;
  language?: Language;
  sampleRate?: 8000 | 16000 | 44100 | 48000;
  encoding?: Encoding;
  channels?: ChannelLayout;
  voices?: { agent?: string; customer?: string };
  /** Per-speaker rate and pitch; agitated turns rise from there, as a real caller rises from her own voice. */
  styles?: { agent?: VoiceStyle; customer?: VoiceStyle };
  lead?: number;
  tail?: number;
  /** Level of the white noise floor on both channels, dBFS RMS. */
  noiseDb?: number;
  turns: CallTurn[];
}

export interface TruthTurn {
  channel: Speaker;
  start: number;
  end: number;
  text: string;
  effect?: Effect;
  agitation?: Agitation;
}

export interface CallTruth {
  schema: 'earshot/call-truth@1';
  name: string;
  language: Language;
  sampleRate: number;
  encoding: Encoding;
  channels: ChannelLayout;
  durationSec: number;
  turns: TruthTurn[];
}

/** Two parties speaking at once: `by` started while the other was mid-utterance. */
export interface TruthOverlap {
  start: number;
  end: number;
  by: Speaker;
}

/** Where the truth's turns overlap across the two channels, and who cut in. */
export function overlapsIn(truth: Pick<CallTruth, 'turns'>): TruthOverlap[] {
  const out: TruthOverlap[] = [];
  const turns = [...truth.turns].sort((a, b) => a.start - b.start);
  for (let i = 0; i < turns.length; i++) {
    for (let j = i + 1; j < turns.length && turns[j].start < turns[i].end; j++) {
      if (turns[j].channel === turns[i].channel) continue;
      // The later starter is the interrupter: the other one was already speaking.
      out.push({ start: turns[j].start, end: Math.min(turns[i].end, turns[j].end), by: turns[j].channel });
    }
  }
  return out;
}

export interface RenderedCall {
  /** Stereo file (left agent, right customer); undefined for split layout. */
  wav?: string;
  agentWav?: string;
  customerWav?: string;
  truthPath: string;
  truth: CallTruth;
  script: CallScript;
}

/** A validated script with every default filled in. */
export type ResolvedCallScript = Required<Omit<CallScript, 'voices' | 'styles'>> & {
  voices: Record<Speaker, string>;
  styles: Record<Speaker, Required<VoiceStyle>>;
};

const SAMPLE_RATES = [8000, 16000, 44100, 48000] as const;
const DEFAULT_GAP_SEC = 0.5;

// Calm turns peak at -12 dBFS so an agitated turn up to +12 dB still peaks at or below full scale.
const CALM_PEAK_DB = -12;
const AGITATION_LIMITS = { pitch: [0, 1], tempo: [0.8, 1.5], gainDb: [0, 12] } as const;
const STYLE_LIMITS = { pitch: [-0.3, 0.3], tempo: [0.7, 1.4] } as const;
// Speech edges: the first and last sample above -45 dBFS, 33 dB under a calm peak.
// That keeps soft onsets and fades (breathy "h", trailing "t") inside the span while
// the synthesisers' own floors (Festival kal diphones sit near -60 dBFS after
// normalising) stay outside it.
const TRIM_THRESHOLD = 10 ** (-45 / 20);

const FESTIVAL_VOICES: Record<string, string> = {
  slt: 'voice_cmu_us_slt_arctic_hts',
  kal: 'voice_kal_diphone',
};

const DEFAULT_VOICES: Record<Language, Record<Speaker, string>> = {
  en: { agent: 'slt', customer: 'kal' },
  // The f3 variant raises espeak's pitch well above the default male voice, so the
  // two Mandarin speakers stay distinguishable even though they share one engine.
  zh: { agent: 'cmn-latn-pinyin+f3', customer: 'cmn-latn-pinyin' },
};

const TOOL_PACKAGES: Record<string, string> = {
  text2wave: 'festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k',
  'espeak-ng': 'espeak-ng',
  sox: 'sox libsox-fmt-all',
};

// ---------------------------------------------------------------------------
// Script loading and validation

function fail(source: string, message: string): never {
  throw new Error(`${source}: ${message}`);
}

function optionalNumber(
  source: string,
  obj: Record<string, unknown>,
  key: string,
  field: string,
  check: (n: number) => boolean,
  requirement: string,
): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
    fail(source, `${field} must be ${requirement}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function oneOf<T extends string | number>(
  source: string,
  value: unknown,
  allowed: readonly T[],
  field: string,
  fallback: T,
): T {
  if (value === undefined || value === null) return fallback;
  if (!allowed.includes(value as T)) {
    fail(source, `${field} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function rejectUnknownKeys(source: string, obj: Record<string, unknown>, known: string[], where: string): void {
  // Typos like "efect" would otherwise silently render a different call than intended.
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) fail(source, `unknown field ${where}${key} (allowed: ${known.join(', ')})`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkVoice(source: string, language: Language, voice: unknown, field: string): string {
  if (typeof voice !== 'string' || voice === '') fail(source, `${field} must be a non-empty string`);
  if (language === 'en' && !(voice in FESTIVAL_VOICES) && !/^voice_\w+$/.test(voice)) {
    fail(source, `${field} must be ${Object.keys(FESTIVAL_VOICES).join(' or ')} or a Festival voice_* function, got "${voice}"`);
  }
  if (language === 'zh' && !/^\w[\w+-]*$/.test(voice)) {
    fail(source, `${field} must be an espeak-ng voice such as cmn-latn-pinyin+f3, got "${voice}"`);
  }
  return voice;
}

/** Validates an already-parsed script and fills in every default; errors name `source` and the bad field. */
export function parseCallScript(value: unknown, source = 'call script'): ResolvedCallScript {
  if (!isRecord(value)) fail(source, 'must be a YAML mapping');
  rejectUnknownKeys(
    source,
    value,
    ['name', 'language', 'sampleRate', 'encoding', 'channels', 'voices', 'styles', 'lead', 'tail', 'noiseDb', 'turns'],
    '',
  );
  const { name } = value;
  // The name becomes a file name, so keep it to characters that are safe everywhere.
  if (typeof name !== 'string' || !/^[\w.-]+$/.test(name)) {
    fail(source, 'name must be a non-empty string of letters, digits, ".", "_" or "-"');
  }
  const language = oneOf<Language>(source, value.language, ['en', 'zh'], 'language', 'en');
  const sampleRate = oneOf(source, value.sampleRate, SAMPLE_RATES, 'sampleRate', 16000);
  const encoding = oneOf<Encoding>(source, value.encoding, ['pcm16', 'mulaw', 'alaw'], 'encoding', 'pcm16');
  const channels = oneOf<ChannelLayout>(source, value.channels, ['stereo', 'split'], 'channels', 'stereo');
  const nonNegative = (n: number) => n >= 0;
  const lead = optionalNumber(source, value, 'lead', 'lead', nonNegative, 'a number >= 0') ?? 0.5;
  const tail = optionalNumber(source, value, 'tail', 'tail', nonNegative, 'a number >= 0') ?? 1.0;
  const noiseDb =
    optionalNumber(source, value, 'noiseDb', 'noiseDb', (n) => n <= -20, 'a level in dBFS <= -20') ?? -70;

  const voices = { ...DEFAULT_VOICES[language] };
  if (value.voices !== undefined && value.voices !== null) {
    if (!isRecord(value.voices)) fail(source, 'voices must be a mapping like { agent: slt, customer: kal }');
    rejectUnknownKeys(source, value.voices, ['agent', 'customer'], 'voices.');
    for (const speaker of ['agent', 'customer'] as const) {
      const v = value.voices[speaker];
      if (v !== undefined) voices[speaker] = checkVoice(source, language, v, `voices.${speaker}`);
    }
  }

  const styles: Record<Speaker, Required<VoiceStyle>> = { agent: { pitch: 0, tempo: 1 }, customer: { pitch: 0, tempo: 1 } };
  if (value.styles !== undefined && value.styles !== null) {
    if (!isRecord(value.styles)) fail(source, 'styles must be a mapping like { customer: { pitch: 0.1, tempo: 0.9 } }');
    rejectUnknownKeys(source, value.styles, ['agent', 'customer'], 'styles.');
    for (const speaker of ['agent', 'customer'] as const) {
      const raw = value.styles[speaker];
      if (raw === undefined || raw === null) continue;
      if (!isRecord(raw)) fail(source, `styles.${speaker} must be a mapping like { pitch: 0.1, tempo: 0.9 }`);
      rejectUnknownKeys(source, raw, Object.keys(STYLE_LIMITS), `styles.${speaker}.`);
      for (const key of Object.keys(STYLE_LIMITS) as (keyof VoiceStyle)[]) {
        const [lo, hi] = STYLE_LIMITS[key];
        const n = optionalNumber(source, raw, key, `styles.${speaker}.${key}`, (x) => x >= lo && x <= hi, `a number from ${lo} to ${hi}`);
        if (n !== undefined) styles[speaker][key] = n;
      }
    }
  }

  if (!Array.isArray(value.turns) || value.turns.length === 0) fail(source, 'turns must be a non-empty list');
  const turns = value.turns.map((raw: unknown, i: number): CallTurn => {
    const where = `turns[${i}]`;
    if (!isRecord(raw)) fail(source, `${where} must be a mapping`);
    rejectUnknownKeys(source, raw, ['speaker', 'text', 'after', 'at', 'effect', 'agitation'], `${where}.`);
    if (raw.speaker !== 'agent' && raw.speaker !== 'customer') {
      fail(source, `${where}.speaker must be "agent" or "customer", got ${JSON.stringify(raw.speaker)}`);
    }
    if (typeof raw.text !== 'string' || raw.text.trim() === '') fail(source, `${where}.text must be a non-empty string`);
    const after = optionalNumber(source, raw, 'after', `${where}.after`, () => true, 'a number of seconds');
    const at = optionalNumber(source, raw, 'at', `${where}.at`, nonNegative, 'a time in seconds >= 0');
    if (after !== undefined && at !== undefined) fail(source, `${where} has both "after" and "at"; use one`);
    const turn: CallTurn = { speaker: raw.speaker, text: raw.text.trim() };
    if (after !== undefined) turn.after = after;
    if (at !== undefined) turn.at = at;
    if (raw.effect !== undefined) turn.effect = oneOf<Effect>(source, raw.effect, ['agitated'], `${where}.effect`, 'agitated');
    if (raw.agitation !== undefined) {
      if (!isRecord(raw.agitation)) fail(source, `${where}.agitation must be a mapping like { pitch: 0.3, tempo: 1.2, gainDb: 4 }`);
      if (turn.effect === undefined) turn.effect = 'agitated';
    }
    if (turn.effect === 'agitated') turn.agitation = parseAgitation(source, raw.agitation, `${where}.agitation`);
    return turn;
  });

  return { name, language, sampleRate, encoding, channels, voices, styles, lead, tail, noiseDb, turns };
}

/** Reads and validates a YAML call script; errors name the file and the bad field. */
export function loadCallScript(file: string): ResolvedCallScript {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(file, `cannot read YAML: ${(err as Error).message}`);
  }
  return parseCallScript(doc, file);
}

// ---------------------------------------------------------------------------
// External tools

function run(tool: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout, stderr });
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new Error(`make-call: "${tool}" not found on PATH; install Debian package(s): ${TOOL_PACKAGES[tool] ?? tool}`));
      }
      reject(new Error(`make-call: ${tool} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
    });
  });
}

async function nonEmptyFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).size > 44;
  } catch {
    return false;
  }
}

async function synthFestival(text: string, voice: string, tmp: string, id: string): Promise<string> {
  const txt = path.join(tmp, `${id}.txt`);
  const out = path.join(tmp, `${id}.tts.wav`);
  await writeFile(txt, text + '\n');
  const voiceFn = FESTIVAL_VOICES[voice] ?? voice;
  const { stderr } = await run('text2wave', ['-eval', `(${voiceFn})`, txt, '-o', out]);
  // text2wave exits 0 and writes nothing when the voice package is missing.
  if (!(await nonEmptyFile(out))) {
    throw new Error(`make-call: Festival produced no audio with ${voiceFn} (is its festvox package installed?): ${stderr.trim()}`);
  }
  return out;
}

/**
 * Synthesised sentences, kept per engine, voice and text: the test calls and the evaluation set say the same
 * sentences in the same voices many times (en-calm and en-agitated are one script), and Festival is most of a
 * render's cost (0.6-0.7 CPU s a sentence here, sox's effects a tenth of that). Everything after synthesis
 * (pitch, tempo, level, noise, line coding) is per call, so a call renders to the same bytes either way.
 * EARSHOT_TTS_CACHE moves it; a render that finds nothing there synthesises as before.
 */
const TTS_CACHE = process.env.EARSHOT_TTS_CACHE ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '.cache/tts');

async function synthCached(engine: 'festival' | 'espeak-ng', text: string, voice: string, synth: () => Promise<string>): Promise<string> {
  const key = createHash('sha256').update(`${GENERATOR_VERSION}\0${engine}\0${voice}\0${text}`).digest('hex').slice(0, 24);
  const cached = path.join(TTS_CACHE, `${key}.wav`);
  if (await nonEmptyFile(cached)) return cached;
  const made = await synth();
  await mkdir(TTS_CACHE, { recursive: true });
  // Renders run side by side (tests, CI's background render): a sentence appears whole or not at all.
  const staging = `${cached}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await copyFile(made, staging);
  await rename(staging, cached);
  return made;
}

const DIGIT_PINYIN = ['ling2', 'yao1', 'er4', 'san1', 'si4', 'wu3', 'liu4', 'qi1', 'ba1', 'jiu3'];

/**
 * Chinese text → tone-numbered pinyin for espeak-ng's cmn-latn-pinyin voice, which
 * has no Chinese dictionary of its own. Clause punctuation becomes ASCII so espeak
 * pauses there; digits are read one by one as on a hotline ("yao1" for 1).
 */
export function toEspeakPinyin(text: string): string {
  const parts: string[] = [];
  for (const token of pinyin(text, { toneType: 'num', type: 'array' })) {
    const t = token.trim();
    if (t === '') continue;
    if (/^[，、；：,;:—]+$/.test(t)) parts.push(',');
    else if (/^[。！？!?.…]+$/.test(t)) parts.push('.');
    else if (/^\d+$/.test(t)) parts.push(...[...t].map((d) => DIGIT_PINYIN[Number(d)]));
    // Quotes, brackets and other symbols have no sound; espeak would spell some out.
    else if (!/[a-zü]/i.test(t)) continue;
    // pinyin-pro marks the neutral tone 0; espeak-ng documents 5 (it reads both alike).
    else parts.push(t.replace(/0$/, '5'));
  }
  // Attach punctuation to the preceding syllable and drop a leading one.
  return parts.join(' ').replace(/ ([,.])/g, '$1').replace(/^[,.]\s*/, '');
}

async function synthEspeak(text: string, voice: string, tmp: string, id: string): Promise<string> {
  const txt = path.join(tmp, `${id}.txt`);
  const out = path.join(tmp, `${id}.tts.wav`);
  // Via a file, like Festival, so no text can ever be taken for a command-line option.
  await writeFile(txt, toEspeakPinyin(text) + '\n');
  await run('espeak-ng', ['-v', voice, '-f', txt, '-w', out]);
  if (!(await nonEmptyFile(out))) throw new Error(`make-call: espeak-ng produced no audio with voice ${voice}`);
  return out;
}

// ---------------------------------------------------------------------------
// WAV I/O

export interface WavData {
  sampleRate: number;
  /** One Float32Array per channel, full scale ±1. */
  channels: Float32Array[];
}

/**
 * Reads a rendered call (16-bit PCM, mu-law or A-law, at any rate a script can ask for) into float channels at
 * its own rate, with the reader the product uses.
 */
export function readWav(file: string): WavData {
  const reader = WavReader.open(file);
  const { sourceRate, channels } = reader.readAll(reader.format.sourceRate);
  return { sampleRate: sourceRate, channels };
}

// Between the steps of a render, audio goes to and from sox as raw 32-bit floats: packing and unpacking
// samples through a WAV library took nine tenths of a render's time (113 of 123 s for the test calls).
const RAW_FLOAT_ARGS = ['-t', 'raw', '-e', 'floating-point', '-b', '32', '-L'];

function readRawFloats(file: string): Float32Array {
  const bytes = readFileSync(file);
  const samples = new Float32Array(bytes.length / 4);
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readFloatLE(i * 4);
  return samples;
}

async function writeRawFloats(file: string, channels: Float32Array[]): Promise<void> {
  const frames = channels[0].length;
  const bytes = Buffer.allocUnsafe(frames * channels.length * 4);
  let at = 0;
  for (let i = 0; i < frames; i++) for (const ch of channels) at = bytes.writeFloatLE(ch[i], at);
  await writeFile(file, bytes);
}

const ENCODING_ARGS: Record<Encoding, string[]> = {
  pcm16: ['-e', 'signed-integer', '-b', '16'],
  mulaw: ['-e', 'mu-law', '-b', '8'],
  alaw: ['-e', 'a-law', '-b', '8'],
};

async function encodeFinal(rawInput: string, inputRate: number, inputChannels: number, output: string, s: ResolvedCallScript): Promise<void> {
  // -D: no dither, so the noise floor is exactly the one we generated; -R: repeatable output.
  await run('sox', ['-R', '-D', ...RAW_FLOAT_ARGS, '-r', String(inputRate), '-c', String(inputChannels), rawInput, '-r', String(s.sampleRate), ...ENCODING_ARGS[s.encoding], output]);
}

// ---------------------------------------------------------------------------
// Rendering

function parseAgitation(source: string, raw: unknown, where: string): Agitation {
  if (raw === undefined) return { ...DEFAULT_AGITATION };
  const value = raw as Record<string, unknown>;
  rejectUnknownKeys(source, value, Object.keys(AGITATION_LIMITS), `${where}.`);
  const agitation = { ...DEFAULT_AGITATION };
  for (const key of Object.keys(AGITATION_LIMITS) as (keyof Agitation)[]) {
    const [lo, hi] = AGITATION_LIMITS[key];
    const n = optionalNumber(source, value, key, `${where}.${key}`, (x) => x >= lo && x <= hi, `a number from ${lo} to ${hi}`);
    if (n !== undefined) agitation[key] = n;
  }
  return agitation;
}

/** Mixing rate: 16 kHz covers telephone and wideband; higher outputs keep full band. */
function workRateFor(sampleRate: number): number {
  return Math.max(16000, sampleRate);
}

async function renderTurn(turn: CallTurn, s: ResolvedCallScript, workRate: number, tmp: string, index: number): Promise<Float32Array> {
  const id = `turn${index}`;
  const voice = s.voices[turn.speaker];
  const tts = await synthCached(s.language === 'zh' ? 'espeak-ng' : 'festival', turn.text, voice, () =>
    s.language === 'zh' ? synthEspeak(turn.text, voice, tmp, id) : synthFestival(turn.text, voice, tmp, id),
  );
  const out = path.join(tmp, `${id}.f32`);
  // Normalise before the effect so agitation is a fixed step above every calm turn;
  // re-normalising after pitch/tempo (instead of a plain `gain 8`) keeps that step exact
  // without risking clipping.
  // The speaker's own style and any agitation compose into one pitch and one tempo step, so the agitated
  // rise is exactly the scripted degree above that speaker's calm turns.
  const a = turn.agitation;
  const style = s.styles[turn.speaker];
  const cents = Math.round(1200 * Math.log2((1 + style.pitch) * (1 + (a?.pitch ?? 0))));
  const tempo = style.tempo * (a?.tempo ?? 1);
  const effect = [
    ...(a || cents !== 0 ? ['pitch', String(cents)] : []),
    ...(a || tempo !== 1 ? ['tempo', '-s', String(tempo)] : []),
    ...(a ? ['gain', '-n', String(CALM_PEAK_DB + a.gainDb)] : []),
  ];
  await run('sox', [
    '-R', tts, '-c', '1', ...RAW_FLOAT_ARGS, out,
    'rate', '-v', String(workRate),
    'gain', '-n', String(CALM_PEAK_DB),
    ...effect,
  ]);
  // Trimmed here rather than with sox's `silence` effect: that judges a 20 ms RMS
  // window, so it shaved quiet fades off the span and left them audible outside it.
  // Trimming after the effect makes the span exactly what is heard.
  const samples = trimSilence(readRawFloats(out));
  if (samples.length === 0) throw new Error(`make-call: turn ${index} ("${turn.text}") is silent after trimming`);
  return samples;
}

function trimSilence(samples: Float32Array): Float32Array {
  let first = 0;
  while (first < samples.length && Math.abs(samples[first]) < TRIM_THRESHOLD) first++;
  let last = samples.length - 1;
  while (last > first && Math.abs(samples[last]) < TRIM_THRESHOLD) last--;
  return samples.subarray(first, last + 1);
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

interface Placement {
  turn: CallTurn;
  startSample: number;
  samples: Float32Array;
  /** Truth span in whole milliseconds, always covering every placed sample. */
  startMs: number;
  endMs: number;
}

// Turns start on a whole millisecond so the 3-decimal truth is exact at the onset
// (synthesisers can start abruptly, so even half a millisecond of rounding would put
// audible samples outside the span); ends are rounded up for the same reason.
function placeTurns(s: ResolvedCallScript, audio: Float32Array[], workRate: number): Placement[] {
  const placed: Placement[] = [];
  const lastEnd: Record<Speaker, number> = { agent: 0, customer: 0 };
  let prevEndSec = s.lead;
  s.turns.forEach((turn, i) => {
    // The first turn has nothing to follow but the lead-in, so its gap defaults to 0.
    const startSec = turn.at ?? prevEndSec + (turn.after ?? (i === 0 ? 0 : DEFAULT_GAP_SEC));
    const startMs = Math.round(startSec * 1000);
    if (startMs < 0) throw new Error(`make-call: ${s.name}: turns[${i}] would start before the call does`);
    const startSample = Math.round((startMs * workRate) / 1000);
    // One voice cannot say two things at once; overlaps are only between the two parties.
    if (startSample < lastEnd[turn.speaker]) {
      throw new Error(`make-call: ${s.name}: turns[${i}] overlaps the ${turn.speaker}'s previous turn on the same channel`);
    }
    const samples = audio[i];
    const endSample = startSample + samples.length;
    // The epsilon stops float noise (e.g. 1234.0000001 ms) from adding a whole millisecond.
    const endMs = Math.ceil((endSample * 1000) / workRate - 1e-6);
    placed.push({ turn, startSample, samples, startMs, endMs });
    // Gaps count from the end the truth reports, so they read back exactly as scripted.
    prevEndSec = endMs / 1000;
    lastEnd[turn.speaker] = endSample;
  });
  return placed;
}

/** Seeded so re-rendering a script gives identical bytes (committed demo, caches). */
function noiseGenerator(seedText: string): () => number {
  const uniform = seededRandom(seedText);
  // Gaussian (Box-Muller) noise sounds like a line's hiss; uniform noise has a hard peak.
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Where renderCall writes for a given output path (also used to find cached renders). */
export function outputPaths(outPath: string, channels: ChannelLayout): Pick<RenderedCall, 'wav' | 'agentWav' | 'customerWav' | 'truthPath'> {
  const base = outPath.replace(/\.wav$/i, '');
  const truthPath = `${base}.truth.json`;
  return channels === 'stereo'
    ? { wav: `${base}.wav`, truthPath }
    : { agentWav: `${base}.agent.wav`, customerWav: `${base}.customer.wav`, truthPath };
}

/**
 * Renders `script` to `outPath` (a .wav path; split layout writes `<base>.agent.wav`
 * and `<base>.customer.wav` instead) plus `<base>.truth.json`.
 */
export async function renderCall(script: CallScript, outPath: string): Promise<RenderedCall> {
  const s = parseCallScript(script, `call script "${script?.name ?? '?'}"`);
  const workRate = workRateFor(s.sampleRate);
  const tmp = await mkdtemp(path.join(tmpdir(), 'make-call-'));
  try {
    const audio = await mapLimited(s.turns, availableParallelism(), (turn, i) => renderTurn(turn, s, workRate, tmp, i));
    const placed = placeTurns(s, audio, workRate);
    const durationMs = Math.max(...placed.map((p) => p.endMs)) + Math.round(s.tail * 1000);
    const total = Math.round((durationMs * workRate) / 1000);

    const noiseAmp = 10 ** (s.noiseDb / 20);
    const tracks: Record<Speaker, Float32Array> = { agent: new Float32Array(total), customer: new Float32Array(total) };
    for (const speaker of ['agent', 'customer'] as const) {
      const gauss = noiseGenerator(`${s.name}/${speaker}`);
      const track = tracks[speaker];
      for (let i = 0; i < total; i++) track[i] = noiseAmp * gauss();
    }
    for (const p of placed) {
      const track = tracks[p.turn.speaker];
      for (let i = 0; i < p.samples.length; i++) track[p.startSample + i] += p.samples[i];
    }

    const paths = outputPaths(outPath, s.channels);
    await mkdir(path.dirname(paths.truthPath), { recursive: true });
    const outputs: [Float32Array[], string][] =
      s.channels === 'stereo'
        ? [[[tracks.agent, tracks.customer], paths.wav!]]
        : [[[tracks.agent], paths.agentWav!], [[tracks.customer], paths.customerWav!]];
    for (const [chans, file] of outputs) {
      const mixed = path.join(tmp, `mix-${path.basename(file)}.f32`);
      await writeRawFloats(mixed, chans);
      await encodeFinal(mixed, workRate, chans.length, file, s);
    }

    const truth: CallTruth = {
      schema: 'earshot/call-truth@1',
      name: s.name,
      language: s.language,
      sampleRate: s.sampleRate,
      encoding: s.encoding,
      channels: s.channels,
      durationSec: durationMs / 1000,
      turns: placed.map(({ turn, startMs, endMs }) => ({
        channel: turn.speaker,
        start: startMs / 1000,
        end: endMs / 1000,
        text: turn.text,
        ...(turn.effect ? { effect: turn.effect } : {}),
        ...(turn.agitation ? { agitation: turn.agitation } : {}),
      })),
    };
    await writeFile(paths.truthPath, JSON.stringify(truth, null, 2) + '\n');
    return { ...paths, truth, script };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Renders `script` once into `<cacheDir>/<label>-<key>`, the key a hash of the generator version and `keyText`
 * (the script's source text, plus whatever else decides the audio), and returns that render thereafter. The
 * directory only ever appears complete (it is renamed into place), so its existence means a run finished it.
 */
export async function renderCached(script: CallScript, cache: { dir: string; label: string; keyText: string }): Promise<RenderedCall> {
  const s = parseCallScript(script, `call script "${script?.name ?? '?'}"`);
  const key = createHash('sha256').update(`${GENERATOR_VERSION}\0${cache.keyText}`).digest('hex').slice(0, 16);
  const dir = path.join(cache.dir, `${cache.label}-${key}`);
  const outPath = path.join(dir, `${s.name}.wav`);
  if (!existsSync(dir)) {
    await mkdir(cache.dir, { recursive: true });
    const staging = path.join(cache.dir, `.tmp-${cache.label}-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await renderCall(script, path.join(staging, `${s.name}.wav`));
      await rename(staging, dir);
    } catch (err) {
      // Another process rendered the same script first; its copy is identical.
      const code = (err as NodeJS.ErrnoException).code;
      if (!(code === 'EEXIST' || code === 'ENOTEMPTY') || !existsSync(dir)) throw err;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  const paths = outputPaths(outPath, s.channels);
  const truth = JSON.parse(readFileSync(paths.truthPath, 'utf8')) as CallTruth;
  return { ...paths, truth, script };
}

// ---------------------------------------------------------------------------
// CLI

const USAGE = 'usage: make-call <script.yml>... [--out dir]   (default out dir: out/, gitignored)';

async function main(argv: string[]): Promise<void> {
  const files: string[] = [];
  let outDir = 'out';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') {
      const dir = argv[++i];
      if (!dir) throw new Error('--out needs a directory');
      outDir = dir;
    } else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log(USAGE);
      return;
    } else files.push(argv[i]);
  }
  if (files.length === 0) throw new Error(USAGE);
  for (const file of files) {
    const script = loadCallScript(file);
    const t0 = performance.now();
    const r = await renderCall(script, path.join(outDir, `${script.name}.wav`));
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    for (const p of [r.wav, r.agentWav, r.customerWav, r.truthPath]) if (p) console.log(p);
    console.error(`${script.name}: ${r.truth.durationSec}s of audio, ${r.truth.turns.length} turns, rendered in ${secs}s`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
