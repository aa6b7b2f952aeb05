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
import type { Channel, KeywordFound, LanguageSwitched, WordsRecognized } from '../events.js';
import { defaultConfig, type PhraseTuning } from '../../provisioning/config.js';
import { fromPcm16, toPcm16 } from '../../lib/pcm16.js';
import { VAD_RATE } from '../../models/vad.js';
import { NarrowbandFill } from './band-fill.js';
import { addTally, CallEvidence, emptyTally, judge, LANGUAGES, tallyOf, type AutoLanguageConfig, type Language, type Tally } from './language.js';

export type LanguageChoice = 'auto' | 'en' | 'zh';
export { LANGUAGES };

export interface ChannelRecognition {
  language: Language | null;
  model: string | null;
  script: 'latin' | 'pinyin' | 'hanzi' | null;
  degraded: boolean;
  reason: string;
  /**
   * The audio band the side's speech came in (edge/analysis/band-fill.ts): `narrow` is telephone audio (an 8 kHz
   * trunk or recorder), which the speech models hear less well; absent until the side has said enough to tell.
   */
  band?: 'narrow' | 'wide';
}

/**
 * How often an undecided side looks at the segments still being decoded (one decode chunk is 0.32 s). Judging
 * only finished segments meant waiting for the first pause after decideAfterSec of speech: a long opening sentence held
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
    /** Per language, one spotter per group of phrases (PhraseTuning.group): each side runs a stream of each. */
    readonly spotters: Partial<Record<Language, KeywordSpotter[]>>,
    readonly problems: string[],
    /** The sides the spotters listen to; the other side's phrases are found in its transcript only. */
    readonly spotOn: readonly Channel[] = ['agent', 'customer'],
  ) {}

  static async load(
    registry: ModelRegistry,
    watch: { phrases: readonly string[]; threshold: number; boost: number; phases?: number; channels?: readonly Channel[]; tuning?: Readonly<Record<string, PhraseTuning>> },
    recognition: {
      decoding: 'greedy_search' | 'modified_beam_search';
      beam: number;
      hotwordScore?: number;
      language?: LanguageChoice;
      auto?: Pick<AutoLanguageConfig, 'fittedFor'>;
    } = { decoding: 'greedy_search', beam: 4 },
  ): Promise<SpeechModels> {
    const watched = watch.phrases;
    const tuned = (p: string) => ({ phrase: p, threshold: watch.tuning?.[p]?.threshold, boost: watch.tuning?.[p]?.boost });
    const hotwords = watched.map((p) => ({ phrase: p, score: watch.tuning?.[p]?.hotword ?? recognition.hotwordScore ?? 0 }));
    const problems = registry.failures.map((f) => f.reason);
    const recognizers: Partial<Record<Language, Recognizer>> = {};
    const spotters: Partial<Record<Language, KeywordSpotter[]>> = {};
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
      const rec = await firstThatRuns('recognizer', lang, async (m) => createRecognizer(m, { decodingMethod: recognition.decoding, maxActivePaths: recognition.beam, hotwords: hotwords.filter((h) => CJK.test(h.phrase) === (lang === 'zh')) }));
      if (rec) recognizers[lang] = rec;
      else if (!registry.recognizerFor(lang)) problems.push(`no ${lang} recognizer provisioned`);
      // A phrase goes to the model whose script can spell it: characters to Mandarin, letters to English;
      // one tuned `spotter: false` to the transcript alone.
      const phrases = watched.filter((p) => CJK.test(p) === (lang === 'zh') && watch.tuning?.[p]?.spotter !== false);
      if (phrases.length === 0) continue;
      if (!registry.keywordSpotterFor(lang)) {
        problems.push(`no ${lang} keyword spotter provisioned: ${phrases.length} watched phrase(s) not spotted`);
        continue;
      }
      const groups = new Map<string, string[]>();
      for (const p of phrases) {
        const group = watch.tuning?.[p]?.group ?? '';
        groups.set(group, [...(groups.get(group) ?? []), p]);
      }
      for (const group of [...groups.keys()].sort()) {
        const spotter = await firstThatRuns('keyword-spotter', lang, async (m) => {
          const built = await createKeywordSpotter(m, (groups.get(group) as string[]).map(tuned), { threshold: watch.threshold, boost: watch.boost, phases: watch.phases });
          for (const p of built.problems) problems.push(`watched phrase "${p.phrase}" (${lang}): ${p.reason}`);
          return built.spotter;
        });
        if (spotter) (spotters[lang] ??= []).push(spotter);
      }
    }
    const unfitted = recognition.language === 'auto' ? unfittedRecognizers(recognizers, recognition.auto?.fittedFor) : null;
    if (unfitted) problems.push(unfitted);
    return new SpeechModels(recognizers, spotters, problems, watch.channels);
  }
}

/**
 * `language: auto` weighs what the two recognisers say with weights fitted on particular models (the English
 * model's word pieces above all): other models still run, but the choice of language rests on weights that
 * were never measured for them, which a site installer should hear about rather than find in wrong calls.
 */
function unfittedRecognizers(recognizers: Partial<Record<Language, Recognizer>>, fittedFor: AutoLanguageConfig['fittedFor'] | undefined): string | null {
  if (!fittedFor || !recognizers.en || !recognizers.zh) return null;
  const loaded = { en: recognizers.en.model.name, zh: recognizers.zh.model.name };
  if (loaded.en === fittedFor.en && loaded.zh === fittedFor.zh) return null;
  return `language auto weighs recognisers ${loaded.en} and ${loaded.zh} with weights fitted for ${fittedFor.en} and ${fittedFor.zh}: refit them with npm run bench -- language-fit and name the models in recognition.auto.fittedFor (or set recognition.language)`;
}

type SpeechEvent = LanguageSwitched | WordsRecognized | KeywordFound;

/** A frame counts as possible speech for the gate from this VAD probability (as for pitch analysis). */
const GATE_PROBABILITY = 0.2;
/** Audio fed before the first speech frame, so onsets the VAD is late on still reach the recogniser. */
const PRE_ROLL_SEC = 0.32;
/**
 * Audio fed after the last speech frame, for words the VAD calls finished early. When it has passed, the
 * recogniser's segment is ended (StreamingRecognizer.endSegment): its own endpoint wants 0.8 s without a new
 * token, counted from a token it emits some frames after the sound, which the hangover did not always hold, and
 * then the last words of a turn waited in the decoder for that side's next speech, or the hang-up (held-out
 * en-0147: "all right goodbye" ended at 22.2 s, emitted at 34.7 s, after dead air had been raised for the quiet
 * that followed it).
 */
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
  /** The last frame passed ended a stretch. */
  closedNow = false;
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
      this.closedNow = this.open;
      this.open = false;
      this.preRoll.push(frame);
      if (this.preRoll.length > this.preRollFrames) this.preRoll.shift();
      return [];
    }
    this.closedNow = false;
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

/** Why a side's language was settled before revisitSec when its line fell behind: what its index's reason says. */
const KEPT_WHILE_BEHIND = 'kept without revisiting: the line was behind real time';

/** Defaults of recognition.auto, for a caller that passes none (the schema holds the measured values). */
const AUTO_DEFAULTS: AutoLanguageConfig = defaultConfig().recognition.auto;

interface Candidate {
  stream: StreamingRecognizer;
  /** Segments not yet emitted: the chosen language's until the next takeWords, the other's while revisable. */
  segments: RecognizedSegment[];
  /** Every segment since the side's first speech, while a switch may still want them all again. */
  heard: RecognizedSegment[];
  tally: Tally;
}

/**
 * One side of a call: the recogniser for its language (chosen by config or, for `auto`, judged on what both
 * recognisers make of its speech, see language.ts) and the keyword spotter of that language.
 *
 * With `auto` the decision stays open for the side's first `revisitSec` of speech: both recognisers keep
 * decoding, the other language's transcript is kept unemitted, and the gated audio is held (at most
 * revisitSec of 16 kHz 16-bit samples, 640 kB per side at the default 20 s). If the evidence turns firmly
 * against the language chosen, the side switches: the new language's transcript so far is emitted and its
 * spotter hears the held audio, so a phrase said before the switch still raises its alert (late, not lost).
 * After revisitSec the other recogniser is closed and the audio dropped: from then on a side costs what a
 * side with a configured language costs.
 */
export class ChannelSpeech {
  private candidates = new Map<Language, Candidate>();
  private chosen: Language | null = null;
  /** How the language was set: a followed side follows the other again when that side switches. */
  private chosenBy: 'config' | 'evidence' | 'follow' | null = null;
  /** No more revisits: one recogniser left, nothing held. */
  private settled = false;
  private spotters: { lang: Language; stream: StreamingKeywordSpotter }[] = [];
  /** Hits waiting for the side's language: a spotter hearing the other language mostly hears noise. */
  private heldHits: { lang: Language; event: KeywordFound }[] = [];
  private readonly gate: SpeechGate;
  private readonly fill: NarrowbandFill;
  private lastAutoCheckFedSec = 0;
  /** Gated frames since the side's first speech, for a spotter that has to catch up; null once not needed. */
  private heldAudio: Int16Array[] | null = [];
  /** Undecided past SPOTTER_HOLD_MAX_SEC: every spotter hears the side live, as with nothing to decide. */
  private spotAll = false;
  /** Hits emitted while the decision may still change, and in which language (a switch withdraws them); null once settled. */
  private hitsOut: Map<string, { lang: Language; term: string; start: number }> | null = new Map();
  /** What a switch of language withdraws, to go out before the new language's words and hits. */
  private switched: LanguageSwitched | null = null;
  private readonly spotting: boolean;
  /** The box is behind: spotters at their first phase only, no revisit of the language (see lighten). */
  private light = false;
  readonly recognition: ChannelRecognition;

  constructor(
    private readonly channel: Channel,
    private readonly models: SpeechModels,
    choice: LanguageChoice,
    frameSec: number,
    private readonly auto: AutoLanguageConfig = AUTO_DEFAULTS,
    /** Shared by the two sides of a call (see CallEvidence); a side on its own judges on its own speech. */
    private readonly evidence: CallEvidence = new CallEvidence(),
    /** recognition.narrowbandFillDb: off or unset, none. */
    narrowbandFillDb: number | 'off' = 'off',
  ) {
    this.gate = new SpeechGate(frameSec);
    this.fill = new NarrowbandFill(VAD_RATE, Math.round(frameSec * VAD_RATE), narrowbandFillDb === 'off' ? null : narrowbandFillDb, channel === 'agent' ? 1 : 2);
    this.spotting = models.spotOn.includes(channel);
    const available = LANGUAGES.filter((l) => models.recognizers[l]);
    const wanted = choice === 'auto' ? available : available.filter((l) => l === choice);
    for (const lang of wanted) this.candidates.set(lang, { stream: (models.recognizers[lang] as Recognizer).createStream(), segments: [], heard: [], tally: emptyTally() });
    this.recognition = { language: null, model: null, script: null, degraded: wanted.length === 0, reason: '' };
    if (wanted.length === 0) {
      // Nothing to decide by: every spotter listens and every hit counts.
      this.settled = true;
      this.heldAudio = null;
      this.spotAll = true;
      this.spotters = LANGUAGES.flatMap((l) => this.spotterFor(l));
      this.recognition.reason = choice === 'auto' ? 'no recognizer provisioned' : `no ${choice} recognizer provisioned`;
    } else if (wanted.length === 1) {
      this.settled = true;
      this.heldAudio = null;
      this.settle(wanted[0], choice === 'auto' ? `only ${wanted[0]} recognizer provisioned` : `configured language ${choice}`, 'config');
      this.spotters = this.spotterFor(wanted[0]);
    }
  }

  /**
   * Feeds one 16 kHz frame and its VAD probability; resolves with what became known. The models decode on
   * the thread pool, every stream of this side in parallel; the next frame must wait for this one.
   */
  async accept(frame: Float32Array, probability: number): Promise<SpeechEvent[]> {
    const decoding: Promise<void>[] = [];
    const heard = this.fill.apply(frame, probability);
    const narrowband = this.fill.isNarrowband;
    if (narrowband !== null) this.recognition.band = narrowband ? 'narrow' : 'wide';
    for (const samples of this.gate.pass(heard, probability)) {
      for (const c of this.candidates.values()) decoding.push(c.stream.accept(samples));
      for (const s of this.spotters) decoding.push(s.stream.accept(samples));
      if (this.heldAudio) this.heldAudio.push(toPcm16(samples));
    }
    if (this.gate.closedNow) for (const c of this.candidates.values()) decoding.push(c.stream.endSegment());
    if (decoding.length > 0) await Promise.all(decoding);
    this.drainRecognizers();
    this.drainSpotters();
    if (this.chosen === null && !this.spotAll && this.gate.fedSeconds > SPOTTER_HOLD_MAX_SEC) await this.listenToAll();
    if (!this.settled && this.gate.fedSeconds - this.lastAutoCheckFedSec >= AUTO_CHECK_EVERY_SEC) {
      this.lastAutoCheckFedSec = this.gate.fedSeconds;
      await this.review(false);
    }
    return this.takeEvents();
  }

  async finish(): Promise<SpeechEvent[]> {
    await Promise.all([...this.candidates.values()].map(async (c) => {
      const last = (await c.stream.finish()).map((seg) => this.onCallTime(seg));
      for (const seg of last) addTally(c.tally, tallyOf(seg));
      this.keep(c, last);
    }));
    if (!this.settled) await this.review(true);
    if (this.chosen === null && !this.spotAll) {
      if (this.candidates.size > 1 && this.recognition.reason === '') this.recognition.reason = 'auto: no speech recognised on this channel';
      // Still undecided at the end: every spotter hears what was held.
      await this.listenToAll();
    }
    await Promise.all(this.spotters.map(async (s) => this.heldHits.push(...(await s.stream.finish()).map((h) => ({ lang: s.lang, event: this.keywordEvent(h) })))));
    return this.takeEvents(true);
  }

  /**
   * Gives up (on) or takes back (off) what this side does beyond transcribing and spotting once: the spotters'
   * extra chunk phases and, once a language is chosen, the revisit of that choice (both recognisers decoding),
   * which cannot be taken back. For a line behind real time, before its recognition is shed altogether.
   */
  async lighten(on: boolean): Promise<void> {
    this.light = on;
    await this.lightenSpotters(this.spotters);
    if (on) await this.settleEarly(KEPT_WHILE_BEHIND);
  }

  /** The side keeps the language it has chosen (as soon as it has chosen one) before revisitSec, the reason saying why. */
  private async settleEarly(why: string): Promise<void> {
    if (this.settled || this.chosen === null) return;
    this.recognition.reason += `; ${why}`;
    await this.settleFor(this.chosen);
  }

  private async lightenSpotters(spotters: readonly { stream: StreamingKeywordSpotter }[]): Promise<void> {
    await Promise.all(spotters.map((s) => s.stream.lighten?.(this.light)));
  }

  /** The language this side settled on, or null while still listening. */
  get language(): Language | null {
    return this.chosen;
  }

  /**
   * Both sides of a call almost always speak one language (agents answer in the caller's). A side with too
   * little speech of its own to judge takes the other side's decision rather than hold its words and
   * keyword hits back until it has said decideAfterSec worth, which for a terse caller can be the end of the call; a side
   * that followed follows again when the other side switches, until its own speech says otherwise.
   */
  async follow(language: Language, otherSide: Channel): Promise<SpeechEvent[]> {
    if (this.chosen === language || !this.candidates.has(language)) return [];
    if (this.chosen !== null && (this.chosenBy !== 'follow' || this.settled)) return [];
    await this.choose(language, `auto: follows the ${otherSide} side (${language}): too little speech of its own yet`, 'follow');
    // What this side said while undecided is released now, in the chosen language.
    return this.takeEvents();
  }

  /** Decides, or revisits the decision, on all the side's speech so far; past revisitSec the choice is final. */
  private async review(final: boolean): Promise<void> {
    const fed = this.gate.fedSeconds;
    if (this.candidates.size > 1 && (fed >= this.auto.decideAfterSec || final)) {
      const tallies: Partial<Record<Language, Tally>> = {};
      for (const [lang, c] of this.candidates) {
        // After finish() nothing is in progress: the last segment is among the finished ones.
        const inProgress = final ? undefined : c.stream.partial();
        tallies[lang] = inProgress ? addTally({ ...c.tally }, tallyOf(inProgress)) : c.tally;
      }
      const call = this.evidence.pool(this.channel, { tallies, fedSec: fed });
      const verdict = judge(call.tallies, call.fedSec, this.auto);
      const forced = final || call.fedSec >= this.auto.forceAfterSec;
      if (verdict && verdict.lang !== this.chosen) {
        if (this.chosen === null && (verdict.firm || forced)) await this.choose(verdict.lang, `auto: ${verdict.lang}: ${verdict.why}`, 'evidence');
        else if (this.chosen !== null && (verdict.firm || (final && this.chosenBy === 'follow'))) {
          await this.choose(verdict.lang, `auto: switched from ${this.chosen} to ${verdict.lang}: ${verdict.why}`, 'evidence');
        }
      }
      const sure = verdict?.firm && verdict.lang === this.chosen && Math.abs(verdict.score) >= this.auto.settleScore;
      if (sure && call.fedSec >= this.auto.forceAfterSec && !final && fed < this.auto.revisitSec) {
        await this.settleEarly(`kept from ${fed.toFixed(1)} s of speech: the call's score is past settleScore ${this.auto.settleScore}`);
        return;
      }
    }
    if (this.chosen !== null && (fed >= this.auto.revisitSec || final)) await this.settleFor(this.chosen);
    else if (this.light) await this.settleEarly(KEPT_WHILE_BEHIND);
  }

  /**
   * Takes the language. On a change of mind what went out in the old language is withdrawn (it was this side's
   * speech misheard), and the new language's transcript of everything said so far and its spotter catch up.
   */
  private async choose(lang: Language, reason: string, by: 'evidence' | 'follow'): Promise<void> {
    const before = this.chosen;
    this.settle(lang, reason, by);
    if (before !== null && before !== lang) {
      this.switched = {
        type: 'language.switch',
        channel: this.channel,
        from: before,
        to: lang,
        start: this.gate.toCallTime(0),
        end: this.gate.toCallTime(this.gate.fedSeconds),
        withdrawnHits: this.withdrawHits(before),
        emittedAt: 0,
      };
      this.candidates.get(before)!.segments.length = 0;
      const now = this.candidates.get(lang)!;
      now.segments = [...now.heard];
    }
    if (this.spotAll) return;
    // Only this language's spotter listens from here: the other's hits would be discarded (see takeHits).
    await Promise.all(this.spotters.filter((s) => s.lang !== lang).map((s) => s.stream.close()));
    this.spotters = this.spotters.filter((s) => s.lang === lang);
    if (this.spotters.length === 0) {
      this.spotters = this.spotterFor(lang);
      await this.lightenSpotters(this.spotters);
      const held = this.heldAudio ?? [];
      for (const pcm of held) {
        const samples = fromPcm16(pcm);
        await Promise.all(this.spotters.map((s) => s.stream.accept(samples)));
      }
      this.drainSpotters();
    }
  }

  /** The decision is final: the other recogniser stops and nothing is held for a switch any more. */
  private async settleFor(lang: Language): Promise<void> {
    this.settled = true;
    this.heldAudio = null;
    for (const c of this.candidates.values()) c.heard = [];
    const dropped: Promise<void>[] = [];
    for (const [other, c] of [...this.candidates]) {
      if (other === lang) continue;
      this.candidates.delete(other);
      dropped.push(c.stream.close());
    }
    await Promise.all(dropped);
  }

  /** Nothing could be decided on this much speech: every spotter hears the side, as with no recogniser. */
  private async listenToAll(): Promise<void> {
    if (this.spotAll) return;
    this.spotAll = true;
    const fresh = LANGUAGES.filter((l) => !this.spotters.some((s) => s.lang === l)).flatMap((l) => this.spotterFor(l));
    await this.lightenSpotters(fresh);
    for (const pcm of this.heldAudio ?? []) {
      const samples = fromPcm16(pcm);
      await Promise.all(fresh.map((s) => s.stream.accept(samples)));
    }
    this.spotters.push(...fresh);
    this.heldAudio = null;
    this.drainSpotters();
  }

  private spotterFor(lang: Language): { lang: Language; stream: StreamingKeywordSpotter }[] {
    return this.spotting ? (this.models.spotters[lang] ?? []).map((spotter) => ({ lang, stream: spotter.createStream() })) : [];
  }

  private settle(lang: Language, reason: string, by: 'config' | 'evidence' | 'follow'): void {
    this.chosen = lang;
    this.chosenBy = by;
    const model = this.models.recognizers[lang]?.model as VerifiedModel;
    Object.assign(this.recognition, { language: lang, model: model.name, script: scriptOf(model), degraded: false, reason });
  }

  private drainRecognizers(): void {
    for (const c of this.candidates.values()) {
      const segs = c.stream.drain().map((seg) => this.onCallTime(seg));
      for (const seg of segs) addTally(c.tally, tallyOf(seg));
      this.keep(c, segs);
    }
  }

  private keep(c: Candidate, segments: RecognizedSegment[]): void {
    c.segments.push(...segments);
    if (!this.settled) c.heard.push(...segments);
  }

  /** A switch first (what it withdraws goes before what replaces it), then hits, then words. */
  private takeEvents(final = false): SpeechEvent[] {
    const switched = this.switched ? [this.switched] : [];
    this.switched = null;
    return [...switched, ...this.takeHits(final), ...this.takeWords()];
  }

  /** The hits of `lang` that went out, forgotten so that a switch back to it sends them again. */
  private withdrawHits(lang: Language): { term: string; start: number }[] {
    const out = this.hitsOut;
    if (!out) return [];
    const withdrawn: { term: string; start: number }[] = [];
    for (const [key, hit] of out) {
      if (hit.lang !== lang) continue;
      out.delete(key);
      withdrawn.push({ term: hit.term, start: hit.start });
    }
    return withdrawn;
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
   * Without any recogniser, or with nothing decided on a long stretch, every hit is kept.
   */
  private takeHits(final = false): KeywordFound[] {
    if (this.chosen === null && !this.spotAll && !final) return [];
    const hits = this.heldHits.splice(0).filter((h) => this.chosen === null || h.lang === this.chosen);
    const seen = this.hitsOut;
    // Once settled nothing is re-heard; the set of what went out is dropped with the held audio.
    if (this.settled) this.hitsOut = null;
    if (!seen) return hits.map((h) => h.event);
    // A spotter that came back re-hears the held audio, hits that are still out among it.
    return hits.filter((h) => {
      const key = `${h.event.term}@${h.event.start.toFixed(2)}`;
      if (seen.has(key)) return false;
      seen.set(key, { lang: h.lang, term: h.event.term, start: h.event.start });
      return true;
    }).map((h) => h.event);
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
