/**
 * An MQTT 3.1.1-only broker for a test: aedes (in-process, in-memory) on a free 127.0.0.1 port. It answers an
 * MQTT 5 CONNECT with CONNACK "unacceptable protocol version", which is what the uplink's `protocol: auto` must
 * fall back from. Records what it sees: each CONNECT's protocol version, each subscription.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { EmbeddedBroker } from '../../edge/run/demo.js';

/** The product's embedded broker (what `earshot run --demo` starts), watched by a test. */
export class AedesBroker {
  /** every CONNECT the broker received: client id and protocol version (4: 3.1.1, 5: MQTT 5) */
  readonly connects: { clientId: string; protocolVersion: number }[];
  /** every subscription granted: client id and topic filter */
  readonly subscriptions: { clientId: string; topic: string }[] = [];

  private constructor(private readonly broker: EmbeddedBroker, connects: AedesBroker['connects']) {
    this.connects = connects;
    broker.aedes.on('subscribe', (subs, client) => {
      for (const s of subs) this.subscriptions.push({ clientId: client?.id ?? '', topic: s.topic });
    });
  }

  static async start(): Promise<AedesBroker> {
    const connects: AedesBroker['connects'] = [];
    const broker = await EmbeddedBroker.start(0, {
      preConnect: (_client, packet, done) => {
        connects.push({ clientId: packet.clientId, protocolVersion: packet.protocolVersion ?? 4 });
        done(null, true);
      },
    });
    return new AedesBroker(broker, connects);
  }

  get port(): number {
    return this.broker.port;
  }

  get aedes(): EmbeddedBroker['aedes'] {
    return this.broker.aedes;
  }

  get url(): string {
    return this.broker.url;
  }

  close(): Promise<void> {
    return this.broker.close();
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
