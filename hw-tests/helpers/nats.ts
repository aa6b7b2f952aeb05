/**
 * A real nats-server with its MQTT listener for a test: on free 127.0.0.1 ports (MQTT, and NATS's own client
 * port, which it always opens), JetStream in a temporary directory (its MQTT support keeps sessions,
 * retained messages and QoS 1 messages in JetStream, and will not start the listener without JetStream and a
 * `server_name`). A stop and start keeps the directory, so the broker comes back with what it stored.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts, LoopbackBroker, mqttAnswers, ServerProcess } from '../../test/support/broker-process.js';
import { tempDir } from '../../test/support/temp.js';

export const NATS_SERVER = process.env.NATS_SERVER ?? '/usr/sbin/nats-server';

export class NatsBroker extends LoopbackBroker {
  protected readonly server: ServerProcess;

  private constructor(port: number, clientPort: number) {
    super(port, tempDir('nats'));
    const conf = [
      'server_name: earshot-test',
      'host: 127.0.0.1',
      `port: ${clientPort}`,
      `jetstream { store_dir: "${join(this.dir, 'js')}", max_memory_store: 64MB, max_file_store: 1GB }`,
      `mqtt { host: 127.0.0.1, port: ${port} }`,
    ];
    writeFileSync(join(this.dir, 'nats.conf'), `${conf.join('\n')}\n`);
    this.server = new ServerProcess({ name: 'nats-server', command: NATS_SERVER, args: ['-c', join(this.dir, 'nats.conf')], ready: () => mqttAnswers(port), startTimeoutMs: 15_000 });
  }

  static async start(): Promise<NatsBroker> {
    const [port, clientPort] = await freePorts(2);
    return NatsBroker.started(new NatsBroker(port, clientPort));
  }
}
