/**
 * Several `earshot central` processes behind one load balancer show supervisors the same floor: an
 * acknowledgement taken by one process is on the pages of the others within a second (told over the
 * broker), and a process started later shows the shift's alerts with their acknowledgements (read from the
 * store), not an empty floor.
 */
import t from 'tap';
import { join } from 'node:path';
import { Broker } from '../test/support/mosquitto.js';
import { memoryLog, tempDir, waitFor } from '../test/support/uplink.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { resolveConfig, defaultConfig } from '../provisioning/config.js';
import { startCentral, type Central } from '../central/central.js';
import { centralExtras } from '../central/central-command.js';
import type { FloorSnapshot } from '../central/web/floor.js';

t.test('an acknowledgement on one central process shows on the others; a new process starts with the floor as it is', async (t) => {
  const dir = tempDir('floor-acks');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const { log } = memoryLog('error');
  const db = join(dir, 'central.sqlite');
  const extras = await centralExtras();
  const start = (n: number) =>
    startCentral({ ingest: { ...defaultConfig().ingest, broker: broker.url, db, clientId: `central-${n}`, sessionExpirySec: 0 }, listen: '127.0.0.1:0', accounts: false, log }, extras);
  const running: Central[] = [];
  t.teardown(async () => {
    for (const c of running) await c.close();
  });
  running.push(await start(1), await start(2));
  const [a, b] = running;

  const config = resolveConfig({ outbox: { path: join(dir, 'outbox.sqlite') }, uplink: { broker: broker.url, site: 'floor-5', box: 'box-2', ackTimeoutSec: 2 } });
  const { uplink, outbox } = startUplink(config, { log });
  t.teardown(async () => (await uplink.stop(), outbox.close()));
  uplink.submit('alert', { id: 'dead-air-1', callId: 'c-77', rule: 'dead-air', severity: 'warning', evidence: 'silence 21 s', line: { name: 'desk-9', agentId: 'A9' } });
  await waitFor('the outbox to drain (stored and acked)', () => outbox.depth() === 0, 20_000, 50);

  const floor = async (c: Central): Promise<FloorSnapshot> => (await (await fetch(`${c.url}/api/floor/floor-5`)).json()) as FloorSnapshot;
  await waitFor('the alert on both processes', async () => (await floor(a)).alerts.length === 1 && (await floor(b)).alerts.length === 1, 10_000, 50);
  const { alerts } = await floor(a);
  const ack = await fetch(`${a.url}/api/alerts/box-2/${alerts[0].seq}/ack`, { method: 'POST' });
  t.equal(ack.status, 200, 'acknowledged on process 1');
  const took = await waitFor('the acknowledgement on process 2', async () => (await floor(b)).alerts[0]?.ack !== null, 5000, 20);
  t.ok(took < 1000, `on process 2's floor ${took} ms later`);
  t.equal((await floor(b)).alerts[0].ack?.by, 'anonymous', 'with who took it');

  running.push(await start(3));
  const late = await floor(running[2]);
  t.same(late.alerts.map((x) => [x.rule, x.line, x.ack?.by]), [['dead-air', 'desk-9', 'anonymous']], 'a process started later shows the alert, its desk and its acknowledgement');
});

t.test('a forged or malformed floor acknowledgement on the broker is dropped, counted, and acknowledges nothing', async (t) => {
  const dir = tempDir('floor-acks-bad');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const { log, lines } = memoryLog('warn');
  const central = await startCentral({ ingest: { ...defaultConfig().ingest, broker: broker.url, db: join(dir, 'c.sqlite'), clientId: 'central-x', sessionExpirySec: 0 }, listen: '127.0.0.1:0', accounts: false, log }, await centralExtras());
  t.teardown(() => central.close());
  const config = resolveConfig({ outbox: { path: join(dir, 'outbox.sqlite') }, uplink: { broker: broker.url, site: 'floor-6', box: 'box-3', ackTimeoutSec: 2 } });
  const { uplink, outbox } = startUplink(config, { log });
  t.teardown(async () => (await uplink.stop(), outbox.close()));
  uplink.submit('alert', { id: 'stock-tip-1', callId: 'c-1', rule: 'stock-tip', severity: 'critical', evidence: 'inside information' });
  const floor = async (): Promise<FloorSnapshot> => (await (await fetch(`${central.url}/api/floor/floor-6`)).json()) as FloorSnapshot;
  await waitFor('the alert on the floor', async () => (await floor()).alerts.length === 1, 20_000, 50);
  const key = (await floor()).alerts[0].key;
  const mqtt = await import('mqtt');
  const client = await mqtt.default.connectAsync(broker.url, { clientId: 'forger' });
  t.teardown(() => client.endAsync(true));
  await client.publishAsync('earshot/centre/floor/acks/floor-6', 'not json', { qos: 1 });
  await client.publishAsync('earshot/centre/floor/acks/floor-6', JSON.stringify({ schema: 'earshot/floor-ack@1', site: 'floor-7', key, by: 'mallory', at: new Date().toISOString() }), { qos: 1 });
  await waitFor('two rejections logged', () => lines.filter((l) => /dropped/.test(String(l.msg))).length >= 2, 5000, 20);
  t.equal((await floor()).alerts[0].ack, null, 'nothing acknowledged');
});
