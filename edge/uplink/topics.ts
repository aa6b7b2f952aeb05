/**
 * Topic layout (docs/mqtt.md): `<prefix>/<site>/<box>/<leaf>`.
 */
import type { RecordKind } from '../outbox/outbox.js';

export const RECORD_SCHEMA = 'earshot/record@1';
export const ACK_SCHEMA = 'earshot/ack@1';
/** The signed versions (edge/uplink/signed-wire.ts): the same fields, plus who and when where they were missing, and `sig`. */
export const SIGNED_RECORD_SCHEMA = 'earshot/record@2';
export const SIGNED_ACK_SCHEMA = 'earshot/ack@2';
export const SIGNED_COMMAND_SCHEMA = 'earshot/command@2';
export const STATS_SCHEMA = 'earshot/stats@1';
export const STATUS_SCHEMA = 'earshot/status@1';
export const LIVE_SCHEMA = 'earshot/live@1';
export const FLOOR_ACK_SCHEMA = 'earshot/floor-ack@1';

/**
 * Where central web processes tell each other of an acknowledgement: five levels under the prefix, so no
 * box topic filter (`<prefix>/+/+/<leaf>`) ever matches it, whatever a site or box is called.
 */
export function floorAckTopic(prefix: string, site: string): string {
  return `${prefix}/centre/floor/acks/${site}`;
}

/** Which leaf topic each outbox kind is published on. */
export const KIND_LEAF: Record<RecordKind, string> = { index: 'index', alert: 'alerts', status: 'events' };
export const LEAF_KIND: Record<string, RecordKind> = { index: 'index', alerts: 'alert', events: 'status' };

export class Topics {
  readonly base: string;
  constructor(readonly prefix: string, readonly site: string, readonly box: string) {
    this.base = `${prefix}/${site}/${box}`;
  }
  get availability(): string {
    return `${this.base}/availability`;
  }
  get stats(): string {
    return `${this.base}/stats`;
  }
  get status(): string {
    return `${this.base}/status`;
  }
  get live(): string {
    return `${this.base}/live`;
  }
  get command(): string {
    return `${this.base}/command`;
  }
  get ack(): string {
    return `${this.base}/ack`;
  }
  record(kind: RecordKind): string {
    return `${this.base}/${KIND_LEAF[kind]}`;
  }
}

/** The envelope every outbox record is published in. */
export interface RecordEnvelope {
  schema: typeof RECORD_SCHEMA | typeof SIGNED_RECORD_SCHEMA;
  box: string;
  site: string;
  seq: number;
  kind: RecordKind;
  /** when the box accepted the record (ISO 8601) */
  at: string;
  /** the record itself (e.g. an earshot/call-index@1 document), redacted */
  data: unknown;
  /** record@2: the box's signature (lib/signing.ts) */
  sig?: string;
}

export interface AckMessage {
  schema: typeof ACK_SCHEMA | typeof SIGNED_ACK_SCHEMA;
  box: string;
  /** ack@2: the box's site and when the centre signed it */
  site?: string;
  at?: string;
  /** inclusive ranges of acknowledged seqs */
  ranges: [number, number][];
  /** ack@2: the centre's signature */
  sig?: string;
}

/** Sorted, deduplicated seqs as inclusive ranges: [1,2,3,7] -> [[1,3],[7,7]]. */
export function toRanges(seqs: Iterable<number>): [number, number][] {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s === last[1] + 1) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}
