import type { Logger } from 'pino';
import type { LiveCaptureSource } from '../../device/capture.js';
import { ReplayLineSource } from '../../device/replay-line.js';
import { SileroVadModel } from '../../models/vad.js';
import type { EarshotConfig } from '../../provisioning/config.js';
import type { LineSettings } from '../../provisioning/lines.js';
import { PIPELINE_RATE } from '../analysis/pipeline.js';
import type { SpeechModels } from '../analysis/speech.js';
import type { CallIndex } from '../index/call-index.js';
import { loadRules, type BoxRules } from '../rules/setup.js';
import type { Alert } from '../rules/types.js';
import { loadSpeechModels } from '../speech-setup.js';
import { AudioRing } from './audio-ring.js';
import { Line, type CallBoundary, type LineStatus, type LiveCallRef, type RulesInForce } from './line.js';

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
  /**
   * Puts new rules (and with `models`, newly installed models) in force for each line's next call; calls in
   * progress finish on what they started with. Rejects, with the old rules still in force, when they do not load.
   */
  reload(change: RulesChange): Promise<void>;
  /** Settles when every line has stopped by itself or by stop(). */
  done(): Promise<void>;
  stop(): Promise<void>;
}

/** What a bundle changed for the lines: the configuration they judge calls by, the rule bundle's version, the models. */
export interface RulesChange {
  config: EarshotConfig;
  rulesBundle?: number;
  /** the models on disk changed (a model-manifest bundle): load them again even if the phrases are the same */
  models?: boolean;
}

export interface LineGroupOptions {
  config: EarshotConfig;
  /** the version of the rule bundle in force at start (docs/bundles.md) */
  rulesBundle?: number;
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
  private inForce!: RulesInForce;
  /** one reload at a time, in the order they came */
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly options: LineGroupOptions, private readonly sinks: GroupSinks) {}

  get names(): string[] {
    return this.options.settings.map((s) => s.name);
  }

  async start(): Promise<void> {
    const { config, log } = this.options;
    const rules = loadRules(config);
    const vadModel = await SileroVadModel.load();
    this.inForce = { rules, speechModels: await this.speech(config, rules), bundle: this.options.rulesBundle };
    for (const s of this.options.settings) {
      const ring = config.run.ringBufferMin > 0 ? new AudioRing(config.run.ringBufferMin) : undefined;
      if (ring) this.rings.set(s.name, ring);
      const line: Line = new Line({
        settings: s,
        vadModel,
        rules: () => this.inForce,
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

  /** Speech models whose spotters listen for the rules' phrases too; none for a group without lines. */
  private async speech(config: EarshotConfig, rules: BoxRules): Promise<SpeechModels | undefined> {
    if (this.options.settings.length === 0) return undefined;
    const models = await loadSpeechModels({ ...config, watch: rules.watch });
    this.speechProblems = models.problems.map((p) => `recognition: ${p}`);
    for (const problem of models.problems) this.options.log.warn({ problem }, 'speech recognition degraded');
    return models;
  }

  reload(change: RulesChange): Promise<void> {
    const next = this.reloading.then(async () => {
      // Throws for a pack that does not load: the rules in force stay as they are.
      const rules = loadRules(change.config);
      const sameWatch = JSON.stringify(rules.watch) === JSON.stringify(this.inForce.rules.watch);
      // The spotters are built for a set of phrases: new phrases (or new models) mean new ones. Calls in
      // progress keep the models they hold, which go when the last of those calls ends.
      const speechModels = sameWatch && !change.models ? this.inForce.speechModels : await this.speech(change.config, rules);
      this.inForce = { rules, speechModels, bundle: change.rulesBundle };
      this.options.log.info({ rulesBundle: change.rulesBundle ?? null, rules: rules.rules.length, spotters: sameWatch && !change.models ? 'kept' : 'rebuilt' }, 'rules in force for the next call on every line');
    });
    this.reloading = next.catch(() => undefined);
    return next;
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
          speed: a.speed,
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
