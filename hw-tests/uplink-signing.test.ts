/**
 * Issue 16 item 3 against Debian's real mosquitto, open to anyone (no ACL), on loopback: a box with signing
 * configured accepts records while no ingest runs; a stranger publishes acks for every seq, live and
 * retained, unsigned, signed by their own key, and a real centre-signed ack an hour old; the broker restarts
 * (the retained forgeries are heard again at the reconnect). Nothing is deleted. Then ingest starts: every
 * record arrives. Meanwhile records that claim to be the box but are not signed by its key, or name another
 * site, are refused: never stored, never acked.
 */
import t from 'tap';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Broker } from '../test/support/mosquitto.js';
import { memoryLog, sleep, tempDir, waitFor } from '../test/support/uplink.js';
import { startIngest } from '../central/ingest.js';
import { openStore } from '../central/store/store.js';
import { defaultConfig, resolveConfig } from '../provisioning/config.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { ackBody, commandBody, recordBody } from '../edge/uplink/signed-wire.js';
import { sendCommand } from '../central/send-command.js';
import { startCentralWeb } from '../central/web/server.js';
import { RecordGate } from '../central/record-gate.js';
import { generateSigningKey, writePrivateKey } from '../lib/signing.js';

const N = 300;
const SITE = 'floor-1';
const BOX = 'box-1';

t.test('forged acks delete nothing on an open broker; every record arrives once ingest starts', async (t) => {
  const dir = tempDir('signing');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());

  const centre = generateSigningKey();
  const box = generateSigningKey();
  const stranger = createPrivateKey(generateSigningKey().privatePem);
  writePrivateKey(join(dir, 'centre.key'), centre.privatePem);
  writePrivateKey(join(dir, 'box.key'), box.privatePem);
  const db = join(dir, 'centre.sqlite');
  const registry = await openStore(db);
  await registry.registerBox(SITE, BOX, box.publicKey);
  await registry.close();

  const boxLog = memoryLog('warn');
  const config = resolveConfig({
    outbox: { path: join(dir, 'outbox.sqlite') },
    uplink: {
      broker: broker.url,
      site: SITE,
      box: BOX,
      ackTimeoutSec: 2,
      reconnect: { minSec: 0.1, maxSec: 1, jitter: 0.3 },
      signing: { key: join(dir, 'box.key'), centreKeys: [centre.publicKey] },
    },
  });
  const { uplink, outbox } = startUplink(config, { log: boxLog.log });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  let accepted = 0;
  for (let i = 1; i <= N; i++) if ('seq' in uplink.submit(i % 10 === 0 ? 'alert' : 'index', { callId: `call-${i}`, n: i })) accepted++;
  t.equal(accepted, N, 'every record accepted while no ingest runs');
  await waitFor('the box to publish', () => uplink.counters.published >= N, 20_000);

  const stranger$ = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'stranger' });
  t.teardown(() => stranger$.endAsync(true));
  const ackTopic = `earshot/${SITE}/${BOX}/ack`;
  const every: [number, number][] = [[1, 1_000_000]];
  const forged = {
    unsigned: JSON.stringify({ schema: 'earshot/ack@1', box: BOX, ranges: every }),
    'signed by a stranger': ackBody(SITE, BOX, every, stranger),
    'a real centre ack, an hour old': ackBody(SITE, BOX, every, createPrivateKey(centre.privatePem), Date.now() - 3600_000),
    'per seq, signed by a stranger': null,
  };
  for (const [what, payload] of Object.entries(forged)) {
    if (payload === null) {
      for (let s = 1; s <= N; s++) await stranger$.publishAsync(ackTopic, ackBody(SITE, BOX, [[s, s]], stranger), { qos: 1 });
      continue;
    }
    await stranger$.publishAsync(ackTopic, payload, { qos: 1 });
    t.comment(`published: ${what}`);
  }
  // Retained (the broker keeps the last one per topic): heard again by the box at every (re)connect.
  await stranger$.publishAsync(ackTopic, ackBody(SITE, BOX, every, stranger), { qos: 1, retain: true });
  await waitFor('the box to hear the forgeries', () => (uplink.stats().uplink.inbound as { rejected: number }).rejected >= N + 4, 20_000);
  t.equal((uplink.stats().uplink.inbound as { retainedIgnored: number }).retainedIgnored, 0, 'published while the box listened: heard live, and refused for its signature');

  await broker.stop();
  await broker.start();
  await waitFor('the box to reconnect', () => uplink.counters.reconnects >= 1 && uplink.stats().uplink.connected === true, 20_000);
  await sleep(1000); // the retained forgeries are delivered with its subscription
  const inbound = uplink.stats().uplink.inbound as { rejected: number; retainedIgnored: number; rejectedByTopic: Record<string, number> };
  t.equal(inbound.retainedIgnored, 1, 'the retained forgery heard again at the reconnect, and ignored');
  t.equal(outbox.depth(), N, 'no record deleted by any forged ack');
  t.equal(uplink.counters.acked, 0, 'nothing counted as acked');
  for (const reason of [/unsigned ack \(earshot\/ack@1\)/, /ack signature does not verify with the centre's key/, /ack not obeyed: it was signed 3600 s old/]) {
    t.ok(boxLog.lines.some((l) => reason.test(String(l.msg))), `the box logged why: ${reason.source}`);
  }

  // Records that claim to be the box, sent once ingest listens (it has no session on the broker before).
  const ingestLog = memoryLog('warn');
  const ingest = await startIngest({ ...defaultConfig().ingest, broker: broker.url, db, clientId: 'ingest-signing', signing: { key: join(dir, 'centre.key'), records: 'enrolled' } }, ingestLog.log);
  t.teardown(() => ingest.stop());
  await waitFor('ingest to connect', () => ingest.connected, 10_000);
  await sleep(200);
  const spoofs = [
    [`earshot/${SITE}/${BOX}/index`, recordBody(SITE, BOX, N + 1, 'index', Date.now(), '{"callId":"forged"}', stranger)],
    [`earshot/${SITE}/${BOX}/index`, recordBody(SITE, BOX, N + 2, 'index', Date.now(), '{"callId":"forged"}', null)],
    [`earshot/floor-2/${BOX}/index`, recordBody('floor-2', BOX, N + 3, 'index', Date.now(), '{"callId":"elsewhere"}', createPrivateKey(box.privatePem))],
  ] as const;
  for (const [topic, payload] of spoofs) await stranger$.publishAsync(topic, payload, { qos: 1 });

  const elapsed = await waitFor('every record stored and the outbox drained', async () => (await ingest.count(BOX)) >= N && outbox.depth() === 0, 60_000, 50);
  const seqs = await ingest.seqsFor(BOX);
  t.same([...seqs].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i + 1), `every record arrived, once (${elapsed} ms after ingest started)`);
  await waitFor('the spoofs to be refused', () => ingest.counters.refusedSignature >= 3, 10_000);
  t.equal(ingest.counters.refusedSignature, 3, 'three spoofed records refused');
  t.notOk(seqs.some((s) => s > N), 'none of them stored');
  for (const reason of [/record seq 301 refused, not stored, not acked: record signature does not verify with box box-1's enrolled key/, /unsigned record/, /box box-1 is enrolled at site floor-1, not floor-2/]) {
    t.ok(ingestLog.lines.some((l) => reason.test(String(l.msg))), `ingest logged why: ${reason.source}`);
  }

  // Commands: the centre's, signed, obeyed once; a stranger's, or the centre's played back later, not.
  const commands = () => uplink.stats().uplink.commands as { obeyed: number; repeated: number };
  const rejectedCommands = () => (uplink.stats().uplink.inbound as { rejectedByTopic: Record<string, number> }).rejectedByTopic.command ?? 0;
  const ic = { ...defaultConfig().ingest, broker: broker.url, signing: { key: join(dir, 'centre.key'), records: 'enrolled' as const } };
  await sendCommand(ic, SITE, BOX, 'status', ingestLog.log);
  await waitFor('the signed status command to be obeyed', () => commands().obeyed === 1, 10_000);
  const cmdTopic = `earshot/${SITE}/${BOX}/command`;
  const captured = commandBody(SITE, BOX, 'stats', 'c-1', createPrivateKey(centre.privatePem));
  await stranger$.publishAsync(cmdTopic, captured, { qos: 1 });
  await stranger$.publishAsync(cmdTopic, captured, { qos: 1 });
  await stranger$.publishAsync(cmdTopic, commandBody(SITE, BOX, 'resend', 'c-2', stranger), { qos: 1 });
  await stranger$.publishAsync(cmdTopic, commandBody(SITE, BOX, 'resend', 'c-3', createPrivateKey(centre.privatePem), Date.now() - 3600_000), { qos: 1 });
  await stranger$.publishAsync(cmdTopic, JSON.stringify({ cmd: 'resend', id: 'c-4' }), { qos: 1 });
  await waitFor('the box to hear the commands', () => commands().repeated + rejectedCommands() >= 4, 10_000);
  t.match(commands(), { obeyed: 2, repeated: 1 }, 'the captured command obeyed once, its replay not');
  t.equal(rejectedCommands(), 3, "a stranger's, a stale one and an unsigned one refused");

  // The live floor page hears alerts from the broker itself: it shows the box's, not a stranger's in its name.
  const webLog = memoryLog('warn');
  const web = await startCentralWeb({ broker: broker.url, listen: '127.0.0.1:0', log: webLog.log, recordGate: new RecordGate((boxes) => ingest.store.boxKeys(boxes), false) });
  t.teardown(() => web.close());
  await sleep(500); // its subscription
  await stranger$.publishAsync(`earshot/${SITE}/${BOX}/alerts`, recordBody(SITE, BOX, 9999, 'alert', Date.now(), '{"callId":"forged","id":"f-1","severity":"critical","title":"forged"}', stranger), { qos: 1 });
  uplink.submit('alert', { callId: 'live', id: 'a-1', severity: 'warning', title: 'raised voice' });
  await waitFor("the box's alert on the floor", () => web.floor.snapshot(SITE).alerts.length > 0, 10_000);
  await waitFor('the forged alert refused', () => webLog.lines.some((l) => /alert seq 9999 not shown: record signature does not verify/.test(String(l.msg))), 10_000);
  t.same(web.floor.snapshot(SITE).alerts.map((a) => a.callId), ['live'], "only the box's own alert is shown");

  t.comment(`box: ${inbound.rejected} forged acks dropped, ${inbound.retainedIgnored} retained ones ignored; ingest: every record ${elapsed} ms after it started`);
});
