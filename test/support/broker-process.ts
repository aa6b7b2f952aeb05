/**
 * What the real-broker helpers (mosquitto, nats-server, rabbitmq-server) share: free loopback ports, a server
 * process started (and started again after a stop, with the same arguments and data) and waited for until it
 * listens, its output kept for a failure message, and its whole process group killed when the test process
 * ends, by exit or by a signal (rabbitmq-server is a shell script with the Erlang VM as its child).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import mqtt from 'mqtt';
import { atExit } from './children.js';

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

/** `n` distinct free ports (freePort alone may hand out the same one twice, since each is closed before use) */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Whether an MQTT 3.1.1 CONNECT on `port` gets a CONNACK: a listening socket is not enough for a broker that
 * accepts connections before it can serve them (NATS waits for JetStream, RabbitMQ for its plugins).
 */
export async function mqttAnswers(port: number): Promise<boolean> {
  try {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 2000, clientId: `ready-${process.pid}-${port}` });
    await c.endAsync(true);
    return true;
  } catch {
    return false;
  }
}

export interface ServerSpec {
  /** for messages: "mosquitto", "rabbitmq-server", ... */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** run as this user (the test runs as root; RabbitMQ's data must belong to `rabbitmq`) */
  uid?: number;
  gid?: number;
  cwd?: string;
  /** resolves true once the server serves */
  ready: () => Promise<boolean>;
  /** how long a start may take */
  startTimeoutMs: number;
}

export class ServerProcess {
  private proc: ChildProcess | null = null;
  /** stdout and stderr of every run so far */
  log = '';

  constructor(private readonly spec: ServerSpec) {}

  get running(): boolean {
    return this.proc !== null;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Starts (again, after stop or kill: same command, same data); resolves when `ready`, with the ms it took. */
  async start(): Promise<number> {
    if (this.proc) return 0;
    const t0 = Date.now();
    const { spec } = this;
    // Its own process group, so that the stop and the kill at exit reach the children too.
    const p = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'], env: spec.env ?? process.env, uid: spec.uid, gid: spec.gid, cwd: spec.cwd, detached: true });
    this.proc = p;
    const pid = p.pid;
    if (pid !== undefined) atExit(() => process.kill(-pid, 'SIGKILL'));
    for (const s of [p.stdout, p.stderr]) {
      s?.setEncoding('utf8');
      s?.on('data', (d: string) => {
        this.log += d;
      });
    }
    p.once('exit', () => {
      if (this.proc === p) this.proc = null;
    });
    p.once('error', (err) => {
      this.log += `\n${spec.name}: ${err.message}\n`;
      if (this.proc === p) this.proc = null;
    });
    const deadline = t0 + spec.startTimeoutMs;
    while (Date.now() < deadline) {
      if (this.proc !== p) throw new Error(`${spec.name} exited at start:\n${this.log.slice(-4000)}`);
      if (await spec.ready()) return Date.now() - t0;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${spec.name} was not ready within ${spec.startTimeoutMs} ms:\n${this.log.slice(-4000)}`);
  }

  private async end(signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const p = this.proc;
    if (!p || p.pid === undefined) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    const late = setTimeout(() => {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    await exited;
    clearTimeout(late);
    // Whatever the server left in its group (a SIGKILL reaches only the leader).
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      /* nothing left */
    }
    this.proc = null;
  }

  /** Clean shutdown (SIGTERM; SIGKILL after `timeoutMs`). */
  stop(timeoutMs = 30_000): Promise<void> {
    return this.end('SIGTERM', timeoutMs);
  }

  /** Crash (SIGKILL): whatever the server had not saved is gone. */
  kill(): Promise<void> {
    return this.end('SIGKILL', 5000);
  }
}

/** A broker for a test on 127.0.0.1:`port` with its data in `dir`; a subclass writes its config and `server`. */
export abstract class LoopbackBroker {
  protected abstract readonly server: ServerProcess;

  constructor(readonly port: number, readonly dir: string) {}

  /** `b`, started; a broker that cannot start leaves no process or directory behind. */
  protected static async started<B extends LoopbackBroker>(b: B): Promise<B> {
    try {
      await b.start();
      return b;
    } catch (err) {
      await b.dispose();
      throw err;
    }
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** what the broker printed */
  get log(): string {
    return this.server.log;
  }

  get running(): boolean {
    return this.server.running;
  }

  /** Starts (again, after stop or kill: same ports, same data); resolves with the ms until it was ready. */
  start(): Promise<number> {
    return this.server.start();
  }

  /** Clean shutdown (SIGTERM): the broker saves what it keeps. */
  stop(): Promise<void> {
    return this.server.stop();
  }

  /** Crash (SIGKILL): what it had not saved is gone. */
  kill(): Promise<void> {
    return this.server.kill();
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
