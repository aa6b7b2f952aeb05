import { basename, extname } from 'node:path';
import type { CaptureSource } from '../device/capture.js';
import { WavReplaySource, type CallAudioInput, type ReplayOptions } from '../device/file-source.js';
import type { EarshotConfig } from '../provisioning/config.js';
import { SileroVadModel } from '../models/vad.js';
import { CallPipeline, PIPELINE_RATE } from './analysis/pipeline.js';
import { CallIndexBuilder, type CallIndex, type CallSource } from './index/call-index.js';
import type { PipelineEvent } from './events.js';
import type { SpeechModels } from './analysis/speech.js';
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
}

export interface AnalyzeResult {
  index: CallIndex;
  events: PipelineEvent[];
  alerts: Alert[];
}

/** Runs any capture source through the pipeline until it ends, folding events into the call index. */
export async function analyzeSource(source: CaptureSource, callId: string, options: AnalyzeOptions, callSource?: CallSource): Promise<AnalyzeResult> {
  if (source.sampleRate !== PIPELINE_RATE) throw new Error(`capture source delivers ${source.sampleRate} Hz; the pipeline runs at ${PIPELINE_RATE} Hz`);
  const vadModel = options.vadModel ?? (await SileroVadModel.load());
  const models = typeof options.speechModels === 'function' ? await options.speechModels() : options.speechModels;
  const speech = models ? { models, language: options.config.recognition.language } : undefined;
  const pipeline = new CallPipeline(vadModel, options.config.analysis, speech);
  const builder = new CallIndexBuilder(callId, options.config.analysis.monologue.maxPauseSec, callSource, options.config.watch.phrases);
  const events: PipelineEvent[] = [];
  const engine = new RuleEngine(options.rules ?? [], {
    decisionLagSec: decisionLagSec(options.config.analysis.vad),
    monologueMaxPauseSec: options.config.analysis.monologue.maxPauseSec,
  });
  const raise = (alerts: Alert[]) => {
    for (const alert of alerts) {
      builder.addAlert(alert);
      options.onAlert?.(alert);
    }
  };
  pipeline.on((event) => {
    events.push(event);
    builder.apply(event);
    options.onEvent?.(event);
    raise(engine.push(event));
  });
  for await (const chunk of source.chunks()) {
    await pipeline.push(chunk.agent, chunk.customer);
    // Timers (dead air, silent agent) must fire during silence, when no event arrives to wake the engine.
    raise(engine.tick(pipeline.heardSec));
    options.onProgress?.(pipeline.heardSec, source.durationSec ?? 0);
  }
  await pipeline.finish();
  raise(engine.finish());
  builder.setRecognition(pipeline.recognition);
  return { index: builder.build(), events, alerts: [...engine.alerts] };
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
