/**
 * Pieces of the `earshot run` end-to-end tests: the daemon as a child process (its pino log parsed as it
 * comes), a supervisor's view of one box on the broker (every message with its arrival time), the local
 * health endpoint, a socat pty pair standing in for the PBX's serial line, and small WAV utilities.
 * Every child started here is SIGKILLed when the test process exits, whatever happened: also when the
 * process itself is signalled (tap's timeout), through signal-exit (what tap itself uses), since a plain
 * process.on('exit') does not run on a signal.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { startCli, type CliProcess } from '../../test/support/cli.js';

export { atExit } from '../../test/support/children.js';
export { PtyPair } from './pty.js';


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One line of the daemon's pino log (JSON on stdout), with the test's clock when it arrived. */
export interface LogLine {
  level: number;
  time: number;
  msg: string;
  [k: string]: unknown;
}

/** `earshot run --config <file>` from source, as a user runs the built one. */
export class RunProcess {
  readonly logs: LogLine[] = [];
  private partial = '';
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  private exitInfo?: { code: number | null; signal: NodeJS.Signals | null; at: number };

  private constructor(private readonly cli: CliProcess) {
    cli.child.stdout!.on('data', (d: string) => {
      const lines = (this.partial + d).split('\n');
      this.partial = lines.pop() ?? '';
      for (const l of lines) {
        if (!l.startsWith('{')) continue;
        try {
          this.logs.push(JSON.parse(l) as LogLine);
        } catch {
          /* not a log line */
        }
      }
    });
    this.exit = new Promise((resolve) =>
      cli.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal, at: Date.now() };
        resolve(this.exitInfo);
      }),
    );
  }

  static start(configFile: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): RunProcess {
    return new RunProcess(startCli(['run', '--config', configFile, ...args], { env: { EARSHOT_LOG_LEVEL: 'info', ...env } }));
  }

  get child(): ChildProcess {
    return this.cli.child;
  }

  get exited(): boolean {
    return this.exitInfo !== undefined;
  }

  get stdout(): string {
    return this.cli.out();
  }

  get stderr(): string {
    return this.cli.err();
  }

  /** The last `n` characters of stdout and stderr, for a failure message. */
  tail(n = 3000): string {
    return `--- stdout (tail) ---\n${this.stdout.slice(-n)}\n--- stderr (tail) ---\n${this.stderr.slice(-n)}`;
  }

  /** Waits for a log line; fails when the daemon exits first or after `timeoutMs`. */
  async waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs.find(pred);
      if (hit) return hit;
      if (this.exited) throw new Error(`earshot run exited (${JSON.stringify(this.exitInfo)}) while waiting for ${what}\n${this.tail()}`);
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`);
      await sleep(50);
    }
  }

  /** SIGTERM, then the exit (or SIGKILL after `timeoutMs`): code, signal, and how long the stop took. */
  async terminate(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; killed: boolean }> {
    const t0 = Date.now();
    if (!this.exited) this.child.kill('SIGTERM');
    // Cleared once the race is over: a pending timer would hold the test process open for the rest of it.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([this.exit, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      const e = await this.exit;
      return { code: e.code, signal: e.signal, ms: Date.now() - t0, killed: true };
    }
    return { code: r.code, signal: r.signal, ms: r.at - t0, killed: false };
  }

  /** Whatever state it is in; never throws. */
  async kill(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await this.exit;
  }
}

/** Writes an earshot.yml (YAML) and returns its path. */
export function writeConfig(dir: string, config: Record<string, unknown>, name = 'earshot.yml'): string {
  const file = join(dir, name);
  writeFileSync(file, stringify(config));
  return file;
}

/** One MQTT message as a supervisor's screen received it. */
export interface Received {
  /** order of arrival, from 0, over every topic of the box */
  n: number;
  /** wall-clock ms at arrival */
  at: number;
  topic: string;
  leaf: string;
  text: string;
  retain: boolean;
  /** the record envelope's `data`, for records (index, alerts, events) */
  data?: Record<string, unknown>;
  seq?: number;
}

/** Everything published under `<prefix>/<site>/<box>/#`, with arrival order and time. */
export class BoxWatch {
  readonly messages: Received[] = [];

  private constructor(private readonly client: MqttClient) {}

  static async start(url: string, base: string): Promise<BoxWatch> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 200, clientId: `e2e-watch-${process.pid}-${Math.random().toString(16).slice(2, 8)}` });
    const w = new BoxWatch(client);
    client.on('message', (topic, payload, packet) => {
      const text = payload.toString('utf8');
      const m: Received = { n: w.messages.length, at: Date.now(), topic, leaf: topic.split('/').pop() ?? '', text, retain: packet.retain };
      if (m.leaf === 'index' || m.leaf === 'alerts' || m.leaf === 'events') {
        try {
          const env = JSON.parse(text) as { data?: Record<string, unknown>; seq?: number };
          m.data = env.data;
          m.seq = env.seq;
        } catch {
          /* left as text: the test will say so */
        }
      }
      w.messages.push(m);
    });
    await client.subscribeAsync(`${base}/#`, { qos: 1 });
    return w;
  }

  leaf(leaf: string): Received[] {
    return this.messages.filter((m) => m.leaf === leaf);
  }

  get indexes(): Received[] {
    return this.leaf('index');
  }

  get alerts(): Received[] {
    return this.leaf('alerts');
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** GET on the daemon's loopback health endpoint: status and parsed JSON. Bounded by `timeoutMs`. */
export async function getJson(port: number, path: string, timeoutMs = 5000): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/** A PBX record's time field, in the box's local time as the default pattern expects: `YYYY-MM-DD HH:MM:SS`. */
export function pbxTime(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

interface WavLayout {
  byteRate: number;
  blockAlign: number;
  dataOffset: number;
  dataSize: number;
  factOffset?: number;
}

function wavLayout(buf: Buffer, file: string): WavLayout {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not a RIFF/WAVE file`);
  let off = 12;
  let byteRate = 0;
  let blockAlign = 0;
  let factOffset: number | undefined;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      byteRate = buf.readUInt32LE(off + 16);
      blockAlign = buf.readUInt16LE(off + 20);
    } else if (id === 'fact') factOffset = off + 8;
    else if (id === 'data') return { byteRate, blockAlign, dataOffset: off + 8, dataSize: Math.min(size, buf.length - off - 8), factOffset };
    off += 8 + size + (size % 2);
  }
  throw new Error(`${file}: no data chunk`);
}

/** A WAV's duration in seconds, from its header (data bytes / byte rate). */
export function wavDurationSec(file: string): number {
  const l = wavLayout(readFileSync(file), file);
  return l.dataSize / l.byteRate;
}

/** The first `sec` seconds of a WAV as a new file (same format; RIFF, fact and data sizes rewritten). */
export function truncateWav(src: string, dst: string, sec: number): void {
  const buf = readFileSync(src);
  const l = wavLayout(buf, src);
  const size = Math.min(l.dataSize, Math.floor((sec * l.byteRate) / l.blockAlign) * l.blockAlign);
  const out = Buffer.from(buf.subarray(0, l.dataOffset + size));
  out.writeUInt32LE(out.length - 8, 4);
  out.writeUInt32LE(size, l.dataOffset - 4);
  if (l.factOffset !== undefined) out.writeUInt32LE(size / l.blockAlign, l.factOffset);
  writeFileSync(dst, out);
}

/** Nearest-rank percentile of `values` (p in 0..100); NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
