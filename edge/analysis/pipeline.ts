import type { AnalysisConfig } from '../../provisioning/config.js';
import { CHANNELS, type CallEndKind, type Channel, type PipelineEvent } from '../events.js';
import { SileroVadModel, VAD_FRAME, VAD_RATE, type VadStream } from '../../models/vad.js';
import { ProsodyAnalyzer, type FrameProsody } from './prosody.js';
import { SpeechSegmenter } from './segmenter.js';
import { EmotionDetector } from './emotion.js';
import { ConversationTracker } from './conversation.js';
import { CallEvidence, type AutoLanguageConfig } from './language.js';
import { ChannelSpeech, type ChannelRecognition, type LanguageChoice, type SpeechModels } from './speech.js';

export interface SpeechSetup {
  models: SpeechModels;
  language: LanguageChoice;
  auto?: AutoLanguageConfig;
  /** recognition.narrowbandFillDb (unset: none). */
  narrowbandFillDb?: number | 'off';
}

export const PIPELINE_RATE = VAD_RATE;
export const FRAME_SAMPLES = VAD_FRAME;
export const FRAME_SEC = FRAME_SAMPLES / PIPELINE_RATE;

export type PipelineListener = (event: PipelineEvent) => void;

/** Per-side state: raw audio waiting to fill a frame, and frames analysed but not yet decided. */
class ChannelLane {
  private pending = new Float32Array(FRAME_SAMPLES * 8);
  private pendingLength = 0;
  readonly undecided: FrameProsody[] = [];
  readonly decided: boolean[] = [];
  readonly segmenter: SpeechSegmenter;
  readonly emotion: EmotionDetector;
  private readonly prosody = new ProsodyAnalyzer(PIPELINE_RATE, FRAME_SAMPLES);
  readonly speech?: ChannelSpeech;

  constructor(readonly channel: Channel, readonly vad: VadStream, config: AnalysisConfig, speech?: SpeechSetup, evidence?: CallEvidence) {
    this.segmenter = new SpeechSegmenter(config.vad, FRAME_SEC);
    this.emotion = new EmotionDetector(channel, config.emotion, FRAME_SEC);
    if (speech) this.speech = new ChannelSpeech(channel, speech.models, speech.language, FRAME_SEC, speech.auto, evidence, speech.narrowbandFillDb);
  }

  append(samples: Float32Array): void {
    if (this.pendingLength + samples.length > this.pending.length) {
      const grown = new Float32Array(Math.max(this.pending.length * 2, this.pendingLength + samples.length));
      grown.set(this.pending.subarray(0, this.pendingLength));
      this.pending = grown;
    }
    this.pending.set(samples, this.pendingLength);
    this.pendingLength += samples.length;
  }

  get fullFrames(): number {
    return Math.floor(this.pendingLength / FRAME_SAMPLES);
  }

  get pendingSamples(): number {
    return this.pendingLength;
  }

  /** Copies out the frame at the head so the buffer can be compacted safely. */
  takeFrame(): Float32Array {
    const frame = new Float32Array(FRAME_SAMPLES);
    frame.set(this.pending.subarray(0, Math.min(FRAME_SAMPLES, this.pendingLength)));
    this.pending.copyWithin(0, FRAME_SAMPLES, Math.max(FRAME_SAMPLES, this.pendingLength));
    this.pendingLength = Math.max(0, this.pendingLength - FRAME_SAMPLES);
    return frame;
  }

  /**
   * Returns recognition events this frame completed; frame decisions are queued for the tracker. While
   * recognition is shed the speech engines hear "no speech": the open stretch finishes decoding through
   * the gate's hangover and then they are fed nothing, which is what makes shedding cheap.
   */
  async analyzeFrame(frame: Float32Array, shed: boolean): Promise<PipelineEvent[]> {
    const probability = await this.vad.probability(frame);
    this.undecided.push(this.prosody.analyze(frame, probability >= 0.2));
    this.decided.push(...this.segmenter.push(probability));
    return this.speech ? this.speech.accept(frame, shed ? 0 : probability) : [];
  }
}

/**
 * The one analysis path for every source: a file replayed as fast as the CPU allows and a live line fed
 * frame by frame go through exactly this. Audio is re-framed internally into fixed 32 ms frames, which is
 * what makes the result independent of how callers chunk it.
 */
export class CallPipeline {
  private readonly lanes: Record<Channel, ChannelLane>;
  private readonly conversation: ConversationTracker;
  private readonly listeners: PipelineListener[] = [];
  private framesIn = 0;
  private framesDecided = 0;
  private samplesIn = 0;
  private finished = false;
  private shedSince: number | null = null;
  /** Wanted by the line (lightenRecognition) and what the speech engines were last told, applied between frames. */
  private lightWanted = false;
  private lightApplied = false;
  /** Stretches of the call (media seconds) that were not transcribed because the box was behind. */
  readonly shedRanges: { start: number; end: number }[] = [];

  constructor(vadModel: SileroVadModel, config: AnalysisConfig, speech?: SpeechSetup) {
    // The two sides judge their language on the call's speech, not each on its own (language.ts).
    const evidence = new CallEvidence();
    this.lanes = {
      agent: new ChannelLane('agent', vadModel.createStream(), config, speech, evidence),
      customer: new ChannelLane('customer', vadModel.createStream(), config, speech, evidence),
    };
    this.conversation = new ConversationTracker(config, FRAME_SEC);
  }

  on(listener: PipelineListener): this {
    this.listeners.push(listener);
    return this;
  }

  /** Per channel: which language and model transcribe it, or why nothing does. */
  get recognition(): Record<Channel, ChannelRecognition> | undefined {
    const { agent, customer } = this.lanes;
    return agent.speech && customer.speech ? { agent: agent.speech.recognition, customer: customer.speech.recognition } : undefined;
  }

  /** Seconds of audio heard so far: the media clock every event's `emittedAt` is read from. */
  get heardSec(): number {
    return this.framesIn * FRAME_SEC;
  }

  get shedding(): boolean {
    return this.shedSince !== null;
  }

  /**
   * Stops (or resumes) feeding the speech engines from the current position on; VAD, silence, over-talk and
   * emotion go on. For a box that is behind real time: text is the expensive part and the part that can wait.
   */
  shedRecognition(on: boolean): void {
    if (on && this.shedSince === null) this.shedSince = this.heardSec;
    if (!on && this.shedSince !== null) {
      this.shedRanges.push({ start: this.shedSince, end: this.heardSec });
      this.shedSince = null;
    }
  }

  get lightened(): boolean {
    return this.lightWanted;
  }

  /**
   * From the next frame on, the speech engines give up (or take back) their extras: keyword spotting at more
   * than one chunk phase, and the revisit of a side's language once chosen (ChannelSpeech.lighten). For a box
   * falling behind real time, as a first step before it sheds recognition.
   */
  lightenRecognition(on: boolean): void {
    this.lightWanted = on;
  }

  /** Feeds both sides at 16 kHz; the two arrays of one call should be of equal length over time. */
  async push(agent: Float32Array, customer: Float32Array): Promise<void> {
    if (this.finished) throw new Error('push() after finish()');
    this.lanes.agent.append(agent);
    this.lanes.customer.append(customer);
    this.samplesIn += Math.max(agent.length, customer.length);
    while (this.lanes.agent.fullFrames > 0 && this.lanes.customer.fullFrames > 0) {
      await this.analyzeNextFrame();
    }
  }

  /** The hang-up (or what else ended the call): flushes everything still undecided and emits `call.end`. */
  async finish(endedBy: CallEndKind = 'hang-up'): Promise<number> {
    if (this.finished) throw new Error('finish() called twice');
    this.finished = true;
    while (this.lanes.agent.pendingSamples > 0 || this.lanes.customer.pendingSamples > 0) {
      // The last partial frame is zero-padded; its events are clipped to the true duration below.
      await this.analyzeNextFrame();
    }
    const durationSec = this.samplesIn / PIPELINE_RATE;
    if (this.shedSince !== null) this.shedRanges.push({ start: this.shedSince, end: durationSec });
    this.shedSince = null;
    for (const lane of Object.values(this.lanes)) lane.decided.push(...lane.segmenter.flush());
    this.drainDecided(durationSec);
    const emittedAt = durationSec;
    const finals = await Promise.all(Object.values(this.lanes).map((lane) => lane.speech?.finish() ?? []));
    for (const event of finals.flat()) this.emit({ ...event, end: Math.min(event.end, durationSec), emittedAt });
    for (const lane of Object.values(this.lanes)) {
      const emotion = lane.emotion.finish(emittedAt);
      if (emotion) this.emit({ ...emotion, end: Math.min(emotion.end, durationSec) });
    }
    for (const event of this.conversation.finish(durationSec, emittedAt)) this.emit(event);
    this.emit({ type: 'call.end', durationSec, emittedAt, endedBy });
    return durationSec;
  }

  private async analyzeNextFrame(): Promise<void> {
    if (this.lightApplied !== this.lightWanted) {
      this.lightApplied = this.lightWanted;
      await Promise.all(CHANNELS.map((c) => this.lanes[c].speech?.lighten(this.lightApplied)));
    }
    const frames = CHANNELS.map((c) => this.lanes[c].takeFrame());
    const shed = this.shedSince !== null;
    const speechEvents = await Promise.all(CHANNELS.map((c, i) => this.lanes[c].analyzeFrame(frames[i], shed)));
    await this.shareLanguage(speechEvents);
    this.framesIn++;
    for (const event of speechEvents.flat()) this.emit({ ...event, emittedAt: this.heardSec });
    this.drainDecided();
  }

  /** Once one side's language is decided, an undecided side follows it, and follows it again if it switches (see ChannelSpeech.follow). */
  private async shareLanguage(speechEvents: PipelineEvent[][]): Promise<void> {
    const { agent, customer } = this.lanes;
    if (!agent.speech || !customer.speech) return;
    for (const [side, other, otherName, i] of [[agent, customer, 'customer', 0], [customer, agent, 'agent', 1]] as const) {
      const lang = other.speech?.language;
      if (lang && side.speech && side.speech.language !== lang) speechEvents[i].push(...(await side.speech.follow(lang, otherName)));
    }
  }

  /** Moves frames that both sides have decided into the conversation tracker, in lockstep. */
  private drainDecided(clipTo = Infinity): void {
    const { agent, customer } = this.lanes;
    const emittedAt = Math.min(this.heardSec, clipTo);
    while (agent.decided.length > 0 && customer.decided.length > 0) {
      const frame = this.framesDecided++;
      if (frame * FRAME_SEC >= clipTo) break;
      const speaking = { agent: agent.decided.shift() as boolean, customer: customer.decided.shift() as boolean };
      const prosody = { agent: agent.undecided.shift() as FrameProsody, customer: customer.undecided.shift() as FrameProsody };
      for (const event of this.conversation.push(frame, speaking, prosody, emittedAt)) this.emit(event);
      for (const channel of CHANNELS) {
        const emotion = this.lanes[channel].emotion.push(frame, speaking[channel], prosody[channel], emittedAt);
        if (emotion) this.emit(emotion);
      }
    }
  }

  private emit(event: PipelineEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
