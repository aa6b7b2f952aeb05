/**
 * Ingest on PostgreSQL, over a real mosquitto on loopback: three ingest processes (in-process, distinct
 * client ids, one shared-subscription group) write two boxes' records to one database, none lost or
 * doubled; and a PostgreSQL stopped under a running ingest: no acks while it is down, the box keeps its
 * records, and everything arrives exactly once when it is back.
 */
import t from 'tap';
import { join } from 'node:path';
import { Broker } from '../test/support/mosquitto.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';
import { ingestOn, memoryLog, sleep, tempDir, waitFor } from '../test/support/uplink.js';
import { runHarness } from '../edge/uplink/agent-harness.js';
import { openStore } from '../central/store/store.js';
import type { Ingest } from '../central/ingest.js';

const missing = postgresMissing();
if (missing) t.plan(0, missing);

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

t.test('three ingest processes in one group write to one PostgreSQL: every record once', async (t) => {
  const pg = await Postgres.start();
  t.teardown(() => pg.dispose());
  const url = await pg.createDatabase();
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const dir = tempDir('pg-group');
  const ingests: Ingest[] = [];
  for (const id of ['ing-a', 'ing-b', 'ing-c']) ingests.push(await ingestOn(broker.url, dir, id, 'g', memoryLog('warn').log, url));
  t.teardown(() => Promise.all(ingests.map((i) => i.stop())));

  const N = 2000;
  // Two boxes over three members: with as many boxes as members publishing in step, mosquitto's round robin
  // can hand each box to one member; this way every member storing proves a box's records were split.
  const boxes = ['box-1', 'box-2'];
  const t0 = Date.now();
  const runs = await Promise.all(boxes.map((box, i) =>
      // batches of different sizes: boxes publishing in lockstep would each land on one member of the group
      runHarness({ broker: broker.url, outbox: join(dir, `${box}.sqlite`), box, count: N, batch: [50, 37, 23][i], ackTimeoutSec: 2, log: memoryLog('warn').log }),
    ),
  );
  t.teardown(async () => {
    for (const r of runs) {
      await r.uplink.stop();
      r.outbox.close();
    }
  });
  const ms = await waitFor('every outbox to drain', () => runs.every((r) => r.outbox.depth() === 0), 90_000, 50);
  t.comment(`${boxes.length} × ${N} records stored and acked in ${Date.now() - t0} ms (${ms} ms after the last was accepted)`);

  const reader = await openStore(url);
  t.teardown(() => reader.close());
  for (const box of boxes) {
    const seqs = await reader.seqsFor(box);
    t.equal(seqs.length, N, `${box}: ${N} records held, none twice`);
    t.same([...seqs].sort((a, b) => a - b), range(1, N), `${box}: exactly 1..${N}`);
  }
  const stored = ingests.map((i) => i.counters.stored);
  t.comment(`split between the three members: ${stored.join(' + ')}; duplicates dropped: ${ingests.map((i) => i.counters.duplicates).join(' + ')}`);
  t.ok(stored.every((n) => n > 0), 'every member of the group stored records, so at least one box\'s records went to two of them');
  t.equal(stored.reduce((a, b) => a + b, 0), boxes.length * N, 'together they stored each record once');
  const [{ calls }] = [await reader.listCalls({ site: 'test', limit: 1000 })];
  t.ok(calls.length > 0, 'the indexes are listed as calls');
  t.equal(await reader.countRecords(), boxes.length * N);
});

t.test('a stopped PostgreSQL: ingest stops acking, the box keeps its records, all arrive once when it is back', async (t) => {
  const pg = await Postgres.start();
  t.teardown(() => pg.dispose());
  const url = await pg.createDatabase();
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const dir = tempDir('pg-down');
  const { log, lines } = memoryLog('info');
  const ingest = await ingestOn(broker.url, dir, 'ing-down', 'g', log, url);
  t.teardown(() => ingest.stop());

  const N = 1200;
  const run = runHarness({ broker: broker.url, outbox: join(dir, 'box.sqlite'), box: 'box-d', count: N, rate: 200, ackTimeoutSec: 1, log: memoryLog('warn').log });
  await waitFor('some records stored', async () => (await ingest.count('box-d')) >= 200, 20_000, 20);
  await pg.stop();
  const stoppedAt = Date.now();
  await sleep(500); // a commit that was under way when the server went finishes or fails
  const acksBefore = ingest.counters.acksSent;
  const storedBefore = ingest.counters.stored;
  await sleep(3000);
  t.equal(ingest.counters.acksSent, acksBefore, 'no ack while PostgreSQL is down');
  t.equal(ingest.counters.stored, storedBefore, 'nothing counted as stored');
  t.ok(ingest.counters.storeFailures > 0, `the commits failed (${ingest.counters.storeFailures})`);
  const { uplink, outbox } = await run;
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  const waiting = outbox.depth();
  t.ok(waiting > 0, `the box keeps the ${waiting} records not acked`);
  t.ok(ingest.connected, 'ingest is still running and connected');

  const startMs = await pg.start();
  const backAt = Date.now();
  await waitFor('the outbox to drain', () => outbox.depth() === 0, 60_000, 50);
  t.comment(`PostgreSQL down ${backAt - stoppedAt} ms (restart took ${startMs} ms); outbox drained ${Date.now() - backAt} ms after it was back; ${uplink.counters.resends} resends`);
  const reader = await openStore(url);
  t.teardown(() => reader.close());
  const seqs = await reader.seqsFor('box-d');
  t.equal(seqs.length, N, `${N} records held, none twice`);
  t.same([...seqs].sort((a, b) => a - b), range(1, N), 'exactly 1..N');
  const errors = lines.filter((l) => l.level === 50);
  t.equal(errors.length, 1, 'one error line for the whole stretch');
  t.match(errors[0]?.msg, /^ingest could not store \d+ record\(s\) from test\/box-d: .*not acked, the boxes will resend$/);
  t.ok(lines.some((l) => l.msg === 'ingest stores records again'), 'and a line when it stores again');
});
