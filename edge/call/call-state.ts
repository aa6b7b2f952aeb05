import type { CallEndKind, Channel, PipelineEvent, PipelineEventOf, RecognizedWordTiming } from '../events.js';
import type { SearchKeyword, SearchableIndex } from '../search/query.js';
import { powerToDb } from '../analysis/prosody.js';
import { redactConversation } from '../../lib/privacy.js';
import { sameEvidence } from './same-evidence.js';
import { InterruptionTracker, type Interruption } from '../analysis/interruptions.js';
import { defaultConfig, type AnalysisConfig } from '../../provisioning/config.js';
import type { CallFigures } from './metrics.js';
import { homeOf, pinyinOf, textOf, transcriptHits, type Script } from './transcript.js';
import { longestTurn, turnsOf, type Turn, type TurnRules } from './turns.js';

/** One utterance as the call knows it; recognised words join it as they are finalised. */
export interface HeardUtterance {
  channel: Channel;
  start: number;
  /** While `open`, the start: the utterance is still going and its end unknown. */
  end: number;
  open: boolean;
  /**
   * False for words the recogniser heard where the VAD heard no speech: kept (rules may quote them), but not
   * talk time, a turn or an utterance in the call's figures.
   */
  vad: boolean;
  /** Mean level, dBFS; null while open; -120 (no frame heard as speech) when the VAD did not hear it. */
  loudnessDb: number | null;
  f0Hz: number | null;
  words: RecognizedWordTiming[];
  script?: Script;
  text?: string;
  pinyin?: string;
}

export type HeardEmotion = Omit<PipelineEventOf<'emotion'>, 'type' | 'emittedAt' | 'ongoing'>;
export type HeardKeyword = Omit<PipelineEventOf<'keyword'>, 'type' | 'emittedAt'>;
export type HeardSilence = Omit<PipelineEventOf<'silence'>, 'type' | 'emittedAt'>;
export type HeardOvertalk = Omit<PipelineEventOf<'overtalk'>, 'type' | 'emittedAt'>;

export type CallStateOptions = TurnRules & {
  /** Overlaps less than this apart are one interruption (analysis.overtalk.maxGapSec). */
  interruptionGapSec: number;
  /**
   * The line ends a call after this much quiet on both sides (`callState: auto`): such a quiet is the call's
   * end, not a moment in it, and until it breaks nobody can tell which it is. Unset where a hang-up ends calls.
   */
  endsOnQuietSec?: number;
};

export function callStateOptions(analysis: AnalysisConfig): CallStateOptions {
  return { ...analysis.monologue, interruptionGapSec: analysis.overtalk.maxGapSec };
}

/** The level of an utterance no frame of which was heard as speech (as the pipeline computes it). */
const UNHEARD_DB = powerToDb(0);

/**
 * Everything known of one call, folded from the pipeline's events in order: the one owner of the call's facts.
 * The live rules, the index writer and the line read it; nothing else keeps its own copy. Times are as the
 * pipeline gave them (the index rounds them); "so far" figures count speech still going up to a horizon.
 */
export class CallState {
  /** Media seconds heard: the latest `emittedAt`, or the latest audio the caller reported. */
  clock = 0;
  durationSec: number | null = null;
  /** Once ended: what ended it (a hang-up, the quiet of auto segmentation, a cut). */
  endedBy: CallEndKind | null = null;
  /** In order of start, including those still going and those only the recogniser heard. */
  readonly utterances: HeardUtterance[] = [];
  readonly silences: HeardSilence[] = [];
  readonly overtalk: HeardOvertalk[] = [];
  /** Closed stretches of raised voice (what the index keeps). */
  readonly emotion: HeardEmotion[] = [];
  /** Per side, the latest emotion report, still going or not: how agitated that side sounds right now. */
  readonly latestEmotion: Record<Channel, HeardEmotion | null> = { agent: null, customer: null };
  /** Keyword-spotter hits, in order heard. */
  readonly keywords: HeardKeyword[] = [];
  /** The utterances the last `words` event added to: what is new to the rules. */
  lastHeard: HeardUtterance[] = [];
  /** Each side's utterances, in order of start: where its words find their home. */
  private readonly bySide: Record<Channel, HeardUtterance[]> = { agent: [], customer: [] };
  private readonly open: Record<Channel, HeardUtterance | null> = { agent: null, customer: null };
  private readonly ended: Record<Channel, number | null> = { agent: null, customer: null };
  /** Each word as a quote shows it (quote()); rebuilt when words or spotter hits change the conversation. */
  private quoted: Map<RecognizedWordTiming, string> | null = null;
  private readonly interruptions: InterruptionTracker;

  constructor(readonly options: CallStateOptions = callStateOptions(defaultConfig().analysis)) {
    this.interruptions = new InterruptionTracker(options.interruptionGapSec);
  }

  apply(event: PipelineEvent): void {
    this.clock = Math.max(this.clock, event.emittedAt);
    if (event.type === 'words' || event.type === 'keyword' || event.type === 'language.switch' || event.type === 'call.end') this.quoted = null;
    switch (event.type) {
      case 'utterance.start': {
        const u = this.opened(event.channel, event.start);
        this.open[event.channel] = u;
        this.interruptions.start(event.channel, event.start);
        break;
      }
      case 'utterance.end': {
        const u = this.open[event.channel] ?? this.opened(event.channel, event.start);
        Object.assign(u, { start: event.start, end: event.end, open: false, loudnessDb: event.loudnessDb, f0Hz: event.f0Hz });
        this.open[event.channel] = null;
        this.ended[event.channel] = Math.max(this.ended[event.channel] ?? 0, event.end);
        this.interruptions.stop(event.channel, event.end);
        break;
      }
      case 'words':
        this.hear(event);
        break;
      case 'keyword': {
        const hit: HeardKeyword = { term: event.term, channel: event.channel, start: event.start, end: event.end, score: event.score, source: event.source };
        // Both spotters may hear one occurrence: it is kept once, with the acoustic spotter's tighter times.
        const twin = this.keywords.findIndex((k) => k.term === hit.term && k.source !== hit.source && sameEvidence(k, hit));
        if (twin < 0) this.keywords.push(hit);
        else if (hit.source === 'kws') this.keywords[twin] = hit;
        break;
      }
      case 'silence':
        this.silences.push({ start: event.start, end: event.end, position: event.position });
        break;
      case 'overtalk':
        this.overtalk.push({ start: event.start, end: event.end, by: event.by });
        break;
      case 'emotion': {
        const { type: _type, emittedAt: _at, ongoing, ...stretch } = event;
        this.latestEmotion[event.channel] = stretch;
        if (!ongoing) this.emotion.push(stretch);
        break;
      }
      case 'language.switch':
        this.withdraw(event);
        break;
      case 'call.end':
        this.durationSec = event.durationSec;
        this.endedBy = event.endedBy ?? 'hang-up';
        this.clock = Math.max(this.clock, event.durationSec);
        // Words placed after the hang-up are not the call's: flushing the recogniser pads its audio, and it
        // can hallucinate there.
        this.dropWords((w) => w.start >= event.durationSec);
        break;
    }
  }

  /** Audio heard without an event (live capture, per chunk): the clock moves on. */
  advance(heardSec: number): void {
    this.clock = Math.max(this.clock, heardSec);
  }

  /** The call's length: its duration once ended, else what has been heard. */
  get lengthSec(): number {
    return this.durationSec ?? this.clock;
  }

  // -------------------------------------------------------------------------------------------------------
  // Speaking and quiet (the VAD's utterances)

  /** Start of the utterance in progress on a side; null while that side is quiet. */
  speakingSince(channel: Channel): number | null {
    return this.open[channel]?.start ?? null;
  }

  /** End of a side's last finished utterance; null before it has finished one. */
  lastEnd(channel: Channel): number | null {
    return this.ended[channel];
  }

  /** Start of a side's latest utterance, finished or not; null before it spoke. */
  lastStart(channel: Channel): number | null {
    const mine = this.bySide[channel];
    for (let i = mine.length - 1; i >= 0; i--) if (mine[i].vad) return mine[i].start;
    return null;
  }

  /**
   * The interruption going on now: who cut in and since when, with both sides speaking at this moment (not in
   * a gap between overlaps); the same judgement as the index's over-talk, from the utterances heard so far.
   */
  interruptionNow(): Interruption | null {
    const i = this.interruptions.current;
    return i && this.interruptions.bothSpeaking ? i : null;
  }

  get anyoneSpoke(): boolean {
    return this.utterances.some((u) => u.vad);
  }

  /** Since when both sides have been quiet (0 before anyone spoke); null while someone speaks. */
  quietSince(): number | null {
    if (this.open.agent || this.open.customer) return null;
    return Math.max(0, this.ended.agent ?? 0, this.ended.customer ?? 0);
  }

  /** A side's utterances, with speech still going counted up to `horizon`. */
  spoken(channel: Channel, horizon = this.clock): { start: number; end: number }[] {
    return this.bySide[channel].filter((u) => u.vad).map((u) => ({ start: u.start, end: u.open ? Math.max(u.start, horizon) : u.end }));
  }

  // -------------------------------------------------------------------------------------------------------
  // What was said

  /** The call as search sees it: what was said so far (grouped by utterance), and the length heard so far. */
  searchable(): SearchableIndex {
    return { durationSec: this.lengthSec, utterances: this.utterances, keywords: this.keywords };
  }

  /** Spotter hits, and watched phrases found in the words where no spotter hit overlaps them. */
  keywordHits(watched: readonly string[]): SearchKeyword[] {
    return [...this.keywords, ...transcriptHits(this.utterances, this.keywords, watched)].sort((a, b) => a.start - b.start);
  }

  /**
   * The utterance of a side that holds a stretch heard (a word, a spotter hit, a match in the words): the one
   * its words join (homeOf), so a spotter hit a little before the VAD's start, or words of an utterance still
   * going, find the same one. Null when no utterance of that side holds it.
   */
  utteranceAt(channel: Channel, start: number, end = start): HeardUtterance | null {
    const mine = this.bySide[channel];
    return mine[homeOf({ start, end }, mine)] ?? null;
  }

  /** Recognised words of one side overlapping [start, end], with `pad` neighbours either side. */
  wordsAround(channel: Channel, start: number, end: number, pad = 4): string {
    const near = this.bySide[channel].filter((u) => u.words.length > 0 && spanOf(u).start <= end + 0.5 && spanOf(u).end >= start - 0.5);
    const words = near.flatMap((u) => u.words).sort((a, b) => a.start - b.start);
    if (words.length === 0) return '';
    const inside = words.map((w, i) => ({ w, i })).filter(({ w }) => w.start < end + 0.05 && w.end > start - 0.05);
    const first = inside.length ? inside[0].i : words.findIndex((w) => w.start >= start);
    const last = inside.length ? inside[inside.length - 1].i : first;
    if (first < 0) return '';
    const from = Math.max(0, first - pad);
    const to = Math.min(words.length - 1, last + pad);
    const text = this.quote(words.slice(from, to + 1)).join(' ');
    return `${from > 0 ? '… ' : ''}${text}${to < words.length - 1 ? ' …' : ''}`;
  }

  /** The last words said before `before` (either side): the latest transcribed utterance begun by then. */
  lastWords(before: number, count = 6): { channel: Channel; text: string } | null {
    const u = this.utterances.filter((x) => x.words.length > 0 && spanOf(x).start < before).sort((a, b) => spanOf(b).end - spanOf(a).end)[0];
    if (!u) return null;
    const tail = this.quote(u.words.slice(-count)).join(' ');
    return { channel: u.channel, text: `${u.words.length > count ? '… ' : ''}${tail}` };
  }

  /**
   * Words as an alert may quote them: redacted in the conversation so far, as the index will be (lib/privacy.ts),
   * so a PIN the customer says after the agent's "what is your pin" is masked in the quote too, though
   * the quote alone carries no cue.
   */
  private quote(words: readonly RecognizedWordTiming[]): string[] {
    if (!this.quoted) {
      const heard = this.utterances.filter((u) => u.words.length > 0);
      const masked = redactConversation(heard, this.keywords);
      this.quoted = new Map(heard.flatMap((u, i) => u.words.map((w, k) => [w, masked[i].words?.[k]?.w ?? w.w] as const)));
    }
    return words.map((w) => this.quoted!.get(w) ?? w.w);
  }

  // -------------------------------------------------------------------------------------------------------
  // Figures

  /** Turns taken so far (speech still going counts up to `horizon`): monologues are long turns. */
  turns(horizon = this.clock): Turn[] {
    const spoken = this.utterances.filter((u) => u.vad).map((u) => (u.open ? { channel: u.channel, start: u.start, end: Math.max(u.start, horizon), open: true } : u));
    return turnsOf(spoken, this.options);
  }

  /** Every figure of the call so far; speech still going counts up to `horizon`. */
  figures(horizon = this.clock): CallFigures {
    const talk = (c: Channel) => this.spoken(c, horizon).reduce((s, u) => s + (u.end - u.start), 0);
    const talkSec = { agent: talk('agent'), customer: talk('customer') };
    const total = talkSec.agent + talkSec.customer;
    const perSide = <T extends { channel?: Channel; by?: Channel }>(xs: readonly T[]) => ({
      agent: xs.filter((x) => (x.channel ?? x.by) === 'agent').length,
      customer: xs.filter((x) => (x.channel ?? x.by) === 'customer').length,
    });
    return {
      durationSec: this.lengthSec,
      talkSec,
      talkRatio: total > 0 ? talkSec.agent / total : null,
      silenceTotalSec: this.silences.reduce((s, x) => s + (x.end - x.start), 0),
      longestSilenceSec: Math.max(0, ...this.silences.map((x) => x.end - x.start)),
      overtalkTotalSec: this.overtalk.reduce((s, x) => s + (x.end - x.start), 0),
      overtalkCount: perSide(this.overtalk),
      longestMonologue: longestTurn(this.turns(horizon)),
      utteranceCount: perSide(this.utterances.filter((u) => u.vad)),
      emotionCount: perSide(this.emotion),
      speechRate: { agent: this.speechRate('agent', horizon), customer: this.speechRate('customer', horizon) },
    };
  }

  /**
   * Words (or syllables) per second of a side's transcribed talk time: its utterances holding words. Speech
   * not transcribed (recognition shed, a side no model hears) neither adds words nor dilutes the rate.
   */
  private speechRate(channel: Channel, horizon: number): number | null {
    const spoken = this.bySide[channel].filter((u) => u.vad && u.words.length > 0);
    const seconds = spoken.reduce((s, u) => s + ((u.open ? Math.max(u.start, horizon) : u.end) - u.start), 0);
    return seconds > 0 ? spoken.reduce((n, u) => n + u.words.length, 0) / seconds : null;
  }

  // -------------------------------------------------------------------------------------------------------

  private opened(channel: Channel, start: number): HeardUtterance {
    const u: HeardUtterance = { channel, start, end: start, open: true, vad: true, loudnessDb: null, f0Hz: null, words: [] };
    this.insert(u);
    return u;
  }

  private insert(u: HeardUtterance): void {
    for (const list of [this.utterances, this.bySide[u.channel]]) {
      let i = list.length;
      while (i > 0 && list[i - 1].start > u.start) i--;
      list.splice(i, 0, u);
    }
  }

  private remove(u: HeardUtterance): void {
    for (const list of [this.utterances, this.bySide[u.channel]]) list.splice(list.indexOf(u), 1);
  }

  /**
   * Each word joins the utterance it falls in; words the VAD heard no speech around (a quiet word, or noise
   * the recogniser made words of) make an utterance of their own, with the words next to them.
   */
  private hear(event: PipelineEventOf<'words'>): void {
    const changed = new Set<HeardUtterance>();
    for (const word of event.words) {
      let home = this.utteranceAt(event.channel, word.start, word.end);
      if (!home) {
        home = { channel: event.channel, start: word.start, end: word.end, open: false, vad: false, loudnessDb: UNHEARD_DB, f0Hz: null, words: [] };
        this.insert(home);
      } else if (!home.vad && (word.start < home.start || word.end > home.end)) {
        this.remove(home);
        home.start = Math.min(home.start, word.start);
        home.end = Math.max(home.end, word.end);
        this.insert(home);
      }
      home.words.push(word);
      home.script = event.script;
      changed.add(home);
    }
    for (const u of changed) {
      u.words.sort((a, b) => a.start - b.start);
      this.transcribe(u);
    }
    this.lastHeard = [...changed];
  }

  private transcribe(u: HeardUtterance): void {
    u.text = u.words.length ? textOf(u.words, u.script) : undefined;
    u.pinyin = u.text !== undefined && u.script === 'hanzi' ? pinyinOf(u.text) : undefined;
  }

  /**
   * A side's language was overturned: its words so far were its speech misheard in the other language, and so
   * were the phrases its transcript matched; the spotter hits of that language go too. The new language's
   * words of the same speech come next.
   */
  private withdraw(event: PipelineEventOf<'language.switch'>): void {
    this.dropWords((_w, u) => u.channel === event.channel);
    const withdrawn = (k: HeardKeyword) =>
      k.channel === event.channel && (k.source === 'asr' || event.withdrawnHits.some((h) => h.term === k.term && Math.abs(h.start - k.start) < 0.001));
    const kept = this.keywords.filter((k) => !withdrawn(k));
    this.keywords.splice(0, this.keywords.length, ...kept);
    this.lastHeard = [];
  }

  /** Takes out the words `gone` picks; an utterance only the recogniser heard goes with its last word. */
  private dropWords(gone: (w: RecognizedWordTiming, u: HeardUtterance) => boolean): void {
    for (const u of [...this.utterances]) {
      const kept = u.words.filter((w) => !gone(w, u));
      if (kept.length === u.words.length) continue;
      if (kept.length === 0 && !u.vad) {
        this.remove(u);
        continue;
      }
      u.words = kept;
      this.transcribe(u);
    }
  }
}

/** An utterance's span as far as known: one still going reaches at least its latest word. */
function spanOf(u: HeardUtterance): { start: number; end: number } {
  if (!u.open) return u;
  return { start: u.start, end: Math.max(u.start, ...u.words.map((w) => w.end)) };
}
