/** Shared pieces of the uplink hardware tests: an in-process ingest, a watcher on the broker, waiting. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino, { type Logger } from 'pino';
import { Ingest, startIngest } from '../../central/ingest.js';
import { defaultConfig } from '../../provisioning/config.js';
import { repoRoot } from './cli.js';
import { track } from './children.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { tempDir } from './temp.js';

/** Polls until `cond` holds (it may ask an async store); fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 25): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
  return Date.now() - t0;
}

/** A pino logger that keeps its lines (JSON objects) in memory. */
export function memoryLog(level = 'info'): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}

/** An in-process ingest on `url`, storing in `db` (default: a SQLite file in `dir`; or a postgres:// URL). */
export async function ingestOn(url: string, dir: string, clientId = 'ingest-1', group = 'ingest', log: Logger = memoryLog('warn').log, db = join(dir, `${clientId}.sqlite`)): Promise<Ingest> {
  const ingest = await startIngest({ ...defaultConfig().ingest, broker: url, db, clientId, group }, log);
  await waitFor('ingest to connect', () => ingest.connected, 10_000);
  await sleep(100); // its subscription (SUBACK) follows the CONNACK
  return ingest;
}

/**
 * Every message the broker delivers under `filter` (topic, payload, retain, and the MQTT 5 message expiry left
 * when it was forwarded), as a passive subscriber speaking `protocolVersion` (4 for a broker without MQTT 5).
 */
export async function watch(
  url: string,
  filter: string,
  protocolVersion: 4 | 5 = 5,
): Promise<{ messages: { topic: string; payload: Buffer; retain: boolean; expirySec?: number }[]; close: () => Promise<void> }> {
  const client = await mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 200, clientId: `watch-${process.pid}-${Math.random().toString(16).slice(2, 8)}` });
  const messages: { topic: string; payload: Buffer; retain: boolean; expirySec?: number }[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain, expirySec: packet.properties?.messageExpiryInterval }));
  client.on('connect', () => void client.subscribe(filter, { qos: 1 }));
  await client.subscribeAsync(filter, { qos: 1 });
  return { messages, close: async () => void (await client.endAsync(true)) };
}

const HARNESS = join(repoRoot, 'edge/uplink/agent-harness.ts');

/** The uplink harness (edge/uplink/agent-harness.ts) as a child process: a box a test can SIGKILL, with what it printed. */
export function spawnHarness(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ['--import=tsx', HARNESS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EARSHOT_LOG_LEVEL: 'error', ...env } });
  track(child);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exit, out: () => out, err: () => err };
}

/** Every seq a harness run reported accepted (complete lines only: a torn last line proves nothing). */
export function acceptedSeqs(out: string): number[] {
  const seqs: number[] = [];
  for (const line of out.split('\n').slice(0, -1)) {
    const m = /^accepted (\d+) (\d+)$/.exec(line);
    if (m) for (let s = Number(m[1]); s <= Number(m[2]); s++) seqs.push(s);
  }
  return seqs;
}
