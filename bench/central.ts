/**
 * `npm run bench -- central`: the centre at a year of a 100-seat floor (1,000,000 calls by default;
 * EARSHOT_BENCH_CENTRAL_CALLS to change it), into PostgreSQL (a throw-away cluster, as the tests use) and
 * into SQLite. Ingest rate is one process's storeBatch in ingest's batch size (what `earshot ingest`
 * commits per ack); the query figures are taken at checkpoints on the way up, so the report says at which
 * call count SQLite stops meeting the goals. Alert-to-browser latency is the `central-live` section.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type CallQuery, type Store } from '../central/store/store.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';
import { demoTemplates, generateCalls, GENERATED_BOXES, GENERATED_SITE, type CallTemplates } from './central-calls.js';
import { percentile, r } from './stats.js';
import { searchQueryKinds } from './central-search.js';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeMessages, type FromPublisher, type ToPublisher } from './central-publisher.js';
import { startIngest, type Ingest } from '../central/ingest.js';
import { defaultConfig } from '../provisioning/config.js';
import { Broker } from '../test/support/mosquitto.js';
import { KIND_LEAF } from '../edge/uplink/topics.js';
import { recordBody } from '../edge/uplink/signed-wire.js';
import { generateSigningKey } from '../lib/signing.js';
import { createPrivateKey } from 'node:crypto';
import pino from 'pino';

/** what `earshot ingest` commits per ack at most (ingest.ackBatchMax's default) */
const BATCH = 1000;
const GOALS = { searchP95Ms: 1000, listP95Ms: 200, ingestPerSec: 5000 };

/** Call-list queries a QA reviewer runs: each filter alone and a few together. */
function listQueries(): CallQuery[] {
  const site = GENERATED_SITE;
  return [
    { site },
    { site, agent: 'A042' },
    { site, box: 'box-03' },
    { site, line: 'desk-17' },
    { site, from: '2026-03-01T00:00:00.000Z', to: '2026-03-08T00:00:00.000Z' },
    { site, rule: 'credential-request' },
    { site, language: 'zh' },
    { site, silenceOverSec: 5 },
    { site, agitated: true, minDurationSec: 30 },
    { site, overtalkAtLeast: 2 },
  ];
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

async function queryFigures(store: Store, extra: QueryKinds): Promise<Record<string, unknown>> {
  const list: number[] = [];
  let pages = 0;
  for (const q of listQueries()) {
    for (let i = 0; i < 3; i++) {
      // The first page, then the next: keyset pagination must be as fast deep in the list.
      const [ms, first] = await timed(() => store.listCalls({ ...q, limit: 50 }));
      list.push(ms);
      if (first.next) {
        const [ms2] = await timed(() => store.listCalls({ ...q, limit: 50, after: first.next }));
        list.push(ms2);
        pages++;
      }
    }
  }
  const out: Record<string, unknown> = { listP50Ms: r(percentile(list, 0.5), 1), listP95Ms: r(percentile(list, 0.95), 1), listQueries: list.length, secondPages: pages };
  // `search`: every kind's queries together (the goal's figure), from the same runs
  const all: number[] = [];
  for (const [name, run] of Object.entries(extra)) {
    const times: number[] = [];
    // two rounds: the first reads from disk what the second finds cached
    for (let i = 0; i < 2; i++) for (const t of await run(store)) times.push(t);
    if (name.startsWith('search_')) all.push(...times);
    out[`${name}P50Ms`] = r(percentile(times, 0.5), 1);
    out[`${name}P95Ms`] = r(percentile(times, 0.95), 1);
  }
  if (all.length) Object.assign(out, { searchP50Ms: r(percentile(all, 0.5), 1), searchP95Ms: r(percentile(all, 0.95), 1) });
  return out;
}

/** More timed query kinds (search, call page): each returns its times in ms for one round. */
export type QueryKinds = Record<string, (store: Store) => Promise<number[]>>;

/**
 * The call page's API (`GET /api/calls/:box/:callId`, central/calls/routes.ts): the call, then its index and
 * alerts, for ten calls spread over what is stored, flagged ones among them.
 */
export function callPageKind(t: CallTemplates, stored: () => number, total: number): QueryKinds {
  return {
    callPage: async (store) => {
      const n = stored();
      const times: number[] = [];
      for (let k = 0; k < 10; k++) {
        const [rec] = generateCalls(t, Math.floor(((k + 0.5) / 10) * n), 1, total);
        const callId = (rec.data as { callId: string }).callId;
        const t0 = performance.now();
        const call = await store.getCall(rec.box, callId);
        if (!call) throw new Error(`bench: call ${rec.box}/${callId} is not stored`);
        await Promise.all([store.callIndex(rec.box, callId), store.alertsFor(rec.box, callId)]);
        times.push(performance.now() - t0);
      }
      return times;
    },
  };
}

/**
 * CPU seconds used so far by this process and by every process under it (mosquitto, PostgreSQL's server and
 * backends) but the bench's publisher (`publisherPid`, which reports its own), from /proc: what a record
 * costs, whatever else the machine is doing (a shared machine's records/s say more about its load than about ingest).
 */
function cpuSeconds(publisherPid: number): { self: number; others: number } {
  const tick = 100; // USER_HZ on Linux
  const stats = new Map<number, { ppid: number; sec: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const text = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(d), { ppid: Number(f[1]), sec: (Number(f[11]) + Number(f[12])) / tick });
    } catch {
      // gone meanwhile
    }
  }
  const under = (pid: number): boolean => {
    for (let p = stats.get(pid)?.ppid; p !== undefined && p > 1; p = stats.get(p)?.ppid) if (p === process.pid) return true;
    return false;
  };
  let others = 0;
  for (const [pid, x] of stats) if (pid !== publisherPid && under(pid)) others += x.sec;
  return { self: stats.get(process.pid)?.sec ?? 0, others };
}

/**
 * Records per second one ingest process stores when they come the real way: envelopes published with QoS 1
 * to a mosquitto on loopback by a publisher process of their own (bench/central-publisher.ts), received by
 * `earshot ingest`'s code (startIngest on `db`) in this process, stored in its batches, acked. The publisher
 * keeps at most WINDOW records outstanding (the broker queues 10,000 per client), as boxes waiting for their
 * acks would. Times from the first publish to the last record stored; CPU per record for ingest alone, the
 * publisher, and mosquitto with the database.
 */
export async function mqttIngestRate(db: string, t: CallTemplates, from: number, n: number, total: number, signed: boolean): Promise<Record<string, unknown>> {
  const WINDOW = 4000;
  const records = generateCalls(t, from, n, total);
  const prefix = defaultConfig().ingest.prefix;
  // Signed: each box enrolled with a key of its own, its records signed (record@2) as a box with
  // uplink.signing sends them; unsigned: boxes with no key, whose records the centre redacts again.
  const keys = new Map(GENERATED_BOXES.map((box) => [box, signed ? generateSigningKey() : null]));
  const setup = await openStore(db);
  for (const [box, key] of keys) await setup.registerBox(GENERATED_SITE, box, key?.publicKey);
  await setup.close();
  const privateKeys = new Map([...keys].map(([box, key]) => [box, key ? createPrivateKey(key.privatePem) : null]));
  const messages = records.map((x) => ({
    topic: `${prefix}/${x.site}/${x.box}/${KIND_LEAF[x.kind]}`,
    payload: recordBody(x.site, x.box, x.seq, x.kind, Date.parse(x.at), JSON.stringify(x.data), privateKeys.get(x.box) ?? null),
  }));
  const bytes = messages.reduce((a, m) => a + Buffer.byteLength(m.payload), 0);
  const dir = mkdtempSync(join(tmpdir(), 'earshot-bench-publish-'));
  const file = join(dir, 'messages.bin');
  writeMessages(file, messages);
  const broker = await Broker.start();
  let publisher: ChildProcess | null = null;
  let ingest: Ingest | null = null;
  try {
    ingest = await startIngest({ ...defaultConfig().ingest, broker: broker.url, db, clientId: 'bench-ingest', group: 'bench' }, pino({ level: 'warn' }));
    const until = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 600_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
        await new Promise((res) => setTimeout(res, 5));
      }
    };
    const started = ingest;
    await until('ingest to connect', () => started.connected);
    await new Promise((res) => setTimeout(res, 200)); // its SUBACK follows the CONNACK
    const done = () => started.counters.stored + started.counters.duplicates;
    const child = fork(fileURLToPath(new URL('./central-publisher.ts', import.meta.url)), [broker.url, file, String(WINDOW)], { execArgv: ['--import=tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    publisher = child;
    let failed: string | null = null;
    let ready = false;
    let publisherCpuSec: number | null = null;
    child.on('message', (m: FromPublisher) => {
      if ('ready' in m) ready = true;
      if ('published' in m) publisherCpuSec = m.cpuSec;
      if ('failed' in m) failed = m.failed;
    });
    child.on('exit', (code) => (failed ??= code === 0 ? null : `the publisher exited with ${code}`));
    await until('the publisher to connect', () => ready || failed !== null);
    if (failed) throw new Error(`bench: ${failed}`);
    // The publisher leaves once it has published everything: a count sent as it goes is of no use to it.
    const tell = (m: ToPublisher) => child.connected && child.send(m, () => undefined);
    started.on('stored', () => tell({ done: done() }));
    const t0 = performance.now();
    const cpu0 = cpuSeconds(child.pid!);
    tell({ go: true });
    await until('every record stored', () => done() >= n || failed !== null);
    if (failed) throw new Error(`bench: ${failed}`);
    const sec = (performance.now() - t0) / 1000;
    const cpu1 = cpuSeconds(child.pid!);
    await until('the publisher to report', () => publisherCpuSec !== null || failed !== null);
    const ms = (a: number, b: number) => r(((b - a) * 1000) / n, 3);
    const cpuMsPerRecord = { ingest: ms(cpu0.self, cpu1.self), publisher: ms(0, publisherCpuSec ?? NaN), brokerAndDatabase: ms(cpu0.others, cpu1.others) };
    const out = { records: n, signed, stored: started.counters.stored, perSec: r(n / sec, 0), cpuMsPerRecord, ingestPerSecPerCore: r(1000 / cpuMsPerRecord.ingest, 0), avgRecordKiB: r(bytes / n / 1024, 1) };
    process.stderr.write(`central bench: ingest into ${db.startsWith('postgres') ? 'PostgreSQL' : 'SQLite'} from record ${from}: ${JSON.stringify(out)}\n`);
    return out;
  } finally {
    publisher?.kill();
    await ingest?.stop();
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fill(store: Store, t: CallTemplates, total: number, checkpoints: number[], extra: QueryKinds, bytes: () => number, progress: (n: number) => void) {
  for (const box of GENERATED_BOXES) await store.registerBox(GENERATED_SITE, box);
  const points: Record<string, unknown>[] = [];
  let stored = 0;
  let storeMs = 0;
  for (const at of checkpoints) {
    while (stored < at) {
      const n = Math.min(BATCH, at - stored);
      // as ingest hands over records signed by enrolled boxes: stored as sent, in the text they came in
      const batch = generateCalls(t, stored, n, total).map((x) => ({ ...x, dataText: JSON.stringify(x.data), signed: true }));
      const [ms] = await timed(() => store.storeBatch(batch, 'closed'));
      storeMs += ms;
      stored += n;
      progress(stored);
    }
    const figures = await queryFigures(store, extra);
    points.push({ calls: stored, storeBatchPerSec: r(stored / (storeMs / 1000), 0), bytesPerCall: r(bytes() / stored, 0), ...figures });
    process.stderr.write(`central bench: ${JSON.stringify(points[points.length - 1])}\n`);
  }
  return points;
}

function meets(p: Record<string, unknown>): boolean {
  const n = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : 0);
  return n('listP95Ms') < GOALS.listP95Ms && n('searchP95Ms') < GOALS.searchP95Ms && n('callPageP95Ms') < GOALS.searchP95Ms;
}

/**
 * EARSHOT_BENCH_CENTRAL_CALLS: calls to fill each store with (default 1,000,000); EARSHOT_BENCH_CENTRAL_INGEST:
 * records per MQTT ingest measurement (default 20,000); EARSHOT_BENCH_CENTRAL_STORES: `sqlite,postgres` (default both);
 * EARSHOT_BENCH_CENTRAL_SIGNED=0: the boxes of the ingest measurement send unsigned records (default signed).
 */
export async function centralBench(): Promise<Record<string, unknown>> {
  const total = Number(process.env.EARSHOT_BENCH_CENTRAL_CALLS ?? 1_000_000);
  const ingestN = Number(process.env.EARSHOT_BENCH_CENTRAL_INGEST ?? 20_000);
  const stores = (process.env.EARSHOT_BENCH_CENTRAL_STORES ?? 'sqlite,postgres').split(',');
  const signed = process.env.EARSHOT_BENCH_CENTRAL_SIGNED !== '0';
  // 0 calls: the ingest measurement alone
  const checkpoints = total === 0 ? [] : [...new Set([0.01, 0.1, 0.25, 0.5, 1].map((f) => Math.max(1, Math.round(total * f))))];
  const templates = await demoTemplates();
  const report: Record<string, unknown> = {
    calls: total,
    goals: GOALS,
    note:
      `generated from the ${templates.indexes.length} demo calls' real indexes${templates.recognition ? ' with their transcripts' : ' (no speech models found: no transcripts)'}; ` +
      `ingest = one \`earshot ingest\` process fed ${ingestN} records through mosquitto on loopback (empty store, then the filled one), ` +
      `${signed ? 'signed by boxes enrolled with their keys (stored as sent)' : 'unsigned (EARSHOT_BENCH_CENTRAL_SIGNED=0: redacted again at the centre)'}; ` +
      `the fill itself calls storeBatch (ingest's own call) in batches of ${BATCH}`,
    loadAverageAtStart: os.loadavg().map((x) => r(x, 2)),
  };
  let stored = 0;
  const { search: _all, ...perKind } = searchQueryKinds({ perKind: true });
  const extra: QueryKinds = { ...perKind, ...callPageKind(templates, () => stored, total) };
  const progress = (n: number) => (stored = n);

  const dir = mkdtempSync(join(tmpdir(), 'earshot-bench-central-'));
  try {
    if (stores.includes('sqlite')) {
      const file = join(dir, 'central.sqlite');
      const ingestEmpty = await mqttIngestRate(join(dir, 'empty.sqlite'), templates, 0, ingestN, total || ingestN, signed);
      const sqlite = await openStore(file);
      const sizeOf = () => ['', '-wal'].reduce((a, s) => a + (statSync(file + s, { throwIfNoEntry: false })?.size ?? 0), 0);
      stored = 0;
      const points = await fill(sqlite, templates, total, checkpoints, extra, sizeOf, progress);
      await sqlite.close();
      // the next records of the floor, beyond the year, into the filled store
      const ingestFilled = total === 0 ? null : await mqttIngestRate(file, templates, total, ingestN, total, signed);
      const failing = points.find((p) => !meets(p));
      report.sqlite = { ingestEmpty, ingestFilled, points, stopsMeetingGoalsAt: failing ? failing.calls : null, loadAverageAtEnd: os.loadavg().map((x) => r(x, 2)) };
    }

    const missing = postgresMissing();
    if (!stores.includes('postgres')) {
      // not asked for
    } else if (missing) report.postgres = { skipped: missing };
    else {
      const pg = await Postgres.start();
      try {
        const ingestEmpty = await mqttIngestRate(await pg.createDatabase('empty'), templates, 0, ingestN, total || ingestN, signed);
        const url = await pg.createDatabase('bench');
        const store = await openStore(url);
        const db = url.slice(url.lastIndexOf('/') + 1);
        let size = 0;
        const sizer = async () => {
          const rows = await (store as unknown as { db: { all<T>(s: string, p: unknown[]): Promise<T[]> } }).db.all<{ n: string }>('SELECT pg_database_size(?) AS n', [db]);
          size = Number(rows[0].n);
        };
        // pg_database_size is async; read it before each checkpoint's figures are assembled.
        const extraWithSize: QueryKinds = { _size: async () => (await sizer(), []), ...extra };
        stored = 0;
        const pgPoints = await fill(store, templates, total, checkpoints, extraWithSize, () => size, progress);
        for (const p of pgPoints) for (const k of Object.keys(p)) if (k.startsWith('_size')) delete p[k];
        await store.close();
        const ingestFilled = total === 0 ? null : await mqttIngestRate(url, templates, total, ingestN, total, signed);
        const failing = pgPoints.find((p) => !meets(p));
        report.postgres = { ingestEmpty, ingestFilled, points: pgPoints, stopsMeetingGoalsAt: failing ? failing.calls : null, loadAverageAtEnd: os.loadavg().map((x) => r(x, 2)) };
      } finally {
        await pg.dispose();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return report;
}
