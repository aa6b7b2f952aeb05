import { basename, extname } from 'node:path';
import type { CaptureSource } from '../device/capture.js';
import { WavReplaySource, type CallAudioInput, type ReplayOptions } from '../device/file-source.js';
import type { EarshotConfig } from '../provisioning/config.js';
import { SileroVadModel } from '../models/vad.js';
import { CallPipeline, PIPELINE_RATE } from './analysis/pipeline.js';
import { CallState, callStateOptions } from './call/call-state.js';
import { buildCallIndex, type CallIndex, type CallLine, type CallSource, type Span } from './index/call-index.js';
import type { CallEndKind, PipelineEvent } from './events.js';
import type { SpeechModels } from './analysis/speech.js';
import { TranscriptSpotter, tolerantPhrases } from './analysis/transcript-spotter.js';
import { RuleEngine, decisionLagSec } from './rules/engine.js';
import type { Alert, CompiledRule } from './rules/types.js';

export interface AnalyzeOptions extends ReplayOptions {
  config: EarshotConfig;
  /** Shared across calls on a box; loaded on demand for one-off analyses. */
  vadModel?: SileroVadModel;
  /**
   * Without speech models a call still gets its full signal analysis; the index says recognition is off.
   * A loader is called only once the audio has been opened, so a bad file is reported before models load.
   */
  speechModels?: SpeechModels | (() => Promise<SpeechModels>);
  /** Rules to run live on the call; each alert is handed to onAlert the moment it is raised. */
  rules?: CompiledRule[];
  onAlert?: (alert: Alert) => void;
  onEvent?: (event: PipelineEvent) => void;
  onProgress?: (heardSec: number, totalSec: number) => void;
  /** Default true; a caller that does not read `events` should not hold a long call's in memory. */
  keepEvents?: boolean;
}

export interface AnalyzeResult {
  index: CallIndex;
  events: PipelineEvent[];
  alerts: Alert[];
}

export interface CallAnalysisOptions {
  config: EarshotConfig;
  vadModel: SileroVadModel;
  speechModels?: SpeechModels;
  /** The line's `callState: auto` endAfterQuietSec, when it ends calls on a quiet (CallStateOptions.endsOnQuietSec). */
  endsOnQuietSec?: number;
  rules?: CompiledRule[];
  onAlert?: (alert: Alert) => void;
  onEvent?: (event: PipelineEvent) => void;
  /** A recorded call keeps its event log for the caller; a live line does not hold hours of events. */
  keepEvents?: boolean;
}

/**
 * One call, from the first sample to the hang-up: the pipeline, the call's state folded from its events, the
 * rules judging that state live, and the index written from it. The one home for that wiring, whether the
 * audio is a file or a line. `config.watch` is what the spotters listen for (loadRules' `watch`).
 */
export class CallAnalysis {
  /** Everything known of the call so far: the one copy, read by the rules, the index and the line. */
  readonly state: CallState;
  private readonly pipeline: CallPipeline;
  private readonly engine: RuleEngine;
  private readonly events: PipelineEvent[] = [];

  constructor(readonly callId: string, private readonly options: CallAnalysisOptions, private readonly callSource?: CallSource) {
    const { config } = options;
    const { recognition } = config;
    const speech = options.speechModels ? { models: options.speechModels, language: recognition.language, auto: recognition.auto, narrowbandFillDb: recognition.narrowbandFillDb } : undefined;
    this.pipeline = new CallPipeline(options.vadModel, config.analysis, speech);
    this.state = new CallState({ ...callStateOptions(config.analysis), endsOnQuietSec: options.endsOnQuietSec });
    this.engine = new RuleEngine(options.rules ?? [], { call: this.state, decisionLagSec: decisionLagSec(config.analysis.vad) });
    const heard = (event: PipelineEvent) => {
      if (options.keepEvents !== false) this.events.push(event);
      // The engine feeds the state first, so a listener (the line) reads it with this event in.
      const alerts = this.engine.push(event);
      options.onEvent?.(event);
      this.raise(alerts);
    };
    // What the acoustic spotter missed but the transcript has nearly right: its hits follow the words they came from.
    const transcriptSpotter = new TranscriptSpotter(tolerantPhrases(config.watch));
    this.pipeline.on((event) => {
      heard(event);
      if (event.type === 'words') for (const hit of transcriptSpotter.spot(event)) heard(hit);
    });
  }

  get heardSec(): number {
    return this.pipeline.heardSec;
  }

  get shedding(): boolean {
    return this.pipeline.shedding;
  }

  shedRecognition(on: boolean): void {
    this.pipeline.shedRecognition(on);
  }

  get lightened(): boolean {
    return this.pipeline.lightened;
  }

  lightenRecognition(on: boolean): void {
    this.pipeline.lightenRecognition(on);
  }

  async push(agent: Float32Array, customer: Float32Array): Promise<void> {
    await this.pipeline.push(agent, customer);
    // Timers (dead air, silent agent) must fire during silence, when no event arrives to wake the engine.
    this.raise(this.engine.tick(this.pipeline.heardSec));
  }

  /** The hang-up. A live call hands over where it happened and what audio it lost before the index is built. */
  async finish(live: { line?: CallLine; audioDropped?: Span[] } = {}): Promise<AnalyzeResult> {
    await this.pipeline.finish(live.line ? END_KINDS[live.line.endedBy] : 'hang-up');
    this.raise(this.engine.finish());
    const index = buildCallIndex(this.state, {
      callId: this.callId,
      source: this.callSource,
      line: live.line,
      degraded: { recognitionShed: this.pipeline.shedRanges, audioDropped: live.audioDropped ?? [] },
      recognition: this.pipeline.recognition,
      alerts: this.engine.alerts,
      watched: this.options.config.watch.phrases,
    });
    return { index, events: this.events, alerts: [...this.engine.alerts] };
  }

  private raise(alerts: Alert[]): void {
    for (const alert of alerts) this.options.onAlert?.(alert);
  }
}

/** What the rules make of a line's reason for ending a call: only a hang-up says the line was open until then. */
const END_KINDS: Record<CallLine['endedBy'], CallEndKind> = { pbx: 'hang-up', hook: 'hang-up', 'file-end': 'hang-up', 'next-call': 'hang-up', quiet: 'quiet', shutdown: 'cut', fault: 'cut' };

/** Runs any capture source through the pipeline until it ends, folding events into the call index. */
export async function analyzeSource(source: CaptureSource, callId: string, options: AnalyzeOptions, callSource?: CallSource): Promise<AnalyzeResult> {
  if (source.sampleRate !== PIPELINE_RATE) throw new Error(`capture source delivers ${source.sampleRate} Hz; the pipeline runs at ${PIPELINE_RATE} Hz`);
  const vadModel = options.vadModel ?? (await SileroVadModel.load());
  const speechModels = typeof options.speechModels === 'function' ? await options.speechModels() : options.speechModels;
  const call = new CallAnalysis(callId, { ...options, vadModel, speechModels }, callSource);
  for await (const chunk of source.chunks()) {
    await call.push(chunk.agent, chunk.customer);
    options.onProgress?.(call.heardSec, source.durationSec ?? 0);
  }
  return call.finish();
}

export function callIdFor(input: CallAudioInput): string {
  const file = 'stereo' in input ? input.stereo : input.agent;
  return basename(file, extname(file)).replace(/\.agent$/, '');
}

/** `earshot analyze`: a recorded call is a file source replayed through the live pipeline. */
export async function analyzeRecording(input: CallAudioInput, options: AnalyzeOptions): Promise<AnalyzeResult> {
  const source = await WavReplaySource.open(input, PIPELINE_RATE, options);
  const callSource: CallSource = {
    files: source.inputs.map((w) => w.file),
    encoding: source.inputs[0].encoding,
    sampleRate: source.inputs[0].sourceRate,
    ...('stereo' in input ? { agentChannel: input.agentChannel ?? 'left' } : {}),
  };
  return analyzeSource(source, callIdFor(input), options, callSource);
}
