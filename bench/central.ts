/**
 * `npm run bench -- central`: the centre at a year of a 100-seat floor (1,000,000 calls by default;
 * EARSHOT_BENCH_CENTRAL_CALLS to change it), into PostgreSQL (a throw-away cluster, as the tests use) and
 * into SQLite. Ingest rate is one process's storeBatch in ingest's batch size (what `earshot ingest`
 * commits per ack); the query figures are taken at checkpoints on the way up, so the report says at which
 * call count SQLite stops meeting the goals. Alert-to-browser latency is the `central-live` section.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type CallQuery, type Store } from '../central/store/store.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';
import { demoTemplates, generateCalls, GENERATED_BOXES, GENERATED_SITE, type CallTemplates } from './central-calls.js';
import { percentile, r } from './stats.js';

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
  for (const [name, run] of Object.entries(extra)) {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) for (const t of await run(store)) times.push(t);
    out[`${name}P50Ms`] = r(percentile(times, 0.5), 1);
    out[`${name}P95Ms`] = r(percentile(times, 0.95), 1);
  }
  return out;
}

/** More timed query kinds (search, call page): each returns its times in ms for one round. */
export type QueryKinds = Record<string, (store: Store) => Promise<number[]>>;

async function fill(store: Store, t: CallTemplates, total: number, checkpoints: number[], extra: QueryKinds, bytes: () => number) {
  for (const box of GENERATED_BOXES) await store.registerBox(GENERATED_SITE, box);
  const points: Record<string, unknown>[] = [];
  let stored = 0;
  let storeMs = 0;
  for (const at of checkpoints) {
    while (stored < at) {
      const n = Math.min(BATCH, at - stored);
      const batch = generateCalls(t, stored, n, total);
      const [ms] = await timed(() => store.storeBatch(batch, 'closed'));
      storeMs += ms;
      stored += n;
    }
    const figures = await queryFigures(store, extra);
    points.push({ calls: stored, ingestPerSec: r(stored / (storeMs / 1000), 0), bytesPerCall: r(bytes() / stored, 0), ...figures });
  }
  return points;
}

function meets(p: Record<string, unknown>): boolean {
  const n = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : 0);
  return n('listP95Ms') < GOALS.listP95Ms && n('searchP95Ms') < GOALS.searchP95Ms && n('callPageP95Ms') < GOALS.searchP95Ms;
}

export async function centralBench(extra: QueryKinds = {}): Promise<Record<string, unknown>> {
  const total = Number(process.env.EARSHOT_BENCH_CENTRAL_CALLS ?? 1_000_000);
  const checkpoints = [...new Set([0.01, 0.1, 0.25, 0.5, 1].map((f) => Math.max(1, Math.round(total * f))))];
  const templates = await demoTemplates();
  const report: Record<string, unknown> = {
    calls: total,
    goals: GOALS,
    note: `generated from the ${templates.indexes.length} demo calls' real indexes${templates.recognition ? ' with their transcripts' : ' (no speech models found: no transcripts)'}; ingest = one process, batches of ${BATCH}`,
  };

  const dir = mkdtempSync(join(tmpdir(), 'earshot-bench-central-'));
  try {
    const file = join(dir, 'central.sqlite');
    const sqlite = await openStore(file);
    const sizeOf = () => ['', '-wal'].reduce((a, s) => a + (statSync(file + s, { throwIfNoEntry: false })?.size ?? 0), 0);
    const points = await fill(sqlite, templates, total, checkpoints, extra, sizeOf);
    await sqlite.close();
    const failing = points.find((p) => !meets(p));
    report.sqlite = { points, stopsMeetingGoalsAt: failing ? failing.calls : null };

    const missing = postgresMissing();
    if (missing) report.postgres = { skipped: missing };
    else {
      const pg = await Postgres.start();
      try {
        const url = await pg.createDatabase('bench');
        const store = await openStore(url);
        const db = url.slice(url.lastIndexOf('/') + 1);
        let size = 0;
        const sizer = async () => {
          const rows = await (store as unknown as { db: { all<T>(s: string, p: unknown[]): Promise<T[]> } }).db.all<{ n: string }>('SELECT pg_database_size(?) AS n', [db]);
          size = Number(rows[0].n);
        };
        // pg_database_size is async; read it before each checkpoint's figures are assembled.
        const extraWithSize: QueryKinds = { ...extra, _size: async () => (await sizer(), []) };
        const pgPoints = await fill(store, templates, total, checkpoints, extraWithSize, () => size);
        for (const p of pgPoints) for (const k of Object.keys(p)) if (k.startsWith('_size')) delete p[k];
        await store.close();
        report.postgres = { points: pgPoints };
      } finally {
        await pg.dispose();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return report;
}
