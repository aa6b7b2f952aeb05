/** The two sides of every call; a line's channel map decides which physical input is which. */
export type Channel = 'agent' | 'customer';
export const CHANNELS: readonly Channel[] = ['agent', 'customer'];

export function otherChannel(channel: Channel): Channel {
  return channel === 'agent' ? 'customer' : 'agent';
}

/**
 * Every event carries `emittedAt`: how far into the call the pipeline had heard when it knew this. Rules and
 * the alert-latency benchmark depend on it, so it is media time, not wall-clock time.
 */
interface EventBase {
  emittedAt: number;
}

export interface UtteranceStarted extends EventBase {
  type: 'utterance.start';
  channel: Channel;
  start: number;
}

export interface UtteranceEnded extends EventBase {
  type: 'utterance.end';
  channel: Channel;
  start: number;
  end: number;
  /** Mean RMS level of the utterance's frames, dBFS. */
  loudnessDb: number;
  /** Median F0 over voiced frames; null when nothing in it was voiced. */
  f0Hz: number | null;
}

export type SilencePosition = 'start' | 'mid' | 'end';

export interface SilenceFound extends EventBase {
  type: 'silence';
  start: number;
  end: number;
  /** `start` precedes the first words, `end` follows the last: rules treat those differently from dead air. */
  position: SilencePosition;
}

export interface OvertalkFound extends EventBase {
  type: 'overtalk';
  start: number;
  end: number;
  /** The side that started talking while the other was already speaking. */
  by: Channel;
}

export interface EmotionFound extends EventBase {
  type: 'emotion';
  channel: Channel;
  start: number;
  end: number;
  /** 0.5 at the configured thresholds, 1 at twice them. */
  score: number;
  f0RisePct: number;
  /** Syllable rate over the speaker's own, percent (from the loudness envelope: no recogniser needed). */
  tempoRisePct: number;
  loudnessRiseDb: number;
  /**
   * The stretch is still going: start, end and means so far. Sent while it lasts (so rules can alert while
   * the customer is still upset, not a pause after); the index records only the closing event.
   */
  ongoing?: true;
}

export interface RecognizedWordTiming {
  w: string;
  start: number;
  end: number;
  conf: number;
}

/** A stretch of recognised speech, final: the recogniser's endpoint closed it. */
export interface WordsRecognized extends EventBase {
  type: 'words';
  channel: Channel;
  language: 'en' | 'zh';
  script: 'latin' | 'pinyin' | 'hanzi';
  start: number;
  end: number;
  text: string;
  words: RecognizedWordTiming[];
  confidence: number;
}

/** A watched phrase heard by a keyword spotter. */
export interface KeywordFound extends EventBase {
  type: 'keyword';
  channel: Channel;
  term: string;
  start: number;
  end: number;
  score: number;
  source: 'kws' | 'asr';
}

/**
 * A side's language was overturned (language: auto, see edge/analysis/speech.ts): everything it said so far is
 * heard again in `to`. The words it had emitted in `from`, and the spotter hits of `from` listed here, are
 * withdrawn; `to`'s transcript of the same speech follows at once. Alerts that rested on what is withdrawn are
 * withdrawn with it (edge/rules).
 */
export interface LanguageSwitched extends EventBase {
  type: 'language.switch';
  channel: Channel;
  from: 'en' | 'zh';
  to: 'en' | 'zh';
  /** The side's speech heard again: from its first speech to the switch. */
  start: number;
  end: number;
  /** The acoustic spotter's hits heard in `from` and emitted, now withdrawn (the transcript's go with its words). */
  withdrawnHits: { term: string; start: number }[];
}

export interface CallEnded extends EventBase {
  type: 'call.end';
  durationSec: number;
  /**
   * What ended it (absent: a hang-up). `quiet`: auto call segmentation ended it on the quiet itself, so the
   * silence it ends in is the gap after the call, not part of it; `cut`: a shutdown or fault cut it short.
   */
  endedBy?: CallEndKind;
}

/** How a call ended, as far as the rules are concerned (CallEnded.endedBy). */
export type CallEndKind = 'hang-up' | 'quiet' | 'cut';

export type PipelineEvent = UtteranceStarted | UtteranceEnded | SilenceFound | OvertalkFound | EmotionFound | WordsRecognized | KeywordFound | LanguageSwitched | CallEnded;
export type PipelineEventOf<T extends PipelineEvent['type']> = Extract<PipelineEvent, { type: T }>;
