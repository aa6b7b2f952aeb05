import type { Logger } from 'pino';
import type { LiveCaptureSource } from '../../device/capture.js';
import { ReplayLineSource } from '../../device/replay-line.js';
import { SileroVadModel } from '../../models/vad.js';
import type { EarshotConfig } from '../../provisioning/config.js';
import type { LineSettings } from '../../provisioning/lines.js';
import { PIPELINE_RATE } from '../analysis/pipeline.js';
import type { SpeechModels } from '../analysis/speech.js';
import type { CallIndex } from '../index/call-index.js';
import { loadRules } from '../rules/setup.js';
import type { Alert } from '../rules/types.js';
import { loadSpeechModels } from '../speech-setup.js';
import { AudioRing } from './audio-ring.js';
import { Line, type CallBoundary, type LineStatus, type LiveCallRef } from './line.js';

/** Where a group's results go: the daemon's publisher, directly or through a worker's message port. */
export interface GroupSinks {
  alert(callId: string, alert: Alert, ref: LiveCallRef): void;
  index(index: CallIndex): void;
}

/** A set of lines run together, in this thread or in a worker; the daemon sees only this. */
export interface LineGroupHandle {
  readonly names: string[];
  start(): Promise<void>;
  boundary(line: string, boundary: CallBoundary): void;
  statuses(): LineStatus[];
  /** The last `sec` seconds of a line's audio ring as WAV; undefined without a ring. */
  audio(line: string, sec: number): Promise<Buffer | undefined>;
  /** Problems of the group as a whole (models missing, a worker down). */
  problems(): string[];
  /** Settles when every line has stopped by itself or by stop(). */
  done(): Promise<void>;
  stop(): Promise<void>;
}

export interface LineGroupOptions {
  config: EarshotConfig;
  settings: LineSettings[];
  log: Logger;
  /** Replay lines: quiet before the first call, times the line's position on the box (`order`). */
  staggerSec?: number;
  order?: Record<string, number>;
}

/**
 * Lines sharing one copy of the models, in the current thread. Models are loaded once per group: the VAD
 * session and the recognisers are stateless between streams, and each call opens its own streams.
 */
export class LocalLineGroup implements LineGroupHandle {
  private readonly lines: Line[] = [];
  private readonly rings = new Map<string, AudioRing>();
  private speechProblems: string[] = [];

  constructor(private readonly options: LineGroupOptions, private readonly sinks: GroupSinks) {}

  get names(): string[] {
    return this.options.settings.map((s) => s.name);
  }

  async start(): Promise<void> {
    const { config, log } = this.options;
    const rules = loadRules(config);
    const vadModel = await SileroVadModel.load();
    let speechModels: SpeechModels | undefined;
    if (this.options.settings.length > 0) {
      // The spotters listen for the rules' phrases too.
      speechModels = await loadSpeechModels({ ...config, watch: rules.watch });
      this.speechProblems = speechModels.problems.map((p) => `recognition: ${p}`);
      for (const problem of speechModels.problems) log.warn({ problem }, 'speech recognition degraded');
    }
    for (const s of this.options.settings) {
      const ring = config.run.ringBufferMin > 0 ? new AudioRing(config.run.ringBufferMin) : undefined;
      if (ring) this.rings.set(s.name, ring);
      const line: Line = new Line({
        settings: s,
        vadModel,
        speechModels,
        rules,
        run: config.run,
        log,
        ring,
        openSource: () => this.openSource(s, line),
        publisher: { alert: (callId, alert, ref) => this.sinks.alert(callId, alert, ref as LiveCallRef), index: (index) => this.sinks.index(index) },
      });
      this.lines.push(line);
    }
    for (const line of this.lines) line.start();
  }

  boundary(name: string, boundary: CallBoundary): void {
    this.lines.find((l) => l.name === name)?.boundary(boundary);
  }

  statuses(): LineStatus[] {
    return this.lines.map((l) => l.status());
  }

  async audio(name: string, sec: number): Promise<Buffer | undefined> {
    return this.rings.get(name)?.wav(sec);
  }

  problems(): string[] {
    return [...this.speechProblems];
  }

  async done(): Promise<void> {
    await Promise.all(this.lines.map((l) => l.done));
  }

  async stop(): Promise<void> {
    await Promise.all(this.lines.map((l) => l.stop()));
  }

  private async openSource(s: LineSettings, line: Line): Promise<LiveCaptureSource> {
    const a = s.audio;
    switch (a.kind) {
      case 'replay': {
        const source = new ReplayLineSource({
          files: a.files,
          agentChannel: a.agentChannel,
          sampleRate: PIPELINE_RATE,
          loop: a.loop,
          gapSec: a.gapSec,
          startAtSec: a.startAtSec,
          startDelaySec: (this.options.staggerSec ?? 0) * (this.options.order?.[s.name] ?? 0),
        });
        if (s.callState.kind === 'file') source.on('boundary', (b) => line.boundary({ kind: b.kind, by: 'file', at: b.at }));
        return source;
      }
      case 'pipe': {
        const { PipeSource } = await import('../../device/pipe-source.js');
        const source = new PipeSource({ path: a.path, sampleRate: a.sampleRate, channels: a.channels, agentChannel: a.agentChannel, customerChannel: a.customerChannel });
        await source.open();
        return source;
      }
      case 'device':
      case 'devices': {
        // Imported only here: loading naudiodon initialises PortAudio, which a box without sound cards need not do.
        const { PortAudioSource } = await import('../../device/portaudio-source.js');
        const source =
          a.kind === 'device'
            ? new PortAudioSource({ device: a.device, channels: a.channels, sampleRate: a.sampleRate, agentChannel: a.agentChannel, customerChannel: a.customerChannel })
            : new PortAudioSource({ agent: { device: a.agentDevice }, customer: { device: a.customerDevice }, sampleRate: a.sampleRate });
        await source.open();
        return source;
      }
    }
  }
}
