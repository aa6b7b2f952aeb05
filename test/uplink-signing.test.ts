/**
 * The box with signing configured (docs/mqtt.md, "Signatures"), on an in-memory transport: its records go
 * out signed with its key; it obeys an ack or command only when the centre signed it, for this box and site,
 * within the window; everything else is dropped with its reason and counted, and deletes nothing.
 * (hw-tests/uplink-signing.test.ts does it through Debian's mosquitto, with ingest.)
 */
import t, { type Test } from 'tap';
import { createPrivateKey } from 'node:crypto';
import type { Uplink } from '../edge/uplink/uplink.js';
import { ackBody, commandBody } from '../edge/uplink/signed-wire.js';
import { generateSigningKey, parsePublicKey, verifyJson } from '../lib/signing.js';
import { fakeUplink } from './support/fake-transport.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const centre = generateSigningKey();
const centreKey = createPrivateKey(centre.privatePem);
const box = generateSigningKey();
const stranger = createPrivateKey(generateSigningKey().privatePem);

function signedUplink(t: Test) {
  return fakeUplink(t, { signing: { key: createPrivateKey(box.privatePem), centreKeys: [parsePublicKey(centre.publicKey, 'centre')], windowSec: 300 } }, 'info');
}

const ACK = 'earshot/s/b1/ack';
const COMMAND = 'earshot/s/b1/command';
const inbound = (u: Uplink) => u.stats().uplink.inbound as { rejected: number; rejectedByTopic: Record<string, number> };
const commands = (u: Uplink) => u.stats().uplink.commands as { obeyed: number; repeated: number };

t.test('records go out as record@2, signed with the box key', async (t) => {
  const { transport, uplink } = signedUplink(t);
  uplink.start();
  uplink.submit('index', { callId: 'c1' });
  await sleep(30);
  const sent = transport.published.find((p) => p.topic === 'earshot/s/b1/index');
  t.match(JSON.parse(sent!.payload), { schema: 'earshot/record@2', box: 'b1', site: 's', seq: 1, data: { callId: 'c1' } });
  t.ok(verifyJson(Buffer.from(sent!.payload), [parsePublicKey(box.publicKey, 'box')]), "ingest can check it with the box's public key");
});

t.test('acks: only the centre signed, for this box and site, fresh; nothing else deletes a record', async (t) => {
  const { outbox, transport, uplink, lines } = signedUplink(t);
  uplink.start();
  for (let i = 0; i < 3; i++) uplink.submit('index', { callId: `c${i}` });
  await sleep(30);
  const all: [number, number][] = [[1, 3]];
  const forged = {
    'unsigned ack \\(earshot/ack@1\\)': JSON.stringify({ schema: 'earshot/ack@1', box: 'b1', ranges: all }),
    "signature does not verify with the centre's key": ackBody('s', 'b1', all, stranger),
    'ack is for s2/b1, not this box': ackBody('s2', 'b1', all, centreKey),
    'signed 600 s old, outside the 300 s window': ackBody('s', 'b1', all, centreKey, Date.now() - 600_000),
    'signed 3600 s in the future': ackBody('s', 'b1', all, centreKey, Date.now() + 3600_000),
  };
  for (const payload of Object.values(forged)) transport.deliver(ACK, payload);
  await sleep(30);
  t.equal(outbox.depth(), 3, 'no forged ack deleted anything');
  t.equal(inbound(uplink).rejectedByTopic.ack, 5);
  for (const reason of Object.keys(forged)) t.ok(lines.some((l) => l.level === 40 && new RegExp(reason).test(String(l.msg))), `warned: ${reason}`);

  transport.deliver(ACK, ackBody('s', 'b1', [[1, 2]], centreKey));
  await sleep(30);
  t.equal(outbox.depth(), 1, "the centre's ack is obeyed");
  t.equal(uplink.counters.acked, 2);
});

t.test('commands: signed by the centre and obeyed once; unsigned, forged, stale or for another box not at all', async (t) => {
  const { transport, uplink } = signedUplink(t);
  uplink.start();
  await sleep(10);
  const stats = () => transport.published.filter((p) => p.topic.endsWith('/stats')).length;
  transport.deliver(COMMAND, JSON.stringify({ cmd: 'stats', id: 'x1' }));
  transport.deliver(COMMAND, commandBody('s', 'b1', 'stats', 'x2', stranger));
  transport.deliver(COMMAND, commandBody('s', 'b2', 'stats', 'x3', centreKey));
  transport.deliver(COMMAND, commandBody('s', 'b1', 'stats', 'x4', centreKey, Date.now() - 3600_000));
  await sleep(30);
  t.equal(stats(), 0, 'none obeyed');
  t.equal(inbound(uplink).rejectedByTopic.command, 4);
  const real = commandBody('s', 'b1', 'stats', 'x5', centreKey);
  transport.deliver(COMMAND, real);
  transport.deliver(COMMAND, real);
  await sleep(30);
  t.equal(stats(), 1, "the centre's command is obeyed");
  t.match(commands(uplink), { obeyed: 1, repeated: 1 }, 'and its replay is not');
});
