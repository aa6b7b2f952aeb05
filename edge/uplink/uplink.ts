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
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Outbox, OutboxFullError, type OutboxStats, type RecordKind } from '../outbox/outbox.js';
import { NotConnectedError, PublishRefusedError, type Transport } from './transport.js';
import { MqttTransport } from './mqtt-transport.js';
import { ACK_SCHEMA, COMMAND_SCHEMA, RECORD_SCHEMA, STATS_SCHEMA, STATUS_SCHEMA, Topics, type AckMessage } from './topics.js';
import type { EarshotConfig, UplinkConfig } from '../../provisioning/config.js';
import { log as defaultLog } from '../log.js';

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
  log?: Logger;
}

export interface Problem {
  code: 'outbox.full' | 'publish.refused' | 'ack.stalled';
  message: string;
  since: string;
  seq?: number;
  reasonCode?: number;
}

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

export class Uplink extends EventEmitter {
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
  private deniedDelaySec = 0;
  private ackTimeoutMs: number;
  private timeoutsInARow = 0;
  private pauseTimer: NodeJS.Timeout | null = null;
  private tick: NodeJS.Timeout | null = null;
  private statsTimer: NodeJS.Timeout | null = null;
  private pubackAcks: number[] = [];
  private readonly problems = new Map<Problem['code'], Problem>();
  private everConnected = false;
  readonly counters: UplinkCounters = { published: 0, acked: 0, resends: 0, refusedPublishes: 0, reconnects: 0, refusedRecords: 0 };

  constructor(options: UplinkOptions) {
    super();
    this.o = options;
    this.log = options.log ?? defaultLog;
    this.outbox = options.outbox;
    this.transport = options.transport;
    this.topics = options.topics;
    this.ackTimeoutMs = options.ackTimeoutSec * 1000;
  }

  get box(): string {
    return this.topics.box;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.transport.on('connect', () => this.onConnect());
    this.transport.on('disconnect', () => this.onDisconnect());
    this.transport.on('message', (topic: string, payload: Buffer) => this.onMessage(topic, payload));
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
   * then wakes the uplink. A full outbox refuses (returns refused, never throws, never drops older records).
   */
  submit(kind: RecordKind, payload: object): { seq: number } | { refused: true; reason: string } {
    try {
      const r = this.outbox.append(kind, payload);
      this.notify();
      return r;
    } catch (err) {
      if (!(err instanceof OutboxFullError)) throw err;
      this.counters.refusedRecords++;
      if (!this.problems.has('outbox.full')) {
        this.log.error({ kind, usedBytes: err.usedBytes, quotaBytes: err.quotaBytes }, 'outbox full: new records are refused until central ingest acknowledges older ones');
        this.setProblem({ code: 'outbox.full', message: err.message, since: new Date().toISOString() });
      }
      return { refused: true, reason: err.message };
    }
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
    const body =
      `{"schema":"${RECORD_SCHEMA}","box":${JSON.stringify(this.topics.box)},"site":${JSON.stringify(this.topics.site)},` +
      `"seq":${seq},"kind":"${kind}","at":"${new Date(createdMs).toISOString()}","data":${payload}}`;
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
      this.deniedDelaySec = 0;
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
      this.deniedDelaySec = this.deniedDelaySec === 0 ? this.o.deniedBackoff.minSec : Math.min(this.o.deniedBackoff.maxSec, this.deniedDelaySec * 2);
      const reason = `${err.reason} (0x${err.reasonCode.toString(16)})`;
      this.log.error(
        { seq, kind, topic, reasonCode: err.reasonCode, reason: err.reason, refusals: this.counters.refusedPublishes, retryInSec: this.deniedDelaySec },
        `broker refused publish of ${kind} seq ${seq} to ${topic}: ${err.reason}; uplink paused ${this.deniedDelaySec}s, then retries this record alone`,
      );
      this.outbox.block(seq, `broker refused: ${reason}`);
      this.setProblem({ code: 'publish.refused', message: `broker refused publish to ${topic}: ${reason}`, since: this.problems.get('publish.refused')?.since ?? new Date().toISOString(), seq, reasonCode: err.reasonCode });
      this.restartFrom(seq - 1);
      this.probing = true;
      this.pause(this.deniedDelaySec * 1000);
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
    this.log.warn({ seq: oldest, waitedSec: Math.round(waited / 100) / 10, resend: this.timeoutsInARow }, 'no ack in time; resending from the oldest unacknowledged record');
    if (this.timeoutsInARow >= this.o.stalledAfter && !this.problems.has('ack.stalled')) {
      const message = `no ack for seq ${oldest} after ${this.timeoutsInARow} sends: is ingest running, and may this box publish (a 3.1.1 broker drops denied publishes silently)?`;
      this.log.error({ seq: oldest, sends: this.timeoutsInARow }, message);
      this.outbox.block(oldest, 'no ack');
      this.setProblem({ code: 'ack.stalled', message, since: new Date().toISOString(), seq: oldest });
    }
    this.ackTimeoutMs = Math.min(this.o.ackTimeoutSec * 10_000, this.ackTimeoutMs * 2);
    this.restartFrom(oldest - 1);
    this.pump();
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topics.ack) {
      let msg: AckMessage;
      try {
        msg = JSON.parse(payload.toString('utf8')) as AckMessage;
      } catch {
        this.log.warn({ topic }, 'ack is not JSON; ignored');
        return;
      }
      if (msg.schema !== ACK_SCHEMA || msg.box !== this.topics.box || !Array.isArray(msg.ranges)) {
        this.log.warn({ topic, schema: msg.schema }, 'not an ack for this box; ignored');
        return;
      }
      const ranges = msg.ranges.filter((r): r is [number, number] => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] <= r[1]);
      if (this.o.ackMode === 'ingest') this.applyAck(ranges);
      return;
    }
    if (topic === this.topics.command) this.onCommand(payload);
  }

  private applyAck(ranges: [number, number][]): void {
    if (ranges.length === 0 || this.stopped) return;
    const removed = this.outbox.ack(ranges);
    for (const seq of [...this.inflight.keys()]) {
      if (ranges.some(([a, b]) => seq >= a && seq <= b)) this.inflight.delete(seq);
    }
    if (removed > 0) {
      this.counters.acked += removed;
      this.timeoutsInARow = 0;
      this.ackTimeoutMs = this.o.ackTimeoutSec * 1000;
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

  private onCommand(payload: Buffer): void {
    let cmd: { schema?: string; cmd?: unknown };
    try {
      cmd = JSON.parse(payload.toString('utf8')) as typeof cmd;
    } catch {
      this.log.warn('command is not JSON; ignored');
      return;
    }
    const name = typeof cmd.cmd === 'string' ? cmd.cmd.slice(0, 40) : '';
    if (cmd.schema !== undefined && cmd.schema !== COMMAND_SCHEMA) {
      this.log.warn({ schema: String(cmd.schema).slice(0, 40) }, 'command of an unknown schema; ignored');
      return;
    }
    switch (name) {
      case 'stats':
        void this.publishStats();
        return;
      case 'status':
        void this.publishStatus();
        return;
      case 'resend':
        this.restartFrom(0);
        this.pump();
        return;
      default:
        if (/audio|wav|pcm|record/i.test(name)) this.log.warn({ cmd: name }, 'command refused: raw audio is never published');
        else this.log.warn({ cmd: name }, 'unknown command; ignored');
    }
  }

  private setProblem(p: Problem): void {
    this.problems.set(p.code, p);
    void this.publishStatus();
  }

  private clearProblem(code: Problem['code']): void {
    if (this.problems.delete(code)) void this.publishStatus();
  }

  status(): { state: 'ok' | 'degraded'; problems: Problem[] } {
    const problems = [...this.problems.values()];
    return { state: problems.length ? 'degraded' : 'ok', problems };
  }

  private async publishStatus(): Promise<void> {
    if (!this.transport.connected) return;
    const body = { schema: STATUS_SCHEMA, box: this.topics.box, site: this.topics.site, kind: 'status', seq: null, at: new Date().toISOString(), ...this.status() };
    await this.transport.publish(this.topics.status, JSON.stringify(body), { qos: 1, retain: true }).catch(() => undefined);
  }

  stats(): { outbox: OutboxStats; uplink: Record<string, unknown> } {
    return {
      outbox: this.outbox.stats(),
      uplink: {
        connected: this.transport.connected,
        protocol: this.transport.protocol,
        ackMode: this.o.ackMode,
        inflight: this.inflight.size,
        paused: Date.now() < this.pausedUntil,
        ...this.counters,
        ...this.status(),
      },
    };
  }

  async publishStats(): Promise<void> {
    if (!this.transport.connected) return;
    const body = { schema: STATS_SCHEMA, box: this.topics.box, site: this.topics.site, kind: 'stats', seq: null, at: new Date().toISOString(), ...this.stats(), ...(this.o.extraStats?.() ?? {}) };
    await this.transport.publish(this.topics.stats, JSON.stringify(body), { qos: 1, expirySec: this.o.statsExpirySec }).catch(() => undefined);
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

/** The box's identity on the broker: config uplink.box, or the host name. */
export function boxId(config: UplinkConfig): string {
  return config.box || hostname().replace(/[#+/]/g, '_');
}

/** Opens the outbox and the MQTT transport from the configuration and starts the uplink. */
/** connect: false keeps records in the outbox without contacting any broker (the daemon with uplink.enabled false). */
export function startUplink(config: EarshotConfig, options: { log?: Logger; extraStats?: () => Record<string, unknown>; connect?: boolean } = {}): { uplink: Uplink; outbox: Outbox } {
  const u = config.uplink;
  const log = options.log ?? defaultLog;
  const box = boxId(u);
  const topics = new Topics(u.prefix, u.site, box);
  const outbox = new Outbox(config.outbox.path, { quotaBytes: config.outbox.quotaMB * 2 ** 20, statusReserveBytes: config.outbox.statusReserveMB * 2 ** 20 });
  const transport = new MqttTransport({
    url: u.broker,
    clientId: `earshot-${u.site}-${box}`.slice(0, 64),
    protocol: u.protocol,
    clean: true,
    keepaliveSec: u.keepaliveSec,
    connectTimeoutSec: u.connectTimeoutSec,
    reconnect: u.reconnect,
    will: { topic: topics.availability, payload: 'offline', retain: true },
    username: u.username,
    passwordFile: u.passwordFile,
    tls: u.tls,
    log,
  });
  const uplink = new Uplink({
    outbox,
    transport,
    topics,
    ackMode: u.ackMode,
    inflight: u.inflight,
    ackTimeoutSec: u.ackTimeoutSec,
    stalledAfter: u.stalledAfter,
    deniedBackoff: u.deniedBackoff,
    statsIntervalSec: u.statsIntervalSec,
    statsExpirySec: u.statsExpirySec,
    extraStats: options.extraStats,
    log,
  });
  if (options.connect !== false) uplink.start();
  return { uplink, outbox };
}
