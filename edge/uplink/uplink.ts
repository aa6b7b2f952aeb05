/**
 * The uplink drains the outbox to the broker, in seq order, at most `inflight` records unacknowledged at a
 * time, and deletes a record only when central ingest acknowledges it on the box's ack topic (or, in
 * `ackMode: puback`, when the broker does: weaker, a broker killed before it saved or delivered the
 * message loses it).
 *
 * Policies (docs/mqtt.md):
 * - Replay: on every (re)connect and after a restart, publishing restarts from the oldest unacknowledged
 *   record. Ingest drops what it already holds by (box, seq) and acks it again.
 * - Lost acks: when the oldest record in flight waits longer than `ackTimeoutSec`, the uplink resends from
 *   the oldest unacknowledged record; the timeout doubles (up to 10x) while nothing is acknowledged, and
 *   after `stalledAfter` resends the status topic reports `ack.stalled` (no ingest running, or a 3.1.1
 *   broker silently dropping a publish its ACL denies).
 * - Refused publishes (MQTT 5 PUBACK >= 0x80: 0x87 not authorized, 0x97 quota exceeded, ...): one error log
 *   line naming the record, topic and reason; the record is marked blocked in the outbox; the status topic
 *   reports `publish.refused`; the uplink pauses (deniedBackoff, doubling) and then retries that one record
 *   alone as a probe. Order is kept: nothing after a refused record is published until it goes through, so
 *   a misconfigured ACL stops the box's stream visibly instead of skipping records or looping hot.
 * - Full outbox: `submit` refuses (never drops) new records, the status topic reports `outbox.full`, stats
 *   count the refusals; analysis goes on.
 * - Control topics (ack, command): each payload is bounded and schema-checked before it is read (wire.ts);
 *   retained ones are never obeyed (a broker repeats them at every reconnect); a command id is obeyed once,
 *   stats and status answered at most every few seconds, one resend at a time: anyone on the broker can
 *   publish here, so nothing they send may cost the box more than the message itself.
 * - Signatures (uplink.signing; signed-wire.ts): records go out signed with the box's key, and only acks and
 *   commands the centre signed for this box, within the window, are obeyed: on an open broker a forged ack
 *   deletes nothing.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { DiskFullError, OutboxFullError, type Outbox, type OutboxStats, type RecordKind } from '../outbox/outbox.js';
import { NotConnectedError, PublishRefusedError, type MessageMeta, type Transport } from './transport.js';
import { LIVE_SCHEMA, STATS_SCHEMA, STATUS_SCHEMA, type Topics } from './topics.js';
import { controlProblem, recordBody, type BoxSigning } from './signed-wire.js';
import { InboundGuard, readWire, type LiveMessage } from './wire.js';
import { CommandDesk } from './commands.js';
import { Backoff, backoffDelayMs } from '../../lib/backoff.js';
import { log as defaultLog } from '../../lib/log.js';
import type { PreviousExit } from '../last-resort.js';
import { BundleRefused, type BundleHandler, type BundleStore, type BundleVersions } from '../bundles/bundle.js';

export interface UplinkOptions {
  outbox: Outbox;
  transport: Transport;
  topics: Topics;
  ackMode: 'ingest' | 'puback';
  inflight: number;
  ackTimeoutSec: number;
  stalledAfter: number;
  deniedBackoff: { minSec: number; maxSec: number };
  statsIntervalSec: number;
  statsExpirySec: number;
  /** merged into every stats message (e.g. lines, RTF from the pipeline) */
  extraStats?: () => Record<string, unknown>;
  /** the previous process exited on an error it could not contain: said on the status topic (edge/last-resort.ts) */
  restartedAfter?: PreviousExit | null;
  /** the box's key and the centre's keys (signed-wire.ts): records go out signed, only signed acks and commands are obeyed */
  signing?: BoxSigning | null;
  /** the bundles applied on this box (edge/bundles/bundle.ts): cmd bundle applies one, the status reports them */
  bundles?: BundleStore;
  log?: Logger;
}

/**
 * What the status says of bundles: each kind's version in force, the last one refused (since the last
 * applied), and the settings of config bundles a running agent keeps but runs only from its next start.
 */
export interface BundleStatus {
  inForce: BundleVersions;
  refused?: { at: string; reason: string; message: string };
  pendingRestart?: string[];
}

export interface Problem {
  code: 'outbox.full' | 'publish.refused' | 'ack.stalled' | 'disk.full';
  message: string;
  since: string;
  seq?: number;
  reasonCode?: number;
  /** disk.full: the file that could not be written, and the bytes free on its file system when it failed */
  path?: string;
  freeBytes?: number | null;
}

/** While the disk is full, how often the uplink checks for space when no record comes to try it. */
const DISK_RECHECK_MS = 5000;

export interface UplinkCounters {
  published: number;
  acked: number;
  resends: number;
  refusedPublishes: number;
  reconnects: number;
  refusedRecords: number;
}

interface InFlight {
  sentAt: number;
}

/** 'acked': records central ingest acknowledged, as seq ranges, and how many left the outbox. */
export class Uplink extends EventEmitter<{ acked: [ranges: [number, number][], removed: number] }> {
  private readonly o: UplinkOptions;
  private readonly log: Logger;
  private readonly outbox: Outbox;
  private readonly transport: Transport;
  private readonly topics: Topics;
  private readonly inflight = new Map<number, InFlight>();
  private cursor = 0;
  private gen = 0;
  private stopped = false;
  private started = false;
  private pumpQueued = false;
  private pausedUntil = 0;
  private probing = false;
  /** Pauses after refused publishes in a row. */
  private readonly denied: Backoff;
  private timeoutsInARow = 0;
  private pauseTimer: NodeJS.Timeout | null = null;
  private tick: NodeJS.Timeout | null = null;
  private statsTimer: NodeJS.Timeout | null = null;
  private pubackAcks: number[] = [];
  private readonly problems = new Map<Problem['code'], Problem>();
  private everConnected = false;
  private diskRecheck: NodeJS.Timeout | null = null;
  readonly counters: UplinkCounters = { published: 0, acked: 0, resends: 0, refusedPublishes: 0, reconnects: 0, refusedRecords: 0 };
  /** what arrived on the ack and command topics and was not obeyed */
  private readonly inbound: InboundGuard;
  private readonly commands: CommandDesk;
  /**
   * A `resend` command is in progress until every record it sent again is acknowledged (or the ack timeout
   * or a reconnect sends them again anyway): asking again meanwhile would only send the same records twice.
   */
  private resendThrough: number | null = null;
  private bundleQueue: Promise<void> = Promise.resolve();
  private bundleRefused: BundleStatus['refused'] | null = null;
  private pendingRestart: string[] = [];
  private bundleHandler?: BundleHandler;

  constructor(options: UplinkOptions) {
    super();
    this.o = options;
    this.log = options.log ?? defaultLog;
    this.inbound = new InboundGuard(this.log);
    const handlers = { stats: () => void this.publishStats(), status: () => void this.publishStatus(), resend: () => this.resendAll(), bundle: (text: string) => this.applyBundle(text) };
    this.commands = new CommandDesk(handlers, this.inbound, this.log, (payload, command) =>
      controlProblem('command', payload, command, this.topics, options.signing ?? null),
    );
    this.outbox = options.outbox;
    this.transport = options.transport;
    this.topics = options.topics;
    this.denied = new Backoff(options.deniedBackoff);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.transport.on('connect', () => this.onConnect());
    this.transport.on('disconnect', () => this.onDisconnect());
    this.transport.on('message', (topic: string, payload: Buffer, meta?: MessageMeta) => this.onMessage(topic, payload, meta));
    this.transport.subscribe([this.topics.ack, this.topics.command]);
    this.transport.start();
    const tickMs = Math.max(50, Math.min(1000, this.ackTimeoutMs / 4));
    this.tick = setInterval(() => this.checkAckTimeout(), tickMs);
    this.statsTimer = setInterval(() => void this.publishStats(), this.o.statsIntervalSec * 1000);
    this.tick.unref?.();
    this.statsTimer.unref?.();
  }

  /**
   * What the agent calls for every index, alert and status event: redacts and stores it durably (accepted),
   * then wakes the uplink. A full outbox or a full disk refuses (returns refused, never throws, never drops
   * older records).
   */
  submit(kind: RecordKind, payload: object): { seq: number } | { refused: true; reason: string } {
    try {
      const r = this.outbox.append(kind, payload);
      if (this.problems.has('disk.full')) this.diskHasSpace();
      this.notify();
      return r;
    } catch (err) {
      if (err instanceof DiskFullError) return this.refuseDiskFull(kind, err);
      if (!(err instanceof OutboxFullError)) throw err;
      this.counters.refusedRecords++;
      if (!this.problems.has('outbox.full')) {
        this.log.error({ kind, usedBytes: err.usedBytes, quotaBytes: err.quotaBytes }, 'outbox full: new records are refused until central ingest acknowledges older ones');
        this.setProblem({ code: 'outbox.full', message: err.message, since: new Date().toISOString() });
      }
      return { refused: true, reason: err.message };
    }
  }

  private refuseDiskFull(kind: RecordKind, err: DiskFullError): { refused: true; reason: string } {
    this.counters.refusedRecords++;
    if (!this.problems.has('disk.full')) {
      this.log.error({ kind, path: err.path, freeBytes: err.freeBytes }, `${err.message}: new records are refused until there is space; accepted records are kept`);
      this.setProblem({ code: 'disk.full', message: err.message, since: new Date().toISOString(), path: err.path, freeBytes: err.freeBytes });
      // An idle box may submit nothing for hours: look for space on a timer too, so the status clears.
      this.diskRecheck ??= setInterval(() => {
        if (this.stopped) this.stopDiskRecheck();
        else if (this.outbox.recheckDisk()) this.diskHasSpace();
      }, DISK_RECHECK_MS);
      this.diskRecheck.unref?.();
    }
    return { refused: true, reason: err.message };
  }

  private diskHasSpace(): void {
    this.stopDiskRecheck();
    this.log.warn({ path: this.problems.get('disk.full')?.path }, 'disk has space again; accepting records');
    this.clearProblem('disk.full');
    this.notify();
  }

  private stopDiskRecheck(): void {
    if (this.diskRecheck) clearInterval(this.diskRecheck);
    this.diskRecheck = null;
  }

  /** Wake the drain loop (after appending to the outbox directly). */
  notify(): void {
    if (this.pumpQueued || this.stopped) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private onConnect(): void {
    if (this.everConnected) this.counters.reconnects++;
    this.everConnected = true;
    this.restartFrom(0);
    void this.transport.publish(this.topics.availability, 'online', { qos: 1, retain: true }).catch(() => undefined);
    void this.publishStatus();
    this.pump();
  }

  private onDisconnect(): void {
    // The reconnect replays from the oldest unacknowledged record anyway: a resend asked for before is done.
    this.resendThrough = null;
    this.gen++;
    this.inflight.clear();
  }

  /** Forget what is in flight and publish again from the record after `afterSeq` (0: oldest unacked). */
  private restartFrom(afterSeq: number): void {
    this.gen++;
    this.inflight.clear();
    this.cursor = afterSeq;
  }

  private pump(): void {
    if (this.stopped || !this.transport.connected) return;
    if (Date.now() < this.pausedUntil) return;
    const window = this.probing ? 1 : this.o.inflight;
    while (this.inflight.size < window) {
      const batch = this.outbox.nextBatch(Math.min(window - this.inflight.size, 1000), this.cursor);
      if (batch.length === 0) break;
      for (const rec of batch) this.send(rec.seq, rec.kind, rec.payload, rec.createdMs);
      this.outbox.markSent(batch.map((r) => r.seq));
    }
  }

  private send(seq: number, kind: RecordKind, payload: string, createdMs: number): void {
    const gen = this.gen;
    this.cursor = seq;
    this.inflight.set(seq, { sentAt: Date.now() });
    this.counters.published++;
    const body = recordBody(this.topics.site, this.topics.box, seq, kind, createdMs, payload, this.o.signing?.key ?? null);
    const topic = this.topics.record(kind);
    this.transport.publish(topic, body, { qos: 1 }).then(
      () => this.onPuback(gen, seq),
      (err: Error) => this.onPublishError(gen, seq, kind, topic, err),
    );
  }

  private onPuback(gen: number, seq: number): void {
    if (gen !== this.gen) return;
    if (this.probing) {
      this.probing = false;
      this.denied.reset();
      this.outbox.block(seq, null);
      this.log.warn({ seq }, 'broker accepts publishes again; uplink resumed');
      this.clearProblem('publish.refused');
      this.notify();
    }
    if (this.o.ackMode === 'puback') {
      this.pubackAcks.push(seq);
      if (this.pubackAcks.length === 1) {
        setImmediate(() => {
          const seqs = this.pubackAcks;
          this.pubackAcks = [];
          this.applyAck(seqs.map((s) => [s, s] as [number, number]));
        });
      }
    }
  }

  private onPublishError(gen: number, seq: number, kind: RecordKind, topic: string, err: Error): void {
    if (gen !== this.gen || this.stopped) return;
    if (err instanceof NotConnectedError) return; // the reconnect replays from the oldest unacked record
    if (err instanceof PublishRefusedError) {
      this.counters.refusedPublishes++;
      const pauseSec = this.denied.next() / 1000;
      const reason = `${err.reason} (0x${err.reasonCode.toString(16)})`;
      this.log.error(
        { seq, kind, topic, reasonCode: err.reasonCode, reason: err.reason, refusals: this.counters.refusedPublishes, retryInSec: pauseSec },
        `broker refused publish of ${kind} seq ${seq} to ${topic}: ${err.reason}; uplink paused ${pauseSec}s, then retries this record alone`,
      );
      this.outbox.block(seq, `broker refused: ${reason}`);
      this.setProblem({ code: 'publish.refused', message: `broker refused publish to ${topic}: ${reason}`, since: this.problems.get('publish.refused')?.since ?? new Date().toISOString(), seq, reasonCode: err.reasonCode });
      this.restartFrom(seq - 1);
      this.probing = true;
      this.pause(pauseSec * 1000);
      return;
    }
    // Anything else (client torn down mid-publish, ...): resend from this record after a short pause.
    this.log.warn({ seq, kind, topic, err: err.message }, 'publish failed; resending');
    this.restartFrom(Math.min(seq, this.outbox.oldestSeq() ?? seq) - 1);
    this.pause(1000);
  }

  private pause(ms: number): void {
    this.pausedUntil = Date.now() + ms;
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.pauseTimer = setTimeout(() => {
      this.pauseTimer = null;
      this.pausedUntil = 0;
      this.pump();
    }, ms);
  }

  private checkAckTimeout(): void {
    if (this.stopped || !this.transport.connected || this.inflight.size === 0 || Date.now() < this.pausedUntil) return;
    const first = this.inflight.values().next().value as InFlight;
    const waited = Date.now() - first.sentAt;
    if (waited < this.ackTimeoutMs) return;
    const oldest = this.outbox.oldestSeq();
    if (oldest === null) {
      this.inflight.clear();
      return;
    }
    this.timeoutsInARow++;
    this.counters.resends++;
    this.resendThrough = null;
    this.log.warn({ seq: oldest, waitedSec: Math.round(waited / 100) / 10, resend: this.timeoutsInARow }, 'no ack in time; resending from the oldest unacknowledged record');
    if (this.timeoutsInARow >= this.o.stalledAfter && !this.problems.has('ack.stalled')) {
      const message = `no ack for seq ${oldest} after ${this.timeoutsInARow} sends: is ingest running, and may this box publish (a 3.1.1 broker drops denied publishes silently)?`;
      this.log.error({ seq: oldest, sends: this.timeoutsInARow }, message);
      this.outbox.block(oldest, 'no ack');
      this.setProblem({ code: 'ack.stalled', message, since: new Date().toISOString(), seq: oldest });
    }
    this.restartFrom(oldest - 1);
    this.pump();
  }

  /** The wait for an ack doubles (up to 10x) while nothing is acknowledged. */
  private get ackTimeoutMs(): number {
    return backoffDelayMs(this.timeoutsInARow, this.o.ackTimeoutSec, 10 * this.o.ackTimeoutSec);
  }

  private onMessage(topic: string, payload: Buffer, meta?: MessageMeta): void {
    const isAck = topic === this.topics.ack;
    if (!isAck && topic !== this.topics.command) return;
    this.inbound.run(topic, () => {
      if (meta?.retain) return this.inbound.retained(topic);
      if (isAck) this.onAck(topic, payload);
      else this.commands.onCommand(topic, payload);
    });
  }

  private onAck(topic: string, payload: Buffer): void {
    const read = readWire('ack', payload);
    if (!read.ok) return this.inbound.reject(topic, read.reason);
    const ack = read.value;
    if (ack.box !== this.topics.box) return this.inbound.reject(topic, `ack names box ${ack.box}, not this box`);
    const inverted = ack.ranges.find(([from, to]) => from > to);
    if (inverted) return this.inbound.reject(topic, `ack range [${inverted[0]}, ${inverted[1]}] runs backwards`);
    const unsigned = controlProblem('ack', payload, ack, this.topics, this.o.signing ?? null);
    if (unsigned) return this.inbound.reject(topic, unsigned);
    if (this.o.ackMode === 'ingest') this.applyAck(ack.ranges);
  }

  private applyAck(ranges: [number, number][]): void {
    if (ranges.length === 0 || this.stopped) return;
    const removed = this.outbox.ack(ranges);
    for (const seq of [...this.inflight.keys()]) {
      if (ranges.some(([a, b]) => seq >= a && seq <= b)) this.inflight.delete(seq);
    }
    if (removed > 0) {
      this.counters.acked += removed;
      if (this.resendThrough !== null && (this.outbox.oldestSeq() ?? Infinity) > this.resendThrough) this.resendThrough = null;
      this.timeoutsInARow = 0;
      if (this.problems.has('ack.stalled')) {
        this.log.warn('acks flowing again');
        this.clearProblem('ack.stalled');
      }
      if (this.problems.has('outbox.full') && !this.outbox.isFull()) {
        this.log.warn({ depth: this.outbox.depth() }, 'outbox below its quota again; accepting records');
        this.clearProblem('outbox.full');
      }
      this.emit('acked', ranges, removed);
    }
    this.pump();
  }

  /** The `resend` command: every unacknowledged record again, once at a time. */
  private resendAll(): boolean {
    if (this.resendThrough !== null) {
      this.log.info({ through: this.resendThrough }, 'resend asked for while one is in progress; ignored');
      return false;
    }
    this.resendThrough = this.outbox.lastSeq();
    this.restartFrom(0);
    this.pump();
    return true;
  }

  private setProblem(p: Problem): void {
    this.problems.set(p.code, p);
    void this.publishStatus();
  }

  private clearProblem(code: Problem['code']): void {
    if (this.problems.delete(code)) void this.publishStatus();
  }

  status(): { state: 'ok' | 'degraded'; problems: Problem[]; restartedAfter?: PreviousExit; bundles?: BundleStatus } {
    const problems = [...this.problems.values()];
    const restartedAfter = this.o.restartedAfter ?? undefined;
    const bundles = this.o.bundles
      ? { inForce: this.o.bundles.applied, ...(this.bundleRefused ? { refused: this.bundleRefused } : {}), ...(this.pendingRestart.length ? { pendingRestart: this.pendingRestart } : {}) }
      : undefined;
    return { state: problems.length ? 'degraded' : 'ok', problems, ...(restartedAfter ? { restartedAfter } : {}), ...(bundles ? { bundles } : {}) };
  }

  /**
   * A running agent's part in applying bundles (edge/run/live-bundles.ts): without one, a bundle is only kept
   * for the next start. `pendingRestart`: config settings already waiting for a restart when the agent began.
   */
  handleBundles(handler: BundleHandler, pendingRestart: string[] = []): void {
    this.bundleHandler = handler;
    this.pendingRestart = pendingRestart;
  }

  /**
   * cmd bundle: applies one bundle at a time, in the order they came; the status then says what is in force
   * and, for one refused, why (the last refusal stays until a bundle is applied).
   */
  private applyBundle(text: string): void {
    const store = this.o.bundles;
    this.bundleQueue = this.bundleQueue.then(async () => {
      if (!store) {
        this.bundleRefused = { at: new Date().toISOString(), reason: 'no-store', message: 'this box keeps no bundles' };
      } else {
        try {
          const { bundle: b, effect } = await store.apply(Buffer.from(text), Date.now(), this.bundleHandler);
          this.bundleRefused = effect.problem ? { at: new Date().toISOString(), reason: 'partly-applied', message: effect.problem } : null;
          if (b.kind === 'config') this.pendingRestart = effect.pendingRestart ?? [];
          const when = this.bundleHandler ? (effect.pendingRestart?.length ? `; ${effect.pendingRestart.join(', ')} from the next restart` : '') : '; in force from the next start';
          this.log.info({ kind: b.kind, version: b.version, pendingRestart: effect.pendingRestart }, `${b.kind} bundle v${b.version} applied${when}`);
        } catch (err) {
          const reason = err instanceof BundleRefused ? err.reason : 'not-written';
          this.bundleRefused = { at: new Date().toISOString(), reason, message: (err as Error).message };
          this.log.warn({ reason }, `bundle refused: ${(err as Error).message}`);
        }
      }
      await this.publishStatus();
    });
  }

  private async publishStatus(): Promise<void> {
    if (!this.transport.connected) return;
    // The protocol rides along: a site reading the retained status should see that a broker pinned the box to 3.1.1, and why.
    const protocol = { protocol: this.transport.protocol, protocolFallback: this.transport.protocolFallback ?? null };
    const body = { schema: STATUS_SCHEMA, box: this.topics.box, site: this.topics.site, kind: 'status', seq: null, at: new Date().toISOString(), ...protocol, ...this.status() };
    await this.transport.publish(this.topics.status, JSON.stringify(body), { qos: 1, retain: true }).catch(() => undefined);
  }

  stats(): { outbox: OutboxStats; uplink: Record<string, unknown> } {
    return {
      outbox: this.outbox.stats(),
      uplink: {
        connected: this.transport.connected,
        protocol: this.transport.protocol,
        protocolFallback: this.transport.protocolFallback ?? null,
        ackMode: this.o.ackMode,
        inflight: this.inflight.size,
        paused: Date.now() < this.pausedUntil,
        ...this.counters,
        commands: { ...this.commands.counters },
        inbound: this.inbound.snapshot(),
        ...this.status(),
      },
    };
  }

  async publishStats(): Promise<void> {
    if (!this.transport.connected) return;
    const body = { schema: STATS_SCHEMA, box: this.topics.box, site: this.topics.site, kind: 'stats', seq: null, at: new Date().toISOString(), ...this.stats(), ...(this.o.extraStats?.() ?? {}) };
    await this.transport.publish(this.topics.stats, JSON.stringify(body), { qos: 1, expirySec: this.o.statsExpirySec }).catch(() => undefined);
  }

  /**
   * The floor as it is now (earshot/live@1). QoS 0, never through the outbox: a missed one is replaced by
   * the next within a second, and one from a minute ago is wrong, so it expires after a few periods (MQTT 5)
   * instead of reaching a page that connects late. Not sent while disconnected.
   */
  async publishLive(state: Pick<LiveMessage, 'intervalSec' | 'outboxDepth' | 'lines'>): Promise<void> {
    if (!this.transport.connected || this.stopped) return;
    const body: LiveMessage = { schema: LIVE_SCHEMA, box: this.topics.box, site: this.topics.site, kind: 'live', seq: null, at: new Date().toISOString(), ...state };
    await this.transport.publish(this.topics.live, JSON.stringify(body), { qos: 0, expirySec: liveExpirySec(state.intervalSec) }).catch(() => undefined);
  }

  /** Publishes `stopped` on the availability topic and disconnects cleanly (no Last Will). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.tick, this.statsTimer]) if (t) clearInterval(t);
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.gen++;
    await this.transport.close({ topic: this.topics.availability, payload: 'stopped', retain: true });
  }
}

/** Three periods: one lost QoS 0 message does not blank a line on the page, a box gone quiet does soon. */
export function liveExpirySec(intervalSec: number): number {
  return Math.max(3, Math.ceil(3 * intervalSec));
}
