/**
 * Central ingest: `earshot ingest`. Subscribes to every box's index, alerts and events topics with a
 * shared subscription (`$share/<group>/...`, MQTT 5) so several ingest processes split the load; on 3.1.1 it
 * falls back to plain subscriptions (then run only one). Stores each batch of records in the centre's store
 * (central/store: SQLite or PostgreSQL) in one transaction keyed by (box, seq), drops duplicates, and only
 * after the commit sends acks, batched, to each box's ack topic; duplicates are acked again (the box
 * resends when an ack was lost).
 *
 * Exactly once in effect: the box resends until acked, the store keeps each (box, seq) once. A record ingest
 * received but did not commit (a crash, a full disk, PostgreSQL down) is never acked, so the box sends it again.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ProtocolName, Transport } from '../edge/uplink/transport.js';
import type { KeyObject } from 'node:crypto';
import { KIND_LEAF, LEAF_KIND, toRanges, type RecordEnvelope } from '../edge/uplink/topics.js';
import { ackBody } from '../edge/uplink/signed-wire.js';
import { loadPrivateKey } from '../lib/signing.js';
import { RecordGate } from './record-gate.js';
import { InboundGuard, maxPacketBytes, memberText, readWire, type InboundCounters } from '../edge/uplink/wire.js';
import { log as defaultLog } from '../lib/log.js';
import { asDiskFull } from '../lib/disk.js';
import { createTransport } from '../edge/uplink/transports.js';
import type { IngestConfig } from '../provisioning/config.js';
import { openStore, type BoxState, type IncomingRecord, type Registration, type StateLeaf, type Store } from './store/store.js';

export type { BoxState } from './store/store.js';

export interface IngestOptions {
  transport: Transport;
  /** where records go; ingest closes it when it stops */
  store: Store;
  group: string;
  prefix: string;
  ackDelayMs: number;
  ackBatchMax: number;
  /** 'closed': records from boxes not registered in the store are held apart (still acked); default 'open' */
  registration?: Registration;
  /**
   * The centre's signing key (acks go out signed, earshot/ack@2), and whether every record must verify
   * against its box's enrolled key. Whatever this says, a box enrolled with a key must sign its records.
   */
  signing?: { key: KeyObject | null; requireSigned: boolean };
  log?: Logger;
}

/** A record waiting for the next commit, with what its signature is checked on. */
interface Pending {
  record: IncomingRecord;
  topic: string;
  payload: Buffer;
  /** the payload as decoded: a record that verifies keeps its `data` in the text it came in */
  text: string;
  schema: RecordEnvelope['schema'];
}

export interface IngestCounters {
  received: number;
  stored: number;
  duplicates: number;
  /** records from unregistered boxes or sites, held apart (registration 'closed') and acked */
  heldApart: number;
  /** payloads dropped by the inbound checks (wire.ts): counted per topic in `inbound` */
  invalid: number;
  /** records refused for their signature (unsigned, forged, another box's or site's key): neither stored nor acked */
  refusedSignature: number;
  /** records whose data the store cannot read (a field of the wrong type): neither stored nor acked, the rest of their batch is */
  refusedData: number;
  acksSent: number;
  /** availability, status and stats messages kept */
  stateUpdates: number;
  /** batches (and state updates) whose commit failed (a full disk, PostgreSQL down): not acked, so the boxes send those records again */
  storeFailures: number;
}

/** The box's state topics ingest keeps the latest of (not records: no seq, never acked). */
const STATE_LEAVES = ['availability', 'status', 'stats'] as const satisfies readonly StateLeaf[];

/**
 * Topic filters: every box's record topics under `prefix`, shared within the group on MQTT 5 so ingest
 * processes split the load; and its state topics, plainly, since a broker sends retained messages (the
 * box's availability and status) only to plain subscriptions, and every process may keep the latest state.
 */
export function ingestFilters(prefix: string, group: string, protocol: ProtocolName): string[] {
  const records = Object.values(KIND_LEAF).map((leaf) => `${prefix}/+/+/${leaf}`);
  const state = STATE_LEAVES.map((leaf) => `${prefix}/+/+/${leaf}`);
  return [...(protocol === '5' ? records.map((f) => `$share/${group}/${f}`) : records), ...state];
}

/** 'stored': after each batch is written, how many records were new and how many were already held. */
export class Ingest extends EventEmitter<{ stored: [stored: number, duplicates: number] }> {
  readonly store: Store;
  private readonly log: Logger;
  private readonly registration: Registration;
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** the commit under way: one at a time, so acks go out in the order records were committed */
  private committing: Promise<void> | null = null;
  readonly counters: IngestCounters = { received: 0, stored: 0, duplicates: 0, heldApart: 0, invalid: 0, refusedSignature: 0, refusedData: 0, acksSent: 0, stateUpdates: 0, storeFailures: 0 };
  /** when the current stretch of failing commits began (ms since epoch), else null */
  private storeFailingSince: number | null = null;
  private readonly inbound: InboundGuard;
  private readonly gate: RecordGate;
  private stopped = false;
  private closed = false;

  constructor(private readonly o: IngestOptions) {
    super();
    this.log = o.log ?? defaultLog;
    this.store = o.store;
    this.registration = o.registration ?? 'open';
    this.inbound = new InboundGuard(this.log);
    this.gate = new RecordGate((boxes) => this.store.boxKeys(boxes), o.signing?.requireSigned ?? false);
  }

  get connected(): boolean {
    return this.o.transport.connected;
  }

  /** the protocol ingest speaks with the broker, and why 3.1.1 if it fell back (then no shared subscriptions) */
  get protocol(): { protocol: ProtocolName | null; fallback: string | null } {
    return { protocol: this.o.transport.protocol, fallback: this.o.transport.protocolFallback ?? null };
  }

  start(): void {
    const { transport, prefix, group } = this.o;
    transport.on('message', (topic: string, payload: Buffer) => this.inbound.run(topic, () => this.onMessage(topic, payload)));
    transport.on('connect', (protocol: ProtocolName) => {
      if (protocol !== '5') this.log.warn('broker speaks MQTT 3.1.1 only: plain subscriptions, so run a single ingest process');
    });
    transport.subscribe((protocol) => ingestFilters(prefix, group, protocol));
    transport.start();
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (this.closed) return;
    this.counters.received++;
    const parts = topic.split('/');
    const leaf = parts.pop() ?? '';
    const box = parts.pop() ?? '';
    const site = parts.pop() ?? '';
    if ((STATE_LEAVES as readonly string[]).includes(leaf)) return this.onState(topic, leaf as StateLeaf, site, box, payload);
    const kind = LEAF_KIND[leaf];
    if (!kind) return this.reject(topic, `not a record topic (${leaf})`);
    const read = readWire('record', payload);
    if (!read.ok) return this.reject(topic, read.reason);
    const env = read.value;
    // The topic is where the broker's ACL applies (issue: authenticated boxes); a record must agree with it.
    if (env.box !== box || env.site !== site || env.kind !== kind) return this.reject(topic, `record of ${env.site}/${env.box} (${env.kind}) on the topic of ${site}/${box} (${kind})`);
    this.buffer.push({ record: { site, box, seq: env.seq, kind, at: env.at, data: env.data }, topic, payload, text: read.text, schema: env.schema });
    if (this.buffer.length >= this.o.ackBatchMax) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.o.ackDelayMs);
  }

  /** Availability, status and stats: the latest of each per box replaces the one before. */
  private onState(topic: string, leaf: StateLeaf, site: string, box: string, payload: Buffer): void {
    let text: string;
    if (leaf === 'availability') {
      const read = readWire('availability', payload);
      if (!read.ok) return this.reject(topic, read.reason);
      text = read.value;
    } else {
      const read = readWire(leaf, payload);
      if (!read.ok) return this.reject(topic, read.reason);
      if (read.value.box !== box || read.value.site !== site) return this.reject(topic, `${leaf} of ${read.value.site}/${read.value.box} on the topic of ${site}/${box}`);
      text = JSON.stringify(read.value);
    }
    this.store.putBoxState(site, box, leaf, text, Date.now()).then(
      () => void this.counters.stateUpdates++,
      // The latest state comes again with the box's next message; records' commits log the failure.
      (err: unknown) => {
        this.counters.storeFailures++;
        this.log.debug({ site, box, leaf, reason: (err as Error).message }, 'ingest could not keep box state');
      },
    );
  }

  private reject(topic: string, reason: string): void {
    this.counters.invalid++;
    this.inbound.reject(topic, reason);
  }

  /** What the inbound checks dropped, per topic, and handlers that failed. */
  inboundStats(): InboundCounters {
    return this.inbound.snapshot();
  }

  /** The latest availability, status and stats a box published, or null if it never did. */
  boxState(site: string, box: string): Promise<BoxState | null> {
    return this.store.boxState(site, box);
  }

  /** Commits what arrived, then acks it (new and duplicate alike) to each box. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.committing) await this.committing;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0 || this.closed) return;
    this.committing = this.commit(batch);
    try {
      await this.committing;
    } finally {
      this.committing = null;
    }
  }

  /**
   * The records of the batch whose signatures pass (signed-wire.ts recordProblem); the rest are refused here,
   * with a warning and a count, and never stored or acked: a spoofed box id gets nothing from the centre.
   */
  private async verified(pending: Pending[]): Promise<IncomingRecord[]> {
    const verdicts = await this.gate.verdicts(pending.map((p) => ({ payload: p.payload, record: { schema: p.schema, box: p.record.box, site: p.record.site } })));
    const out: IncomingRecord[] = [];
    pending.forEach((p, i) => {
      const { problem, signed } = verdicts[i];
      if (problem === null) {
        // Signed by its enrolled box: stored as it came (store.ts, `signed`), its data in the text the box wrote.
        const dataText = signed ? memberText(p.text, 'data') : null;
        return void out.push(dataText === null ? p.record : { ...p.record, dataText, signed });
      }
      this.counters.refusedSignature++;
      this.inbound.reject(p.topic, `record seq ${p.record.seq} refused, not stored, not acked: ${problem}`);
    });
    return out;
  }

  private async commit(pending: Pending[]): Promise<void> {
    let result;
    let batch: IncomingRecord[] = [];
    try {
      batch = await this.verified(pending);
      if (batch.length === 0) return;
      result = await this.store.storeBatch(batch, this.registration);
    } catch (err) {
      // Nothing of the batch is stored (the transaction rolled back), so nothing is acked: each box resends
      // what it has not had acked (ackTimeoutSec, on reconnect), and a later commit takes it.
      this.counters.storeFailures++;
      const reason = (asDiskFull(err, this.store.location) as Error).message;
      const boxes = [...new Set(pending.map((p) => `${p.record.site}/${p.record.box}`))];
      if (this.storeFailingSince === null) {
        this.storeFailingSince = Date.now();
        this.log.error({ db: this.store.location, boxes, records: pending.length, reason }, `ingest could not store ${pending.length} record(s) from ${boxes.join(', ')}: ${reason}; not acked, the boxes will resend`);
      } else {
        this.log.debug({ boxes, records: pending.length, reason, failures: this.counters.storeFailures }, 'ingest store still failing');
      }
      return;
    }
    if (this.storeFailingSince !== null) {
      this.log.warn({ db: this.store.location, failedSec: (Date.now() - this.storeFailingSince) / 1000, storeFailures: this.counters.storeFailures }, 'ingest stores records again');
      this.storeFailingSince = null;
    }
    this.counters.stored += result.stored;
    this.counters.duplicates += result.duplicates;
    this.counters.heldApart += result.heldApart;
    // Not acked: the box keeps what it sent (a box's own records always read; these come from a bug or a stranger).
    const refused = new Set(result.refused.map(({ box, seq }) => `${box}\n${seq}`));
    for (const { box, seq, reason } of result.refused) {
      this.counters.refusedData++;
      const topic = pending.find((p) => p.record.box === box && p.record.seq === seq)?.topic ?? `${this.o.prefix}/+/${box}/+`;
      this.inbound.reject(topic, `record seq ${seq} refused, not stored, not acked: its data cannot be read (${reason})`);
    }
    const perBox = new Map<string, { site: string; box: string; seqs: number[] }>();
    for (const r of batch) {
      if (refused.has(`${r.box}\n${r.seq}`)) continue;
      const key = `${r.site}/${r.box}`;
      let entry = perBox.get(key);
      if (!entry) perBox.set(key, (entry = { site: r.site, box: r.box, seqs: [] }));
      entry.seqs.push(r.seq);
    }
    for (const { site, box, seqs } of perBox.values()) {
      this.counters.acksSent++;
      // A lost ack is harmless: the box resends, the record is a duplicate here and is acked again.
      this.o.transport.publish(`${this.o.prefix}/${site}/${box}/ack`, ackBody(site, box, toRanges(seqs), this.o.signing?.key ?? null), { qos: 1 }).catch(() => undefined);
    }
    this.emit('stored', result.stored, result.duplicates);
  }

  /** Records held for a box (with its site's), in the order they arrived. */
  seqsFor(box: string): Promise<number[]> {
    return this.store.seqsFor(box);
  }

  count(box?: string): Promise<number> {
    return this.store.countRecords(box);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.flush();
    await this.o.transport.close();
    this.closed = true;
    await this.store.close();
  }
}

/**
 * `earshot ingest`: the store (opened and migrated first: a database that cannot be reached is reported
 * before anything is subscribed) and the MQTT transport (persistent session, so the broker queues while
 * ingest restarts; docs/central.md on what that means for a process that does not come back).
 */
export async function startIngest(config: IngestConfig, log?: Logger): Promise<Ingest> {
  const logger = log ?? defaultLog;
  // A key file that cannot be used is refused before anything is opened.
  const signingKey = config.signing.key ? loadPrivateKey(config.signing.key) : null;
  const store = await openStore(config.db, logger);
  const transport = createTransport(config.transport, {
    url: config.broker,
    clientId: (config.clientId || `earshot-ingest-${config.group}-${hostname()}`).slice(0, 64),
    protocol: config.protocol,
    clean: false,
    sessionExpirySec: config.sessionExpirySec,
    keepaliveSec: 30,
    connectTimeoutSec: 10,
    reconnect: { minSec: 0.5, maxSec: 10, jitter: 0.3 },
    username: config.username,
    passwordFile: config.passwordFile,
    tls: config.tls,
    maxPacketBytes: maxPacketBytes(['record', 'status', 'stats']),
    log: logger,
  });
  const ingest = new Ingest({
    transport,
    store,
    group: config.group,
    prefix: config.prefix,
    ackDelayMs: config.ackDelayMs,
    ackBatchMax: config.ackBatchMax,
    registration: config.registration,
    signing: { key: signingKey, requireSigned: config.signing.records === 'required' },
    log: logger,
  });
  ingest.start();
  return ingest;
}
