/**
 * Broker down for a long stretch while 100,000 records are produced, then back: all of them ingested, in
 * order per box, none twice; availability says online, and stopped on a clean shutdown.
 */
import t from 'tap';
import { join } from 'node:path';
import { Broker } from '../../test/support/mosquitto.js';
import { ingestOn, memoryLog, sleep, tempDir, waitFor, watch } from '../../test/support/uplink.js';
import { runHarness } from '../../edge/uplink/agent-harness.js';

const N = Number(process.env.EARSHOT_HW_RECORDS ?? 100_000);

t.test(`broker down while ${N} records are produced, then back: all ingested in order, none twice`, async (t) => {
  const dir = tempDir('down');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const ingest = await ingestOn(broker.url, dir);
  t.teardown(() => ingest.stop());
  await broker.stop(); // clean stop: the broker keeps ingest's persistent session

  const { log, lines } = memoryLog('warn');
  const t0 = Date.now();
  const { uplink, outbox } = await runHarness({ broker: broker.url, outbox: join(dir, 'outbox.sqlite'), box: 'box-a', count: N, batch: 500, inflight: 1000, ackTimeoutSec: 5, log });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  const produceMs = Date.now() - t0;
  t.equal(outbox.depth(), N, `${N} accepted with the broker down (${produceMs} ms)`);
  await sleep(1500); // a long stretch, scaled: the uplink keeps trying with backoff, nothing leaves the outbox
  t.equal(uplink.counters.published, 0, 'nothing published while the broker is down');
  t.ok((outbox.oldestUnackedAgeSec() ?? 0) >= 1, 'stats see the oldest unacked age grow');

  await broker.start();
  const seen = await watch(broker.url, 'earshot/test/box-a/availability');
  t.teardown(() => seen.close());
  const drainMs = await waitFor(`${N} records in ingest`, async () => (await ingest.count('box-a')) >= N && outbox.depth() === 0, 120_000, 100);
  t.comment(`drained ${N} records in ${drainMs} ms after the broker came back (${Math.round(N / (drainMs / 1000))} records/s)`);
  const seqs = (await ingest.seqsFor('box-a'));
  t.equal(seqs.length, N, 'each record held once');
  t.ok(seqs.every((s, i) => s === i + 1), 'stored in seq order, 1..N, no gaps');
  t.equal(ingest.counters.duplicates, 0, 'nothing was sent twice');
  t.equal(outbox.depth(), 0, 'the outbox is empty once ingest acked everything');
  t.equal(lines.filter((l) => (l.level as number) >= 50).length, 0, 'no errors logged');
  await waitFor('retained online', () => seen.messages.some((m) => m.payload.toString() === 'online'), 5000);
  await uplink.stop();
  await waitFor('stopped', () => seen.messages.some((m) => m.payload.toString() === 'stopped'), 5000);
  t.pass('availability: online on connect, stopped on clean shutdown');
});
