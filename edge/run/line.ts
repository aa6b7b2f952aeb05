import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { CaptureError, type LiveCaptureSource, type StereoChunk } from '../../device/capture.js';
import { Backoff } from '../../lib/backoff.js';
import type { SileroVadModel } from '../../models/vad.js';
import type { RunConfig } from '../../provisioning/config.js';
import type { LineCallState, LineSettings } from '../../provisioning/lines.js';
import { PIPELINE_RATE } from '../analysis/pipeline.js';
import type { LiveCallRef } from '../publish.js';
import type { SpeechModels } from '../analysis/speech.js';
import type { CallIndex, CallLine } from '../index/call-index.js';
import type { BoxRules } from '../rules/setup.js';
import type { Alert } from '../rules/types.js';
import type { AudioRing } from './audio-ring.js';
import { FeedQueue, type FeedItem } from './feed-queue.js';
import { IdleListener } from './idle-listener.js';
import { LineCall, type LiveCallStatus } from './line-call.js';
import { customerKey, readCustomerSecret } from '../../lib/customer-key.js';

/** A call starts or ends, as a PBX record, a hook switch or a replayed file says. */
export interface CallBoundary {
  kind: 'start' | 'end';
  by: 'pbx' | 'hook' | 'file';
  /** Wall-clock ms. */
  at: number;
  agentId?: string;
  caller?: string;
  callRef?: string;
}

export type LineState = 'starting' | 'idle' | 'in-call' | 'faulted' | 'stopped';

/** A line's counters before it has heard anything. */
export const noCounts = (): LineCounters => ({ calls: 0, alerts: 0, alertsWithdrawn: 0, callsCut: 0, falseStarts: 0, faults: 0, lightSec: 0, shedSec: 0, droppedSec: 0, captureDroppedSec: 0, heardSec: 0, busySec: 0, maxBacklogSec: 0 });

export interface LineCounters {
  calls: number;
  alerts: number;
  /** Alerts raised and then withdrawn: the words they rested on were a side's speech in the wrong language. */
  alertsWithdrawn: number;
  /** Calls cut short by a fault or shutdown. */
  callsCut: number;
  /** Auto segmentation: speech too short to be a call (a cough, a door). */
  falseStarts: number;
  faults: number;
  /** Seconds of call audio heard without the extras (extra spotter phases, the language revisit) because the line was behind. */
  lightSec: number;
  /** Seconds of call audio not transcribed because the line was behind. */
  shedSec: number;
  /** Seconds of audio dropped beyond the backlog limit: always counted, never silent. */
  droppedSec: number;
  /** Seconds the capture device itself lost (a driver overrun, two inputs drifting apart), as the source counts them. */
  captureDroppedSec: number;
  /** Audio analysed, in seconds (inside and outside calls). */
  heardSec: number;
  /** CPU-side processing time of that audio. */
  busySec: number;
  maxBacklogSec: number;
}

export interface LineStatus {
  name: string;
  state: LineState;
  agent: { id?: string; extension?: string };
  audio: string;
  callState: LineCallState['kind'];
  fault?: string;
  faultSince?: string;
  retryInSec?: number;
  call?: LiveCallStatus;
  backlogSec: number;
  shedding: boolean;
  counters: LineCounters;
}

export interface LinePublisher {
  alert(callId: string, alert: Alert, line: CallLine | LiveCallRef): void;
  index(index: CallIndex): void;
}

export type { LiveCallRef };

/** What judges a call: the rules, the speech models whose spotters listen for their phrases, the rule bundle's version. */
export interface RulesInForce {
  rules: BoxRules;
  speechModels?: SpeechModels;
  /** the version of the rule bundle among them (docs/bundles.md), absent when none was applied */
  bundle?: number;
}

export interface LineDeps {
  settings: LineSettings;
  vadModel: SileroVadModel;
  /**
   * The rules in force, read once at each call's start: a call runs to its end on the rules and spotters it
   * started with, while a pack swapped in meanwhile (edge/run/live-bundles.ts) judges the line's next call.
   */
  rules: () => RulesInForce;
  /** Opens the line's audio; called again after every fault. */
  openSource: () => Promise<LiveCaptureSource>;
  publisher: LinePublisher;
  run: RunConfig;
  log: Logger;
  ring?: AudioRing;
}

/**
 * One line on the floor: its audio source, its call state, the call in progress. Each line runs on its own:
 * whatever goes wrong here (device unplugged, bad file, a bug on one call) faults this line, which retries
 * with backoff, and never the box or the other lines.
 *
 * Audio is read eagerly into a queue and analysed from it, so a slow moment never blocks the device or pipe.
 * The queue's length is how far the line is behind real time: past run.shed.lightenBehindSec the call gives up
 * its extras, past run.shed.behindSec its recognition is shed, both until the line has caught up; past
 * run.shed.maxBacklogSec the oldest audio is dropped, counted, and marked in the call index.
 */
export class Line {
  readonly name: string;
  private state: LineState = 'starting';
  private fault?: { reason: string; since: number; retryAt: number };
  private source?: LiveCaptureSource;
  private readonly queue: FeedQueue;
  private stopping = false;
  private runPromise?: Promise<void>;
  private call?: LineCall;
  private callSeq = 0;
  private readonly idle: IdleListener;
  /** Audio from before the call's start signal, fed to the call before its first chunk. */
  private preRoll: StereoChunk[] = [];
  /** Audio dropped since the open call's last analysed chunk: marked in its index. */
  private droppedPending = 0;
  readonly counters: LineCounters = noCounts();
  private readonly log: Logger;

  constructor(private readonly deps: LineDeps) {
    this.name = deps.settings.name;
    this.log = deps.log.child({ line: this.name });
    this.queue = new FeedQueue(deps.run.shed.maxBacklogSec);
    this.idle = new IdleListener(deps.vadModel, deps.settings.config.analysis.vad.threshold);
    this.backoff = new Backoff({ ...deps.run.retry, jitter: 0.2 });
  }

  get callState(): LineCallState {
    return this.deps.settings.callState;
  }

  start(): void {
    this.runPromise ??= this.run();
  }

  /** Settles when the line has stopped for good: stop(), or a source that ended (a replay list without loop). */
  get done(): Promise<void> {
    return this.runPromise ?? Promise.resolve();
  }

  /** A boundary from the call-state source; queued in order with the audio so it applies at the right sample. */
  boundary(boundary: CallBoundary): void {
    if (this.stopping) return;
    this.enqueue({ kind: 'call', boundary });
  }

  /**
   * Graceful stop: capture stops, what was already captured is analysed, the open call ends as `shutdown`
   * and its index is published (the caller then flushes the outbox).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.source?.close().catch(() => undefined);
    this.queue.poke();
    await this.runPromise;
    this.state = 'stopped';
  }

  status(): LineStatus {
    const s = this.deps.settings;
    return {
      name: this.name,
      state: this.state,
      agent: { ...s.agent },
      audio: this.source?.description ?? describeAudio(s),
      callState: s.callState.kind,
      ...(this.fault
        ? { fault: this.fault.reason, faultSince: new Date(this.fault.since).toISOString(), retryInSec: Math.max(0, Math.round((this.fault.retryAt - Date.now()) / 100) / 10) }
        : {}),
      ...(this.call ? { call: this.call.status() } : {}),
      backlogSec: Number(this.queue.queuedSec.toFixed(2)),
      shedding: this.call?.analysis.shedding ?? false,
      counters: { ...this.counters, captureDroppedSec: this.captureDroppedSec(), heardSec: Number(this.counters.heardSec.toFixed(1)), busySec: Number(this.counters.busySec.toFixed(2)) },
    };
  }

  private captureDropped = 0;

  private captureDroppedSec(): number {
    const current = (this.source as { droppedSamples?: number } | undefined)?.droppedSamples ?? 0;
    return Number(((this.captureDropped + current) / PIPELINE_RATE).toFixed(2));
  }

  private async run(): Promise<void> {
    this.backoff.reset();
    while (!this.stopping) {
      try {
        this.captureDropped += (this.source as { droppedSamples?: number } | undefined)?.droppedSamples ?? 0;
        this.source = undefined;
        const source = await this.deps.openSource();
        this.source = source;
        // stop() may have come while the device was opening, before there was a source to close.
        if (this.stopping) await source.close();
        this.log.info({ audio: source.description }, 'line open');
        // A faulted line stays faulted until audio flows again (see pump); a fresh one is ready now.
        if (!this.fault) this.state = this.call ? 'in-call' : 'idle';
        this.pumping = this.pump(source);
        const sourceError = await this.process();
        if (sourceError) throw sourceError;
        if (this.stopping) break;
        // A source that simply ends (a replay list without loop) leaves the line with nothing to do.
        this.log.info('audio source ended');
        break;
      } catch (err) {
        // A processing error leaves the pump running: stop the source and let the pump finish first.
        await this.source?.close().catch(() => undefined);
        await this.pumping;
        this.queue.clear();
        if (this.stopping) break;
        this.counters.faults++;
        const reason = err instanceof CaptureError ? err.message : `internal error: ${(err as Error).message}`;
        if (!(err instanceof CaptureError)) this.log.error({ err }, 'line failed; other lines go on');
        await this.endCall('fault');
        const wait = this.backoff.next() / 1000;
        this.fault = { reason, since: this.fault?.since ?? Date.now(), retryAt: Date.now() + wait * 1000 };
        this.state = 'faulted';
        this.log.warn({ reason, retryInSec: Number(wait.toFixed(1)) }, 'line faulted');
        await this.sleepUnlessStopped(wait);
        continue;
      }
    }
    await this.endCall('shutdown');
    this.state = 'stopped';
  }

  private async sleepUnlessStopped(sec: number): Promise<void> {
    const until = Date.now() + sec * 1000;
    while (!this.stopping && Date.now() < until) await sleep(Math.min(200, until - Date.now()));
  }

  private pumping: Promise<void> = Promise.resolve();
  /** Lines that lose their device together (a USB hub) spread their reopening by the jitter. */
  private readonly backoff: Backoff;

  /**
   * Reads the source as fast as it delivers. Never rejects: how the source ended (by itself, by close(), or
   * with a CaptureError) travels as the last item of the queue, so it is seen after the audio before it.
   */
  private async pump(source: LiveCaptureSource): Promise<void> {
    let error: unknown;
    let first = true;
    try {
      for await (const chunk of source.chunks()) {
        // A line is healthy once audio flows: some sources (a replay list) only find a bad file when read.
        if (first) {
          first = false;
          this.fault = undefined;
          this.backoff.reset();
          if (!this.call) this.state = 'idle';
        }
        this.deps.ring?.write(chunk.agent, chunk.customer);
        this.enqueue({ kind: 'audio', chunk, sec: chunk.agent.length / source.sampleRate });
        if (this.stopping) break;
      }
    } catch (err) {
      error = err;
    }
    this.enqueue({ kind: 'end', error });
  }

  private enqueue(item: FeedItem): void {
    const dropped = this.queue.push(item);
    this.counters.maxBacklogSec = Math.max(this.counters.maxBacklogSec, Number((this.queue.queuedSec + dropped).toFixed(2)));
    if (dropped === 0) return;
    this.counters.droppedSec += dropped;
    this.droppedPending += dropped;
    this.log.warn({ droppedSec: Number(dropped.toFixed(2)), backlogSec: Number(this.queue.queuedSec.toFixed(1)) }, 'line too far behind: audio dropped');
  }

  /** Analyses the queue until the source's end marker; returns the error the source ended with, if any. */
  private async process(): Promise<unknown> {
    for (;;) {
      const item = await this.queue.next();
      if (item.kind === 'end') return item.error;
      await this.handle(item);
    }
  }

  private async handle(item: Exclude<FeedItem, { kind: 'end' }>): Promise<void> {
    if (item.kind === 'call') {
      await this.onBoundary(item.boundary);
      return;
    }
    const started = performance.now();
    const { chunk } = item;
    this.counters.heardSec += item.sec;
    if (this.call) await this.feedCall(this.call, chunk);
    else await this.feedIdle(chunk);
    this.counters.busySec += (performance.now() - started) / 1000;
  }

  private async onBoundary(b: CallBoundary): Promise<void> {
    if (b.kind === 'start') {
      // A start while a call is open means the end record was lost: close the old call where the new one begins.
      if (this.call) await this.endCall('next-call');
      this.openCall(b.by, b.at, b);
      return;
    }
    if (this.call) await this.endCall(b.by === 'file' ? 'file-end' : b.by);
  }

  /** The site's customer key, read once per key file (a config bundle may name another). */
  private customerSecret: { file: string; secret: Buffer } | undefined;

  /** The caller as the site's keyed hash; a key that cannot be read costs the call its key, not the call. */
  private customerKeyOf(caller: string | undefined): { customerKey?: string } {
    const file = this.deps.settings.config.privacy.customerKeyFile;
    if (!caller || !file) return {};
    try {
      if (this.customerSecret?.file !== file) this.customerSecret = { file, secret: readCustomerSecret(file) };
      const key = customerKey(this.customerSecret.secret, caller);
      return key ? { customerKey: key } : {};
    } catch (err) {
      this.log.error({ err }, 'call indexed without its customer key: erasure by customer will not find it');
      return {};
    }
  }

  private openCall(boundaries: CallLine['boundaries'], at: number, b: Partial<CallBoundary> = {}): void {
    const s = this.deps.settings;
    // A replayed file is exactly the call; only live signals lag the first word.
    if (boundaries === 'file') this.idle.forget();
    const startedAt = new Date(at - this.idle.heldSec * 1000);
    this.callSeq++;
    const callId = `${this.name}-${compactTime(startedAt)}-${this.callSeq}`;
    const judge = this.deps.rules();
    const ref: LiveCallRef = {
      name: this.name,
      ...(b.agentId ?? s.agent.id ? { agentId: b.agentId ?? s.agent.id } : {}),
      ...(s.agent.extension ? { extension: s.agent.extension } : {}),
      startedAt: startedAt.toISOString(),
      ...(b.callRef ? { callRef: b.callRef } : {}),
      ...this.customerKeyOf(b.caller),
      ...(judge.bundle !== undefined ? { rulesBundle: judge.bundle } : {}),
    };
    this.call = new LineCall(callId, ref, boundaries, b.caller, {
      // The line's own analysis settings; the spotters listen for the rules' phrases too.
      config: { ...s.config, watch: judge.rules.watch },
      vadModel: this.deps.vadModel,
      speechModels: judge.speechModels,
      ...(s.callState.kind === 'auto' ? { endsOnQuietSec: s.callState.endAfterQuietSec } : {}),
      rules: judge.rules.rules,
      keepEvents: false,
      onAlert: (alert) => {
        // A revision is the same alert again with fuller evidence: published, not counted twice.
        if (!alert.revision) this.counters.alerts++;
        if (alert.withdrawn) this.counters.alertsWithdrawn++;
        this.deps.publisher.alert(callId, alert, ref);
      },
    });
    this.preRoll = this.idle.take();
    this.state = 'in-call';
    this.log.info({ callId, boundaries }, 'call started');
  }

  private async feedCall(call: LineCall, chunk: StereoChunk): Promise<void> {
    const { analysis } = call;
    if (this.droppedPending > 0) {
      call.noteDropped(this.droppedPending);
      this.droppedPending = 0;
    }
    for (const c of this.preRoll.splice(0)) await analysis.push(c.agent, c.customer);
    this.adjustShedding(call);
    const before = analysis.heardSec;
    await analysis.push(chunk.agent, chunk.customer);
    if (analysis.shedding) this.counters.shedSec += analysis.heardSec - before;
    else if (analysis.lightened) this.counters.lightSec += analysis.heardSec - before;
    const cs = this.deps.settings.callState;
    if (cs.kind === 'auto' && (call.quietForSec() ?? -1) >= cs.endAfterQuietSec) await this.endCall('quiet');
  }

  private adjustShedding(call: LineCall): void {
    const { shed } = this.deps.run;
    const backlog = this.queue.queuedSec;
    if (!call.analysis.lightened && backlog >= shed.lightenBehindSec) {
      call.analysis.lightenRecognition(true);
      this.log.info({ backlogSec: Number(backlog.toFixed(1)) }, 'behind real time: extras given up on this call (spotter phases, language revisit)');
    } else if (call.analysis.lightened && backlog <= shed.caughtUpSec) {
      call.analysis.lightenRecognition(false);
    }
    if (!call.analysis.shedding && backlog >= shed.behindSec) {
      call.analysis.shedRecognition(true);
      this.log.warn({ backlogSec: Number(backlog.toFixed(1)) }, 'behind real time: recognition shed on this call');
    } else if (call.analysis.shedding && backlog <= shed.caughtUpSec) {
      call.analysis.shedRecognition(false);
      this.log.info('caught up: recognition resumed');
    }
  }

  /** Between calls: keep a little audio for the next call's start; with auto segmentation, listen for one. */
  private async feedIdle(chunk: StereoChunk): Promise<void> {
    this.droppedPending = 0;
    if (await this.idle.hear(chunk, this.callState.kind === 'auto')) this.openCall('audio', Date.now());
  }

  /** Ends the open call and publishes its index; a call that fails to finish is logged, never rethrown. */
  private async endCall(endedBy: CallLine['endedBy']): Promise<void> {
    const call = this.call;
    if (!call) return;
    this.call = undefined;
    this.preRoll = [];
    this.state = this.fault ? 'faulted' : 'idle';
    if (endedBy === 'shutdown' || endedBy === 'fault') this.counters.callsCut++;
    try {
      const cs = this.deps.settings.callState;
      const { index, speechSec } = await call.finish(endedBy);
      if (cs.kind === 'auto' && speechSec < cs.minCallSec) {
        this.counters.falseStarts++;
        this.log.debug({ callId: index.callId, speechSec }, 'too little speech for a call; not published');
        return;
      }
      this.counters.calls++;
      this.deps.publisher.index(index);
      this.log.info({ callId: index.callId, endedBy, durationSec: index.durationSec, alerts: index.alerts.length }, 'call ended');
    } catch (err) {
      this.log.error({ err, callId: call.callId }, 'call could not be finished; its index is lost, the line goes on');
    }
  }
}

/** A line's audio as the installer configured it, before (or without) an open source to ask. */
export function describeAudio(s: LineSettings): string {
  const a = s.audio;
  switch (a.kind) {
    case 'device':
      return `device ${a.device}`;
    case 'devices':
      return `devices ${a.agentDevice} (agent) + ${a.customerDevice} (customer)`;
    case 'pipe':
      return `pipe ${a.path}`;
    case 'replay':
      return `replay of ${a.files.length} file(s)`;
  }
}

function compactTime(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
