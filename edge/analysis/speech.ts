import type { ModelRegistry } from '../../models/registry.js';
import { ModelError, type VerifiedModel } from '../../models/manifest.js';
import {
  createKeywordSpotter,
  createRecognizer,
  type KeywordSpotter,
  type RecognizedSegment,
  type Recognizer,
  type StreamingKeywordSpotter,
  type StreamingRecognizer,
} from '../../models/engines.js';
import type { Channel, KeywordFound, WordsRecognized } from '../events.js';
import type { PhraseTuning } from '../../provisioning/config.js';

export type LanguageChoice = 'auto' | 'en' | 'zh';
export const LANGUAGES = ['en', 'zh'] as const;
type Language = (typeof LANGUAGES)[number];

export interface ChannelRecognition {
  language: Language | null;
  model: string | null;
  script: 'latin' | 'pinyin' | 'hanzi' | null;
  degraded: boolean;
  reason: string;
}

/** Speech a channel must have produced before `auto` compares the two languages' confidence. */
const AUTO_DECIDE_SEC = 2.0;
/**
 * The two models' confidences are not on one scale. Measured on our calls: the English model gives
 * 0.54-0.71 on English and ~0.2 on Mandarin, while the pinyin model gives 0.39-0.77 on Mandarin but still
 * 0.32-0.46 on English (on a string of spoken digits it beat the English model, 0.46 to 0.38). Mandarin
 * must therefore win by this margin; on Mandarin it wins by 0.19 or more.
 */
const ZH_CONFIDENCE_HANDICAP = 0.1;
/** ...unless the other model has recognised nothing by the time this much speech went by. */
const AUTO_FORCE_SEC = 10.0;
/**
 * How often an undecided side looks at the segments still being decoded (one decode chunk is 0.32 s). Judging
 * only finished segments meant waiting for the first pause after 2 s of speech: a long opening sentence held
 * every word and keyword hit (and so the alerts they raise) back by many seconds.
 */
const AUTO_CHECK_EVERY_SEC = 0.25;
/**
 * While `auto` is undecided the spotters' audio is held, then heard by the chosen language's spotter alone:
 * its hits are held until the decision anyway, and the other spotter's would be thrown away. Past this much
 * held speech (a side the recognisers cannot judge), every spotter hears it, as with no decision to wait for.
 */
const SPOTTER_HOLD_MAX_SEC = 20;
const CJK = /[\u3400-\u9fff]/;

function scriptOf(model: VerifiedModel): 'latin' | 'pinyin' | 'hanzi' {
  const lang = model.manifest.languages[0];
  if (lang !== 'zh') return 'latin';
  return model.manifest.modelingUnit === 'ppinyin' || model.manifest.modelingUnit === '' ? 'pinyin' : 'hanzi';
}

/**
 * Loaded once per box: recognisers and keyword spotters are shared by every channel, each channel gets
 * its own streams. Whatever is missing is recorded, and calls are still analysed without it.
 */
export class SpeechModels {
  private constructor(
    readonly recognizers: Partial<Record<Language, Recognizer>>,
    readonly spotters: Partial<Record<Language, KeywordSpotter>>,
    readonly problems: string[],
    /** The sides the spotters listen to; the other side's phrases are found in its transcript only. */
    readonly spotOn: readonly Channel[] = ['agent', 'customer'],
  ) {}

  static async load(
    registry: ModelRegistry,
    watch: { phrases: readonly string[]; threshold: number; boost: number; channels?: readonly Channel[]; tuning?: Readonly<Record<string, PhraseTuning>> },
    decoding: { decoding: 'greedy_search' | 'modified_beam_search'; beam: number; hotwordScore?: number } = { decoding: 'greedy_search', beam: 4 },
  ): Promise<SpeechModels> {
    const watched = watch.phrases;
    const tuned = (p: string) => ({ phrase: p, threshold: watch.tuning?.[p]?.threshold, boost: watch.tuning?.[p]?.boost });
    const hotwords = watched.map((p) => ({ phrase: p, score: watch.tuning?.[p]?.hotword ?? decoding.hotwordScore ?? 0 }));
    const problems = registry.failures.map((f) => f.reason);
    const recognizers: Partial<Record<Language, Recognizer>> = {};
    const spotters: Partial<Record<Language, KeywordSpotter>> = {};
    // A model no engine can run (a family without one, a library that will not load) is a problem to
    // report, and the next provisioned model of its kind is tried: the box never refuses to start over one.
    const firstThatRuns = async <T>(kind: 'recognizer' | 'keyword-spotter', lang: Language, make: (m: VerifiedModel) => Promise<T | undefined>): Promise<T | undefined> => {
      for (const model of registry.all(kind, lang)) {
        try {
          return await make(model);
        } catch (err) {
          problems.push(err instanceof ModelError ? err.message : `model ${model.dir}: ${(err as Error).message}`);
        }
      }
      return undefined;
    };
    for (const lang of LANGUAGES) {
      const rec = await firstThatRuns('recognizer', lang, async (m) => createRecognizer(m, { decodingMethod: decoding.decoding, maxActivePaths: decoding.beam, hotwords: hotwords.filter((h) => CJK.test(h.phrase) === (lang === 'zh')) }));
      if (rec) recognizers[lang] = rec;
      else if (!registry.recognizerFor(lang)) problems.push(`no ${lang} recognizer provisioned`);
      // A phrase goes to the model whose script can spell it: characters to Mandarin, letters to English.
      const phrases = watched.filter((p) => CJK.test(p) === (lang === 'zh'));
      if (phrases.length === 0) continue;
      if (!registry.keywordSpotterFor(lang)) {
        problems.push(`no ${lang} keyword spotter provisioned: ${phrases.length} watched phrase(s) not spotted`);
        continue;
      }
      const spotter = await firstThatRuns('keyword-spotter', lang, async (m) => {
        const built = await createKeywordSpotter(m, phrases.map(tuned), { threshold: watch.threshold, boost: watch.boost });
        for (const p of built.problems) problems.push(`watched phrase "${p.phrase}" (${lang}): ${p.reason}`);
        return built.spotter;
      });
      if (spotter) spotters[lang] = spotter;
    }
    return new SpeechModels(recognizers, spotters, problems, watch.channels);
  }
}

type SpeechEvent = WordsRecognized | KeywordFound;

/** A frame counts as possible speech for the gate from this VAD probability (as for pitch analysis). */
const GATE_PROBABILITY = 0.2;
/** Audio fed before the first speech frame, so onsets the VAD is late on still reach the recogniser. */
const PRE_ROLL_SEC = 0.32;
/** Audio fed after the last speech frame: longer than the recogniser's 0.8 s endpoint rule, so it closes. */
const HANGOVER_SEC = 1.2;

/**
 * Feeds the speech engines only around speech. On a call each side is quiet more than half the time
 * (the other side is talking), and decoding silence costs as much as decoding words. The engines then
 * see a compressed timeline; `toCallTime` maps their times back onto the call.
 */
class SpeechGate {
  private readonly preRoll: Float32Array[] = [];
  private readonly preRollFrames: number;
  private lastSpeechAt = -Infinity;
  private open = false;
  private heardSec = 0;
  private fedSec = 0;
  /** Where each stretch of fed audio starts, in engine time and in call time. */
  private readonly anchors: { fed: number; call: number }[] = [];

  constructor(private readonly frameSec: number) {
    this.preRollFrames = Math.round(PRE_ROLL_SEC / frameSec);
  }

  /** Returns the frames to feed now (none while the side is quiet). */
  pass(frame: Float32Array, probability: number): Float32Array[] {
    const t = this.heardSec;
    this.heardSec += this.frameSec;
    if (probability >= GATE_PROBABILITY) this.lastSpeechAt = t;
    if (t - this.lastSpeechAt > HANGOVER_SEC) {
      this.open = false;
      this.preRoll.push(frame);
      if (this.preRoll.length > this.preRollFrames) this.preRoll.shift();
      return [];
    }
    const out = this.open ? [frame] : [...this.preRoll.splice(0), frame];
    if (!this.open) this.anchors.push({ fed: this.fedSec, call: t - (out.length - 1) * this.frameSec });
    this.open = true;
    this.fedSec += out.length * this.frameSec;
    return out;
  }

  /** Seconds of audio passed to the engines so far. */
  get fedSeconds(): number {
    return this.fedSec;
  }

  toCallTime(fed: number): number {
    let anchor = this.anchors[0] ?? { fed: 0, call: 0 };
    for (const a of this.anchors) if (a.fed <= fed + 1e-9) anchor = a;
    return anchor.call + (fed - anchor.fed);
  }
}

/**
 * One side of a call: the recogniser for its language (chosen by config or, for `auto`, by which model is
 * more confident on the first speech) and the keyword spotters for every language with watched phrases.
 */
export class ChannelSpeech {
  private candidates = new Map<Language, { stream: StreamingRecognizer; segments: RecognizedSegment[] }>();
  private chosen: Language | null = null;
  private spotters: { lang: Language; stream: StreamingKeywordSpotter }[];
  /** Hits waiting for the side's language: a spotter hearing the other language mostly hears noise. */
  private heldHits: { lang: Language; event: KeywordFound }[] = [];
  private readonly gate: SpeechGate;
  private lastAutoCheckFedSec = 0;
  /** Gated frames the spotters have not heard yet (see SPOTTER_HOLD_MAX_SEC); null once nothing is held back. */
  private spotterHold: Float32Array[] | null = [];
  readonly recognition: ChannelRecognition;

  constructor(private readonly channel: Channel, private readonly models: SpeechModels, choice: LanguageChoice, private readonly frameSec: number) {
    this.gate = new SpeechGate(frameSec);
    const available = LANGUAGES.filter((l) => models.recognizers[l]);
    const wanted = choice === 'auto' ? available : available.filter((l) => l === choice);
    for (const lang of wanted) this.candidates.set(lang, { stream: (models.recognizers[lang] as Recognizer).createStream(), segments: [] });
    // A side with one recogniser is decided from the start: only that language's spotter listens.
    const only = wanted.length === 1 ? wanted[0] : undefined;
    this.spotters = models.spotOn.includes(channel)
      ? LANGUAGES.filter((l) => models.spotters[l] && (only === undefined || l === only)).map((lang) => ({ lang, stream: (models.spotters[lang] as KeywordSpotter).createStream() }))
      : [];
    this.recognition = { language: null, model: null, script: null, degraded: wanted.length === 0, reason: '' };
    // Nothing to decide between (no recogniser, or one: decided just below): the spotters hear speech as it comes.
    if (wanted.length < 2) this.spotterHold = null;
    if (wanted.length === 0) {
      this.recognition.reason = choice === 'auto' ? 'no recognizer provisioned' : `no ${choice} recognizer provisioned`;
    } else if (wanted.length === 1) {
      this.settle(wanted[0], choice === 'auto' ? `only ${wanted[0]} recognizer provisioned` : `configured language ${choice}`);
    }
  }

  /**
   * Feeds one 16 kHz frame and its VAD probability; resolves with what became known. The models decode on
   * the thread pool, every stream of this side in parallel; the next frame must wait for this one.
   */
  async accept(frame: Float32Array, probability: number): Promise<SpeechEvent[]> {
    const decoding: Promise<void>[] = [];
    for (const samples of this.gate.pass(frame, probability)) {
      for (const c of this.candidates.values()) decoding.push(c.stream.accept(samples));
      if (this.spotterHold) {
        this.spotterHold.push(samples);
        if (this.spotterHold.length * this.frameSec > SPOTTER_HOLD_MAX_SEC) decoding.push(this.releaseSpotterHold());
      } else {
        for (const s of this.spotters) decoding.push(s.stream.accept(samples));
      }
    }
    if (decoding.length > 0) await Promise.all(decoding);
    for (const c of this.candidates.values()) c.segments.push(...c.stream.drain().map((seg) => this.onCallTime(seg)));
    this.drainSpotters();
    if (this.chosen === null && this.candidates.size > 1 && this.gate.fedSeconds - this.lastAutoCheckFedSec >= AUTO_CHECK_EVERY_SEC) {
      this.lastAutoCheckFedSec = this.gate.fedSeconds;
      if (this.gate.fedSeconds >= AUTO_DECIDE_SEC) await this.maybeDecide(false);
    }
    return [...this.takeHits(), ...this.takeWords()];
  }

  async finish(): Promise<SpeechEvent[]> {
    await Promise.all([...this.candidates.values()].map(async (c) => c.segments.push(...(await c.stream.finish()).map((seg) => this.onCallTime(seg)))));
    if (this.chosen === null && this.candidates.size > 1) await this.maybeDecide(true);
    // Still undecided at the end: every spotter hears what was held.
    await this.releaseSpotterHold();
    await Promise.all(this.spotters.map(async (s) => this.heldHits.push(...(await s.stream.finish()).map((h) => ({ lang: s.lang, event: this.keywordEvent(h) })))));
    return [...this.takeHits(true), ...this.takeWords()];
  }

  /** The language this side settled on, or null while still listening. */
  get language(): Language | null {
    return this.chosen;
  }

  /**
   * Both sides of a call almost always speak one language (agents answer in the caller's). A side with too
   * little speech of its own to judge takes the other side's decision rather than hold its words and
   * keyword hits back until it has said 2 s worth, which for a terse caller can be the end of the call.
   */
  async follow(language: Language, otherSide: Channel): Promise<SpeechEvent[]> {
    if (this.chosen !== null || !this.candidates.has(language)) return [];
    await this.decide(language, `auto: follows the ${otherSide} side (${language}): too little speech of its own yet`);
    // What this side said while undecided is released now, in the chosen language.
    return [...this.takeHits(), ...this.takeWords()];
  }

  private async maybeDecide(final: boolean): Promise<void> {
    const scored = [...this.candidates.entries()].map(([lang, c]) => {
      // After finish() nothing is in progress: the last segment is among the finished ones.
      const inProgress = final ? undefined : c.stream.partial();
      const segments = inProgress ? [...c.segments, inProgress] : c.segments;
      const words = segments.flatMap((s) => s.words);
      const speech = segments.reduce((sum, s) => sum + (s.end - s.start), 0);
      const confidence = words.length ? words.reduce((sum, w) => sum + w.conf, 0) / words.length : 0;
      return { lang, speech, confidence, words: words.length };
    });
    // Judge only once every recogniser has heard enough words (or one has heard a lot).
    const enough = scored.every((s) => s.speech >= AUTO_DECIDE_SEC) || scored.some((s) => s.speech >= AUTO_FORCE_SEC);
    if (!final && !enough) return;
    if (scored.every((s) => s.words === 0)) {
      if (final) this.recognition.reason = 'auto: no speech recognised on this channel';
      return;
    }
    const judged = (x: (typeof scored)[number]) => x.confidence - (x.lang === 'zh' ? ZH_CONFIDENCE_HANDICAP : 0);
    scored.sort((a, b) => judged(b) - judged(a));
    const [best, other] = scored;
    await this.decide(best.lang, `auto: ${best.lang} confidence ${best.confidence.toFixed(2)} vs ${other.lang} ${other.confidence.toFixed(2)} on the first ${best.speech.toFixed(1)} s of speech (zh needs +${ZH_CONFIDENCE_HANDICAP})`);
  }

  private async decide(lang: Language, reason: string): Promise<void> {
    this.settle(lang, reason);
    const dropped: Promise<void>[] = [];
    for (const [other, c] of [...this.candidates]) {
      if (other === lang) continue;
      this.candidates.delete(other);
      dropped.push(c.stream.close());
    }
    // Hits from the other language's spotter would be discarded (see takeHits), so it stops listening.
    for (const s of this.spotters) if (s.lang !== lang) dropped.push(s.stream.close());
    this.spotters = this.spotters.filter((s) => s.lang === lang);
    await Promise.all([...dropped, this.releaseSpotterHold()]);
  }

  private settle(lang: Language, reason: string): void {
    this.chosen = lang;
    const model = this.models.recognizers[lang]?.model as VerifiedModel;
    Object.assign(this.recognition, { language: lang, model: model.name, script: scriptOf(model), degraded: false, reason });
  }

  /** The held audio goes to the spotters still listening, and holding stops for the rest of the call. */
  private async releaseSpotterHold(): Promise<void> {
    const held = this.spotterHold ?? [];
    this.spotterHold = null;
    await Promise.all(held.flatMap((samples) => this.spotters.map((s) => s.stream.accept(samples))));
    this.drainSpotters();
  }

  private drainSpotters(): void {
    for (const s of this.spotters) this.heldHits.push(...s.stream.drain().map((h) => ({ lang: s.lang, event: this.keywordEvent(h) })));
  }

  private takeWords(): WordsRecognized[] {
    if (this.chosen === null) return [];
    const c = this.candidates.get(this.chosen);
    if (!c) return [];
    const segments = c.segments.splice(0);
    return segments
      .filter((s) => s.words.length > 0)
      .map((s) => ({
        type: 'words' as const,
        channel: this.channel,
        language: this.chosen as Language,
        script: this.recognition.script as 'latin' | 'pinyin' | 'hanzi',
        start: s.start,
        end: s.end,
        text: s.text,
        words: s.words,
        confidence: s.confidence,
        emittedAt: 0,
      }));
  }

  /**
   * Measured on the generated calls: the English spotter fired on Mandarin speech ("guaranteed",
   * "password") and the Mandarin one on English; once a side's language is known only its spotter counts.
   * Without any recogniser there is nothing to decide by, and every hit is kept.
   */
  private takeHits(final = false): KeywordFound[] {
    const undecidable = this.candidates.size === 0 && this.chosen === null;
    if (this.chosen === null && !undecidable && !final) return [];
    const hits = this.heldHits.splice(0);
    return hits.filter((h) => undecidable || this.chosen === null || h.lang === this.chosen).map((h) => h.event);
  }

  private onCallTime(seg: RecognizedSegment): RecognizedSegment {
    const at = (x: number) => this.gate.toCallTime(x);
    return { ...seg, start: at(seg.start), end: at(seg.end), words: seg.words.map((w) => ({ ...w, start: at(w.start), end: at(w.end) })) };
  }

  private keywordEvent(hit: { term: string; start: number; end: number; score: number }): KeywordFound {
    const start = this.gate.toCallTime(hit.start);
    return { type: 'keyword', channel: this.channel, term: hit.term, start, end: start + (hit.end - hit.start), score: hit.score, source: 'kws', emittedAt: 0 };
  }
}
