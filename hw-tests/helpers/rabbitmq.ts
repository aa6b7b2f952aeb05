/**
 * A real RabbitMQ with `rabbitmq_mqtt` for a test, private in every way a second node on the machine (or the
 * Debian package's own `rabbit@host`, if it runs) would clash with: its own node name, config, plugins file,
 * mnesia and log directories and Erlang cookie (HOME) in a temporary directory owned by `rabbitmq` (the
 * server refuses root's files), its own epmd on a free port (epmd is per machine otherwise, and outlives the
 * node), a free Erlang distribution port, and only an MQTT listener on 127.0.0.1 (no AMQP).
 * A stop and start is the same node on the same mnesia directory: it comes back with what it stored.
 * It takes about 25 s to start here, so tests share one.
 */
import { chownSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { canConnect, freePorts, LoopbackBroker, mqttAnswers, ServerProcess } from '../../test/support/broker-process.js';
import { tempDir } from '../../test/support/temp.js';

export const RABBITMQ_SERVER = process.env.RABBITMQ_SERVER ?? '/usr/lib/rabbitmq/bin/rabbitmq-server';
export const EPMD = process.env.EPMD ?? '/usr/bin/epmd';

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

/** The `rabbitmq` account when the test runs as root (the server will not run as root); else whoever runs it. */
function account(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'rabbitmq'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

export class RabbitBroker extends LoopbackBroker {
  protected readonly server: ServerProcess;
  private readonly epmd: ServerProcess;
  readonly nodeName: string;

  private constructor(port: number, distPort: number, epmdPort: number) {
    super(port, tempDir('rabbitmq'));
    const dir = this.dir;
    this.nodeName = `earshot${process.pid}p${port}@localhost`;
    writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_mqtt].\n');
    writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
    writeFileSync(
      join(dir, 'rabbitmq.conf'),
      [
        'listeners.tcp = none',
        `mqtt.listeners.tcp.1 = 127.0.0.1:${port}`,
        'mqtt.allow_anonymous = true',
        // guest, the anonymous MQTT user, may connect from loopback only: which is where the test is.
        'log.console = true',
        'log.console.level = warning',
        'log.file = false',
        '',
      ].join('\n'),
    );
    const user = account();
    if (user) chownTree(dir, user.uid, user.gid);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      HOME: dir,
      ERL_EPMD_PORT: String(epmdPort),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
    };
    this.epmd = new ServerProcess({ name: 'epmd', command: EPMD, args: ['-port', String(epmdPort), '-address', '127.0.0.1'], env, ...user, ready: () => canConnect(epmdPort), startTimeoutMs: 5000 });
    this.server = new ServerProcess({ name: 'rabbitmq-server', command: RABBITMQ_SERVER, args: [], env, ...user, cwd: dir, ready: () => mqttAnswers(port), startTimeoutMs: 90_000 });
  }

  static async start(): Promise<RabbitBroker> {
    const [port, distPort, epmdPort] = await freePorts(3);
    return RabbitBroker.started(new RabbitBroker(port, distPort, epmdPort));
  }

  override async start(): Promise<number> {
    await this.epmd.start();
    return this.server.start();
  }

  override async dispose(): Promise<void> {
    // A clean stop: the script waits for the Erlang VM, which a SIGKILL would leave as init's zombie.
    await this.stop();
    await super.dispose();
    await this.epmd.kill();
  }
}
