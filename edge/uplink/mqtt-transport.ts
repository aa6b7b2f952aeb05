/**
 * The MQTT transport on MQTT.js. What it does that MQTT.js's defaults do not:
 * - never queues: `queueQoSZero: false`, publishes refused while disconnected, and each connection is a fresh
 *   client, so MQTT.js's in-memory store (keyed by 16-bit packet id: it silently loses messages past 65,535
 *   queued) never holds more than the uplink's bounded in-flight window;
 * - MQTT 5 first, falling back to 3.1.1 when the broker refuses 5 (CONNACK "unacceptable protocol version" /
 *   "unsupported protocol version") or hangs up on it (RabbitMQ 3.10 cannot parse an MQTT 5 CONNECT and closes
 *   the socket without a CONNACK), and keeping to 3.1.1 for that broker for the transport's lifetime;
 * - reconnects with exponential backoff and jitter (MQTT.js's own reconnect is a fixed period);
 * - TLS with a CA and a client certificate from files.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Backoff } from '../../lib/backoff.js';
import {
  NotConnectedError,
  PUBACK_REASONS,
  PublishRefusedError,
  type MessageMeta,
  type ProtocolName,
  type PublishOptions,
  type Transport,
  type TransportEvents,
  type TransportOptions,
} from './transport.js';

const REFUSED_V5 = new Set([1, 0x84]); // v3 "unacceptable protocol version", v5 "unsupported protocol version"

/**
 * MQTT 5 CONNECTs in a row that an open connection answered with no CONNACK before 3.1.1 is tried: a single
 * one can be a broker shutting down under us, and guessing wrong would cost a v5 broker's shared
 * subscriptions and expiry until a restart.
 */
export const HANGUPS_BEFORE_FALLBACK = 2;

/**
 * Why a connection attempt failed, in words an installer can act on, and whether the broker (or its TLS
 * layer) refused us — a configuration problem, logged as an error — rather than the network failing (warn).
 */
export function describeConnectError(err: Error | null): { reason: string; refused: boolean } {
  if (!err) return { reason: 'connection closed before the broker accepted it', refused: false };
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code === 'number') return { reason: `broker refused the connection: ${err.message}`, refused: true };
  // OpenSSL's text: "...:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/..."
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(err.message)?.[1]?.trim();
  // Node's own verification of the broker's certificate: CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, ...
  const serverCert = !ssl && /CERT|UNABLE_TO_|SIGNATURE|ISSUER/.test(String(code ?? ''));
  if (ssl || serverCert || /SSL|TLS/.test(String(code ?? ''))) {
    const what = ssl ?? err.message;
    const hint = serverCert
      ? " (the broker's certificate does not verify: uplink.tls.ca, and the host name or IP in uplink.broker)"
      : /certificate required|handshake failure/.test(what)
        ? ' (the broker wants a client certificate: uplink.tls.cert and uplink.tls.key)'
        : /unknown ca|bad certificate|certificate unknown|certificate expired|certificate revoked|unsupported certificate|decrypt error/.test(what)
          ? ' (the broker does not accept this client certificate: is it signed by a CA the broker trusts, and valid?)'
          : '';
    return { reason: `TLS: ${what}${hint}`, refused: true };
  }
  return { reason: err.message, refused: false };
}

export class MqttTransport extends EventEmitter<TransportEvents> implements Transport {
  private client: MqttClient | null = null;
  private version: 4 | 5;
  private isConnected = false;
  private lastProtocol: ProtocolName | null = null;
  /** why `protocol: auto` settled on 3.1.1 (null: MQTT 5, or the protocol was configured) */
  private fallbackReason: string | null = null;
  /** consecutive MQTT 5 attempts an open connection hung up on */
  private hangups = 0;
  /**
   * Set while one 3.1.1 attempt tests whether the hang-ups were about the protocol: kept (as fallbackReason)
   * only if that attempt gets a CONNACK. A TCP proxy with nothing behind it hangs up on 3.1.1 too, and must
   * not pin a v5 broker to 3.1.1 once the broker is back.
   */
  private trialReason: string | null = null;
  private closing = false;
  private readonly reconnect: Backoff;
  /** the reason of the last connect failure logged above debug: the same reason again is logged at debug only */
  private lastFailure: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly filterSources: ((protocol: ProtocolName) => string[])[] = [];
  private readonly pending = new Set<(err: Error) => void>();
  private readonly password?: string;
  private readonly tlsFiles: { ca?: Buffer; cert?: Buffer; key?: Buffer };

  constructor(private readonly opts: TransportOptions) {
    super();
    this.version = opts.protocol === '3.1.1' ? 4 : 5;
    this.reconnect = new Backoff(opts.reconnect);
    this.password = opts.passwordFile ? readFileSync(opts.passwordFile, 'utf8').trim() : undefined;
    const tls = opts.tls;
    this.tlsFiles = {
      ca: tls?.ca ? readFileSync(tls.ca) : undefined,
      cert: tls?.cert ? readFileSync(tls.cert) : undefined,
      key: tls?.key ? readFileSync(tls.key) : undefined,
    };
  }

  get connected(): boolean {
    return this.isConnected;
  }

  get protocol(): ProtocolName | null {
    return this.lastProtocol;
  }

  get protocolFallback(): string | null {
    return this.fallbackReason;
  }

  start(): void {
    if (!this.client && !this.timer && !this.closing) this.connectNow();
  }

  private clientOptions(): IClientOptions {
    const o = this.opts;
    const options: IClientOptions = {
      protocolVersion: this.version,
      clientId: o.clientId,
      clean: o.clean,
      reconnectPeriod: 0, // we reconnect ourselves, with backoff and jitter, on a fresh client
      connectTimeout: o.connectTimeoutSec * 1000,
      keepalive: o.keepaliveSec,
      queueQoSZero: false,
      resubscribe: false,
      username: o.username || undefined,
      password: this.password,
      ...this.tlsFiles,
      rejectUnauthorized: o.tls?.rejectUnauthorized ?? true,
    };
    if (o.will) options.will = { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: 1, retain: o.will.retain };
    if (this.version === 5) {
      const properties: NonNullable<IClientOptions['properties']> = {};
      if (!o.clean && o.sessionExpirySec) properties.sessionExpiryInterval = o.sessionExpirySec;
      if (o.maxPacketBytes) properties.maximumPacketSize = o.maxPacketBytes;
      if (Object.keys(properties).length > 0) options.properties = properties;
    }
    return options;
  }

  private connectNow(): void {
    this.timer = null;
    if (this.closing) return;
    const version = this.version;
    const c = mqtt.connect(this.opts.url, this.clientOptions());
    this.client = c;
    let fallback = false;
    let lastError: Error | null = null;
    // Only a connection that reached the broker (TCP, and TLS for mqtts) and then ended without a CONNACK says
    // anything about the protocol; one that never opened (refused, timed out) is a broker that is down. Over
    // WebSockets there is no such event, so there a hang-up is treated as the network failing.
    let opened = false;
    const stream = c.stream as (typeof c.stream & { encrypted?: boolean }) | undefined;
    stream?.once(stream.encrypted ? 'secureConnect' : 'connect', () => (opened = true));
    c.on('connect', () => {
      if (this.client !== c) return;
      this.reconnect.reset();
      this.lastFailure = null;
      this.hangups = 0;
      if (this.trialReason) {
        this.fallbackReason = this.trialReason;
        this.trialReason = null;
        this.opts.log.warn({ url: this.opts.url, reason: this.fallbackReason }, `broker hung up on MQTT 5 (${this.fallbackReason}) and accepts MQTT 3.1.1: using 3.1.1 with this broker until restart`);
      }
      this.isConnected = true;
      // Small messages, one at a time: without this, Nagle plus delayed ACKs add ~40 ms to every ack round trip.
      (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      this.lastProtocol = version === 5 ? '5' : '3.1.1';
      this.subscribeOn(c, this.filterSources);
      this.opts.log.info({ url: this.opts.url, protocol: this.lastProtocol }, 'mqtt connected');
      this.emit('connect', this.lastProtocol);
    });
    c.on('message', (topic, payload, packet) => {
      if (this.client !== c) return;
      // A listener's exception must not unwind into MQTT.js's packet parser, which would drop the connection.
      try {
        this.emit('message', topic, payload, { retain: packet.retain } satisfies MessageMeta);
      } catch (err) {
        this.opts.log.error({ topic, err }, 'message handler failed; message dropped');
      }
    });
    c.on('error', (err) => {
      lastError = err;
      const code = (err as Error & { code?: unknown }).code;
      if (!this.isConnected && version === 5 && this.opts.protocol === 'auto' && typeof code === 'number' && REFUSED_V5.has(code)) fallback = true;
      // Bytes that do not parse as MQTT (no code: MQTT.js's parser): the stream cannot recover, and MQTT.js would
      // hold it open until the CONNACK timeout.
      if (!this.isConnected && opened && code === undefined) stream?.destroy();
    });
    c.on('close', () => {
      if (this.client !== c) return;
      const was = this.isConnected;
      this.isConnected = false;
      this.client = null;
      c.removeAllListeners('connect');
      c.end(true);
      this.failPending(new NotConnectedError('connection to the broker lost'));
      if (was) {
        this.opts.log.warn({ url: this.opts.url, err: lastError?.message }, 'mqtt connection lost');
        this.emit('disconnect', lastError?.message ?? 'connection closed');
      }
      if (this.closing) return;
      if (fallback) {
        this.opts.log.warn({ url: this.opts.url }, 'broker refused MQTT 5; falling back to MQTT 3.1.1');
        this.version = 4;
        this.fallbackReason = `broker refused MQTT 5 (CONNACK: ${lastError?.message ?? 'unsupported protocol version'})`;
        this.timer = setTimeout(() => this.connectNow(), 0);
        return;
      }
      if (!was && this.opts.protocol === 'auto') {
        // A TLS or CONNACK refusal after the socket opened is an answer, not a hang-up.
        const hungUp = opened && !describeConnectError(lastError).refused;
        if (version === 5) {
          this.hangups = hungUp ? this.hangups + 1 : 0;
          if (this.hangups >= HANGUPS_BEFORE_FALLBACK) {
            this.hangups = 0;
            this.version = 4;
            this.trialReason = lastError ? `no CONNACK: ${lastError.message}` : 'connection closed without a CONNACK';
            this.opts.log.info({ url: this.opts.url, reason: this.trialReason, hangups: HANGUPS_BEFORE_FALLBACK }, 'broker hung up on MQTT 5 without a CONNACK; trying MQTT 3.1.1');
            this.timer = setTimeout(() => this.connectNow(), 0);
            return;
          }
        } else if (this.trialReason) {
          // 3.1.1 fared no better: not a protocol problem, so MQTT 5 again, with backoff.
          this.opts.log.debug({ url: this.opts.url, reason: this.trialReason }, 'MQTT 3.1.1 failed too; back to MQTT 5');
          this.trialReason = null;
          this.version = 5;
        }
      }
      const delay = this.reconnect.next();
      if (!was) {
        // One clear line per distinct reason (a refused TLS handshake or CONNACK is an error: it will not fix
        // itself), then debug lines per attempt: the backoff bounds the attempts, this bounds the log.
        const { reason, refused } = describeConnectError(lastError);
        const fields = { url: this.opts.url, err: lastError?.message, reason, retryInMs: delay };
        if (reason !== this.lastFailure) {
          this.lastFailure = reason;
          this.opts.log[refused ? 'error' : 'warn'](fields, `cannot connect to ${this.opts.url}: ${reason}; retrying with backoff`);
        }
        this.opts.log.debug(fields, 'mqtt connect failed');
      }
      this.timer = setTimeout(() => this.connectNow(), delay);
    });
    // Never let the client's 'error' go unhandled (MQTT.js emits it for refused connections).
    c.on('offline', () => undefined);
  }

  private failPending(err: Error): void {
    const all = [...this.pending];
    this.pending.clear();
    for (const reject of all) reject(err);
  }

  publish(topic: string, payload: string | Buffer, options: PublishOptions): Promise<void> {
    const c = this.client;
    if (!c || !this.isConnected) return Promise.reject(new NotConnectedError());
    return new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      this.pending.add(fail);
      const props = options.expirySec && this.version === 5 ? { properties: { messageExpiryInterval: options.expirySec } } : {};
      c.publish(topic, payload, { qos: options.qos, retain: options.retain ?? false, ...props }, (err) => {
        if (!this.pending.delete(fail)) return; // already failed by a disconnect
        if (!err) return resolve();
        const code = (err as Error & { code?: unknown }).code;
        if (typeof code === 'number' && code >= 0x80) reject(new PublishRefusedError(topic, code, PUBACK_REASONS[code] ?? 'refused'));
        else reject(err);
      });
    });
  }

  subscribe(filters: string[] | ((protocol: ProtocolName) => string[])): void {
    const source = typeof filters === 'function' ? filters : () => filters;
    this.filterSources.push(source);
    if (this.client && this.isConnected) this.subscribeOn(this.client, [source]);
  }

  private subscribeOn(c: MqttClient, sources: ((protocol: ProtocolName) => string[])[]): void {
    const filters = [...new Set(sources.flatMap((s) => s(this.lastProtocol ?? '5')))];
    if (filters.length === 0) return;
    c.subscribe(filters, { qos: 1 }, (err, granted) => {
      if (err) this.opts.log.error({ err: err.message }, 'mqtt subscribe failed');
      for (const g of granted ?? []) {
        if (g.qos >= 0x80) this.opts.log.error({ topic: g.topic, reasonCode: g.qos }, 'broker refused subscription');
      }
    });
  }

  async close(last?: { topic: string; payload: string; retain: boolean }): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.client;
    if (!c) return;
    if (last && this.isConnected) {
      await Promise.race([this.publish(last.topic, last.payload, { qos: 1, retain: last.retain }).catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    }
    this.client = null;
    this.isConnected = false;
    this.failPending(new NotConnectedError('transport closed'));
    // A clean DISCONNECT: the broker does not publish the Last Will.
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        c.end(true);
        resolve();
      }, 2000);
      c.end(false, () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
