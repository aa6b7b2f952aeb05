/**
 * `earshot central` as an operator starts it: ingest and the web app in one process on one store, the URL
 * printed; a box's record reaches the store and its alert the live floor; a centre without accounts is
 * refused anywhere but loopback.
 */
import t from 'tap';
import { join } from 'node:path';
import { Broker } from '../test/support/mosquitto.js';
import { memoryLog, tempDir, waitFor } from '../test/support/uplink.js';
import { runCli, startCli } from '../test/support/cli.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { resolveConfig } from '../provisioning/config.js';
import { openStore } from '../central/store/store.js';

t.test('earshot central: one process stores what a box sends and shows its alert on the floor', async (t) => {
  const dir = tempDir('centralcli');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const db = join(dir, 'central.sqlite');
  const central = startCli(['central', '--broker', broker.url, '--db', db, '--listen', '127.0.0.1:0', '--no-accounts', '--client-id', 'central-1']);
  t.teardown(() => central.child.kill('SIGKILL'));
  await waitFor('central to print its URL', () => /web app on http:\/\/127\.0\.0\.1:\d+/.test(central.err()), 30_000);
  const url = /web app on (http:\/\/127\.0\.0\.1:\d+)/.exec(central.err())![1];

  const { log } = memoryLog('warn');
  const config = resolveConfig({ outbox: { path: join(dir, 'outbox.sqlite') }, uplink: { broker: broker.url, site: 'floor-2', box: 'box-4', ackTimeoutSec: 2 } });
  const { uplink, outbox } = startUplink(config, { log });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  uplink.submit('alert', { id: 'a-1', callId: 'call-1', rule: 'dead-air', severity: 'warning', evidence: 'silence 21 s' });
  await waitFor('the outbox to drain (ingest acked)', () => outbox.depth() === 0, 30_000, 50);
  await waitFor('the alert on the floor', async () => {
    const floor = (await (await fetch(`${url}/api/floor/floor-2`)).json()) as { alerts?: { rule: string }[] };
    return (floor.alerts ?? []).some((a) => a.rule === 'dead-air');
  }, 10_000, 100);
  t.pass('the alert is on the live floor of floor-2');

  central.child.kill('SIGTERM');
  t.equal(await central.exit, 0, 'Ctrl-C stops it cleanly');
  const store = await openStore(db);
  t.equal(await store.countRecords('box-4'), 1, 'the record is in the store the command was given');
  await store.close();
});

t.test('earshot central: no accounts is refused off loopback', async (t) => {
  const r = await runCli(['central', '--broker', 'mqtt://127.0.0.1:1', '--db', ':memory:', '--listen', '0.0.0.0:0', '--no-accounts']);
  t.equal(r.code, 2, 'a usage error');
  t.match(r.stderr, /accounts may be off only on a loopback address, not 0\.0\.0\.0:0/, 'says why');
});
