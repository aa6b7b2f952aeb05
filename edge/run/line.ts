import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { CaptureError, type LiveCaptureSource, type StereoChunk } from '../../device/capture.js';
import type { SileroVadModel, VadStream } from '../../models/vad.js';
import { VAD_FRAME } from '../../models/vad.js';
import type { RunConfig } from '../../provisioning/config.js';
import type { LineCallState, LineSettings } from '../../provisioning/lines.js';
import { CallAnalysis } from '../analyze.js';
import { PIPELINE_RATE } from '../analysis/pipeline.js';
import type { LiveCallRef } from '../publish.js';
import type { SpeechModels } from '../analysis/speech.js';
import type { CallIndex, CallLine, Span } from '../index/call-index.js';
import type { Alert, CompiledRule } from '../rules/types.js';
import type { AudioRing } from './audio-ring.js';

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

export interface LineCounters {
  calls: number;
  alerts: number;
  /** Calls cut short by a fault or shutdown. */
  callsCut: number;
  /** Auto segmentation: speech too short to be a call (a cough, a door). */
  falseStarts: number;
  faults: number;
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

/** Who is speaking at this moment of the call, as the VAD's open utterances say. */
export type Talking = 'agent' | 'customer' | 'both' | 'none';

/** The call in progress, as a supervisor's floor view needs it: signal only, never words or audio. */
export interface LiveCallStatus {
  callId: string;
  startedAt: string;
  heardSec: number;
  talking: Talking;
  /** Seconds since anyone last spoke (0 while someone speaks), in the call's media time. */
  silenceSec: number;
  /** The customer's agitation, 0..1: the latest emotion score, fading out over AGITATION_FADE_SEC after the raised stretch. */
  agitation: number;
}

/** How long a raised voice keeps the meter up once it calms: long enough for a supervisor's glance to catch it. */
export const AGITATION_FADE_SEC = 10;

export interface LinePublisher {
  alert(callId: string, alert: Alert, line: CallLine | LiveCallRef): void;
  index(index: CallIndex): void;
}

export type { LiveCallRef };

export interface LineDeps {
  settings: LineSettings;
  vadModel: SileroVadModel;
  speechModels?: SpeechModels;
  rules: CompiledRule[];
  /** Opens the line's audio; called again after every fault. */
  openSource: () => Promise<LiveCaptureSource>;
  publisher: LinePublisher;
  run: RunConfig;
  log: Logger;
  ring?: AudioRing;
}

type FeedItem = { kind: 'audio'; chunk: StereoChunk; sec: number } | { kind: 'call'; boundary: CallBoundary } | { kind: 'end'; error?: unknown };

interface OpenCall {
  analysis: CallAnalysis;
  ref: LiveCallRef;
  boundaries: CallLine['boundaries'];
  caller?: string;
  /** Auto segmentation: when someone last spoke, in the call's media seconds, and whether someone is speaking. */
  lastSpeechEnd: number;
  speaking: Set<string>;
  speechSec: number;
  dropped: Span[];
  /** The customer's last emotion event: its score and where the raised stretch had got to (media seconds). */
  agitation: { score: number; end: number };
}

/** Audio kept from before a call starts: PBX records and hook switches arrive a little after the first word. */
const PRE_ROLL_SEC = 1;
/** Auto segmentation: this much continuous speech (either side) after a quiet starts a call. */
const AUTO_START_SPEECH_SEC = 0.25;

/**
 * One line on the floor: its audio source, its call state, the call in progress. Each line runs on its own:
 * whatever goes wrong here (device unplugged, bad file, a bug on one call) faults this line, which retries
 * with backoff, and never the box or the other lines.
 *
 * Audio is read eagerly into a queue and analysed from it, so a slow moment never blocks the device or pipe.
 * The queue's length is how far the line is behind real time: past run.shed.behindSec the call's recognition
 * is shed until the line has caught up; past run.shed.maxBacklogSec the oldest audio is dropped, counted,
 * and marked in the call index.
 */
export class Line {
  readonly name: string;
  private state: LineState = 'starting';
  private fault?: { reason: string; since: number; retryAt: number };
  private source?: LiveCaptureSource;
  private readonly queue: FeedItem[] = [];
  private queuedSec = 0;
  private wake?: () => void;
  private stopping = false;
  private runPromise?: Promise<void>;
  private call?: OpenCall;
  private callSeq = 0;
  private preRoll: StereoChunk[] = [];
  private preRollSec = 0;
  private droppedPending = 0;
  private readonly idle: { vad: VadStream[]; pending: Float32Array[]; speechRun: number };
  readonly counters: LineCounters = { calls: 0, alerts: 0, callsCut: 0, falseStarts: 0, faults: 0, shedSec: 0, droppedSec: 0, captureDroppedSec: 0, heardSec: 0, busySec: 0, maxBacklogSec: 0 };
  private readonly log: Logger;

  constructor(private readonly deps: LineDeps) {
    this.name = deps.settings.name;
    this.log = deps.log.child({ line: this.name });
    this.idle = { vad: [deps.vadModel.createStream(), deps.vadModel.createStream()], pending: [new Float32Array(0), new Float32Array(0)], speechRun: 0 };
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
    this.wake?.();
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
      ...(this.call ? { call: liveCallStatus(this.call) } : {}),
      backlogSec: Number(this.queuedSec.toFixed(2)),
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
    const { retry } = this.deps.run;
    this.retryDelaySec = retry.minSec;
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
        this.queue.length = 0;
        this.queuedSec = 0;
        if (this.stopping) break;
        this.counters.faults++;
        const reason = err instanceof CaptureError ? err.message : `internal error: ${(err as Error).message}`;
        if (!(err instanceof CaptureError)) this.log.error({ err }, 'line failed; other lines go on');
        await this.endCall('fault');
        const wait = this.retryDelaySec * (0.8 + 0.4 * Math.random());
        this.fault = { reason, since: this.fault?.since ?? Date.now(), retryAt: Date.now() + wait * 1000 };
        this.state = 'faulted';
        this.log.warn({ reason, retryInSec: Number(wait.toFixed(1)) }, 'line faulted');
        await this.sleepUnlessStopped(wait);
        this.retryDelaySec = Math.min(retry.maxSec, this.retryDelaySec * 2);
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
  private retryDelaySec = 1;

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
          this.retryDelaySec = this.deps.run.retry.minSec;
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
    this.queue.push(item);
    if (item.kind === 'audio') {
      this.queuedSec += item.sec;
      this.counters.maxBacklogSec = Math.max(this.counters.maxBacklogSec, Number(this.queuedSec.toFixed(2)));
      this.dropBeyondBacklog();
    }
    this.wake?.();
  }

  /** Oldest audio goes first; call boundaries are never dropped, so calls still start and end where they did. */
  private dropBeyondBacklog(): void {
    const max = this.deps.run.shed.maxBacklogSec;
    if (this.queuedSec <= max) return;
    let dropped = 0;
    for (let i = 0; i < this.queue.length && this.queuedSec > max; ) {
      const item = this.queue[i];
      if (item.kind !== 'audio') {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.queuedSec -= item.sec;
      dropped += item.sec;
    }
    this.counters.droppedSec += dropped;
    this.droppedPending += dropped;
    this.log.warn({ droppedSec: Number(dropped.toFixed(2)), backlogSec: Number(this.queuedSec.toFixed(1)) }, 'line too far behind: audio dropped');
  }

  private async next(): Promise<FeedItem> {
    while (this.queue.length === 0) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    const item = this.queue.shift() as FeedItem;
    if (item.kind === 'audio') this.queuedSec = Math.max(0, this.queuedSec - item.sec);
    return item;
  }

  /** Analyses the queue until the source's end marker; returns the error the source ended with, if any. */
  private async process(): Promise<unknown> {
    for (;;) {
      const item = await this.next();
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
    if (this.call) await this.feedCall(chunk);
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

  private openCall(boundaries: CallLine['boundaries'], at: number, b: Partial<CallBoundary> = {}): void {
    const s = this.deps.settings;
    // A replayed file is exactly the call; only live signals lag the first word.
    if (boundaries === 'file') {
      this.preRoll = [];
      this.preRollSec = 0;
    }
    const startedAt = new Date(at - this.preRollSec * 1000);
    this.callSeq++;
    const callId = `${this.name}-${compactTime(startedAt)}-${this.callSeq}`;
    const ref: LiveCallRef = {
      name: this.name,
      ...(b.agentId ?? s.agent.id ? { agentId: b.agentId ?? s.agent.id } : {}),
      ...(s.agent.extension ? { extension: s.agent.extension } : {}),
      startedAt: startedAt.toISOString(),
      ...(b.callRef ? { callRef: b.callRef } : {}),
    };
    const call: OpenCall = { analysis: undefined as unknown as CallAnalysis, ref, boundaries, caller: b.caller, lastSpeechEnd: 0, speaking: new Set(), speechSec: 0, dropped: [], agitation: { score: 0, end: 0 } };
    call.analysis = new CallAnalysis(
      callId,
      {
        config: s.config,
        vadModel: this.deps.vadModel,
        speechModels: this.deps.speechModels,
        rules: this.deps.rules,
        keepEvents: false,
        onAlert: (alert) => {
          // A revision is the same alert again with fuller evidence: published, not counted twice.
          if (!alert.revision) this.counters.alerts++;
          this.deps.publisher.alert(callId, alert, ref);
        },
        onEvent: (e) => {
          if (e.type === 'utterance.start') call.speaking.add(e.channel);
          if (e.type === 'utterance.end') {
            call.speaking.delete(e.channel);
            call.lastSpeechEnd = Math.max(call.lastSpeechEnd, e.end);
            call.speechSec += e.end - e.start;
          }
          if (e.type === 'emotion' && e.channel === 'customer') call.agitation = { score: e.score, end: e.end };
        },
      },
      undefined,
    );
    this.call = call;
    this.state = 'in-call';
    this.log.info({ callId, boundaries }, 'call started');
  }

  private async feedCall(chunk: StereoChunk): Promise<void> {
    const call = this.call as OpenCall;
    if (this.droppedPending > 0) {
      const at = call.analysis.heardSec;
      call.dropped.push({ start: at, end: at + this.droppedPending });
      this.droppedPending = 0;
    }
    if (this.preRoll.length) {
      const pre = this.preRoll.splice(0);
      this.preRollSec = 0;
      for (const c of pre) await call.analysis.push(c.agent, c.customer);
    }
    this.adjustShedding(call);
    const before = call.analysis.heardSec;
    await call.analysis.push(chunk.agent, chunk.customer);
    if (call.analysis.shedding) this.counters.shedSec += call.analysis.heardSec - before;
    const cs = this.deps.settings.callState;
    if (cs.kind === 'auto' && call.speaking.size === 0 && call.analysis.heardSec - call.lastSpeechEnd >= cs.endAfterQuietSec) await this.endCall('quiet');
  }

  private adjustShedding(call: OpenCall): void {
    const { shed } = this.deps.run;
    if (!call.analysis.shedding && this.queuedSec >= shed.behindSec) {
      call.analysis.shedRecognition(true);
      this.log.warn({ backlogSec: Number(this.queuedSec.toFixed(1)) }, 'behind real time: recognition shed on this call');
    } else if (call.analysis.shedding && this.queuedSec <= shed.caughtUpSec) {
      call.analysis.shedRecognition(false);
      this.log.info('caught up: recognition resumed');
    }
  }

  /** Between calls: keep a little audio for the next call's start; with auto segmentation, listen for one. */
  private async feedIdle(chunk: StereoChunk): Promise<void> {
    this.droppedPending = 0;
    this.preRoll.push(chunk);
    this.preRollSec += chunk.agent.length / (PIPELINE_RATE);
    while (this.preRoll.length > 1 && this.preRollSec - this.preRoll[0].agent.length / (PIPELINE_RATE) >= PRE_ROLL_SEC) {
      this.preRollSec -= (this.preRoll.shift() as StereoChunk).agent.length / (PIPELINE_RATE);
    }
    if (this.callState.kind !== 'auto') return;
    if (await this.idleSpeechHeard(chunk)) this.openCall('audio', Date.now());
  }

  private async idleSpeechHeard(chunk: StereoChunk): Promise<boolean> {
    const threshold = this.deps.settings.config.analysis.vad.threshold;
    const sides = [chunk.agent, chunk.customer];
    const frameSec = VAD_FRAME / PIPELINE_RATE;
    let heard = false;
    const pending = this.idle.pending.map((p, i) => concat(p, sides[i]));
    const frames = Math.floor(Math.min(pending[0].length, pending[1].length) / VAD_FRAME);
    for (let f = 0; f < frames; f++) {
      const probs = await Promise.all(this.idle.vad.map((v, i) => v.probability(pending[i].slice(f * VAD_FRAME, (f + 1) * VAD_FRAME))));
      this.idle.speechRun = probs.some((p) => p >= threshold) ? this.idle.speechRun + frameSec : 0;
      if (this.idle.speechRun >= AUTO_START_SPEECH_SEC) heard = true;
    }
    this.idle.pending = pending.map((p) => p.slice(frames * VAD_FRAME));
    if (heard) {
      this.idle.speechRun = 0;
      this.idle.pending = [new Float32Array(0), new Float32Array(0)];
      this.idle.vad = [this.deps.vadModel.createStream(), this.deps.vadModel.createStream()];
    }
    return heard;
  }

  /** Ends the open call and publishes its index; a call that fails to finish is logged, never rethrown. */
  private async endCall(endedBy: CallLine['endedBy']): Promise<void> {
    const call = this.call;
    if (!call) return;
    this.call = undefined;
    this.state = this.fault ? 'faulted' : 'idle';
    if (endedBy === 'shutdown' || endedBy === 'fault') this.counters.callsCut++;
    try {
      const cs = this.deps.settings.callState;
      const { index } = await call.analysis.finish({
        line: {
          ...call.ref,
          endedAt: new Date().toISOString(),
          boundaries: call.boundaries,
          endedBy,
          ...(call.caller ? { caller: maskCaller(call.caller) } : {}),
        },
        audioDropped: call.dropped,
      });
      if (cs.kind === 'auto' && call.speechSec < cs.minCallSec) {
        this.counters.falseStarts++;
        this.log.debug({ callId: index.callId, speechSec: call.speechSec }, 'too little speech for a call; not published');
        return;
      }
      this.counters.calls++;
      this.deps.publisher.index(index);
      this.log.info({ callId: index.callId, endedBy, durationSec: index.durationSec, alerts: index.alerts.length }, 'call ended');
    } catch (err) {
      this.log.error({ err, callId: call.analysis.callId }, 'call could not be finished; its index is lost, the line goes on');
    }
  }
}

function liveCallStatus(call: OpenCall): LiveCallStatus {
  const heard = call.analysis.heardSec;
  const agent = call.speaking.has('agent');
  const customer = call.speaking.has('customer');
  const fade = Math.max(0, 1 - Math.max(0, heard - call.agitation.end) / AGITATION_FADE_SEC);
  return {
    callId: call.analysis.callId,
    startedAt: call.ref.startedAt,
    heardSec: Number(heard.toFixed(1)),
    talking: agent && customer ? 'both' : agent ? 'agent' : customer ? 'customer' : 'none',
    silenceSec: agent || customer ? 0 : Number(Math.max(0, heard - call.lastSpeechEnd).toFixed(1)),
    agitation: Number((call.agitation.score * fade).toFixed(2)),
  };
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

/** Caller numbers are personal data: enough digits stay for a supervisor to tell two callers apart. */
export function maskCaller(caller: string): string {
  const digits = caller.replace(/\D/g, '').length;
  let keep = Math.min(4, Math.max(0, digits - 4));
  return [...caller]
    .reverse()
    .map((ch) => (/\d/.test(ch) ? (keep-- > 0 ? ch : '*') : ch))
    .reverse()
    .join('');
}

function compactTime(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length === 0) return b;
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
