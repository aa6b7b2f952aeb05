import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import aedesModule from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { resolveConfig, type EarshotConfig, type LineConfig } from '../../provisioning/config.js';

/** The bundled demo calls: the repo's demo/ folder, found from this module whether it runs from source or dist/. */
export function demoCalls(): string[] {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const demo = path.join(dir, 'demo');
    if (existsSync(path.join(demo, 'demo-call.wav'))) {
      return readdirSync(demo)
        .filter((f) => f.endsWith('.wav'))
        .sort()
        .map((f) => path.join(demo, f));
    }
  }
  throw new Error('the bundled demo calls (demo/*.wav) are missing from this installation');
}

/**
 * Where the demo finds speech models: the configured root if it holds any, else the `shared/models` folder
 * beside the checkout (where this project's machines keep the provisioned int8 models). Without either the
 * demo still runs: signal analysis and signal rules, and it says that recognition is off.
 */
export function demoModelsRoot(configured: string): string {
  const candidates = [configured, path.resolve('..', 'shared', 'models')];
  return candidates.find((c) => existsSync(c) && readdirSync(c).length > 0) ?? configured;
}

/** One line per bundled call, plus one more replaying the first, so the box is busy as a real floor is. */
export function demoConfig(
  base: EarshotConfig,
  opts: { broker: string; loop: boolean; models?: string; embedded?: boolean; centre?: boolean },
): { config: EarshotConfig; dir: string; cleanup: () => void } {
  const calls = demoCalls();
  const lines: Record<string, Partial<LineConfig>> = {};
  const assigned = [...calls, calls[0]];
  assigned.forEach((file, i) => {
    const n = i + 1;
    lines[`desk-${n}`] = { agent: { id: `A10${n}`, extension: `10${n}` }, audio: { replay: [file], loop: opts.loop, gapSec: 3 } };
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'earshot-demo-'));
  const config = resolveConfig({
    ...base,
    lines,
    models: { ...base.models, root: opts.models ?? demoModelsRoot(base.models.root) },
    outbox: { ...base.outbox, path: path.join(dir, 'outbox.sqlite') },
    // With the demo's centre, its ingest acknowledges each record once stored, as at a real site; without
    // it, nobody acknowledges on the demo's broker but the broker itself.
    uplink: {
      ...base.uplink,
      enabled: true,
      broker: opts.broker,
      site: 'demo',
      box: 'demo-box',
      ackMode: opts.centre ? 'ingest' : 'puback',
      statsIntervalSec: 10,
      ...(opts.embedded ? { protocol: '3.1.1' } : {}),
    },
    run: { ...base.run, healthPort: base.run.healthPort },
  });
  return { config, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A broker inside the process, on loopback, for a demo with no broker configured. aedes speaks MQTT 3.1.1
 * only; the uplink's `protocol: auto` falls back to it.
 */
export class EmbeddedBroker {
  private readonly sockets = new Set<Socket>();

  private constructor(readonly port: number, readonly aedes: ReturnType<typeof aedesModule.createBroker>, private readonly server: Server) {
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  static async start(port = 0, options?: Parameters<typeof aedesModule.createBroker>[0]): Promise<EmbeddedBroker> {
    const aedes = aedesModule.createBroker(options);
    const server = createServer(aedes.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return new EmbeddedBroker((server.address() as { port: number }).port, aedes, server);
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

/** What a supervisor's screen would subscribe to: every alert and index the box publishes. */
export async function watchBroker(url: string, prefix: string, onMessage: (leaf: string, data: Record<string, unknown>) => void): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 1000, clientId: `earshot-demo-watch-${process.pid}` });
  client.on('message', (topic, payload) => {
    try {
      const envelope = JSON.parse(payload.toString('utf8')) as { data?: Record<string, unknown> };
      onMessage(topic.split('/').pop() ?? '', envelope.data ?? {});
    } catch {
      // stats and availability are not records; the demo shows only records
    }
  });
  await client.subscribeAsync([`${prefix}/+/+/alerts`, `${prefix}/+/+/index`], { qos: 1 });
  return client;
}
