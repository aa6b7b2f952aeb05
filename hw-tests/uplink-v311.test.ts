/**
 * A broker that speaks only MQTT 3.1.1 (aedes): the box's uplink with `protocol: auto` tries MQTT 5, is refused
 * (CONNACK "unacceptable protocol version"), falls back to 3.1.1 and delivers everything to an ingest on the
 * same broker, which also falls back and, with no shared subscriptions on 3.1.1, subscribes plainly. Every
 * record is stored once and acked, the outbox drains, and the retained availability topic says `online`,
 * then `stopped` on a clean stop (not the `offline` Last Will).
 */
import t from 'tap';
import { join } from 'node:path';
import { AedesBroker, watch311 } from './helpers/aedes.js';
import { memoryLog, sleep, tempDir, waitFor } from '../test/support/uplink.js';
import { startIngest } from '../central/ingest.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { defaultConfig, resolveConfig } from '../provisioning/config.js';

const N = 600;
const AVAILABILITY = 'earshot/v311/box-3/availability';

t.test('MQTT 3.1.1-only broker: protocol auto falls back, every record is ingested once and acked', async (t) => {
  const t0 = Date.now();
  const dir = tempDir('v311');
  const broker = await AedesBroker.start();
  t.teardown(() => broker.close());

  const ingestLog = memoryLog('warn');
  const ingest = await startIngest({ ...defaultConfig().ingest, broker: broker.url, db: join(dir, 'ingest.sqlite'), clientId: 'ingest-v311', group: 'ingest', protocol: 'auto' }, ingestLog.log);
  t.teardown(() => ingest.stop());
  await waitFor('ingest to connect', () => ingest.connected, 10_000);
  await waitFor('ingest to subscribe', () => broker.subscriptions.filter((s) => s.clientId === 'ingest-v311').length >= 3, 5_000);

  const { log, lines } = memoryLog('info');
  const config = resolveConfig({
    outbox: { path: join(dir, 'outbox.sqlite') },
    uplink: { broker: broker.url, site: 'v311', box: 'box-3', protocol: 'auto', inflight: 64, reconnect: { minSec: 0.2, maxSec: 2 } },
  });
  const { uplink, outbox } = startUplink(config, { log });
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await uplink.stop();
    outbox.close();
  });

  // Records accepted before and while the uplink connects, of every kind.
  const kinds = ['index', 'alert', 'status'] as const;
  for (let i = 0; i < N / 2; i++) uplink.submit(kinds[i % 3], { i, callId: `call-${i}` });
  await waitFor('the uplink to connect', () => uplink.stats().uplink.connected === true, 10_000);
  for (let i = N / 2; i < N; i++) uplink.submit(kinds[i % 3], { i, callId: `call-${i}` });

  t.equal(uplink.stats().uplink.protocol, '3.1.1', 'stats: protocol 3.1.1');
  t.ok(lines.some((l) => l.msg === 'broker refused MQTT 5; falling back to MQTT 3.1.1'), 'the fallback is logged');
  const boxConnects = broker.connects.filter((c) => c.clientId === 'earshot-v311-box-3').map((c) => c.protocolVersion);
  t.same(boxConnects, [5, 4], 'the box tried MQTT 5 once, then connected with 3.1.1');
  const ingestConnects = broker.connects.filter((c) => c.clientId === 'ingest-v311').map((c) => c.protocolVersion);
  t.same(ingestConnects, [5, 4], 'ingest (protocol auto) fell back the same way');

  const ingestFilters = broker.subscriptions.filter((s) => s.clientId === 'ingest-v311').map((s) => s.topic);
  t.same(
    [...ingestFilters].sort(),
    ['earshot/+/+/alerts', 'earshot/+/+/availability', 'earshot/+/+/events', 'earshot/+/+/index', 'earshot/+/+/stats', 'earshot/+/+/status'],
    'ingest subscribed plainly, no $share/ filter on 3.1.1',
  );
  t.ok(ingestLog.lines.some((l) => /3\.1\.1 only: plain subscriptions/.test(String(l.msg))), 'ingest warns to run a single process');

  // The retained availability, seen by a subscriber that arrives after the box connected.
  const late = await watch311(broker.url, AVAILABILITY);
  t.teardown(() => late.close());
  await waitFor('retained availability', () => late.messages.length > 0, 5_000);
  t.match(late.messages[0], { payload: 'online', retain: true }, 'availability: online, retained');

  const ms = await waitFor(`all ${N} records stored and acked`, async () => (await ingest.count('box-3')) >= N && outbox.depth() === 0, 20_000, 50);
  t.comment(`${N} records ingested and acked ${ms} ms after the last was accepted; ${uplink.counters.published} publishes, ${uplink.counters.resends} resends, ${ingest.counters.duplicates} duplicates`);
  const held = (await ingest.seqsFor('box-3'));
  t.equal(held.length, N, 'every record held');
  t.equal(new Set(held).size, N, 'each once');
  t.same(held, Array.from({ length: N }, (_, i) => i + 1), 'in seq order, exactly 1..N');
  t.equal(outbox.depth(), 0, 'outbox empty');
  t.equal(uplink.counters.acked, N, 'every record acked by ingest');
  t.equal(uplink.counters.reconnects, 0, 'one connection (after the fallback), no reconnects');
  t.same(await ingest.store.countByKind(), { alert: N / 3, index: N / 3, status: N / 3 }, 'indexes, alerts and status events all arrived');

  // Clean stop: `stopped`, retained; the Last Will (`offline`) is not published.
  await uplink.stop();
  stopped = true;
  await waitFor('stopped on availability', () => late.messages.some((m) => m.payload === 'stopped'), 5_000);
  await sleep(300);
  t.same(late.messages.map((m) => m.payload), ['online', 'stopped'], 'availability: online, then stopped, never offline');
  const after = await watch311(broker.url, AVAILABILITY);
  t.teardown(() => after.close());
  await waitFor('retained availability after stop', () => after.messages.length > 0, 5_000);
  t.match(after.messages, [{ payload: 'stopped', retain: true }], 'a new subscriber gets the retained stopped');
  t.comment(`test ran ${Date.now() - t0} ms`);
});
