import os from 'node:os';
import type { Logger } from 'pino';
import type { LiveCaptureSource } from '../../device/capture.js';
import { ReplayLineSource } from '../../device/replay-line.js';
import { SileroVadModel } from '../../models/vad.js';
import type { EarshotConfig } from '../../provisioning/config.js';
import { resolveLines, type LineSettings } from '../../provisioning/lines.js';
import { PIPELINE_RATE } from '../analysis/pipeline.js';
import type { SpeechModels } from '../analysis/speech.js';
import { CallPublisher } from '../publish.js';
import { loadRules } from '../rules/setup.js';
import type { Alert } from '../rules/types.js';
import { loadSpeechModels } from '../speech-setup.js';
import { AudioRing } from './audio-ring.js';
import { CallStateInputs } from './call-state-inputs.js';
import { startHealthServer } from './health.js';
import { Line, type LiveCallRef } from './line.js';

export interface DaemonOptions {
  log: Logger;
  /** Each alert as it is raised, for a terminal (run --demo, run.printAlerts). */
  onAlert?: (alert: Alert & { callId: string; line: LiveCallRef }) => void;
  /** Calls whose index has been handed to the outbox. */
  onIndex?: (callId: string, line: string) => void;
  /** Replay lines only: quiet before each line's first call, so a demo's calls do not all start together. */
  staggerSec?: number;
  file?: string;
}

/**
 * `earshot run`: every configured line, live, until SIGTERM. The box process owns what is shared (the VAD
 * and speech models, the rules, the outbox and uplink, the serial ports); each line owns its audio and its
 * calls and fails alone.
 */
export class Daemon {
  private readonly lines: Line[] = [];
  private state: 'starting' | 'running' | 'stopping' | 'stopped' = 'starting';
  private publisher?: CallPublisher;
  private callState?: CallStateInputs;
  private health?: { port: number; close: () => Promise<void> };
  private readonly rings = new Map<string, AudioRing>();
  private readonly started = Date.now();
  private speechProblems: string[] = [];
  private readonly cpuAtStart = process.cpuUsage();

  private constructor(private readonly config: EarshotConfig, private readonly settings: LineSettings[], private readonly options: DaemonOptions) {}

  /** Validates everything an installer can get wrong before any line opens, then starts them all. */
  static async start(config: EarshotConfig, options: DaemonOptions): Promise<Daemon> {
    const settings = resolveLines(config, options.file);
    const rules = loadRules(config);
    const daemon = new Daemon(config, settings, options);
    await daemon.startAll(rules);
    return daemon;
  }

  get healthPort(): number | undefined {
    return this.health?.port;
  }

  get lineNames(): string[] {
    return this.lines.map((l) => l.name);
  }

  private async startAll(rules: ReturnType<typeof loadRules>): Promise<void> {
    const { log } = this.options;
    const vadModel = await SileroVadModel.load();
    let speechModels: SpeechModels | undefined;
    if (this.settings.length > 0) {
      speechModels = await loadSpeechModels(this.config);
      this.speechProblems = [...speechModels.problems];
      for (const problem of speechModels.problems) log.warn({ problem }, 'speech recognition degraded');
    }
    for (const s of this.settings) {
      const ring = this.config.run.ringBufferMin > 0 ? new AudioRing(this.config.run.ringBufferMin) : undefined;
      if (ring) this.rings.set(s.name, ring);
      const line: Line = new Line({
        settings: s,
        vadModel,
        speechModels,
        rules,
        run: this.config.run,
        log,
        ring,
        openSource: () => this.openSource(s, line),
        publisher: {
          alert: (callId, alert, ref) => {
            this.publisher?.alert(callId, alert, ref as LiveCallRef);
            this.options.onAlert?.({ ...alert, callId, line: ref as LiveCallRef });
          },
          index: (index) => {
            this.publisher?.index(index);
            this.options.onIndex?.(index.callId, s.name);
          },
        },
      });
      this.lines.push(line);
    }
    this.callState = new CallStateInputs(this.config, this.settings, this.lines, log, this.options.file);
    this.publisher = CallPublisher.start(this.config, () => this.stats());
    this.callState.start();
    for (const line of this.lines) line.start();
    if (this.config.run.healthPort > 0) {
      this.health = await startHealthServer(this.config.run.healthPort, {
        health: () => this.healthReport(),
        lines: () => this.lines.map((l) => l.status()),
        lineAudio: (name, sec) => (this.lines.some((l) => l.name === name) ? this.rings.get(name)?.wav(sec) : 'no-such-line'),
      }).catch((err: Error) => {
        // Another process on the port must not keep the lines from running; the log says why there is no endpoint.
        log.error({ port: this.config.run.healthPort, err: err.message }, 'health endpoint could not start');
        return undefined;
      });
    }
    this.state = 'running';
    log.info({ lines: this.lineNames, health: this.health?.port ?? null }, 'earshot running');
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
          startDelaySec: (this.options.staggerSec ?? 0) * this.settings.indexOf(s),
        });
        if (s.callState.kind === 'file') source.on('boundary', (b) => line.boundary({ kind: b.kind, by: 'file', at: Date.now() }));
        return source;
      }
      case 'pipe': {
        const { PipeSource } = await import('../../device/pipe-source.js');
        const source = new PipeSource({ path: a.path, sampleRate: a.sampleRate, channels: a.channels, agentChannel: a.agentChannel, customerChannel: a.customerChannel });
        await source.open();
        return source;
      }
      case 'device': {
        const { PortAudioSource } = await import('../../device/portaudio-source.js');
        const source = new PortAudioSource({ device: a.device, channels: a.channels, sampleRate: a.sampleRate, agentChannel: a.agentChannel, customerChannel: a.customerChannel });
        await source.open();
        return source;
      }
      case 'devices': {
        const { PortAudioSource } = await import('../../device/portaudio-source.js');
        const source = new PortAudioSource({ agent: { device: a.agentDevice }, customer: { device: a.customerDevice }, sampleRate: a.sampleRate });
        await source.open();
        return source;
      }
    }
  }

  healthReport(): ReturnType<Parameters<typeof startHealthServer>[1]['health']> {
    const problems: string[] = [];
    const lines = this.lines.map((l) => l.status());
    for (const l of lines) {
      if (l.state === 'faulted') problems.push(`line ${l.name}: ${l.fault}`);
      if (l.shedding) problems.push(`line ${l.name}: behind real time, recognition shed`);
    }
    problems.push(...(this.callState?.problems() ?? []));
    problems.push(...this.speechProblems.map((p) => `recognition: ${p}`));
    const uplink = this.publisher?.connection;
    const status = this.state === 'running' ? (problems.length ? 'degraded' : 'ok') : this.state === 'starting' ? 'starting' : 'stopping';
    return {
      status,
      problems,
      uptimeSec: Math.round((Date.now() - this.started) / 1000),
      lines: Object.fromEntries(lines.map((l) => [l.name, l.state])),
      outboxDepth: this.publisher?.outboxDepth ?? 0,
      uplink: uplink ? { ...uplink.counters } : null,
    };
  }

  /** Added to the uplink's stats message every uplink.statsIntervalSec. */
  stats(): Record<string, unknown> {
    const lines = this.lines.map((l) => l.status());
    const cpu = process.cpuUsage(this.cpuAtStart);
    const wallSec = (Date.now() - this.started) / 1000;
    return {
      lines: Object.fromEntries(lines.map((l) => [l.name, { state: l.state, fault: l.fault, backlogSec: l.backlogSec, shedding: l.shedding, inCall: Boolean(l.call), ...l.counters }])),
      linesFaulted: lines.filter((l) => l.state === 'faulted').length,
      linesShedding: lines.filter((l) => l.shedding).length,
      process: {
        rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
        // Share of one core used since start: on a 2-core box, 2.0 is everything.
        cpuCores: Number(((cpu.user + cpu.system) / 1e6 / Math.max(1, wallSec)).toFixed(2)),
        cores: os.availableParallelism(),
      },
      callState: this.callState?.stats() ?? {},
    };
  }

  /**
   * SIGTERM: stop capture on every line, analyse what was already captured, end open calls as `shutdown` and
   * hand their indexes to the outbox, give the uplink `drainSec` to deliver, then mark the box `stopped`.
   * Whatever is not acknowledged by then stays in the outbox for the next start.
   */
  async stop(drainSec = 5): Promise<{ waiting: number }> {
    if (this.state === 'stopping' || this.state === 'stopped') return { waiting: this.publisher?.outboxDepth ?? 0 };
    this.state = 'stopping';
    await this.callState?.stop();
    await Promise.all(this.lines.map((l) => l.stop()));
    const waiting = (await this.publisher?.drain(drainSec)) ?? 0;
    await this.publisher?.stop();
    await this.health?.close();
    this.state = 'stopped';
    return { waiting };
  }

  /** Every line has stopped by itself (replayed calls without loop, as in the demo). */
  async linesDone(): Promise<void> {
    await Promise.all(this.lines.map((l) => l.done));
  }

  lineStatuses() {
    return this.lines.map((l) => l.status());
  }
}
