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
import { ACK_SCHEMA, KIND_LEAF, LEAF_KIND, RECORD_SCHEMA, toRanges, type AckMessage, type RecordEnvelope } from '../uplink/topics.js';
import { log as defaultLog } from '../log.js';
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
  invalid: number;
  acksSent: number;
}

interface Pending {
  site: string;
  box: string;
  seq: number;
  kind: string;
  at: string;
  payload: string;
}

/** Topic filters for the record topics of every box under `prefix`. */
export function ingestFilters(prefix: string, group: string, protocol: ProtocolName): string[] {
  const leaves = Object.values(KIND_LEAF);
  const plain = leaves.map((leaf) => `${prefix}/+/+/${leaf}`);
  return protocol === '5' ? plain.map((f) => `$share/${group}/${f}`) : plain;
}

export class Ingest extends EventEmitter {
  readonly db: Database.Database;
  private readonly log: Logger;
  private buffer: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly insert: Database.Statement<[string, number, string, string, string, number, string]>;
  readonly counters: IngestCounters = { received: 0, stored: 0, duplicates: 0, invalid: 0, acksSent: 0 };
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
    `);
    this.insert = this.db.prepare('INSERT OR IGNORE INTO records (box, seq, site, kind, at, received_ms, payload) VALUES (?, ?, ?, ?, ?, ?, ?)');
  }

  get connected(): boolean {
    return this.o.transport.connected;
  }

  start(): void {
    const { transport, prefix, group } = this.o;
    transport.on('message', (topic: string, payload: Buffer) => this.onMessage(topic, payload));
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
    const kind = LEAF_KIND[leaf];
    let env: RecordEnvelope;
    try {
      env = JSON.parse(payload.toString('utf8')) as RecordEnvelope;
    } catch {
      this.counters.invalid++;
      this.log.warn({ topic }, 'record is not JSON; dropped');
      return;
    }
    if (env.schema !== RECORD_SCHEMA || env.box !== box || env.kind !== kind || !Number.isSafeInteger(env.seq) || env.seq < 1) {
      this.counters.invalid++;
      this.log.warn({ topic, schema: env.schema, seq: env.seq }, 'not an earshot record for this topic; dropped');
      return;
    }
    this.buffer.push({ site, box, seq: env.seq, kind, at: String(env.at), payload: JSON.stringify(env.data ?? null) });
    if (this.buffer.length >= this.o.ackBatchMax) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.o.ackDelayMs);
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
    this.db.transaction(() => {
      for (const r of batch) stored += this.insert.run(r.box, r.seq, r.site, r.kind, r.at, now, r.payload).changes;
    })();
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
    log: logger,
  });
  const ingest = new Ingest({ transport, db: config.db, group: config.group, prefix: config.prefix, ackDelayMs: config.ackDelayMs, ackBatchMax: config.ackBatchMax, log: logger });
  ingest.start();
  return ingest;
}
