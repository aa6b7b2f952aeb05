/**
 * How the box talks upstream, whatever carries it (cf. Frigate's Communicator: publish, subscribe, stop).
 * The uplink, ingest and the centre's web server depend only on this interface; transports.ts makes the one
 * the configuration names (`MqttTransport`, mqtt-transport.ts, is the one there is).
 *
 * Contract: a transport never queues. `publish` while disconnected rejects at once with NotConnectedError,
 * and a connection lost with publishes in flight rejects them all: records wait in the outbox, not in a
 * client library's memory.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { MqttProtocolSetting, TlsConfig } from '../../provisioning/config.js';

export type ProtocolName = '5' | '3.1.1';

export interface PublishOptions {
  qos: 0 | 1;
  retain?: boolean;
  /** MQTT 5 message expiry, seconds (ignored on 3.1.1). Only for stats and live state: records never expire. */
  expirySec?: number;
}

export interface TransportEvents {
  connect: [protocol: ProtocolName];
  disconnect: [reason: string];
  /** A listener that throws is logged, not rethrown. */
  message: [topic: string, payload: Buffer, meta: MessageMeta];
}

export interface Transport extends EventEmitter<TransportEvents> {
  readonly connected: boolean;
  /** the protocol of the current (or last) connection, null before the first */
  readonly protocol: ProtocolName | null;
  /**
   * Why `protocol: auto` uses 3.1.1 with this broker (it refused MQTT 5 in its CONNACK, or hung up on it), kept
   * until restart; null on MQTT 5 or a configured protocol. Optional: a transport without a fallback leaves it out.
   */
  readonly protocolFallback?: string | null;
  /** starts connecting (and keeps reconnecting with backoff until close) */
  start(): void;
  /** resolves when the broker acknowledged (QoS 1) or the packet was written (QoS 0) */
  publish(topic: string, payload: string | Buffer, options: PublishOptions): Promise<void>;
  /**
   * Topic filters subscribed (QoS 1) now and again on every new connection; a function gets the connection's
   * protocol (e.g. shared subscriptions only on MQTT 5).
   */
  subscribe(filters: string[] | ((protocol: ProtocolName) => string[])): void;
  /** publishes `last` (if connected), disconnects cleanly (no Last Will), stops reconnecting */
  close(last?: { topic: string; payload: string; retain: boolean }): Promise<void>;
}

/** What every transport is made from: the broker, who we are, how to reconnect, TLS and credentials. */
export interface TransportOptions {
  url: string;
  clientId: string;
  protocol: MqttProtocolSetting;
  /** false: a persistent session (the broker keeps subscriptions and queues QoS 1 while we are away) */
  clean: boolean;
  /** session expiry for persistent sessions, seconds */
  sessionExpirySec?: number;
  keepaliveSec: number;
  connectTimeoutSec: number;
  reconnect: { minSec: number; maxSec: number; jitter: number };
  will?: { topic: string; payload: string; retain: boolean };
  username?: string;
  passwordFile?: string;
  tls?: TlsConfig;
  /** largest message this client accepts: the broker drops larger ones instead of delivering them */
  maxPacketBytes?: number;
  log: Logger;
}

export interface MessageMeta {
  /** the broker sent a retained message (one kept from the past), not one published just now */
  retain: boolean;
}

/** The transport is not connected: nothing was sent. */
export class NotConnectedError extends Error {
  constructor(message = 'not connected to the broker') {
    super(message);
    this.name = 'NotConnectedError';
  }
}

/** The broker answered the publish with a failure reason code (MQTT 5 PUBACK >= 0x80). */
export class PublishRefusedError extends Error {
  constructor(readonly topic: string, readonly reasonCode: number, readonly reason: string) {
    super(`broker refused publish to ${topic}: ${reason} (reason code 0x${reasonCode.toString(16)})`);
    this.name = 'PublishRefusedError';
  }
}

/** MQTT 5 PUBACK reason codes that mean "refused" (0x80 and up). */
export const PUBACK_REASONS: Record<number, string> = {
  0x80: 'unspecified error',
  0x83: 'implementation specific error',
  0x87: 'not authorized',
  0x90: 'topic name invalid',
  0x91: 'packet identifier in use',
  0x97: 'quota exceeded',
  0x99: 'payload format invalid',
};
