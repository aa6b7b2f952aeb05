/**
 * A real mosquitto for a test: on a free 127.0.0.1 port, with its own config and persistence directory
 * (so SIGKILL loses what a real crash loses), stopped when the test process exits whatever happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO = process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

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

export class Broker {
  readonly dir: string;
  private proc: ChildProcess | null = null;
  log = '';

  private constructor(readonly port: number, private readonly options: BrokerOptions, readonly tlsPort: number | null = null) {
    this.dir = mkdtempSync(join(tmpdir(), 'earshot-mosquitto-'));
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
  }

  static async start(options: BrokerOptions = {}): Promise<Broker> {
    const port = await freePort();
    let tlsPort: number | null = null;
    while (options.tls && (tlsPort === null || tlsPort === port)) tlsPort = await freePort();
    const b = new Broker(port, options, tlsPort);
    await b.start();
    return b;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** `mqtts://127.0.0.1:<tlsPort>` (only with the `tls` option) */
  get tlsUrl(): string {
    if (this.tlsPort === null) throw new Error('this broker has no TLS listener (BrokerOptions.tls)');
    return `mqtts://127.0.0.1:${this.tlsPort}`;
  }

  get running(): boolean {
    return this.proc !== null;
  }

  /** Starts (again, after stop or kill: same port, same persistence). */
  async start(): Promise<void> {
    if (this.proc) return;
    const p = spawn(MOSQUITTO, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(p);
    this.proc = p;
    p.stderr?.setEncoding('utf8');
    p.stderr?.on('data', (d: string) => {
      this.log += d;
    });
    p.once('exit', () => {
      live.delete(p);
      if (this.proc === p) this.proc = null;
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (!this.proc) throw new Error(`mosquitto exited at start:\n${this.log}`);
      if ((await canConnect(this.port)) && (this.tlsPort === null || (await canConnect(this.tlsPort)))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`mosquitto did not listen on ${this.port} within 10 s:\n${this.log}`);
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
    this.proc = null;
  }

  /** Clean shutdown (SIGTERM): the broker saves its persistence file. */
  stop(): Promise<void> {
    return this.end('SIGTERM');
  }

  /** Crash (SIGKILL): what it queued since its last autosave is gone. */
  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
