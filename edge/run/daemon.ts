import os from 'node:os';
import type { Logger } from 'pino';
import type { EarshotConfig } from '../../provisioning/config.js';
import { resolveLines, type LineSettings } from '../../provisioning/lines.js';
import { CallPublisher } from '../publish.js';
import { loadRules } from '../rules/setup.js';
import type { Alert } from '../rules/types.js';
import { capMallocArenas, releaseFreedMemory } from './allocator.js';
import { CallStateInputs } from './call-state-inputs.js';
import { startHealthServer } from './health.js';
import { boxMetrics } from './metrics.js';
import { LocalLineGroup, type GroupSinks, type LineGroupHandle } from './line-group.js';
import type { LineStatus, LiveCallRef } from './line.js';
import { WorkerLineGroup } from './worker-line-group.js';
import type { PreviousExit } from '../last-resort.js';
import type { InboundCounters, LiveLine } from '../uplink/wire.js';
import { keepClearTextInLogs } from '../../lib/log.js';
import { clearTextNotice } from '../redaction/view.js';
import { withBundledConfig } from '../bundles/config-fragment.js';
import { openBundleStore } from '../uplink/start-uplink.js';
import { liveBundleHandler } from './live-bundles.js';
import type { RulesChange } from './line-group.js';

export interface DaemonOptions {
  log: Logger;
  /** Each alert as it is raised, for a terminal (run --demo, run.printAlerts). */
  onAlert?: (alert: Alert & { callId: string; line: LiveCallRef }) => void;
  /** Calls whose index has been handed to the outbox. */
  onIndex?: (callId: string, line: string) => void;
  /** Replay lines only: quiet before each line's first call, so a demo's calls do not all start together. */
  staggerSec?: number;
  file?: string;
  /** why the previous process exited, when it could not contain an error: reported on the status topic */
  restartedAfter?: PreviousExit | null;
}

/** How many threads run lines: run.workers (0: one per core), never more than lines; 1 = this thread. */
export function workerCount(config: EarshotConfig, lines: number): number {
  const wanted = config.run.workers > 0 ? config.run.workers : os.availableParallelism();
  return Math.max(1, Math.min(wanted, lines));
}

/**
 * `earshot run`: every configured line, live, until SIGTERM. The main thread owns what is shared (the outbox
 * and uplink, the serial ports, the health endpoint); lines run in this thread with one copy of the models,
 * their speech decoded on every core through the thread pool (or, with run.workers, in worker threads with a
 * copy each). Each line owns its audio and its calls and fails alone.
 */
export class Daemon {
  private groups: LineGroupHandle[] = [];
  private readonly groupOf = new Map<string, LineGroupHandle>();
  private state: 'starting' | 'running' | 'stopping' | 'stopped' = 'starting';
  private publisher?: CallPublisher;
  private callState?: CallStateInputs;
  private health?: { port: number; close: () => Promise<void> };
  private readonly started = Date.now();
  private readonly cpuAtStart = process.cpuUsage();
  private trimTimer?: NodeJS.Timeout;
  private liveTimer?: NodeJS.Timeout;

  /** the rule bundle in force (docs/bundles.md): each call's index and alerts say which judged it */
  private rulesBundle?: number;
  private readonly startConfig: EarshotConfig;

  private constructor(private config: EarshotConfig, private readonly fileConfig: EarshotConfig, private readonly settings: LineSettings[], private readonly options: DaemonOptions) {
    this.startConfig = config;
  }

  /**
   * Validates everything an installer can get wrong before any line opens, then starts them all. `config`:
   * the configuration file's; the config bundle in force on the box is laid over it (docs/bundles.md).
   */
  static async start(fileConfig: EarshotConfig, options: DaemonOptions): Promise<Daemon> {
    capMallocArenas();
    const config = withBundledConfig(fileConfig);
    const settings = resolveLines(config, options.file);
    loadRules(config);
    const daemon = new Daemon(config, fileConfig, settings, options);
    daemon.rulesBundle = openBundleStore(config).applied.rules?.version;
    await daemon.startAll();
    return daemon;
  }

  get healthPort(): number | undefined {
    return this.health?.port;
  }

  get lineNames(): string[] {
    return this.settings.map((s) => s.name);
  }

  get threads(): number {
    return this.groups.length;
  }

  private async startAll(): Promise<void> {
    const { log } = this.options;
    this.callState = new CallStateInputs(this.config, this.settings, (line, b) => this.groupOf.get(line)?.boundary(line, b), log, this.options.file);
    const sinks: GroupSinks = {
      alert: (callId, alert, ref) => {
        this.publisher?.alert(callId, alert, ref);
        this.options.onAlert?.({ ...alert, callId, line: ref });
      },
      index: (index) => {
        this.publisher?.index(index);
        this.options.onIndex?.(index.callId, index.line?.name ?? '');
      },
    };
    const threads = workerCount(this.config, this.settings.length);
    const order = Object.fromEntries(this.settings.map((s, i) => [s.name, i]));
    const shares = Array.from({ length: threads }, (_, i) => this.settings.filter((_, j) => j % threads === i));
    this.groups =
      threads === 1
        ? [new LocalLineGroup({ config: this.config, rulesBundle: this.rulesBundle, settings: this.settings, log, staggerSec: this.options.staggerSec, order }, sinks)]
        : shares.map(
            (share, id) =>
              new WorkerLineGroup(
                { id, config: this.config, rulesBundle: this.rulesBundle, settings: share, staggerSec: this.options.staggerSec, order, logLevel: log.level, logToStdout: true, statusEveryMs: 500 },
                sinks,
                log,
              ),
          );
    for (const g of this.groups) for (const name of g.names) this.groupOf.set(name, g);
    const clearText = clearTextNotice(this.config.privacy.clearText);
    keepClearTextInLogs(this.config.privacy.clearText.includes('logs'));
    if (clearText) log.warn({ clearText: this.config.privacy.clearText }, clearText);
    if (!this.config.uplink.enabled) log.warn({ outbox: this.config.outbox.path }, 'uplink.enabled is false: indexes and alerts are kept in the outbox and not published');
    this.publisher = CallPublisher.start(this.config, () => this.stats(), this.config.uplink.enabled, this.options.restartedAfter);
    this.publisher.connection.handleBundles(
      liveBundleHandler({
        fileConfig: this.fileConfig,
        startConfig: this.startConfig,
        running: () => this.config,
        rulesBundle: () => this.rulesBundle,
        reload: (change) => this.reload(change),
        adopt: (config) => (this.config = config),
        log,
      }),
    );
    this.callState.start();
    try {
      await Promise.all(this.groups.map((g) => g.start()));
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    if (this.config.run.healthPort > 0) {
      this.health = await startHealthServer(this.config.run.healthPort, {
        health: () => this.healthReport(),
        lines: () => this.lineStatuses(),
        lineAudio: async (name, sec) => {
          const group = this.groupOf.get(name);
          return group ? group.audio(name, sec) : 'no-such-line';
        },
        metrics: boxMetrics({
          lines: () => this.lineStatuses(),
          uplink: () => {
            const uplink = this.publisher?.connection;
            if (!uplink) return undefined;
            const s = uplink.stats();
            return { outbox: s.outbox, counters: uplink.counters, connected: s.uplink.connected === true, inbound: s.uplink.inbound as InboundCounters };
          },
        }),
      }).catch((err: Error) => {
        // Another process on the port must not keep the lines from running; the log says why there is no endpoint.
        log.error({ port: this.config.run.healthPort, err: err.message }, 'health endpoint could not start');
        return undefined;
      });
    }
    this.trimTimer = setInterval(() => releaseFreedMemory(), 10_000).unref();
    const liveSec = this.config.uplink.liveIntervalSec;
    if (this.config.uplink.enabled && liveSec > 0) {
      this.liveTimer = setInterval(() => this.publisher?.live({ intervalSec: liveSec, outboxDepth: this.publisher.outboxDepth, lines: this.liveLines() }), liveSec * 1000).unref();
    }
    this.state = 'running';
    log.info({ lines: this.lineNames, threads, health: this.health?.port ?? null }, 'earshot running');
  }

  /** New rules (or models) for every line's next call; a group that cannot take them keeps its old ones and is named. */
  private async reload(change: RulesChange): Promise<void> {
    const results = await Promise.allSettled(this.groups.map((g) => g.reload(change)));
    this.rulesBundle = change.rulesBundle;
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`lines ${this.groups[i]!.names.join(', ')}: ${(r.reason as Error).message}`] : []));
    if (failed.length) {
      this.options.log.error({ failed }, 'rules not swapped on some lines; they keep the rules they had');
      throw new Error(failed.join('; '));
    }
  }

  lineStatuses(): LineStatus[] {
    const all = this.groups.flatMap((g) => g.statuses());
    return this.settings.map((s) => all.find((l) => l.name === s.name)).filter((l): l is LineStatus => Boolean(l));
  }

  healthReport() {
    const problems: string[] = [];
    const lines = this.lineStatuses();
    for (const l of lines) {
      if (l.state === 'faulted') problems.push(`line ${l.name}: ${l.fault}`);
      if (l.shedding) problems.push(`line ${l.name}: behind real time, recognition shed`);
    }
    problems.push(...(this.callState?.problems() ?? []));
    problems.push(...new Set(this.groups.flatMap((g) => g.problems())));
    const uplink = this.publisher?.connection;
    const status: 'ok' | 'degraded' | 'starting' | 'stopping' = this.state === 'running' ? (problems.length ? 'degraded' : 'ok') : this.state === 'starting' ? 'starting' : 'stopping';
    return {
      status,
      problems,
      uptimeSec: Math.round((Date.now() - this.started) / 1000),
      threads: this.groups.length,
      lines: Object.fromEntries(lines.map((l) => [l.name, l.state])),
      outboxDepth: this.publisher?.outboxDepth ?? 0,
      uplink: uplink ? { ...uplink.counters } : null,
      // A site that keeps clear text somewhere is told so wherever it looks at the box.
      privacy: { clearText: this.config.privacy.clearText, notice: clearTextNotice(this.config.privacy.clearText) ?? null },
    };
  }

  /** Added to the uplink's stats message every uplink.statsIntervalSec. */
  stats(): Record<string, unknown> {
    const lines = this.lineStatuses();
    const cpu = process.cpuUsage(this.cpuAtStart);
    const wallSec = (Date.now() - this.started) / 1000;
    return {
      lines: Object.fromEntries(lines.map((l) => [l.name, { state: l.state, fault: l.fault, backlogSec: l.backlogSec, shedding: l.shedding, inCall: Boolean(l.call), ...l.counters }])),
      linesFaulted: lines.filter((l) => l.state === 'faulted').length,
      linesShedding: lines.filter((l) => l.shedding).length,
      process: {
        rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
        // Cores used on average since start (all threads): on a 2-core box, 2.0 is everything.
        cpuCores: Number(((cpu.user + cpu.system) / 1e6 / Math.max(1, wallSec)).toFixed(2)),
        cores: os.availableParallelism(),
        threads: this.groups.length,
      },
      callState: this.callState?.stats() ?? {},
    };
  }

  /** Each line as a supervisor's floor page shows it (earshot/live@1): no audio, no words. */
  liveLines(): LiveLine[] {
    const now = Date.now();
    return this.lineStatuses().map((l) => ({
      name: l.name,
      ...(l.agent.id ? { agentId: l.agent.id } : {}),
      state: l.state,
      ...(l.fault ? { fault: l.fault } : {}),
      ...(l.call
        ? {
            callId: l.call.callId,
            inCallSec: Math.max(0, Math.round((now - Date.parse(l.call.startedAt)) / 100) / 10),
            talking: l.call.talking,
            silenceSec: l.call.silenceSec,
            agitation: l.call.agitation,
          }
        : {}),
      shedding: l.shedding,
      backlogSec: l.backlogSec,
    }));
  }

  /** Every line has stopped by itself (replayed calls without loop, as in the demo). */
  async linesDone(): Promise<void> {
    await Promise.all(this.groups.map((g) => g.done()));
  }

  /**
   * SIGTERM: stop capture on every line, analyse what was already captured, end open calls as `shutdown` and
   * hand their indexes to the outbox, give the uplink `drainSec` to deliver, then mark the box `stopped`.
   * Whatever is not acknowledged by then stays in the outbox for the next start.
   */
  async stop(drainSec = 5): Promise<{ waiting: number }> {
    if (this.state === 'stopping' || this.state === 'stopped') return { waiting: this.publisher?.outboxDepth ?? 0 };
    this.state = 'stopping';
    clearInterval(this.trimTimer);
    clearInterval(this.liveTimer);
    await this.callState?.stop();
    await Promise.all(this.groups.map((g) => g.stop()));
    const waiting = (await this.publisher?.drain(drainSec)) ?? 0;
    await this.publisher?.stop();
    await this.health?.close();
    this.state = 'stopped';
    return { waiting };
  }
}
