/**
 * A full disk, for real: a 600 KB tmpfs (root only; skipped with the reason otherwise) holding the box's
 * outbox, or ingest's database, or the `--out` of `earshot analyze`, filled by a filler file. Nothing
 * accepted is lost, nothing is acked that was not stored, no file is torn, and each recovers by itself once
 * the filler is deleted. A real mosquitto on 127.0.0.1 between the box and ingest.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Broker } from '../test/support/mosquitto.js';
import { ingestOn, memoryLog, sleep, tempDir, waitFor } from '../test/support/uplink.js';
import { runCli } from '../test/support/cli.js';
import { DiskFullError, freeBytes, writeFileAtomicSync } from '../lib/disk.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { syntheticRecord } from '../edge/uplink/agent-harness.js';
import { resolveConfig } from '../provisioning/config.js';

function mount(size: string): string {
  const dir = tempDir('full');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmdirSync(dir);
    throw new Error(`mount -t tmpfs -o size=${size} tmpfs ${dir}: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
  }
  return dir;
}

function unmount(dir: string): void {
  execFileSync('umount', ['-l', dir]);
  rmdirSync(dir);
}

/** Why these tests cannot run here (not root, or mounting a tmpfs refused), or false. */
function cannotMount(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs (mount -t tmpfs -o size=600k)';
  try {
    unmount(mount('64k'));
    return false;
  } catch (err) {
    return (err as Error).message;
  }
}
const skip = cannotMount();

/** A fresh tmpfs of `size` (mount(8) syntax), unmounted at teardown. */
function smallDisk(t: Test, size = '600k'): string {
  const dir = mount(size);
  t.teardown(() => unmount(dir));
  return dir;
}

/** Writes `dir/<name>` until the file system has at most `leaveBytes` free (0: until it refuses with ENOSPC). */
function fill(dir: string, name: string, leaveBytes = 0): string {
  const file = join(dir, name);
  const fd = openSync(file, 'a');
  const chunk = Buffer.alloc(4096, 0x55);
  try {
    while ((freeBytes(dir) ?? 0) > leaveBytes) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return file;
}

function seqsIn(db: string, sql: string): number[] {
  const conn = new Database(db, { readonly: true });
  try {
    return (conn.prepare(sql).all() as { seq: number }[]).map((r) => r.seq);
  } finally {
    conn.close();
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

t.test('the box: a full disk refuses new records, keeps every accepted one, and recovers when space returns', { skip }, async (t) => {
  const disk = smallDisk(t);
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const filler = fill(disk, 'filler', 250 * 1024);

  const { log, lines } = memoryLog('info');
  const path = join(disk, 'outbox.sqlite');
  const config = resolveConfig({ outbox: { path }, uplink: { broker: broker.url, site: 'test', box: 'full', ackTimeoutSec: 1, reconnect: { minSec: 0.1, maxSec: 1 } } });
  const { uplink, outbox } = startUplink(config, { log });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });

  // No ingest yet: nothing is acked, the outbox only grows, until the disk is full.
  const accepted: number[] = [];
  let refusal: { refused: true; reason: string } | undefined;
  for (let i = 0; i < 5000 && !refusal; i++) {
    const { kind, payload } = syntheticRecord(i, 'full');
    const r = uplink.submit(kind, payload);
    if ('seq' in r) accepted.push(r.seq);
    else refusal = r;
  }
  t.ok(refusal, `refused after ${accepted.length} records`);
  t.ok(accepted.length > 10, 'the disk took records until it was full');
  t.match(refusal, { refused: true, reason: `disk full: cannot write ${path}` });
  for (let i = 0; i < 5; i++) t.ok('refused' in uplink.submit('alert', { rule: 'more', i }), 'still refused');
  t.equal(uplink.counters.refusedRecords, 6);
  const status = uplink.status();
  t.equal(status.state, 'degraded');
  const problem = status.problems.find((p) => p.code === 'disk.full');
  t.match(problem, { code: 'disk.full', path, message: /disk full/ });
  t.ok(typeof problem?.freeBytes === 'number' && problem.freeBytes < 64 * 1024, `with the bytes free (${problem?.freeBytes})`);
  t.equal(lines.filter((l) => l.level === 50).length, 1, 'one error line for the stretch');
  t.same(seqsIn(path, 'SELECT seq FROM outbox ORDER BY seq'), accepted, 'reopened: every accepted record is there');
  t.same(accepted, range(1, accepted.length), 'with contiguous seqs');
  t.equal(outbox.depth(), accepted.length, 'the outbox counts what it holds');
  t.equal(outbox.recheckDisk(), false, 'no space yet');

  // Ingest comes: it stores everything and acks; the outbox may not even have room to delete (WAL frames).
  const ingest = await ingestOn(broker.url, tempDir('full-ingest'));
  t.teardown(() => ingest.stop());
  await waitFor('ingest to hold every accepted record', async () => (await ingest.count('full')) === accepted.length, 20_000);
  await sleep(300);
  t.ok(uplink.status().problems.some((p) => p.code === 'disk.full'), 'the disk is still full');
  t.comment(`outbox on the full disk: depth ${outbox.depth()}, acks held back ${outbox.stats().pendingAcks}, failed writes ${outbox.stats().failedWrites}`);

  rmSync(filler);
  const next = uplink.submit('index', { callId: 'after' });
  t.match(next, { seq: accepted.length + 1 }, 'the next submit after space returns is accepted');
  t.equal(uplink.status().problems.length, 0, 'and disk.full is cleared');
  t.ok(lines.some((l) => l.msg === 'disk has space again; accepting records'));
  await waitFor('the outbox to drain', () => outbox.depth() === 0, 20_000);
  t.same((await ingest.seqsFor('full')).sort((a, b) => a - b), range(1, accepted.length + 1), 'ingest holds every accepted record, once');

  // An idle box: the disk fills and frees again with no record coming; the status clears by itself.
  const filler2 = fill(disk, 'filler2');
  t.ok('refused' in uplink.submit('index', { callId: 'no room' }));
  t.ok(uplink.status().problems.some((p) => p.code === 'disk.full'));
  rmSync(filler2);
  const waited = await waitFor('disk.full to clear with no submit', () => uplink.status().problems.length === 0, 10_000, 100);
  t.pass(`cleared by the uplink's recheck after ${waited} ms`);
});

t.test('ingest: its disk full, it stays up, acks nothing it did not store, and takes the resends when space returns', { skip }, async (t) => {
  // Room for the store's schema (search's text index added some pages) and for the 300 records' WAL,
  // which SQLite does not checkpoint below 1,000 pages: at 600k it held 100-250 of them, as batches fell;
  // at 800k, once the call list's over-talk index (migration 11) wrote its pages too, 1 run in 3 could not
  // take every resend when space returned.
  const disk = smallDisk(t, '1m');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const ingest = await ingestOn(broker.url, disk);
  t.teardown(() => ingest.stop());
  const filler = fill(disk, 'filler');

  const dir = tempDir('full-box');
  const { log } = memoryLog('warn');
  const config = resolveConfig({ outbox: { path: join(dir, 'outbox.sqlite') }, uplink: { broker: broker.url, site: 'test', box: 'to-full', ackTimeoutSec: 1, reconnect: { minSec: 0.1, maxSec: 1 } } });
  const { uplink, outbox } = startUplink(config, { log });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  const N = 300;
  const results = Array.from({ length: N }, (_, i) => {
    const { kind, payload } = syntheticRecord(i, 'to-full');
    return uplink.submit(kind, payload);
  });
  t.equal(results.filter((r) => 'seq' in r).length, N, 'the box (its own disk fine) accepts every record');
  await waitFor('ingest to fail a commit', () => ingest.counters.storeFailures > 0, 10_000);
  await sleep(1500); // a resend or two, into the full disk
  t.ok(ingest.connected, `ingest is still up after ${ingest.counters.storeFailures} failed commits`);
  const held = new Set((await ingest.seqsFor('to-full')));
  const kept = new Set(outbox.nextBatch(N).map((r) => r.seq));
  const removed = range(1, N).filter((s) => !kept.has(s));
  t.same(removed.filter((s) => !held.has(s)), [], `every record the box let go (${removed.length}) is stored at ingest: nothing acked unstored`);
  t.ok(kept.size > 0, `the box still holds the ${kept.size} records ingest could not store`);

  rmSync(filler);
  await waitFor('the box to drain into ingest', () => outbox.depth() === 0, 40_000, 50);
  const seqs = (await ingest.seqsFor('to-full'));
  t.same([...seqs].sort((a, b) => a - b), range(1, N), `ingest holds all ${N} records once space returned`);
  t.equal(seqs.length, N, 'none twice');
});

t.test('earshot analyze --out on a full disk: one line, exit 1, the old index untouched', { skip }, async (t) => {
  const disk = smallDisk(t);
  const out = join(disk, 'call.json');
  const ok = await runCli(['analyze', 'demo/demo-call.wav', '--out', out]);
  t.equal(ok.code, 0, 'with space it writes the index');
  const old = readFileSync(out);
  t.ok(JSON.parse(old.toString('utf8')).schema, 'a valid index');

  const filler = fill(disk, 'filler');
  const full = await runCli(['analyze', 'demo/demo-call.wav', '--out', out]);
  t.equal(full.code, 1, 'exit 1');
  const errLines = full.stderr.trim().split('\n');
  t.same(errLines, [`earshot: disk full: cannot write ${out} (0 bytes free); nothing written`], 'one clear line');
  t.ok(readFileSync(out).equals(old), 'the old index is byte-identical');
  t.same(readdirSync(disk).sort(), ['call.json', 'filler'], 'no temporary file left behind');
  t.throws(() => writeFileAtomicSync(out, 'x'.repeat(8192)), DiskFullError, 'the sync writer says disk full too');
  t.ok(readFileSync(out).equals(old), 'and leaves the old file as it was');
  t.same(readdirSync(disk).sort(), ['call.json', 'filler']);

  rmSync(filler);
  rmSync(out);
  const again = await runCli(['analyze', 'demo/demo-call.wav', '--out', out]);
  t.equal(again.code, 0, 'with space again it writes');
  t.ok(existsSync(out) && JSON.parse(readFileSync(out, 'utf8')).schema);
});
