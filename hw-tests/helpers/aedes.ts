/**
 * An MQTT 3.1.1-only broker for a test: aedes (in-process, in-memory) on a free 127.0.0.1 port. It answers an
 * MQTT 5 CONNECT with CONNACK "unacceptable protocol version", which is what the uplink's `protocol: auto` must
 * fall back from. Records what it sees: each CONNECT's protocol version, each subscription.
 */
import { createServer, type Server, type Socket } from 'node:net';
import aedesModule from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort } from './mosquitto.js';

// aedes is CommonJS: from ESM its default import is module.exports, the factory (also as .createBroker).
type Aedes = ReturnType<typeof aedesModule.createBroker>;

export class AedesBroker {
  /** every CONNECT the broker received: client id and protocol version (4: 3.1.1, 5: MQTT 5) */
  readonly connects: { clientId: string; protocolVersion: number }[];
  /** every subscription granted: client id and topic filter */
  readonly subscriptions: { clientId: string; topic: string }[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(readonly port: number, readonly aedes: Aedes, private readonly server: Server, connects: AedesBroker['connects']) {
    this.connects = connects;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    aedes.on('subscribe', (subs, client) => {
      for (const s of subs) this.subscriptions.push({ clientId: client?.id ?? '', topic: s.topic });
    });
  }

  static async start(): Promise<AedesBroker> {
    const port = await freePort();
    const connects: AedesBroker['connects'] = [];
    const aedes = aedesModule.createBroker({
      preConnect: (_client, packet, done) => {
        connects.push({ clientId: packet.clientId, protocolVersion: packet.protocolVersion ?? 4 });
        done(null, true);
      },
    });
    const server = createServer(aedes.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return new AedesBroker(port, aedes, server, connects);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }
}

/** A passive MQTT 3.1.1 subscriber: every message under `filter` with its retain flag. */
export async function watch311(url: string, filter: string): Promise<{ client: MqttClient; messages: { topic: string; payload: string; retain: boolean }[]; close: () => Promise<void> }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clientId: `watch-${process.pid}-${Math.random().toString(16).slice(2, 8)}` });
  const messages: { topic: string; payload: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload: payload.toString('utf8'), retain: packet.retain }));
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, messages, close: async () => void (await client.endAsync(true)) };
}
