import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Backoff } from '../../lib/backoff.js';
import type { EarshotConfig } from '../../provisioning/config.js';
import type { LineSettings } from '../../provisioning/lines.js';
import type { CallIndex } from '../index/call-index.js';
import type { Alert } from '../rules/types.js';
import type { GroupSinks, LineGroupHandle, RulesChange } from './line-group.js';
import { describeAudio, noCounts, type CallBoundary, type LineStatus, type LiveCallRef } from './line.js';

export interface WorkerInit {
  id: number;
  config: EarshotConfig;
  rulesBundle?: number;
  settings: LineSettings[];
  staggerSec?: number;
  order?: Record<string, number>;
  logLevel: string;
  logToStdout: boolean;
  statusEveryMs: number;
}

export type ToWorker =
  | { type: 'boundary'; line: string; boundary: CallBoundary }
  | { type: 'audio'; id: number; line: string; sec: number }
  | { type: 'reload'; id: number; change: RulesChange }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'started'; statuses: LineStatus[]; problems: string[] }
  | { type: 'status'; statuses: LineStatus[]; problems: string[] }
  | { type: 'alert'; callId: string; alert: Alert; ref: LiveCallRef }
  | { type: 'index'; index: CallIndex }
  | { type: 'audio'; id: number; wav: Uint8Array | undefined }
  | { type: 'reloaded'; id: number; error?: string }
  | { type: 'done'; statuses: LineStatus[] }
  | { type: 'failed'; message: string }
  | { type: 'stopped' };

/** The worker's module: compiled in dist/, or TypeScript source when running under a loader (tests, tsx). */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './line-worker.ts' : './line-worker.js', import.meta.url);

/**
 * A line makes garbage at audio rate (frames, VAD tensors, chunks) that dies within milliseconds. With V8's
 * default 16 MB semi-spaces a worker let it pile up to ~100 MB of heap and ~50 MB of dead audio buffers
 * between collections; small young generations collect it while it is small.
 */
const WORKER_YOUNG_GENERATION_MB = 12;

function spawnWorker(workerData: WorkerInit): Worker {
  const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };
  if (!FROM_SOURCE) return new Worker(WORKER_URL, { workerData, resourceLimits });
  // Loader hooks from --import do not reach worker threads on Node 20; the source worker registers tsx itself.
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(boot, { eval: true, workerData, resourceLimits });
}

/**
 * Lines in a worker thread (run.workers > 1), each worker with its own copy of the models (~80 MB). Speech
 * decoding already spreads over every core from one thread (the thread pool), so this is for boxes where the
 * JavaScript work of the lines (VAD, analysis, rules) outgrows one core, or where a native crash should take
 * down only some lines. The outbox, the uplink and the serial ports stay in the main thread.
 *
 * A worker that dies (a native crash in a model, an out-of-memory) takes only its own lines down: they show
 * as faulted, the calls open in it are lost (logged), and the worker is started again with backoff.
 */
export class WorkerLineGroup implements LineGroupHandle {
  private worker?: Worker;
  private alive = false;
  private cached: LineStatus[] = [];
  private groupProblems: string[] = [];
  private crash?: string;
  private stopping = false;
  private stopped?: () => void;
  private finished = false;
  private doneWaiters: (() => void)[] = [];
  private audioWaiters = new Map<number, (wav: Buffer | undefined) => void>();
  private nextAudioId = 1;
  private reloadWaiters = new Map<number, (error?: string) => void>();
  private readonly restarts: Backoff;
  readonly counters = { restarts: 0 };

  constructor(private readonly init: WorkerInit, private readonly sinks: GroupSinks, private readonly log: Logger) {
    this.restarts = new Backoff(init.config.run.retry);
    this.cached = init.settings.map((s) => placeholder(s, 'starting'));
  }

  get names(): string[] {
    return this.init.settings.map((s) => s.name);
  }

  /** Resolves once the worker has loaded its models and opened its lines (or failed to, which is a fault). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = spawnWorker(this.init);
      this.worker = worker;
      this.alive = true;
      let started = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'started':
            started = true;
            this.crash = undefined;
            this.restarts.reset();
            this.cached = m.statuses;
            this.groupProblems = m.problems;
            resolve();
            break;
          case 'status':
            this.cached = m.statuses;
            this.groupProblems = m.problems;
            break;
          case 'alert':
            this.sinks.alert(m.callId, m.alert, m.ref);
            break;
          case 'index':
            this.sinks.index(m.index);
            break;
          case 'audio':
            this.audioWaiters.get(m.id)?.(m.wav ? Buffer.from(m.wav) : undefined);
            this.audioWaiters.delete(m.id);
            break;
          case 'reloaded':
            this.reloadWaiters.get(m.id)?.(m.error);
            this.reloadWaiters.delete(m.id);
            break;
          case 'done':
            this.cached = m.statuses;
            this.finish();
            break;
          case 'failed':
            if (!started) reject(new Error(`worker ${this.init.id}: ${m.message}`));
            break;
          case 'stopped':
            this.stopped?.();
            break;
        }
      });
      worker.on('error', (err) => {
        this.log.error({ worker: this.init.id, lines: this.names, err }, 'line worker crashed; its lines fault and it restarts');
        this.crash = err.message;
      });
      worker.on('exit', (code) => {
        this.alive = false;
        for (const w of this.audioWaiters.values()) w(undefined);
        this.audioWaiters.clear();
        // A worker restarted later starts from this.init, which already holds the new rules.
        for (const w of this.reloadWaiters.values()) w();
        this.reloadWaiters.clear();
        if (this.stopping) {
          this.stopped?.();
          return;
        }
        if (!started) {
          reject(new Error(`worker ${this.init.id} exited (${code}) before its lines started${this.crash ? `: ${this.crash}` : ''}`));
          return;
        }
        this.onCrash(code);
      });
    });
  }

  private onCrash(code: number): void {
    const reason = `worker crashed (${this.crash ?? `exit ${code}`}); calls open on it were lost`;
    const open = this.cached.filter((s) => s.call).map((s) => s.call?.callId);
    const delay = this.restarts.next() / 1000;
    this.log.error({ worker: this.init.id, lostCalls: open, retryInSec: delay }, 'line worker gone');
    this.cached = this.init.settings.map((s) => ({ ...placeholder(s, 'faulted'), fault: reason, faultSince: new Date().toISOString(), retryInSec: delay }));
    setTimeout(() => {
      if (this.stopping) return;
      this.counters.restarts++;
      this.start().catch((err: Error) => {
        this.log.error({ worker: this.init.id, err: err.message }, 'line worker could not restart');
        this.onCrash(1);
      });
    }, delay * 1000).unref();
  }

  boundary(line: string, boundary: CallBoundary): void {
    this.worker?.postMessage({ type: 'boundary', line, boundary } satisfies ToWorker);
  }

  statuses(): LineStatus[] {
    return this.cached;
  }

  problems(): string[] {
    return this.crash ? [...this.groupProblems, `worker ${this.init.id}: ${this.crash}`] : this.groupProblems;
  }

  audio(line: string, sec: number): Promise<Buffer | undefined> {
    const id = this.nextAudioId++;
    return new Promise((resolve) => {
      this.audioWaiters.set(id, resolve);
      this.worker?.postMessage({ type: 'audio', id, line, sec } satisfies ToWorker);
    });
  }

  async reload(change: RulesChange): Promise<void> {
    const id = this.nextAudioId++;
    const error = await new Promise<string | undefined>((resolve) => {
      if (!this.alive || !this.worker) return resolve(undefined);
      this.reloadWaiters.set(id, resolve);
      this.worker.postMessage({ type: 'reload', id, change } satisfies ToWorker);
    });
    if (error !== undefined) throw new Error(error);
    this.init.config = change.config;
    this.init.rulesBundle = change.rulesBundle;
  }

  done(): Promise<void> {
    if (this.finished) return Promise.resolve();
    return new Promise((resolve) => this.doneWaiters.push(resolve));
  }

  private finish(): void {
    this.finished = true;
    for (const w of this.doneWaiters.splice(0)) w();
  }

  /** The worker ends its calls and posts their indexes before it says stopped; only then is it terminated. */
  async stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    if (worker && this.alive) {
      await new Promise<void>((resolve) => {
        this.stopped = resolve;
        worker.postMessage({ type: 'stop' } satisfies ToWorker);
      });
      await worker.terminate();
    }
    this.finish();
  }
}

function placeholder(s: LineSettings, state: LineStatus['state']): LineStatus {
  return {
    name: s.name,
    state,
    agent: { ...s.agent },
    audio: describeAudio(s),
    callState: s.callState.kind,
    backlogSec: 0,
    shedding: false,
    counters: noCounts(),
  };
}
