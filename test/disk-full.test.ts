/**
 * A full disk without root: SQLite's `max_page_count` makes a database file refuse to grow with the very
 * error a full disk gives (SQLITE_FULL), so the outbox, the uplink and ingest meet it as they would on a full
 * file system. The real thing, on a small tmpfs, is hw-tests/disk-full.test.ts.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { DiskFullError, isDiskFull, writeFileAtomic, writeFileAtomicSync } from '../lib/disk.js';
import { Outbox } from '../edge/outbox/outbox.js';
import { Uplink } from '../edge/uplink/uplink.js';
import { Topics } from '../edge/uplink/topics.js';
import { Ingest } from '../central/ingest.js';
import { openStore } from '../central/store/store.js';
import { sqliteHandle } from '../central/store/sqlite.js';
import { NotConnectedError, type ProtocolName, type PublishOptions, type Transport, type TransportEvents } from '../edge/uplink/transport.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function memoryLog() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) }) };
}

/** Caps the database at its current size plus `extraPages`: beyond that every write fails with SQLITE_FULL. */
function capPages(db: Database.Database, extraPages: number): void {
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages + extraPages}`);
}
const uncap = (db: Database.Database) => db.pragma('max_page_count = 1073741823');

/** A transport that is never connected (the uplink keeps records in its outbox), or records what ingest publishes. */
class QuietTransport extends EventEmitter<TransportEvents> implements Transport {
  connected = false;
  protocol: ProtocolName | null = null;
  published: { topic: string; payload: string }[] = [];
  start(): void {}
  subscribe(): void {}
  publish(topic: string, payload: string | Buffer, _options: PublishOptions): Promise<void> {
    if (!this.connected) return Promise.reject(new NotConnectedError());
    this.published.push({ topic, payload: String(payload) });
    return Promise.resolve();
  }
  async close(): Promise<void> {
    this.connected = false;
  }
}

const pad = 'x'.repeat(3000);

t.test('outbox: a full disk refuses the record, keeps every accepted one and its counters, and takes records again', async (t) => {
  const file = join(t.testdir(), 'o.sqlite');
  const ob = new Outbox(file);
  for (let i = 0; i < 5; i++) ob.append('index', { i, pad });
  capPages(ob.db, 4);
  let accepted = 5;
  let refusal: unknown;
  for (let i = 5; i < 50 && !refusal; i++) {
    try {
      ob.append(i % 2 ? 'alert' : 'index', { i, pad });
      accepted++;
    } catch (err) {
      refusal = err;
    }
  }
  t.type(refusal, DiskFullError, 'a full disk is a DiskFullError');
  const full = refusal as DiskFullError;
  t.equal(full.path, file, 'naming the file');
  t.type(full.freeBytes, 'number', 'and the bytes free');
  t.match(full.message, `disk full: cannot write ${file}`);
  t.equal(ob.depth(), accepted, 'depth counts only what was accepted');
  const stored = ob.db.prepare('SELECT COUNT(*) AS n, SUM(bytes) AS b FROM outbox').get() as { n: number; b: number };
  t.equal(ob.bytes(), stored.b, 'bytes match what is stored');
  const s = ob.stats();
  t.equal(s.refused, 1, 'the refusal is counted');
  t.ok(s.diskFullSinceMs, 'the stretch is noted');
  t.equal(s.full, false, 'a full disk is not a full quota');

  t.doesNotThrow(() => ob.markSent([1, 2]), 'sent marks do not throw on a full disk');
  t.doesNotThrow(() => ob.block(1, 'test'), 'nor do block marks');

  uncap(ob.db);
  t.equal(ob.recheckDisk(), true, 'space again');
  const next = ob.append('index', { pad });
  t.equal(next.seq, accepted + 1, 'the refused record used no seq: seqs stay contiguous');
  t.equal(ob.stats().diskFullSinceMs, null);
  ob.close();

  const db = new Database(file, { readonly: true });
  const seqs = (db.prepare('SELECT seq FROM outbox ORDER BY seq').all() as { seq: number }[]).map((r) => r.seq);
  db.close();
  t.same(seqs, Array.from({ length: accepted + 1 }, (_, i) => i + 1), 'reopened: every accepted record is there, in order');
});

t.test('uplink: a full disk makes submit refuse, reports disk.full once, and clears it when space returns', async (t) => {
  const { lines, log } = memoryLog();
  const outbox = new Outbox(join(t.testdir(), 'o.sqlite'), { log });
  const uplink = new Uplink({
    outbox, transport: new QuietTransport(), topics: new Topics('earshot', 's', 'b1'), ackMode: 'ingest', inflight: 4, ackTimeoutSec: 1, stalledAfter: 3,
    deniedBackoff: { minSec: 0.1, maxSec: 0.4 }, statsIntervalSec: 3600, statsExpirySec: 60, log,
  });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  t.ok('seq' in uplink.submit('index', { pad }));
  capPages(outbox.db, 2);
  const results = Array.from({ length: 10 }, (_, i) => uplink.submit('index', { i, pad }));
  const refused = results.filter((r) => 'refused' in r);
  t.ok(refused.length >= 8, `submit refuses on a full disk (${refused.length} of 10)`);
  t.match(refused[0], { refused: true, reason: /^disk full: cannot write / });
  t.equal(uplink.counters.refusedRecords, refused.length, 'each refusal counted');
  const problem = uplink.status().problems.find((p) => p.code === 'disk.full');
  t.match(problem, { code: 'disk.full', message: /disk full/, path: outbox.path, freeBytes: Number });
  t.equal(uplink.status().state, 'degraded');
  t.equal(lines.filter((l) => l.level === 50).length, 1, 'one error line for the whole stretch');

  uncap(outbox.db);
  t.ok('seq' in uplink.submit('alert', { pad }), 'the next submit after space returns is accepted');
  t.equal(uplink.status().problems.length, 0, 'and disk.full is cleared');
  t.ok(lines.some((l) => l.msg === 'disk has space again; accepting records'));

  // An idle box: no record comes, the status clears on the uplink's own recheck.
  capPages(outbox.db, 0);
  t.ok('refused' in uplink.submit('index', { pad }));
  t.ok(uplink.status().problems.some((p) => p.code === 'disk.full'));
  uncap(outbox.db);
  const t0 = Date.now();
  while (uplink.status().problems.length && Date.now() - t0 < 8000) await sleep(100);
  t.equal(uplink.status().problems.length, 0, `cleared without a record by the periodic recheck (${Date.now() - t0} ms)`);
});

t.test('ingest: a commit a full disk refuses acks nothing, keeps ingest running, and the resend is stored', async (t) => {
  const { lines, log } = memoryLog();
  const transport = new QuietTransport();
  transport.connected = true;
  transport.protocol = '5';
  const ingest = new Ingest({ transport, store: await openStore(join(t.testdir(), 'ingest.sqlite')), group: 'g', prefix: 'earshot', ackDelayMs: 5, ackBatchMax: 1000, log });
  ingest.start();
  t.teardown(() => ingest.stop());
  const send = (seq: number) =>
    transport.emit('message', `earshot/s/b1/index`, Buffer.from(JSON.stringify({ schema: 'earshot/record@1', box: 'b1', site: 's', seq, kind: 'index', at: new Date().toISOString(), data: { seq, pad } })), { retain: false });
  const acked = () => transport.published.filter((p) => p.topic === 'earshot/s/b1/ack').flatMap((p) => (JSON.parse(p.payload) as { ranges: [number, number][] }).ranges);

  send(1);
  await sleep(50);
  t.same(acked(), [[1, 1]], 'stored and acked');
  capPages(sqliteHandle(ingest.store), 0);
  for (let seq = 2; seq <= 4; seq++) send(seq);
  await sleep(50);
  t.equal(ingest.counters.storeFailures, 1, 'the failed commit is counted');
  t.same(acked(), [[1, 1]], 'nothing it could not store is acked');
  t.equal(await ingest.count(), 1);
  const errors = lines.filter((l) => l.level === 50);
  t.equal(errors.length, 1, 'one error line');
  t.match(errors[0], { boxes: ['s/b1'], records: 3, reason: /disk full/ });
  send(5);
  await sleep(50);
  t.equal(lines.filter((l) => l.level === 50).length, 1, 'still one error line while it keeps failing');

  uncap(sqliteHandle(ingest.store));
  for (let seq = 2; seq <= 5; seq++) send(seq); // the box resends what was not acked
  await sleep(50);
  t.same((await ingest.seqsFor('b1')), [1, 2, 3, 4, 5], 'the resent records are stored');
  t.same(acked().at(-1), [2, 5], 'and acked');
  t.ok(lines.some((l) => l.msg === 'ingest stores records again'));
});

t.test('writeFileAtomic: replaces whole, keeps the mode, leaves no temporary file; errors name the path', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'state.json');
  writeFileSync(file, 'old');
  chmodSync(file, 0o600);
  await writeFileAtomic(file, '{"new":true}\n');
  t.equal(readFileSync(file, 'utf8'), '{"new":true}\n');
  t.equal(statSync(file).mode & 0o777, 0o600, 'a private file stays private');
  t.same(readdirSync(dir), ['state.json'], 'no temporary file left');
  writeFileAtomicSync(file, 'sync\n');
  t.equal(readFileSync(file, 'utf8'), 'sync\n', 'the sync twin too');
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.same(readdirSync(dir), ['state.json']);
  t.throws(() => writeFileAtomicSync(join(dir, 'missing', 'x.json'), 'x'), { message: /^cannot write \S+\/missing\/x\.json: ENOENT/ });
  await t.rejects(writeFileAtomic(join(dir, 'missing', 'x.json'), 'x'), { message: /^cannot write \S+\/missing\/x\.json: ENOENT/ });
  t.equal(isDiskFull(Object.assign(new Error('no space'), { code: 'ENOSPC' }), dir), true, 'ENOSPC is a full disk');
  t.equal(isDiskFull(Object.assign(new Error('full'), { code: 'SQLITE_FULL' }), dir), true, 'so is SQLITE_FULL');
  t.equal(isDiskFull(Object.assign(new Error('io'), { code: 'SQLITE_IOERR_WRITE' }), dir), false, 'an I/O error with space left is not');
  t.equal(isDiskFull(new Error('other'), dir), false);
});
