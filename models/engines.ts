// The seam between speech models and the pipeline: what a recogniser and a keyword spotter must offer, and
// the registry that picks the engine for a provisioned model by its manifest's `family`.
//
// The pipeline (edge/analysis/speech.ts) only ever sees these interfaces; which library decodes is the
// engine's business. A site that provisions a model of another family (an offline SenseVoice or Paraformer
// for a post-call pass, say) needs an engine file implementing `Recognizer` and one line in ENGINES below;
// a model whose family has no engine for its kind is reported as a problem and skipped, never fatal.

import { ModelError, type ModelKind, type VerifiedModel } from './manifest.js';
import { compileKeywords, type KeywordProblem, type WatchedPhrase } from './keywords.js';
import { SherpaKeywordSpotter, SherpaRecognizer } from './sherpa.js';

/** 16 kHz mono float samples in [-1, 1]: what every engine is fed. */
export const ENGINE_SAMPLE_RATE = 16000;

export interface RecognizedWord { w: string; start: number; end: number; conf: number } // seconds from stream start
export interface RecognizedSegment { text: string; start: number; end: number; words: RecognizedWord[]; tokens?: string[]; confidence: number }
export interface KeywordHit { term: string; start: number; end: number; score: number }

/**
 * What both kinds of stream share. Calls on one stream are queued in order (each waits for the decode before
 * it); different streams decode in parallel. drain() may be called at any time; results of an accept() are
 * there once its promise resolves.
 */
export interface StreamingDecoder<T> {
  /** 16 kHz mono float [-1, 1], any chunk size. The samples must not be changed until the promise resolves. */
  accept(samples: Float32Array): Promise<void>;
  /** What was found since the last call. */
  drain(): T[];
  /** Flushes the end of the call and frees the stream; it accepts nothing afterwards. */
  finish(): Promise<T[]>;
  /** Frees the stream without flushing (a side that stopped listening to this model). */
  close(): Promise<void>;
}

export interface StreamingRecognizer extends StreamingDecoder<RecognizedSegment> {
  readonly language: string;
  readonly model: string;
  /** The segment still being decoded, as recognised so far (its last words may yet change). Not while an accept() is pending. */
  partial(): RecognizedSegment | undefined;
  /**
   * The speaker stopped: what was decoded so far becomes a segment now (drain() has it), as the engine's own
   * endpoint would make it once it had heard enough silence, and the next audio starts a new one.
   */
  endSegment(): Promise<void>;
}

export interface StreamingKeywordSpotter extends StreamingDecoder<KeywordHit> {
  /**
   * For a box behind real time: listen at the first chunk phase only (on), or at all of them again (off), from
   * the audio accepted next. What the phases given up had heard is flushed, not lost. A stream with one phase has
   * nothing to give up and need not implement it.
   */
  lighten?(on: boolean): Promise<void>;
}

/** One loaded recogniser: shared by every channel of the box, each channel gets a stream of its own. */
export interface Recognizer {
  readonly model: VerifiedModel;
  readonly language: string;
  createStream(): StreamingRecognizer;
}

/** One loaded keyword spotter with its phrase list; streams as for a recogniser. */
export interface KeywordSpotter {
  readonly model: VerifiedModel;
  createStream(): StreamingKeywordSpotter;
}

export interface RecognizerOptions {
  /** Seconds of silence that end a segment in which nothing was recognised. */
  rule1MinTrailingSilence?: number;
  /** Seconds of silence that end a segment after speech. */
  rule2MinTrailingSilence?: number;
  /** Longest segment in seconds before it is cut regardless. */
  rule3MinUtteranceLength?: number;
  /** Beam search keeps several hypotheses per frame: fewer errors, more compute. */
  decodingMethod?: 'greedy_search' | 'modified_beam_search';
  maxActivePaths?: number;
  /**
   * Contextual biasing: phrases whose paths beam search favours, `score` added per token of a partial match.
   * Needs modified_beam_search; an engine that cannot spell them in its model's tokens leaves them out.
   */
  hotwords?: readonly { phrase: string; score: number }[];
}

export interface KeywordSpotterOptions {
  /** Default trigger threshold (mean token probability) for phrases without their own. */
  threshold?: number;
  /** Default boost per token of a partially matched phrase. */
  boost?: number;
  /** Blank frames (40 ms each) beyond one that must follow the last token before a hit fires. */
  numTrailingBlanks?: number;
  maxActivePaths?: number;
  /**
   * Streams a side, each started a fraction of the model's decode chunk after the one before, their hits
   * merged: a small model hears a phrase or not depending on where its chunks fall on the audio.
   */
  phases?: number;
}

/** A spotter for the phrases the model can spell (none: no spotter), and why the others were left out. */
export interface SpotterBuild {
  spotter?: KeywordSpotter;
  phrases: string[];
  problems: KeywordProblem[];
}

/** What an engine family can make; a kind it cannot make is left out. */
export interface EngineFamily {
  recognizer?: (model: VerifiedModel, options: RecognizerOptions) => Recognizer;
  keywordSpotter?: (model: VerifiedModel, phrases: readonly (string | WatchedPhrase)[], options: KeywordSpotterOptions) => Promise<SpotterBuild>;
}

const sherpaTransducer: EngineFamily = {
  recognizer: (model, options) => new SherpaRecognizer(model, options),
  keywordSpotter: async (model, phrases, options) => {
    const compiled = await compileKeywords(model, phrases);
    const spotter = compiled.keywords.length > 0 ? new SherpaKeywordSpotter(model, compiled, options) : undefined;
    return { spotter, phrases: compiled.keywords.map((k) => k.phrase), problems: compiled.problems };
  },
};

/** Engines by manifest family. */
const ENGINES = new Map<string, EngineFamily>([['sherpa-onnx/online-transducer', sherpaTransducer]]);

/** Adds (or replaces) the engine of a family: for a site's own engine, and for tests. */
export function registerEngine(family: string, engine: EngineFamily): void {
  ENGINES.set(family, engine);
}

/** The family's maker of a kind, or a ModelError saying the model is not that kind or no engine runs its family. */
function engineFor<K extends keyof EngineFamily>(model: VerifiedModel, make: K, kind: ModelKind): NonNullable<EngineFamily[K]> {
  if (!model.kinds.includes(kind)) throw new ModelError('unsupported-model', model.dir, `model is ${model.kinds.join(', ')}, not ${kind}`);
  const factory = ENGINES.get(model.manifest.family)?.[make];
  if (!factory) {
    const known = [...ENGINES].filter(([, e]) => e[make]).map(([family]) => family);
    throw new ModelError('unsupported-model', model.dir, `family ${model.manifest.family} is not supported for ${kind} (engines: ${known.join(', ') || 'none'})`);
  }
  return factory as NonNullable<EngineFamily[K]>;
}

/** Loads a recogniser for the model; a ModelError when no engine runs its family, or the engine cannot load it. */
export function createRecognizer(model: VerifiedModel, options: RecognizerOptions = {}): Recognizer {
  return engineFor(model, 'recognizer', 'recognizer')(model, options);
}

/** Loads a keyword spotter for the phrases the model can spell; the others come back as problems. */
export function createKeywordSpotter(model: VerifiedModel, phrases: readonly (string | WatchedPhrase)[], options: KeywordSpotterOptions = {}): Promise<SpotterBuild> {
  return engineFor(model, 'keywordSpotter', 'keyword-spotter')(model, phrases, options);
}
