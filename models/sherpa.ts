// Streaming recognition and keyword spotting on sherpa-onnx (1.13.8), one stream per channel: the engine of
// the `sherpa-onnx/online-transducer` family (models/engines.ts).
//
// Recognisers and spotters are made by sherpa-onnx-node; their streams are driven through sherpa's C API
// (sherpa-native.ts) so that every decode runs on libuv's thread pool: one copy of each model serves every
// line, on every core. Decoding is driven only by "is a full chunk of features ready", so results do not
// depend on how the caller slices the audio.

import { createRequire } from 'node:module';
import { busy, serialQueue } from '../lib/queue.js';
import { ModelError, requireFile, type VerifiedModel } from './manifest.js';
import { bpeVocabFile, type CompiledKeywords } from './keywords.js';
import { sherpaStreams, type NativeEngine, type StreamPointer } from './sherpa-native.js';
import {
  ENGINE_SAMPLE_RATE as SAMPLE_RATE,
  type KeywordHit,
  type KeywordSpotter,
  type KeywordSpotterOptions,
  type RecognizedSegment,
  type RecognizedWord,
  type Recognizer,
  type RecognizerOptions,
  type StreamingKeywordSpotter,
  type StreamingRecognizer,
} from './engines.js';

// ---- the subset of sherpa-onnx-node 1.13.8 used here (the package ships no TypeScript types) ----

interface NativeStream {
  acceptWaveform(wave: { samples: Float32Array; sampleRate: number }): void;
}
/** A recogniser result (C API JSON): timestamps are token start times relative to start_time. */
interface NativeRecognizerResult {
  text: string;
  tokens: string[];
  timestamps: number[];
  /** Log-probability of each emitted token under the joiner (greedy search), natural log. */
  ys_probs: number[];
  start_time: number;
  segment: number;
  num_trailing_blanks: number;
  is_final: boolean;
}
type NativeRecognizer = NativeEngine;
/** A keyword result (C API JSON): keyword is '' until a hit; start_time is always 0 in 1.13.8. */
interface NativeKeywordResult { keyword: string; tokens: string[]; timestamps: number[]; start_time: number }
interface NativeKeywordSpotter extends NativeEngine {
  createStream(): NativeStream;
  isReady(s: NativeStream): boolean;
  decode(s: NativeStream): void;
}
interface SherpaModule {
  OnlineRecognizer: new (config: object) => NativeRecognizer;
  KeywordSpotter: new (config: object) => NativeKeywordSpotter;
}

let loaded: SherpaModule | undefined;
/**
 * Loaded on first use so that manifest checks and the registry never pull in the native addon. The stream
 * functions are bound with it, so a C library that will not load fails a model's construction, where it is
 * reported, rather than a call.
 */
function sherpa(): SherpaModule {
  if (!loaded) {
    const addon = createRequire(import.meta.url)('sherpa-onnx-node') as SherpaModule;
    sherpaStreams();
    loaded = addon;
  }
  return loaded;
}

/** One encoder output frame: sherpa hard-codes 10 ms features and subsampling 4 for transducers. */
const OUTPUT_FRAME_S = 0.04;
/**
 * Token timestamps mark where a token starts; the transducer reports no ends. A word is taken to
 * last until the next word starts, but at most this long after its last token starts (about one
 * syllable or BPE piece in these models' output).
 */
const TOKEN_TAIL_S = 0.24;
/**
 * How long a phased stream remembers a hit it passed on: the phases report one occurrence at most a chunk and
 * a few trailing blanks apart, and a phrase said again seconds later is a new occurrence.
 */
const PHASE_MEMORY_S = 5;
/** Silence appended at finish so the encoder's right context and last chunk get decoded. */
const TAIL_PADDING_S = 0.8;

/** The family and kind were checked by the engine registry (models/engines.ts). */
function transducerConfig(model: VerifiedModel): { featConfig: object; modelConfig: object } {
  const featureDim = model.manifest.options?.featureDim;
  return {
    featConfig: { sampleRate: model.manifest.sampleRate, featureDim: typeof featureDim === 'number' ? featureDim : 80 },
    modelConfig: {
      transducer: { encoder: requireFile(model, 'encoder'), decoder: requireFile(model, 'decoder'), joiner: requireFile(model, 'joiner') },
      tokens: requireFile(model, 'tokens'),
      // One thread per stream: the box scales with worker threads, one stream each, not intra-op threads.
      numThreads: 1,
      provider: 'cpu',
      debug: 0,
      // sherpa consults modelingUnit only to encode hotwords; '' (no hotwords) keeps it from demanding a
      // bpe.vocab for BPE models (hotwordConfig sets both when there are hotwords).
      modelingUnit: '',
    },
  };
}

/**
 * sherpa's hotwords for a BPE model: one phrase a line, in the model's upper-case vocabulary, each word
 * split into pieces by sherpa itself (which needs the vocabulary as text and the unit named), `:score` after.
 * Only BPE models here: sherpa-onnx 1.13.8 can spell hotwords in `cjkchar`, `bpe` or `cjkchar+bpe` only,
 * and its character splitting breaks a tone-marked pinyin final (`uǎn`) into letters that are no tokens, so
 * the Mandarin recogniser is not biased; its phrases rely on the spotter and the transcript spotter. Biasing
 * works only in beam search (sherpa refuses hotwords with greedy search).
 */
function hotwordConfig(model: VerifiedModel, modelConfig: object, decodingMethod: string, hotwords: readonly { phrase: string; score: number }[]): object {
  const bpeModel = model.manifest.files.bpeModel ? requireFile(model, 'bpeModel') : undefined;
  const lines = hotwords
    .map((h) => ({ text: h.phrase.toUpperCase().replace(/[^A-Z0-9' ]+/g, ' ').replace(/\s+/g, ' ').trim(), score: h.score }))
    .filter((h) => h.text && h.score > 0)
    .map((h) => `${h.text} :${h.score}`);
  if (lines.length === 0 || model.manifest.modelingUnit !== 'bpe' || !bpeModel || decodingMethod !== 'modified_beam_search') return {};
  const text = lines.join('\n');
  return {
    modelConfig: { ...modelConfig, modelingUnit: 'bpe', bpeVocab: bpeVocabFile(bpeModel) },
    hotwordsBuf: text,
    hotwordsBufSize: Buffer.byteLength(text),
  };
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const PINYIN_INITIALS = new Set(['b', 'p', 'm', 'f', 'd', 't', 'n', 'l', 'g', 'k', 'h', 'j', 'q', 'x', 'zh', 'ch', 'sh', 'r', 'z', 'c', 's', 'y', 'w']);

/** Token indices per word: pinyin initial+final make a syllable; a BPE piece with a leading ▁ starts a word. */
function groupWords(tokens: readonly string[], unit: string): number[][] {
  const words: number[][] = [];
  if (unit === 'ppinyin') {
    let pendingInitial: number | undefined;
    tokens.forEach((t, i) => {
      if (PINYIN_INITIALS.has(t)) {
        if (pendingInitial !== undefined) words.push([pendingInitial]);
        pendingInitial = i;
      } else {
        words.push(pendingInitial !== undefined ? [pendingInitial, i] : [i]);
        pendingInitial = undefined;
      }
    });
    if (pendingInitial !== undefined) words.push([pendingInitial]);
    return words;
  }
  tokens.forEach((t, i) => {
    // sherpa's result turns the sentencepiece ▁ into a plain space.
    if (words.length === 0 || t.startsWith(' ') || t.startsWith('▁')) words.push([i]);
    else words[words.length - 1]!.push(i);
  });
  return words;
}

function toSegment(r: NativeRecognizerResult, unit: string): RecognizedSegment | undefined {
  if (r.tokens.length === 0) return undefined;
  // These BPE vocabularies are upper case only; lower case reads as ordinary text and matches rule phrases.
  const lower = unit !== 'ppinyin';
  const groups = groupWords(r.tokens, unit);
  const starts = groups.map((g) => r.start_time + r.timestamps[g[0]!]!);
  const words: RecognizedWord[] = groups.map((g, k) => {
    const text = g.map((i) => r.tokens[i]!).join('').replace(/^[\s▁]+/, '');
    const lastStart = r.start_time + r.timestamps[g[g.length - 1]!]!;
    const next = starts[k + 1];
    const end = next === undefined ? lastStart + TOKEN_TAIL_S : Math.max(lastStart, Math.min(next, lastStart + TOKEN_TAIL_S));
    const logp = g.map((i) => r.ys_probs[i] ?? 0);
    return { w: lower ? text.toLowerCase() : text, start: round3(starts[k]!), end: round3(end), conf: round3(Math.exp(mean(logp))) };
  });
  return {
    text: words.map((w) => w.w).join(' '),
    start: words[0]!.start,
    end: words[words.length - 1]!.end,
    words,
    tokens: r.tokens.map((t) => t.replace(/^[\s▁]+/, '▁')),
    confidence: round3(Math.exp(mean(r.ys_probs))),
  };
}

/** One loaded recognizer model; cheap streams (one per channel) share its weights. */
export class SherpaRecognizer implements Recognizer {
  readonly language: string;
  private readonly native: NativeRecognizer;

  constructor(readonly model: VerifiedModel, endpoint: RecognizerOptions = {}) {
    this.language = model.manifest.languages[0] ?? '';
    const config = transducerConfig(model);
    const decodingMethod = endpoint.decodingMethod ?? 'greedy_search';
    this.native = new (sherpa().OnlineRecognizer)({
      ...config,
      ...hotwordConfig(model, config.modelConfig, decodingMethod, endpoint.hotwords ?? []),
      decodingMethod,
      maxActivePaths: endpoint.maxActivePaths ?? 4,
      enableEndpoint: 1,
      rule1MinTrailingSilence: endpoint.rule1MinTrailingSilence ?? 2.4,
      rule2MinTrailingSilence: endpoint.rule2MinTrailingSilence ?? 0.8,
      rule3MinUtteranceLength: endpoint.rule3MinUtteranceLength ?? 20,
    });
  }

  createStream(): StreamingRecognizer {
    return new RecognizerStream(this.native, this.language, this.model.name, this.model.manifest.modelingUnit);
  }
}

/** A stream dropped without finish() or close() (a call torn down by a fault) is freed when collected. */
const unclosedStreams = new FinalizationRegistry<StreamPointer>((stream) => sherpaStreams().destroyStream(stream));

/**
 * What both engines' streams share: audio in, results queued until drained, and a finish that pads the tail
 * with silence (so the last words are decoded) before flushing. Subclasses decode in pump().
 */
abstract class NativeStreamBase<T> {
  protected pending: T[] = [];
  protected readonly api = sherpaStreams();
  protected readonly stream: StreamPointer;
  protected finished = false;
  private freed = false;
  /** Native jobs on this stream, one at a time: a decode in flight must not race the next samples. */
  private readonly work = serialQueue();

  protected constructor(protected readonly engine: NativeEngine, create: (engine: NativeEngine) => StreamPointer, private readonly label: string) {
    this.stream = create(engine);
    unclosedStreams.register(this, this.stream, this);
  }

  accept(samples: Float32Array): Promise<void> {
    if (this.finished) return Promise.reject(new Error(`${this.label} already finished`));
    return this.enqueue(async () => {
      await this.api.acceptWaveform(this.stream, SAMPLE_RATE, samples);
      await this.pump();
    });
  }

  drain(): T[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  async finish(): Promise<T[]> {
    if (!this.finished) {
      this.finished = true;
      await this.enqueue(async () => {
        await this.api.acceptWaveform(this.stream, SAMPLE_RATE, new Float32Array(Math.round(TAIL_PADDING_S * SAMPLE_RATE)));
        this.api.inputFinished(this.stream);
        await this.pump();
        this.flushLast();
        this.free();
      });
    }
    return this.drain();
  }

  close(): Promise<void> {
    this.finished = true;
    return this.enqueue(async () => this.free());
  }

  /** Native reads of the stream's state must not overlap a queued job. */
  protected assertIdle(): void {
    if (busy(this.work) > 0) throw new Error(`${this.label}: read while a decode is pending (await accept() first)`);
    if (this.freed) throw new Error(`${this.label} already finished`);
  }

  protected enqueue(job: () => Promise<void>): Promise<void> {
    return this.work(job);
  }

  private free(): void {
    if (this.freed) return;
    this.freed = true;
    unclosedStreams.unregister(this);
    this.api.destroyStream(this.stream);
  }

  protected abstract pump(): Promise<void>;
  /** Whatever the engine still holds once the input has ended. */
  protected flushLast(): void {}
}

class RecognizerStream extends NativeStreamBase<RecognizedSegment> implements StreamingRecognizer {
  constructor(
    native: NativeRecognizer,
    readonly language: string,
    readonly model: string,
    private readonly unit: string,
  ) {
    super(native, (r) => sherpaStreams().createOnlineStream(r), `recognizer stream (${model})`);
  }

  protected async pump(): Promise<void> {
    while (this.api.onlineReady(this.engine, this.stream)) {
      await this.api.decodeOnline(this.engine, this.stream);
      if (this.api.isEndpoint(this.engine, this.stream)) this.closeSegment();
    }
  }

  partial(): RecognizedSegment | undefined {
    this.assertIdle();
    return this.segment();
  }

  endSegment(): Promise<void> {
    if (this.finished) return Promise.resolve();
    return this.enqueue(async () => this.closeSegment());
  }

  /** What an endpoint does, the engine's or the caller's: the segment so far is final, the next starts empty. */
  private closeSegment(): void {
    this.flushLast();
    this.api.resetOnline(this.engine, this.stream);
  }

  /** The segment in progress becomes final. */
  protected override flushLast(): void {
    const seg = this.segment();
    if (seg) this.pending.push(seg);
  }

  private segment(): RecognizedSegment | undefined {
    return toSegment(JSON.parse(this.api.onlineResultJson(this.engine, this.stream)) as NativeRecognizerResult, this.unit);
  }
}

/** One loaded keyword spotter with its compiled phrase list; streams (one per channel) share it. */
export class SherpaKeywordSpotter implements KeywordSpotter {
  private readonly native: NativeKeywordSpotter;
  private readonly phraseByKey: Map<string, { phrase: string; threshold: number }>;
  private readonly trailingBlanks: number;
  private readonly phases: number;
  private shiftSeconds?: number;

  constructor(readonly model: VerifiedModel, keywords: CompiledKeywords, options: KeywordSpotterOptions = {}) {
    const base = transducerConfig(model);
    if (keywords.model !== model.name) {
      throw new ModelError('no-keywords', model.dir, `keywords were compiled for ${keywords.model}, not this model`);
    }
    if (keywords.keywords.length === 0) {
      // sherpa exits the process on an empty or unreadable keyword list; refuse here instead.
      throw new ModelError('no-keywords', model.dir, 'no keyword compiled for this model (see CompiledKeywords.problems)');
    }
    const threshold = options.threshold ?? 0.25;
    this.trailingBlanks = options.numTrailingBlanks ?? 1;
    this.phases = options.phases ?? 1;
    if (!Number.isInteger(this.phases) || this.phases < 1) throw new RangeError(`keyword spotter phases must be a whole number >= 1, got ${this.phases}`);
    this.phraseByKey = new Map(keywords.keywords.map((k) => [k.key, { phrase: k.phrase, threshold: k.threshold ?? threshold }]));
    this.native = new (sherpa().KeywordSpotter)({
      ...base,
      maxActivePaths: options.maxActivePaths ?? 4,
      numTrailingBlanks: this.trailingBlanks,
      keywordsScore: options.boost ?? 1.0,
      keywordsThreshold: threshold,
      keywordsBuf: keywords.text,
      keywordsBufSize: Buffer.byteLength(keywords.text),
    });
  }

  /**
   * Seconds of audio each decode consumes. sherpa 1.13.8's keyword timestamps restart from zero at
   * every reset and wrap during long runs, and it exposes no chunk size, so it is measured once by
   * feeding silence one feature frame at a time and noting when decodes become due.
   */
  chunkSeconds(): number {
    if (this.shiftSeconds === undefined) {
      const s = this.native.createStream();
      const frame = new Float32Array(SAMPLE_RATE / 100);
      const dueAt: number[] = [];
      for (let fed = frame.length; dueAt.length < 3 && fed <= 10 * SAMPLE_RATE; fed += frame.length) {
        s.acceptWaveform({ samples: frame, sampleRate: SAMPLE_RATE });
        while (this.native.isReady(s)) {
          this.native.decode(s);
          dueAt.push(fed);
        }
      }
      if (dueAt.length < 3) throw new ModelError('unsupported-model', this.model.dir, 'could not measure the decode chunk size');
      this.shiftSeconds = (dueAt[2]! - dueAt[1]!) / SAMPLE_RATE;
    }
    return this.shiftSeconds;
  }

  createStream(): StreamingKeywordSpotter {
    if (this.phases === 1) return new KeywordStream(this, this.native);
    const chunk = Math.round(this.chunkSeconds() * SAMPLE_RATE);
    const step = chunk / this.phases;
    // The k-th phase's chunks end k steps before the first phase's, whenever it starts: its lead of silence is
    // what puts its audio there on its own chunk grid.
    return new PhasedKeywordStream(this.phases, (phase, originSamples) => {
      const leadSamples = Math.round(originSamples + phase * step) % chunk;
      return new KeywordStream(this, this.native, leadSamples / SAMPLE_RATE, originSamples / SAMPLE_RATE);
    });
  }

  /** Maps a native hit found in decode number `decodes` (1-based, since stream start) onto stream time. */
  hitFromNative(r: NativeKeywordResult, decodes: number): KeywordHit {
    const chunk = this.chunkSeconds();
    const detectedAt = decodes * chunk;
    // The last token precedes the hit by numTrailingBlanks + 1 blank frames, inside the deciding chunk;
    // the native time is off by a whole number of chunks, so that window pins it down.
    const latest = detectedAt - (this.trailingBlanks + 2) * OUTPUT_FRAME_S;
    const ts = r.timestamps;
    const lastTs = ts[ts.length - 1] ?? 0;
    const lastAbs = lastTs + Math.floor((latest - lastTs) / chunk + 1e-6) * chunk;
    let firstAbs = lastAbs;
    for (let i = ts.length - 2; i >= 0; i--) {
      const step = ts[i + 1]! - ts[i]!;
      firstAbs -= step >= 0 ? step : OUTPUT_FRAME_S;
    }
    const known = this.phraseByKey.get(r.keyword);
    return {
      term: known?.phrase ?? r.keyword.replace(/_/g, ' '),
      start: round3(Math.max(0, firstAbs)),
      end: round3(Math.min(detectedAt, lastAbs + TOKEN_TAIL_S)),
      // sherpa 1.13.8 reports no score for a hit; the threshold it cleared is the honest lower bound
      // on its mean token probability.
      score: known?.threshold ?? 0,
    };
  }
}

class KeywordStream extends NativeStreamBase<KeywordHit> implements StreamingKeywordSpotter {
  private decodes = 0;
  /** Its lead of silence is still to go in front of the first audio (so its chunks fall later than another's). */
  private leadPending: boolean;

  /** Its hits' stream times, less its lead of silence, plus where on the side's audio it started. */
  private readonly shiftSeconds: number;

  constructor(
    private readonly owner: SherpaKeywordSpotter,
    native: NativeKeywordSpotter,
    private readonly leadSeconds = 0,
    originSeconds = 0,
  ) {
    super(native, (k) => sherpaStreams().createKeywordStream(k), `keyword stream (${owner.model.name})`);
    owner.chunkSeconds();
    this.leadPending = leadSeconds > 0;
    this.shiftSeconds = originSeconds - leadSeconds;
  }

  override accept(samples: Float32Array): Promise<void> {
    if (!this.leadPending) return super.accept(samples);
    this.leadPending = false;
    const led = new Float32Array(Math.round(this.leadSeconds * SAMPLE_RATE) + samples.length);
    led.set(samples, led.length - samples.length);
    return super.accept(led);
  }

  protected async pump(): Promise<void> {
    while (this.api.keywordReady(this.engine, this.stream)) {
      await this.api.decodeKeyword(this.engine, this.stream);
      this.decodes++;
      const r = JSON.parse(this.api.keywordResultJson(this.engine, this.stream)) as NativeKeywordResult;
      if (r.keyword) {
        const hit = this.owner.hitFromNative(r, this.decodes);
        const shift = this.shiftSeconds;
        this.pending.push(shift !== 0 ? { ...hit, start: round3(Math.max(0, hit.start + shift)), end: round3(Math.max(0, hit.end + shift)) } : hit);
        // Without a reset sherpa keeps reporting the same hit.
        this.api.resetKeyword(this.engine, this.stream);
      }
    }
  }
}

/**
 * One spotter's streams at several chunk phases, their hits merged: the same occurrence heard by two phases is
 * one hit (the first reported), so the rules and the index see it once.
 */
class PhasedKeywordStream implements StreamingKeywordSpotter {
  /** Hits already passed on, kept while a later phase may still report the same occurrence. */
  private recent: KeywordHit[] = [];
  /** The phases listening: all of them, or the first alone while lightened. */
  private readonly phases: StreamingKeywordSpotter[];
  /** What the phases given up flushed, passed on with the next drain. */
  private flushed: KeywordHit[] = [];
  private acceptedSamples = 0;
  private light = false;

  constructor(
    private readonly count: number,
    /** A stream for the phase that starts listening at this sample of the side's audio. */
    private readonly startPhase: (phase: number, originSamples: number) => StreamingKeywordSpotter,
  ) {
    this.phases = Array.from({ length: count }, (_, phase) => startPhase(phase, 0));
  }

  async accept(samples: Float32Array): Promise<void> {
    this.acceptedSamples += samples.length;
    await Promise.all(this.phases.map((s) => s.accept(samples)));
  }

  async lighten(on: boolean): Promise<void> {
    if (on === this.light) return;
    this.light = on;
    if (on) {
      const given = this.phases.splice(1);
      this.flushed.push(...(await Promise.all(given.map((s) => s.finish()))).flat());
    } else {
      for (let phase = 1; phase < this.count; phase++) this.phases.push(this.startPhase(phase, this.acceptedSamples));
    }
  }

  drain(): KeywordHit[] {
    return this.merge([...this.flushed.splice(0), ...this.phases.flatMap((s) => s.drain())]);
  }

  async finish(): Promise<KeywordHit[]> {
    return this.merge([...this.flushed.splice(0), ...(await Promise.all(this.phases.map((s) => s.finish()))).flat()]);
  }

  async close(): Promise<void> {
    await Promise.all(this.phases.map((s) => s.close()));
  }

  private merge(hits: KeywordHit[]): KeywordHit[] {
    // Drained on every frame of every side: most frames bring no hit, and nothing to prune either.
    if (hits.length === 0) return hits;
    const fresh: KeywordHit[] = [];
    for (const hit of hits.sort((a, b) => a.start - b.start)) {
      if (this.recent.some((k) => k.term === hit.term && hit.start < k.end && k.start < hit.end)) continue;
      this.recent.push(hit);
      fresh.push(hit);
    }
    const latest = Math.max(0, ...this.recent.map((k) => k.end));
    this.recent = this.recent.filter((k) => k.end > latest - PHASE_MEMORY_S);
    return fresh;
  }
}
