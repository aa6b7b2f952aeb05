/**
 * The one gate for everything that arrives from the broker, at the box (acks, commands) and at ingest
 * (records, availability, status, stats). Anyone who can publish to the broker can send anything, so a
 * payload is bounded in size and nesting before it is parsed, must be UTF-8, and is checked against its
 * schema (wire.schema.json) before any field is read. A payload that fails is counted and dropped with a
 * warning naming the topic and the reason; a subscriber's handler that throws is caught here too, so one
 * message can cost at most itself.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import schema from './wire.schema.json' with { type: 'json' };
import type { AckMessage, RecordEnvelope } from './topics.js';
import { lazy } from '../../lib/lazy.js';

export interface CommandMessage {
  schema?: string;
  /** command@2: the box and site it is for, and when the centre signed it */
  box?: string;
  site?: string;
  at?: string;
  cmd: string;
  /** the sender's id for this command: a command whose id was already obeyed is not obeyed again */
  id?: string;
  /** cmd bundle: a signed bundle's text (edge/bundles/bundle.ts) */
  bundle?: string;
  /** command@2: the centre's signature */
  sig?: string;
}

export interface StatusMessage {
  schema: string;
  box: string;
  site: string;
  state: 'ok' | 'degraded';
  problems: { code: string; message: string }[];
}

export interface StatsMessage {
  schema: string;
  box: string;
  site: string;
  [field: string]: unknown;
}

export type Availability = 'online' | 'offline' | 'stopped';

/** One line of the floor as it is now (earshot/live@1): state and signal measures, never audio or words. */
export interface LiveLine {
  name: string;
  agentId?: string;
  state: 'starting' | 'idle' | 'in-call' | 'faulted' | 'stopped';
  fault?: string;
  /** present while a call is open */
  callId?: string;
  inCallSec?: number;
  talking?: 'agent' | 'customer' | 'both' | 'none';
  silenceSec?: number;
  /** the customer's agitation, 0..1 */
  agitation?: number;
  shedding: boolean;
  backlogSec: number;
}

/** The box's floor as it is now, every uplink.liveIntervalSec, QoS 0 with a short expiry: state, not history. */
export interface LiveMessage {
  schema: string;
  box: string;
  site: string;
  kind: 'live';
  seq: null;
  at: string;
  intervalSec: number;
  outboxDepth: number;
  lines: LiveLine[];
}

/** An acknowledgement of a live alert, from the central web process that took it to the others. */
export interface FloorAckMessage {
  schema: string;
  site: string;
  /** the alert across its revisions: box/callId/alertId */
  key: string;
  by: string;
  at: string;
}

interface WireTypes {
  ack: AckMessage;
  'floor-ack': FloorAckMessage;
  command: CommandMessage;
  record: RecordEnvelope;
  status: StatusMessage;
  stats: StatsMessage;
  availability: Availability;
  live: LiveMessage;
}

export type WireKind = keyof WireTypes;

/**
 * Largest payload accepted per kind. A record carries a whole call index (a long call's words with their
 * times: a few hundred KB); acks list ranges; commands are a few words. The MQTT client announces the
 * largest of what a process subscribes to as its maximum packet size (MQTT 5), so the broker does not even
 * deliver what would be dropped here.
 */
export const MAX_PAYLOAD_BYTES: Record<WireKind, number> = {
  ack: 256 * 1024,
  // a signed bundle (192 KB at most, edge/bundles/bundle.ts) escaped inside a command
  command: 256 * 1024,
  record: 16 * 1024 * 1024,
  status: 256 * 1024,
  stats: 1024 * 1024,
  availability: 16,
  // a box has tens of lines, each a few hundred bytes
  live: 256 * 1024,
  'floor-ack': 4 * 1024,
};

/** A call index nests about six levels deep; JSON.parse and JSON.stringify recurse, so depth is bounded before either runs. */
export const MAX_NESTING = 64;

/** The MQTT packet size to announce for a process that receives these kinds: the largest payload plus topic and header room. */
export function maxPacketBytes(kinds: WireKind[]): number {
  return Math.max(...kinds.map((k) => MAX_PAYLOAD_BYTES[k])) + 64 * 1024;
}

const AVAILABILITY = new Set<string>(['online', 'offline', 'stopped']);

// Each kind's validator is compiled on its first message: a process validates only the kinds it receives.
const wireAjv = lazy(() => new Ajv({ allErrors: false, strict: true }).addSchema(schema));
const validators: Partial<Record<Exclude<WireKind, 'availability'>, ValidateFunction>> = {};
const validatorFor = (kind: Exclude<WireKind, 'availability'>): ValidateFunction =>
  (validators[kind] ??= wireAjv().getSchema(`earshot-wire#/definitions/${kind}`) as ValidateFunction);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The payload as text, or null when it is not UTF-8. Decoding leniently and checking for the replacement
 * character is a few times cheaper than the strict decoder on a record of kilobytes (ingest decodes every
 * one); only a payload that holds U+FFFD, invalid or written so, is decoded again strictly to tell which.
 */
function decodeUtf8(payload: Buffer): string | null {
  const text = payload.toString('utf8');
  // as the strict decoder does, a byte-order mark is not part of the text
  if (!text.includes('\uFFFD')) return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return utf8.decode(payload);
  } catch {
    return null;
  }
}

/** How deeply arrays and objects nest in JSON text, stopping as soon as `limit` is passed (strings are skipped). */
export function jsonNestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * The JSON text of the top-level object's member `name` exactly as written in `text` (JSON that parsed), or
 * null: not an object, no such member, or a member name written with an escape (it could spell `name` in a
 * way this would not see). With a name given twice, the last, as JSON.parse takes it. One pass, nothing
 * parsed: what lets ingest store a record's `data` as the box sent it instead of serialising it again.
 */
export function memberText(text: string, name: string): string | null {
  let depth = 0;
  let expectName = false;
  let matching = false;
  let valueStart = -1;
  let found: string | null = null;
  let i = 0;
  while (i < text.length && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x0a || text.charCodeAt(i) === 0x0d || text.charCodeAt(i) === 0x09)) i++;
  if (text.charCodeAt(i) !== 0x7b) return null;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i + 1;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          escaped = true;
          i++;
        } else if (d === 0x22) break;
      }
      if (depth === 1 && expectName) {
        if (escaped) return null;
        matching = i - start === name.length && text.startsWith(name, start);
        expectName = false;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth === 1) expectName = true;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth-- === 1 && matching) found = text.slice(valueStart, i).trim();
    } else if (depth === 1) {
      if (c === 0x3a) valueStart = i + 1;
      else if (c === 0x2c) {
        if (matching) found = text.slice(valueStart, i).trim();
        matching = false;
        expectName = true;
      }
    }
  }
  return found;
}

/** `text`: the payload as decoded, for a receiver that keeps part of it as it came (memberText). */
export type WireResult<K extends WireKind> = { ok: true; value: WireTypes[K]; text: string } | { ok: false; reason: string };

/** Bounds, decodes, parses and validates one payload; never throws. */
export function readWire<K extends WireKind>(kind: K, payload: Buffer): WireResult<K> {
  const max = MAX_PAYLOAD_BYTES[kind];
  if (payload.length === 0) return { ok: false, reason: 'empty payload' };
  if (payload.length > max) return { ok: false, reason: `payload of ${payload.length} bytes is over the ${max}-byte limit for ${kind}` };
  const text = decodeUtf8(payload);
  if (text === null) return { ok: false, reason: 'payload is not UTF-8' };
  if (kind === 'availability') {
    return AVAILABILITY.has(text) ? { ok: true, value: text as WireTypes[K], text } : { ok: false, reason: 'availability is not online, offline or stopped' };
  }
  if (jsonNestingExceeds(text, MAX_NESTING)) return { ok: false, reason: `JSON nested deeper than ${MAX_NESTING} levels` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON (${(err as Error).message.slice(0, 80)})` };
  }
  const validate = validatorFor(kind as Exclude<WireKind, 'availability'>);
  if (!validate(value)) {
    const e = validate.errors?.[0];
    return { ok: false, reason: `not an ${schemaName(kind)}: ${e ? `${e.instancePath || '(root)'} ${e.message}` : 'invalid'}` };
  }
  return { ok: true, value: value as WireTypes[K], text };
}

function schemaName(kind: WireKind): string {
  return `earshot/${kind}`;
}

export interface InboundCounters {
  /** payloads dropped for failing their bounds or schema, or not meant for this receiver */
  rejected: number;
  /** of those, per topic leaf (ack, command, index, ...) */
  rejectedByTopic: Record<string, number>;
  /** retained messages on control topics, not obeyed */
  retainedIgnored: number;
  /** handlers that threw: the message was dropped, the process went on */
  handlerErrors: number;
  /** the reason of the last rejection, for stats */
  lastRejection: string | null;
}

/** Warnings per topic leaf per window: a storm of garbage must not become a storm of log lines. */
const LOG_BURST = 5;
const LOG_WINDOW_MS = 10_000;

/**
 * What a subscriber does with a payload it will not use: counts it, and logs it (a few lines per topic per
 * window, then one line saying how many were not logged). And the catch around every handler.
 */
export class InboundGuard {
  readonly counters: InboundCounters = { rejected: 0, rejectedByTopic: {}, retainedIgnored: 0, handlerErrors: 0, lastRejection: null };
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(private readonly log: Logger) {}

  reject(topic: string, reason: string): void {
    const leaf = topicLeaf(topic);
    this.counters.rejected++;
    this.counters.rejectedByTopic[leaf] = (this.counters.rejectedByTopic[leaf] ?? 0) + 1;
    this.counters.lastRejection = `${leaf}: ${reason}`;
    this.warn(leaf, { topic, reason }, `message on ${topic} dropped: ${reason}`);
  }

  /** A retained ack or command was written once by someone and is heard again at every reconnect: never obeyed. */
  retained(topic: string): void {
    this.counters.retainedIgnored++;
    this.warn(topicLeaf(topic), { topic }, `retained message on ${topic} ignored: acks and commands are obeyed only when sent live`);
  }

  /** Runs a subscriber's handler; whatever it throws is logged with the topic and counted, never rethrown. */
  run(topic: string, handle: () => void): void {
    try {
      handle();
    } catch (err) {
      this.counters.handlerErrors++;
      this.log.error({ topic, err }, `handling a message on ${topic} failed; message dropped, nothing else affected`);
    }
  }

  snapshot(): InboundCounters {
    return { ...this.counters, rejectedByTopic: { ...this.counters.rejectedByTopic } };
  }

  private warn(leaf: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    let w = this.windows.get(leaf);
    if (!w || now - w.start >= LOG_WINDOW_MS) {
      if (w && w.suppressed > 0) this.log.warn({ topicLeaf: leaf, notLogged: w.suppressed }, `${w.suppressed} more dropped message(s) on ${leaf} topics were not logged`);
      w = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(leaf, w);
    }
    if (w.logged < LOG_BURST) {
      w.logged++;
      this.log.warn(fields, message);
    } else w.suppressed++;
  }
}

function topicLeaf(topic: string): string {
  return topic.slice(topic.lastIndexOf('/') + 1).slice(0, 32);
}
