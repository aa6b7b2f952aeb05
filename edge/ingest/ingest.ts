/**
 * Reference central ingest: `earshot ingest`. Subscribes to every box's index, alerts and events topics with a
 * shared subscription (`$share/<group>/...`, MQTT 5) so several ingest processes split the load; on 3.1.1 it
 * falls back to plain subscriptions (then run only one). Stores each record in SQLite (WAL, synchronous=FULL)
 * keyed by (box, seq), drops duplicates, and only after the commit sends acks, batched, to each box's ack
 * topic; duplicates are acked again (the box resends when an ack was lost).
 *
 * Exactly once in effect: the box resends until acked, ingest stores each (box, seq) once. A record ingest
 * received but did not commit before a crash is never acked, so the box sends it again.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { ProtocolName, Transport } from '../uplink/transport.js';
import { ACK_SCHEMA, KIND_LEAF, LEAF_KIND, toRanges, type AckMessage } from '../uplink/topics.js';
import { InboundGuard, maxPacketBytes, readWire, type InboundCounters, type StatsMessage, type StatusMessage } from '../uplink/wire.js';
import { log as defaultLog } from '../log.js';
import { asDiskFull, isDiskFull } from '../disk.js';
import { MqttTransport } from '../uplink/mqtt-transport.js';
import { hostname } from 'node:os';
import type { IngestConfig } from '../../provisioning/config.js';

export interface IngestOptions {
  transport: Transport;
  db: string;
  group: string;
  prefix: string;
  ackDelayMs: number;
  ackBatchMax: number;
  log?: Logger;
}

export interface IngestCounters {
  received: number;
  stored: number;
  duplicates: number;
  /** payloads dropped by the inbound checks (wire.ts): counted per topic in `inbound` */
  invalid: number;
  acksSent: number;
  /** availability, status and stats messages kept */
  stateUpdates: number;
  /** batches whose commit failed (a full disk, ...): not acked, so the boxes send those records again */
  storeFailures: number;
}

interface Pending {
  site: string;
  box: string;
  seq: number;
  kind: string;
  at: string;
  payload: string;
}

/** The box's state topics ingest keeps the latest of (not records: no seq, never acked). */
const STATE_LEAVES = ['availability', 'status', 'stats'] as const;
type StateLeaf = (typeof STATE_LEAVES)[number];

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

/** The latest a box said of itself, as ingest holds it. */
export interface BoxState {
  site: string;
  box: string;
  availability: string | null;
  status: StatusMessage | null;
  stats: StatsMessage | null;
}

export class Ingest extends EventEmitter {
  readonly db: Database.Database;
  private readonly log: Logger;
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly insert: Database.Statement<[string, number, string, string, string, number, string]>;
  readonly counters: IngestCounters = { received: 0, stored: 0, duplicates: 0, invalid: 0, acksSent: 0, stateUpdates: 0, storeFailures: 0 };
  /** when the current stretch of failing commits began (ms since epoch), else null */
  private storeFailingSince: number | null = null;
  private readonly inbound: InboundGuard;
  private readonly upsertState: Record<StateLeaf, Database.Statement<[string, string, string, number]>>;
  private stopped = false;

  constructor(private readonly o: IngestOptions) {
    super();
    this.log = o.log ?? defaultLog;
    if (o.db !== ':memory:') mkdirSync(dirname(o.db), { recursive: true });
    this.db = new Database(o.db);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS records (
        box         TEXT    NOT NULL,
        seq         INTEGER NOT NULL,
        site        TEXT    NOT NULL,
        kind        TEXT    NOT NULL,
        at          TEXT    NOT NULL,
        received_ms INTEGER NOT NULL,
        payload     TEXT    NOT NULL,
        PRIMARY KEY (box, seq)
      );
      CREATE INDEX IF NOT EXISTS records_kind ON records (kind, received_ms);
      CREATE TABLE IF NOT EXISTS box_state (
        site            TEXT NOT NULL,
        box             TEXT NOT NULL,
        availability    TEXT,
        availability_ms INTEGER,
        status          TEXT,
        status_ms       INTEGER,
        stats           TEXT,
        stats_ms        INTEGER,
        PRIMARY KEY (site, box)
      );
    `);
    this.inbound = new InboundGuard(this.log);
    const upsert = (leaf: StateLeaf) =>
      this.db.prepare<[string, string, string, number]>(
        `INSERT INTO box_state (site, box, ${leaf}, ${leaf}_ms) VALUES (?, ?, ?, ?) ON CONFLICT (site, box) DO UPDATE SET ${leaf} = excluded.${leaf}, ${leaf}_ms = excluded.${leaf}_ms`,
      );
    this.upsertState = { availability: upsert('availability'), status: upsert('status'), stats: upsert('stats') };
    this.insert = this.db.prepare('INSERT OR IGNORE INTO records (box, seq, site, kind, at, received_ms, payload) VALUES (?, ?, ?, ?, ?, ?, ?)');
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
    this.buffer.push({ site, box, seq: env.seq, kind, at: env.at, payload: JSON.stringify(env.data) });
    if (this.buffer.length >= this.o.ackBatchMax) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.o.ackDelayMs);
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
    if (!this.db.open) return;
    try {
      this.upsertState[leaf].run(site, box, text, Date.now());
    } catch (err) {
      // The latest state comes again with the box's next message; records' commits log the full disk.
      if (!isDiskFull(err, this.o.db)) throw err;
      this.counters.storeFailures++;
      return;
    }
    this.counters.stateUpdates++;
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
  boxState(site: string, box: string): BoxState | null {
    const row = this.db.prepare('SELECT availability, status, stats FROM box_state WHERE site = ? AND box = ?').get(site, box) as
      | { availability: string | null; status: string | null; stats: string | null }
      | undefined;
    if (!row) return null;
    const parse = <T>(text: string | null) => (text === null ? null : (JSON.parse(text) as T));
    return { site, box, availability: row.availability, status: parse<StatusMessage>(row.status), stats: parse<StatsMessage>(row.stats) };
  }

  /** Commits what arrived, then acks it (new and duplicate alike) to each box. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0 || !this.db.open) return;
    const now = Date.now();
    let stored = 0;
    try {
      this.db.transaction(() => {
        for (const r of batch) stored += this.insert.run(r.box, r.seq, r.site, r.kind, r.at, now, r.payload).changes;
      })();
    } catch (err) {
      // Nothing of the batch is stored (the transaction rolled back), so nothing is acked: each box resends
      // what it has not had acked (ackTimeoutSec, on reconnect), and a later commit takes it.
      this.counters.storeFailures++;
      const reason = (asDiskFull(err, this.o.db) as Error).message;
      const boxes = [...new Set(batch.map((r) => `${r.site}/${r.box}`))];
      if (this.storeFailingSince === null) {
        this.storeFailingSince = now;
        this.log.error({ db: this.o.db, boxes, records: batch.length, reason }, `ingest could not store ${batch.length} record(s) from ${boxes.join(', ')}: ${reason}; not acked, the boxes will resend`);
      } else {
        this.log.debug({ boxes, records: batch.length, reason, failures: this.counters.storeFailures }, 'ingest store still failing');
      }
      return;
    }
    if (this.storeFailingSince !== null) {
      this.log.warn({ db: this.o.db, failedSec: (now - this.storeFailingSince) / 1000, storeFailures: this.counters.storeFailures }, 'ingest stores records again');
      this.storeFailingSince = null;
    }
    this.counters.stored += stored;
    this.counters.duplicates += batch.length - stored;
    const perBox = new Map<string, { site: string; box: string; seqs: number[] }>();
    for (const r of batch) {
      const key = `${r.site}/${r.box}`;
      let entry = perBox.get(key);
      if (!entry) perBox.set(key, (entry = { site: r.site, box: r.box, seqs: [] }));
      entry.seqs.push(r.seq);
    }
    for (const { site, box, seqs } of perBox.values()) {
      const ack: AckMessage = { schema: ACK_SCHEMA, box, ranges: toRanges(seqs) };
      this.counters.acksSent++;
      // A lost ack is harmless: the box resends, the record is a duplicate here and is acked again.
      this.o.transport.publish(`${this.o.prefix}/${site}/${box}/ack`, JSON.stringify(ack), { qos: 1 }).catch(() => undefined);
    }
    this.emit('stored', stored, batch.length - stored);
  }

  /** Records held for a box, in the order they arrived. */
  seqsFor(box: string): number[] {
    return (this.db.prepare('SELECT seq FROM records WHERE box = ? ORDER BY rowid').all(box) as { seq: number }[]).map((r) => r.seq);
  }

  count(box?: string): number {
    const row = (box === undefined ? this.db.prepare('SELECT COUNT(*) AS n FROM records').get() : this.db.prepare('SELECT COUNT(*) AS n FROM records WHERE box = ?').get(box)) as { n: number };
    return row.n;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.flush();
    await this.o.transport.close();
    this.db.close();
  }
}

/** `earshot ingest`: the MQTT transport (persistent session, so the broker queues while ingest restarts) and the store. */
export function startIngest(config: IngestConfig, log?: Logger): Ingest {
  const logger = log ?? defaultLog;
  const transport = new MqttTransport({
    url: config.broker,
    clientId: (config.clientId || `earshot-ingest-${config.group}-${hostname()}`).slice(0, 64),
    protocol: config.protocol,
    clean: false,
    sessionExpirySec: 7 * 24 * 3600,
    keepaliveSec: 30,
    connectTimeoutSec: 10,
    reconnect: { minSec: 0.5, maxSec: 10, jitter: 0.3 },
    username: config.username,
    passwordFile: config.passwordFile,
    tls: config.tls,
    maxPacketBytes: maxPacketBytes(['record', 'status', 'stats']),
    log: logger,
  });
  const ingest = new Ingest({ transport, db: config.db, group: config.group, prefix: config.prefix, ackDelayMs: config.ackDelayMs, ackBatchMax: config.ackBatchMax, log: logger });
  ingest.start();
  return ingest;
}
