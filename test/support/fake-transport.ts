/**
 * An in-memory MQTT transport for uplink and ingest unit tests: records publishes, lets a test decide each
 * outcome, and delivers messages as the broker would (with the retain flag). The real MqttTransport is
 * exercised against real brokers in hw-tests/.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import pino from 'pino';
import type { Test } from 'tap';
import { Outbox } from '../../edge/outbox/outbox.js';
import { Topics } from '../../edge/uplink/topics.js';
import { Uplink, type UplinkOptions } from '../../edge/uplink/uplink.js';
import { NotConnectedError, type MessageMeta, type ProtocolName, type PublishOptions, type Transport, type TransportEvents } from '../../edge/uplink/transport.js';

export interface Published {
  topic: string;
  payload: string;
  options: PublishOptions;
}

export class FakeTransport extends EventEmitter<TransportEvents> implements Transport {
  connected = false;
  protocol: ProtocolName | null = null;
  published: Published[] = [];
  /** Told of every publish, so a test can wait for the one it expects instead of sleeping. */
  readonly sent = new EventEmitter<{ publish: [Published] }>();
  outcome: (topic: string) => Error | null = () => null;
  start(): void {
    this.connected = true;
    this.protocol = '5';
    this.emit('connect', '5');
  }
  publish(topic: string, payload: string | Buffer, options: PublishOptions): Promise<void> {
    if (!this.connected) return Promise.reject(new NotConnectedError());
    const p = { topic, payload: String(payload), options };
    this.published.push(p);
    this.sent.emit('publish', p);
    const err = this.outcome(topic);
    return err ? Promise.reject(err) : Promise.resolve();
  }
  /**
   * Resolves once the publishes so far satisfy `done` (checked now and after each publish): a test waits for
   * what it expects instead of sleeping for a guessed time. Rejects, naming `what`, after `timeoutMs`.
   */
  until(what: string, done: (published: Published[]) => boolean, timeoutMs = 10_000): Promise<void> {
    if (done(this.published)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.sent.off('publish', check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!done(this.published)) return;
        clearTimeout(timer);
        this.sent.off('publish', check);
        resolve();
      };
      this.sent.on('publish', check);
    });
  }
  subscribe(): void {}
  async close(last?: { topic: string; payload: string; retain: boolean }): Promise<void> {
    if (last) this.published.push({ topic: last.topic, payload: last.payload, options: { qos: 1, retain: last.retain } });
    this.connected = false;
  }
  /** A message from the broker; `retain` as a broker marks one it kept from the past. */
  deliver(topic: string, payload: string | Buffer, retain = false): void {
    this.emit('message', topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload), { retain } satisfies MessageMeta);
  }
  ack(box: string, ranges: [number, number][], site = 's'): void {
    this.deliver(`earshot/${site}/${box}/ack`, JSON.stringify({ schema: 'earshot/ack@1', box, ranges }));
  }
}

/**
 * A box's uplink over a FakeTransport and a fresh outbox, as the inbound, signing and bundle tests use it:
 * ingest acks, a large window, stats only on request; `extra` adds what the test is about (signing, bundles).
 * `lines` collects what it logged, parsed.
 */
export function fakeUplink(t: Test, extra: Partial<UplinkOptions> = {}, level = 'debug') {
  const outbox = new Outbox(join(t.testdir(), 'o.sqlite'));
  const transport = new FakeTransport();
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  const uplink = new Uplink({
    outbox, transport, topics: new Topics('earshot', 's', 'b1'), ackMode: 'ingest', inflight: 64, ackTimeoutSec: 30, stalledAfter: 3,
    deniedBackoff: { minSec: 0.1, maxSec: 0.4 }, statsIntervalSec: 3600, statsExpirySec: 60, log,
    ...extra,
  });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  return { outbox, transport, uplink, lines };
}
