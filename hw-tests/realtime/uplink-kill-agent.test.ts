/**
 * The agent SIGKILLed at random moments, 50 times, while producing and publishing: nothing it accepted is
 * lost, ingest holds each record once. The agent is edge/uplink/agent-harness.ts in a child process (the
 * real outbox and uplink, synthetic records); each run picks up the outbox the previous one left.
 */
import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Broker } from '../../test/support/mosquitto.js';
import { acceptedSeqs, ingestOn, sleep, spawnHarness, tempDir, waitFor } from '../../test/support/uplink.js';

const KILLS = Number(process.env.EARSHOT_HW_KILLS ?? 50);
t.test(`agent SIGKILLed ${KILLS} times while producing and publishing: nothing accepted lost, each held once`, async (t) => {
  const dir = tempDir('killagent');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const ingest = await ingestOn(broker.url, dir);
  t.teardown(() => ingest.stop());
  const outboxFile = join(dir, 'outbox.sqlite');
  const common = ['--broker', broker.url, '--outbox', outboxFile, '--box', 'box-k', '--ack-timeout', '1', '--inflight', '256'];

  const accepted: number[] = [];
  const t0 = Date.now();
  for (let k = 0; k < KILLS; k++) {
    const h = spawnHarness([...common, '--count', '1000000', '--rate', '2000', '--batch', String(1 + (k % 4) * 5)]);
    await Promise.race([
      waitFor('first accepted record', () => h.out().includes('accepted'), 20_000, 5),
      h.exit.then((code) => {
        throw new Error(`harness exited (${code}) before producing:\n${h.err()}`);
      }),
    ]);
    await sleep(20 + Math.random() * 400);
    h.child.kill('SIGKILL');
    await h.exit;
    accepted.push(...acceptedSeqs(h.out()));
  }
  const killMs = Date.now() - t0;
  t.comment(`${KILLS} kills in ${killMs} ms; ${accepted.length} records reported accepted`);

  // A last run that produces nothing and drains what the killed ones left.
  const last = spawnHarness([...common, '--count', '0', '--drain']);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([last.exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000)))]);
  clearTimeout(timer);
  if (code === 'timeout') last.child.kill('SIGKILL');
  t.equal(code, 0, `the final run drains and exits cleanly ${last.err()}`);
  t.match(last.out(), /drained/);

  const db = new Database(outboxFile, { readonly: true });
  const lastSeq = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as { seq: number }).seq;
  const left = (db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
  db.close();
  t.equal(left, 0, 'the outbox is empty');
  await waitFor('ingest to store the drained records', async () => (await ingest.count('box-k')) >= lastSeq, 10_000);

  const held = (await ingest.seqsFor('box-k'));
  const heldSet = new Set(held);
  t.equal(heldSet.size, held.length, 'ingest holds each record once');
  t.equal(held.length, lastSeq, `ingest holds every record the outbox ever accepted (1..${lastSeq})`);
  t.same(accepted.filter((s) => !heldSet.has(s)), [], 'every record reported accepted before a kill reached ingest');
  t.ok(accepted.length > KILLS, 'the kills landed while records were being produced');
  t.ok(held.every((s, i) => i === 0 || s > held[i - 1]), 'stored in seq order');
  t.comment(`ingest: ${ingest.counters.stored} stored, ${ingest.counters.duplicates} duplicates dropped (replays after kills)`);
});
