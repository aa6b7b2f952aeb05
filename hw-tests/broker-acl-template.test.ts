/**
 * The shipped mosquitto templates (deploy/mosquitto/earshot.conf, earshot.acl) on Debian's real mosquitto,
 * each client with a certificate whose CN is its user name:
 * - the roles work: box-a's records reach ingest (earshot-ingest) over the template, ingest's acks reach
 *   box-a and empty its outbox, the centre (earshot-centre) hears box-a's alerts and its own floor acks;
 * - a box cannot publish as another box (box-b's forged record under box-a is refused and never stored);
 * - a box cannot read another box's topics (box-b hears none of box-a's records, acks or alerts);
 * - nobody but ingest can publish an ack (box-b and box-a itself are refused; box-a hears none); the centre
 *   runs an ingest inside `earshot central`, under its one certificate, so it may;
 * - a client without a certificate is not let in.
 */
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { issueCert, makeCa, type CertFiles } from './helpers/tls.js';
import { TemplateBroker } from './helpers/template-broker.js';
import { memoryLog, sleep, tempDir, waitFor } from '../test/support/uplink.js';
import { startIngest } from '../central/ingest.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { defaultConfig, resolveConfig } from '../provisioning/config.js';

const dir = tempDir('acl-template');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let ca: CertFiles;
const certs: Record<string, CertFiles> = {};
let broker: TemplateBroker;

t.before(async () => {
  ca = await makeCa(dir, 'earshot-site-ca');
  const server = await issueCert(dir, ca, 'broker', 'server', '127.0.0.1');
  for (const cn of ['box-a', 'box-b', 'earshot-ingest', 'earshot-centre']) certs[cn] = await issueCert(dir, ca, cn, 'client');
  broker = await TemplateBroker.start({ ca: ca.cert, cert: server.cert, key: server.key });
});
t.teardown(() => broker?.dispose());

const tlsOf = (cn: string) => ({ ca: ca.cert, cert: certs[cn].cert, key: certs[cn].key, rejectUnauthorized: true });

/** A raw MQTT 5 client with `cn`'s certificate, recording what it hears. */
async function client(cn: string, id: string): Promise<{ c: MqttClient; heard: { topic: string; payload: string }[] }> {
  const c = await mqtt.connectAsync(broker.url, {
    protocolVersion: 5,
    clientId: id,
    reconnectPeriod: 0,
    ca: readFileSync(ca.cert),
    cert: readFileSync(certs[cn].cert),
    key: readFileSync(certs[cn].key),
  });
  const heard: { topic: string; payload: string }[] = [];
  c.on('message', (topic, payload) => heard.push({ topic, payload: payload.toString() }));
  return { c, heard };
}

/** Publishes at QoS 1; returns the PUBACK reason code (0: accepted). */
async function publishCode(c: MqttClient, topic: string, payload: string): Promise<number> {
  try {
    // MQTT.js rejects a publish whose MQTT 5 PUBACK carries a reason code of 0x80 or more, with that code.
    await c.publishAsync(topic, payload, { qos: 1 });
    return 0;
  } catch (err) {
    return Number((err as { code?: number }).code ?? -1);
  }
}

t.test('the shipped ACL: each role does its job, and nothing more', async (t) => {
  const ingest = await startIngest({ ...defaultConfig().ingest, broker: broker.url, db: join(dir, 'ingest.sqlite'), clientId: 'ingest-1', tls: tlsOf('earshot-ingest') }, memoryLog('warn').log);
  t.teardown(() => ingest.stop());
  await waitFor('ingest to connect', () => ingest.connected, 15_000);
  await sleep(300); // its SUBACKs follow the CONNACK

  const centre = await client('earshot-centre', 'centre-1');
  t.teardown(() => centre.c.endAsync(true));
  const centreSub = await centre.c.subscribeAsync(['earshot/+/+/alerts', 'earshot/+/+/live', 'earshot/centre/floor/acks/+', 'earshot/+/+/index'], { qos: 1 });
  t.ok(centreSub.every((g) => g.qos < 0x80), `the centre may read alerts, live and floor acks (${centreSub.map((g) => g.qos).join(', ')})`);

  const spy = await client('box-b', 'box-b-spy');
  t.teardown(() => spy.c.endAsync(true));
  const spySub = await spy.c.subscribeAsync(['earshot/+/box-a/#', 'earshot/+/+/index', 'earshot/+/+/ack', 'earshot/#'], { qos: 1 });
  t.comment(`box-b's subscriptions to box-a's topics: reason codes ${spySub.map((g) => `0x${g.qos.toString(16)}`).join(', ')}`);

  const log = memoryLog('warn');
  const config = resolveConfig({
    outbox: { path: join(dir, 'box-a.sqlite') },
    uplink: { enabled: true, broker: broker.url, site: 's1', box: 'box-a', tls: tlsOf('box-a'), reconnect: { minSec: 0.2, maxSec: 1 } },
  });
  const { uplink, outbox } = startUplink(config, { log: log.log });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  for (let i = 0; i < 5; i++) uplink.submit('index', { callId: `c${i}` });
  uplink.submit('alert', { rule: 'r1', callId: 'c0' });
  await waitFor('box-a\'s records stored and acked', async () => (await ingest.count('box-a')) === 6 && outbox.depth() === 0, 20_000);
  t.pass('box-a publishes its records, ingest stores them and its acks empty box-a\'s outbox');
  await waitFor('the centre hears box-a\'s alert', () => centre.heard.some((m) => m.topic === 'earshot/s1/box-a/alerts'), 5000);
  t.pass('the centre hears box-a\'s alert');
  t.ok(centre.heard.some((m) => m.topic === 'earshot/s1/box-a/index'), "and box-a's indexes, for the ingest earshot central runs under the same certificate");

  // A box publishing as another box.
  const forger = await client('box-b', 'box-b-forger');
  t.teardown(() => forger.c.endAsync(true));
  const forged = JSON.stringify({ schema: 'earshot/record@1', box: 'box-a', site: 's1', seq: 9999, kind: 'index', at: new Date().toISOString(), data: { callId: 'forged' } });
  t.equal(await publishCode(forger.c, 'earshot/s1/box-a/index', forged), 0x87, 'box-b publishing a record as box-a: not authorized (0x87)');
  t.equal(await publishCode(forger.c, 'earshot/other-site/box-a/alerts', forged), 0x87, 'nor under another site');
  t.equal(await publishCode(forger.c, 'earshot/s1/box-a/availability', 'offline'), 0x87, "nor box-a's availability");
  t.equal(await publishCode(forger.c, 'earshot/s1/box-b/index', JSON.stringify({ schema: 'earshot/record@1', box: 'box-b', site: 's1', seq: 1, kind: 'index', at: new Date().toISOString(), data: {} })), 0, 'box-b publishing under its own box: accepted');

  // Acks: only ingest.
  const boxA = await client('box-a', 'box-a-listener');
  t.teardown(() => boxA.c.endAsync(true));
  const ackSub = await boxA.c.subscribeAsync('earshot/s1/box-a/ack', { qos: 1 });
  t.ok(ackSub[0].qos < 0x80, 'box-a may read its own ack topic');
  const ack = JSON.stringify({ schema: 'earshot/ack@1', box: 'box-a', ranges: [[1, 1_000_000]] });
  t.equal(await publishCode(forger.c, 'earshot/s1/box-a/ack', ack), 0x87, 'box-b publishing an ack for box-a: not authorized');
  t.equal(await publishCode(boxA.c, 'earshot/s1/box-a/ack', ack), 0x87, 'box-a acking itself: not authorized');
  t.equal(await publishCode(forger.c, 'earshot/s1/box-a/command', JSON.stringify({ schema: 'earshot/command@1', cmd: 'resend' })), 0x87, 'box-b sending box-a a command: not authorized');

  // The centre's own topic.
  t.equal(await publishCode(centre.c, 'earshot/centre/floor/acks/s1', JSON.stringify({ schema: 'earshot/floor-ack@1', site: 's1', key: 'k', by: 'ann', at: new Date().toISOString() })), 0, 'the centre publishes a floor ack');
  await waitFor('the centre hears its floor ack', () => centre.heard.some((m) => m.topic === 'earshot/centre/floor/acks/s1'), 5000);
  t.equal(await publishCode(forger.c, 'earshot/centre/floor/acks/s1', '{}'), 0x87, 'a box publishing a floor ack: not authorized');

  // One more record from box-a, then a pause: anything box-b could hear has arrived by then.
  uplink.submit('alert', { rule: 'r2', callId: 'c1' });
  await waitFor('the last record acked', async () => (await ingest.count('box-a')) === 7 && outbox.depth() === 0, 20_000);
  await sleep(500);
  t.same(spy.heard.filter((m) => m.topic.includes('/box-a/')), [], "box-b heard none of box-a's records, acks or alerts");
  t.ok(boxA.heard.some((m) => m.topic === 'earshot/s1/box-a/ack'), "box-a's second client hears ingest's real ack: delivery works for a reader the ACL allows");
  t.same(boxA.heard.filter((m) => m.payload.includes('1000000')), [], 'box-a heard no forged ack (only ingest\'s)');
  t.equal(await ingest.count('box-a'), 7, 'ingest stored box-a\'s 7 records and not the forged one');
  t.ok(!log.lines.some((l) => /refused|not authorized/.test(String(l.msg))), 'box-a itself was refused nothing');
});

t.test('no certificate, no entry', async (t) => {
  const c = mqtt.connect(broker.url, { protocolVersion: 5, clientId: 'anon', reconnectPeriod: 0, ca: readFileSync(ca.cert), connectTimeout: 5000 });
  const outcome = await new Promise<string>((resolve) => {
    c.once('connect', () => resolve('connected'));
    c.once('error', (err) => resolve(`error: ${err.message}`));
    c.once('close', () => resolve('closed'));
  });
  c.end(true);
  t.not(outcome, 'connected', `a client without a certificate is refused (${outcome})`);
});
