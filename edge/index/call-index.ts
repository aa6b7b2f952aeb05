import type { Channel, EmotionFound, KeywordFound, PipelineEvent, RecognizedWordTiming, SilencePosition, WordsRecognized } from '../events.js';
import type { ChannelRecognition } from '../analysis/speech.js';
import { pinyin } from 'pinyin-pro';
import type { Alert } from '../rules/types.js';
import { matchCall, parseQuery } from '../search/query.js';

export const CALL_INDEX_SCHEMA = 'earshot/call-index@1';

export interface IndexedUtterance {
  channel: Channel;
  start: number;
  end: number;
  loudnessDb: number;
  f0Hz: number | null;
  /** Present when a recogniser transcribed this side. */
  text?: string;
  script?: 'latin' | 'pinyin' | 'hanzi';
  /** For a character model's Mandarin: the same words in tone-marked pinyin, for phonetic search. */
  pinyin?: string;
  words?: RecognizedWordTiming[];
  /** Words per second (English) or syllables per second (Mandarin) over the utterance. */
  rate?: number;
}

export type IndexedKeyword = Omit<KeywordFound, 'type' | 'emittedAt'>;

export interface IndexedSilence {
  start: number;
  end: number;
  durationSec: number;
  position: SilencePosition;
}

export interface IndexedOvertalk {
  start: number;
  end: number;
  durationSec: number;
  by: Channel;
}

export type IndexedEmotion = Omit<EmotionFound, 'type' | 'emittedAt'>;

export interface Monologue {
  channel: Channel;
  start: number;
  end: number;
  durationSec: number;
}

export interface CallMetrics {
  agentTalkSec: number;
  customerTalkSec: number;
  /** Agent's share of all talk, 0..1; null when nobody spoke. */
  talkRatio: number | null;
  silenceTotalSec: number;
  longestSilenceSec: number;
  overtalkTotalSec: number;
  overtalkCount: { agent: number; customer: number };
  longestMonologue: Monologue | null;
  utteranceCount: { agent: number; customer: number };
  /** Words (or syllables) per second of that side's transcribed speech; null where nothing was transcribed. */
  speechRate: { agent: number | null; customer: number | null };
}

export interface CallSource {
  files: string[];
  encoding: string;
  sampleRate: number;
  agentChannel?: 'left' | 'right';
}

/** A live call's place on the floor; see the schema for each field. */
export interface CallLine {
  name: string;
  agentId?: string;
  extension?: string;
  startedAt: string;
  endedAt: string;
  boundaries: 'pbx' | 'hook' | 'audio' | 'file';
  endedBy: 'pbx' | 'hook' | 'quiet' | 'file-end' | 'next-call' | 'shutdown' | 'fault';
  callRef?: string;
  caller?: string;
}

export interface Span {
  start: number;
  end: number;
}

export interface CallDegraded {
  recognitionShed: Span[];
  audioDropped: Span[];
}

export interface CallIndex {
  schema: typeof CALL_INDEX_SCHEMA;
  callId: string;
  source?: CallSource;
  line?: CallLine;
  degraded?: CallDegraded;
  durationSec: number;
  utterances: IndexedUtterance[];
  silences: IndexedSilence[];
  overtalk: IndexedOvertalk[];
  emotion: IndexedEmotion[];
  keywords: IndexedKeyword[];
  /** Raised by the rules while the call ran, in the order raised; evidence is already redacted. */
  alerts: Alert[];
  recognition?: Record<Channel, ChannelRecognition>;
  metrics: CallMetrics;
}

/** Index times are milliseconds-exact; more digits would only be noise from frame arithmetic. */
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

/**
 * The call index is the fold of the pipeline's events: nothing here looks at audio, so an index rebuilt from
 * a stored event log equals the live one.
 */
export class CallIndexBuilder {
  private readonly utterances: IndexedUtterance[] = [];
  private readonly silences: IndexedSilence[] = [];
  private readonly overtalk: IndexedOvertalk[] = [];
  private readonly emotion: IndexedEmotion[] = [];
  private readonly segments: WordsRecognized[] = [];
  private readonly keywords: IndexedKeyword[] = [];
  private recognition?: Record<Channel, ChannelRecognition>;
  private readonly alerts: Alert[] = [];
  private durationSec: number | null = null;
  private line?: CallLine;
  private degraded?: CallDegraded;

  constructor(
    private readonly callId: string,
    private readonly monologueMaxPauseSec: number,
    private readonly source?: CallSource,
    /** Watched phrases are also looked for in the transcript, where the spotter may have missed them. */
    private readonly watched: readonly string[] = [],
  ) {}

  apply(event: PipelineEvent): void {
    switch (event.type) {
      case 'utterance.end':
        this.utterances.push({
          channel: event.channel,
          start: round(event.start),
          end: round(event.end),
          loudnessDb: round(event.loudnessDb, 1),
          f0Hz: event.f0Hz === null ? null : round(event.f0Hz, 1),
        });
        break;
      case 'silence':
        this.silences.push({ start: round(event.start), end: round(event.end), durationSec: round(event.end - event.start), position: event.position });
        break;
      case 'overtalk':
        this.overtalk.push({ start: round(event.start), end: round(event.end), durationSec: round(event.end - event.start), by: event.by });
        break;
      case 'emotion':
        if (event.ongoing) break;
        this.emotion.push({
          channel: event.channel,
          start: round(event.start),
          end: round(event.end),
          score: round(event.score, 2),
          f0RisePct: round(event.f0RisePct, 1),
          loudnessRiseDb: round(event.loudnessRiseDb, 1),
        });
        break;
      case 'call.end':
        this.durationSec = round(event.durationSec);
        break;
      case 'words':
        this.segments.push(event);
        break;
      case 'keyword':
        this.keywords.push({ term: event.term, channel: event.channel, start: round(event.start), end: round(event.end), score: round(event.score, 2), source: event.source });
        break;
      case 'utterance.start':
        break;
    }
  }

  /** A revision (same id) replaces the alert it revises. */
  addAlert(alert: Alert): void {
    const earlier = this.alerts.findIndex((a) => a.id === alert.id);
    if (earlier >= 0) this.alerts[earlier] = alert;
    else this.alerts.push(alert);
  }

  /** Recognition status is state of the lines, not an event: the caller hands it over before build(). */
  setRecognition(recognition: Record<Channel, ChannelRecognition> | undefined): void {
    this.recognition = recognition;
  }

  /** Where a live call happened; handed over at the hang-up, when its end is known. */
  setLine(line: CallLine): void {
    this.line = line;
  }

  setDegraded(degraded: CallDegraded): void {
    const spans = (xs: Span[]) => xs.map((x) => ({ start: round(x.start), end: round(x.end) })).filter((x) => x.end > x.start);
    const clean = { recognitionShed: spans(degraded.recognitionShed), audioDropped: spans(degraded.audioDropped) };
    this.degraded = clean.recognitionShed.length || clean.audioDropped.length ? clean : undefined;
  }

  get complete(): boolean {
    return this.durationSec !== null;
  }

  build(): CallIndex {
    if (this.durationSec === null) throw new Error('call index requested before call.end');
    const byTime = <T extends { start: number }>(xs: T[]) => [...xs].sort((a, b) => a.start - b.start);
    const utterances = attachWords(byTime(this.utterances), this.segments);
    return {
      schema: CALL_INDEX_SCHEMA,
      callId: this.callId,
      ...(this.source ? { source: this.source } : {}),
      ...(this.line ? { line: { ...this.line } } : {}),
      ...(this.degraded ? { degraded: structuredClone(this.degraded) } : {}),
      durationSec: this.durationSec,
      utterances,
      silences: byTime(this.silences),
      overtalk: byTime(this.overtalk),
      emotion: byTime(this.emotion),
      keywords: byTime([...this.keywords, ...transcriptHits(utterances, this.keywords, this.watched)]),
      alerts: [...this.alerts],
      ...(this.recognition ? { recognition: structuredClone(this.recognition) } : {}),
      metrics: this.metrics(utterances),
    };
  }

  private metrics(utterances: IndexedUtterance[]): CallMetrics {
    const talk = (c: Channel) => round(utterances.filter((u) => u.channel === c).reduce((s, u) => s + (u.end - u.start), 0));
    const agentTalkSec = talk('agent');
    const customerTalkSec = talk('customer');
    const total = agentTalkSec + customerTalkSec;
    return {
      agentTalkSec,
      customerTalkSec,
      talkRatio: total > 0 ? round(agentTalkSec / total) : null,
      silenceTotalSec: round(this.silences.reduce((s, x) => s + x.durationSec, 0)),
      longestSilenceSec: round(Math.max(0, ...this.silences.map((s) => s.durationSec))),
      overtalkTotalSec: round(this.overtalk.reduce((s, x) => s + x.durationSec, 0)),
      overtalkCount: {
        agent: this.overtalk.filter((o) => o.by === 'agent').length,
        customer: this.overtalk.filter((o) => o.by === 'customer').length,
      },
      longestMonologue: longestMonologue(utterances, this.monologueMaxPauseSec),
      utteranceCount: {
        agent: utterances.filter((u) => u.channel === 'agent').length,
        customer: utterances.filter((u) => u.channel === 'customer').length,
      },
      speechRate: { agent: speechRate(utterances, 'agent'), customer: speechRate(utterances, 'customer') },
    };
  }
}

/** A monologue: one side's consecutive utterances, joined across short pauses, with no word from the other. */
export function longestMonologue(utterances: IndexedUtterance[], maxPauseSec: number): Monologue | null {
  let best: Monologue | null = null;
  let current: Monologue | null = null;
  for (const u of utterances) {
    const continues = current && current.channel === u.channel && u.start - current.end <= maxPauseSec;
    if (current && continues) {
      current.end = Math.max(current.end, u.end);
    } else {
      current = { channel: u.channel, start: u.start, end: u.end, durationSec: 0 };
    }
    current.durationSec = round(current.end - current.start);
    if (!best || current.durationSec > best.durationSec) best = { ...current };
  }
  return best;
}

/** Recognised words join the utterance (VAD's view of the speech) they fall in, judged by their midpoint. */
function attachWords(utterances: IndexedUtterance[], segments: WordsRecognized[]): IndexedUtterance[] {
  const slack = 0.3;
  for (const seg of segments) {
    for (const word of seg.words) {
      const mid = (word.start + word.end) / 2;
      const home = utterances.find((u) => u.channel === seg.channel && mid >= u.start - slack && mid <= u.end + slack);
      if (!home) continue; // the recogniser heard words where the VAD heard none: noise it hallucinated into
      home.script = seg.script;
      (home.words ??= []).push({ w: word.w, start: round(word.start), end: round(word.end), conf: round(word.conf, 2) });
    }
  }
  for (const u of utterances) {
    if (!u.words) continue;
    u.words.sort((a, b) => a.start - b.start);
    // Characters need no spaces between words; pinyin and English do.
    u.text = u.words.map((w) => w.w).join(u.script === 'hanzi' ? '' : ' ');
    if (u.script === 'hanzi') u.pinyin = pinyin(u.text, { type: 'array', nonZh: 'consecutive' }).join(' ');
    u.rate = round(u.words.length / Math.max(0.1, u.end - u.start), 2);
  }
  return utterances;
}

function speechRate(utterances: IndexedUtterance[], channel: Channel): number | null {
  const spoken = utterances.filter((u) => u.channel === channel && u.words?.length);
  const seconds = spoken.reduce((s, u) => s + (u.end - u.start), 0);
  return seconds > 0 ? round(spoken.reduce((s, u) => s + (u.words as RecognizedWordTiming[]).length, 0) / seconds, 2) : null;
}

/**
 * Watched phrases found in the recognised words (`source: "asr"`), Mandarin phonetically, where no
 * spotter hit of the same phrase on the same side overlaps them. Score: mean confidence of the words.
 */
function transcriptHits(utterances: IndexedUtterance[], spotted: IndexedKeyword[], watched: readonly string[]): IndexedKeyword[] {
  if (!utterances.some((u) => u.words?.length)) return [];
  const found: IndexedKeyword[] = [];
  for (const term of watched) {
    const match = matchCall(parseQuery(`"${term.replaceAll('"', '')}"`), { utterances, keywords: [] });
    for (const hit of match?.hits ?? []) {
      const already = spotted.some((k) => k.term === term && k.channel === hit.channel && k.start < hit.end + 0.5 && hit.start < k.end + 0.5);
      if (already) continue;
      const words = utterances
        .filter((u) => u.channel === hit.channel)
        .flatMap((u) => u.words ?? [])
        .filter((w) => w.start < hit.end && hit.start < w.end);
      const score = words.length ? words.reduce((s, w) => s + w.conf, 0) / words.length : 0;
      found.push({ term, channel: hit.channel, start: round(hit.start), end: round(hit.end), score: round(score, 2), source: 'asr' });
    }
  }
  return found;
}
