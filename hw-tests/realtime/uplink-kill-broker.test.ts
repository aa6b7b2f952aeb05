/**
 * The broker SIGKILLed mid-stream (twice), losing what it held in memory since its last autosave: nothing is
 * lost end to end, because a record leaves the box only on ingest's ack, and the box resends what was not acked.
 */
import t from 'tap';
import { join } from 'node:path';
import { Broker } from '../../test/support/mosquitto.js';
import { ingestOn, memoryLog, sleep, tempDir, waitFor } from '../../test/support/uplink.js';
import { runHarness } from '../../edge/uplink/agent-harness.js';

const N = 20_000;

t.test('broker SIGKILLed mid-stream: nothing lost end to end, nothing held twice', async (t) => {
  const dir = tempDir('killbroker');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const ingest = await ingestOn(broker.url, dir);
  t.teardown(() => ingest.stop());
  const { log, lines } = memoryLog('warn');

  const t0 = Date.now();
  const producing = runHarness({ broker: broker.url, outbox: join(dir, 'outbox.sqlite'), box: 'box-b', count: N, rate: 4000, batch: 40, inflight: 500, ackTimeoutSec: 1, log });
  const kills: number[] = [];
  for (const at of [1200, 3000]) {
    await sleep(at - (Date.now() - t0));
    // The second crash must come after records flowed again: on a loaded machine the reconnect after the
    // first (1 s backoff, jittered) can take longer than the fixed schedule allows.
    if (kills.length > 0) await waitFor('records flowing again after the first crash', async () => (await ingest.count('box-b')) > kills[0] + 400, 20_000, 20);
    kills.push(await ingest.count('box-b'));
    await broker.kill();
    await sleep(700);
    await broker.start();
  }
  const { uplink, outbox } = await producing;
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  t.ok(kills[0] > 0 && kills[1] > kills[0] && kills[1] < N, `killed mid-stream (ingest held ${kills.join(', then ')} of ${N})`);
  const ms = await waitFor(`all ${N} records in ingest`, async () => (await ingest.count('box-b')) >= N && outbox.depth() === 0, 60_000, 100);
  t.comment(`all ingested ${ms} ms after the last record was produced; ${uplink.counters.resends} resends, ${uplink.counters.reconnects} reconnects, ${ingest.counters.duplicates} duplicates dropped`);
  const held = (await ingest.seqsFor('box-b'));
  t.equal(held.length, N, 'every record held');
  t.equal(new Set(held).size, N, 'each once');
  t.same([...held].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i + 1), 'exactly 1..N');
  t.ok(uplink.counters.reconnects >= 2, 'the box reconnected after each crash');
  t.ok(lines.some((l) => l.msg === 'mqtt connection lost'), 'the lost connection is logged');
});
