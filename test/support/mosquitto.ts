/**
 * A real mosquitto for a test: on a free 127.0.0.1 port, with its own config and persistence directory
 * (so SIGKILL loses what a real crash loses), stopped when the test process exits whatever happens
 * (broker-process.ts).
 */
import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { canConnect, freePort, LoopbackBroker, ServerProcess } from './broker-process.js';
import { tempDir } from './temp.js';

export { freePort };

export const MOSQUITTO = process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';

export interface BrokerOptions {
  /** mosquitto ACL file contents (anonymous clients: lines before any `user` line) */
  acl?: string;
  /** more mosquitto.conf lines */
  extra?: string;
  /**
   * A second listener, TLS, on its own free port (`tlsPort`, `tlsUrl`): the broker's certificate and key, the CA
   * it trusts for client certificates, whether a client must present one (`require_certificate`), and whether
   * the certificate's common name becomes the user name (`use_identity_as_username`).
   */
  tls?: { ca: string; cert: string; key: string; requireCertificate?: boolean; useIdentityAsUsername?: boolean };
}

export class Broker extends LoopbackBroker {
  protected readonly server: ServerProcess;

  private constructor(port: number, options: BrokerOptions, readonly tlsPort: number | null = null) {
    super(port, tempDir('mosquitto'));
    const conf = [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${this.dir}/`,
      // The default autosave: a SIGKILL loses what the broker queued since it last saved, as in production.
      'autosave_interval 1800',
      'max_queued_messages 10000',
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
    ];
    if (process.getuid?.() === 0) conf.push(`user ${userInfo().username}`);
    if (options.acl !== undefined) {
      writeFileSync(join(this.dir, 'acl'), options.acl);
      conf.push(`acl_file ${join(this.dir, 'acl')}`);
    }
    if (options.extra) conf.push(options.extra);
    // Last: the lines after a `listener` line configure that listener.
    if (options.tls && tlsPort !== null) {
      const tls = options.tls;
      conf.push(`listener ${tlsPort} 127.0.0.1`, `cafile ${tls.ca}`, `certfile ${tls.cert}`, `keyfile ${tls.key}`);
      conf.push(`require_certificate ${tls.requireCertificate ?? true}`, `use_identity_as_username ${tls.useIdentityAsUsername ?? false}`);
    }
    writeFileSync(join(this.dir, 'mosquitto.conf'), `${conf.join('\n')}\n`);
    this.server = new ServerProcess({
      name: 'mosquitto',
      command: MOSQUITTO,
      args: ['-c', join(this.dir, 'mosquitto.conf')],
      ready: async () => (await canConnect(this.port)) && (this.tlsPort === null || (await canConnect(this.tlsPort))),
      startTimeoutMs: 10_000,
    });
  }

  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const port = await freePort();
    let tlsPort: number | null = null;
    while (options.tls && (tlsPort === null || tlsPort === port)) tlsPort = await freePort();
    return Broker.started(new Broker(port, options, tlsPort));
  }

  /** `mqtts://127.0.0.1:<tlsPort>` (only with the `tls` option) */
  get tlsUrl(): string {
    if (this.tlsPort === null) throw new Error('this broker has no TLS listener (BrokerOptions.tls)');
    return `mqtts://127.0.0.1:${this.tlsPort}`;
  }
}
