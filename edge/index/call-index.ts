import type { Channel, EmotionFound, KeywordFound, RecognizedWordTiming, SilencePosition } from '../events.js';
import type { ChannelRecognition } from '../analysis/speech.js';
import type { CallState } from '../call/call-state.js';
import type { Turn } from '../call/turns.js';
import type { Alert } from '../rules/types.js';

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
  /** Present (false) when only the recogniser heard this: words where the VAD heard no speech. */
  vad?: false;
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

/** `tempoRisePct` is absent from indexes written before tempo counted. */
export type IndexedEmotion = Omit<EmotionFound, 'type' | 'emittedAt' | 'ongoing' | 'tempoRisePct'> & { tempoRisePct?: number };

/** One side holding the floor (edge/call/turns.ts); the longest is the call's longest monologue. */
export type IndexedTurn = Turn;

export interface CallMetrics {
  agentTalkSec: number;
  customerTalkSec: number;
  /** Agent's share of all talk, 0..1; null when nobody spoke. */
  talkRatio: number | null;
  silenceTotalSec: number;
  longestSilenceSec: number;
  overtalkTotalSec: number;
  overtalkCount: { agent: number; customer: number };
  longestMonologue: IndexedTurn | null;
  utteranceCount: { agent: number; customer: number };
  /** Words (or syllables) per second of that side's transcribed talk time; null where nothing was transcribed. */
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
  /** the caller's number as the site's keyed hash (lib/customer-key.ts), for erasure by customer */
  customerKey?: string;
  /** the version of the rule bundle in force when the call started, which judged it (docs/bundles.md) */
  rulesBundle?: number;
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
  turns: IndexedTurn[];
  /** Raised by the rules while the call ran, in the order raised; evidence is already redacted. */
  alerts: Alert[];
  recognition?: Record<Channel, ChannelRecognition>;
  metrics: CallMetrics;
}

/** Index times are milliseconds-exact; more digits would only be noise from frame arithmetic. */
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

/** What the index says beyond the call's own facts: where it came from and what the box made of it. */
export interface CallIndexMeta {
  callId: string;
  source?: CallSource;
  /** Where a live call happened; known at the hang-up. */
  line?: CallLine;
  degraded?: CallDegraded;
  recognition?: Record<Channel, ChannelRecognition>;
  /** The rules' alerts, a revision in place of the alert it revises. */
  alerts: readonly Alert[];
  /** Phrases the spotters listened for: also looked for in the transcript, where a spotter may have missed them. */
  watched: readonly string[];
}

/**
 * The call index: the call's state (edge/call) at the hang-up, rounded and laid out for consumers. Nothing here
 * looks at audio or events, so an index rebuilt from a stored event log equals the live one.
 */
export function buildCallIndex(call: CallState, meta: CallIndexMeta): CallIndex {
  if (call.durationSec === null) throw new Error('call index requested before call.end');
  const durationSec = call.durationSec;
  const byTime = <T extends { start: number }>(xs: T[]) => [...xs].sort((a, b) => a.start - b.start);
  const span = <T extends { start: number; end: number }>(x: T) => ({ start: round(x.start), end: round(x.end), durationSec: round(x.end - x.start) });
  const degraded = meta.degraded && cleanDegraded(meta.degraded);
  const f = call.figures(durationSec);
  return {
    schema: CALL_INDEX_SCHEMA,
    callId: meta.callId,
    ...(meta.source ? { source: meta.source } : {}),
    ...(meta.line ? { line: { ...meta.line } } : {}),
    ...(degraded ? { degraded } : {}),
    durationSec: round(durationSec),
    utterances: call.utterances.map((u) => indexUtterance(u, durationSec)),
    silences: byTime(call.silences.map((s) => ({ ...span(s), position: s.position }))),
    overtalk: byTime(call.overtalk.map((o) => ({ ...span(o), by: o.by }))),
    emotion: byTime(
      call.emotion.map((e) => ({
        channel: e.channel,
        start: round(e.start),
        end: round(e.end),
        score: round(e.score, 2),
        f0RisePct: round(e.f0RisePct, 1),
        tempoRisePct: round(e.tempoRisePct, 1),
        loudnessRiseDb: round(e.loudnessRiseDb, 1),
      })),
    ),
    keywords: call.keywordHits(meta.watched).map((k) => ({ term: k.term, channel: k.channel, start: round(k.start), end: round(k.end), score: round(k.score ?? 0, 2), source: k.source ?? 'kws' })),
    turns: call.turns(durationSec).map((t) => ({ channel: t.channel, ...span(t) })),
    alerts: [...meta.alerts],
    ...(meta.recognition ? { recognition: structuredClone(meta.recognition) } : {}),
    metrics: {
      agentTalkSec: round(f.talkSec.agent),
      customerTalkSec: round(f.talkSec.customer),
      talkRatio: f.talkRatio === null ? null : round(f.talkRatio),
      silenceTotalSec: round(f.silenceTotalSec),
      longestSilenceSec: round(f.longestSilenceSec),
      overtalkTotalSec: round(f.overtalkTotalSec),
      overtalkCount: f.overtalkCount,
      longestMonologue: f.longestMonologue && { channel: f.longestMonologue.channel, ...span(f.longestMonologue) },
      utteranceCount: f.utteranceCount,
      speechRate: { agent: f.speechRate.agent === null ? null : round(f.speechRate.agent, 2), customer: f.speechRate.customer === null ? null : round(f.speechRate.customer, 2) },
    },
  };
}

function indexUtterance(u: CallState['utterances'][number], durationSec: number): IndexedUtterance {
  // Only an engine fed by hand ends a call with speech still open; the pipeline closes it at the hang-up.
  const end = u.open ? durationSec : u.end;
  const out: IndexedUtterance = {
    channel: u.channel,
    start: round(u.start),
    end: round(end),
    loudnessDb: round(u.loudnessDb ?? -120, 1),
    f0Hz: u.f0Hz === null ? null : round(u.f0Hz, 1),
    ...(u.vad ? {} : { vad: false as const }),
  };
  if (u.words.length === 0) return out;
  return {
    ...out,
    ...(u.script ? { script: u.script } : {}),
    words: u.words.map((w) => ({ w: w.w, start: round(w.start), end: round(w.end), conf: round(w.conf, 2) })),
    text: u.text,
    ...(u.pinyin !== undefined ? { pinyin: u.pinyin } : {}),
    rate: round(u.words.length / Math.max(0.1, end - u.start), 2),
  };
}

function cleanDegraded(degraded: CallDegraded): CallDegraded | undefined {
  const spans = (xs: Span[]) => xs.map((x) => ({ start: round(x.start), end: round(x.end) })).filter((x) => x.end > x.start);
  const clean = { recognitionShed: spans(degraded.recognitionShed), audioDropped: spans(degraded.audioDropped) };
  return clean.recognitionShed.length || clean.audioDropped.length ? clean : undefined;
}
