/**
 * Bundles over the command topic (docs/bundles.md), on an in-memory transport: a signed command carrying a
 * signed bundle is applied, and the box's status then reports the version in force; a replayed or unsigned
 * bundle is refused and the status says why, with the version in force unchanged.
 */
import t, { type Test } from 'tap';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import type { BundleStatus } from '../edge/uplink/uplink.js';
import { commandBody } from '../edge/uplink/signed-wire.js';
import { BundleStore, buildBundle } from '../edge/bundles/bundle.js';
import { generateSigningKey, parsePublicKey } from '../lib/signing.js';
import { FakeTransport, fakeUplink } from './support/fake-transport.js';

const centre = generateSigningKey();
const centreKey = createPrivateKey(centre.privatePem);
const centrePub = parsePublicKey(centre.publicKey, 'centre');
const box = generateSigningKey();

function boxUplink(t: Test) {
  const bundles = new BundleStore(join(t.testdir(), 'bundles'), [{ key: centrePub, label: 'centre' }], { site: 's', floor: 'f1', box: 'b1' }).open();
  const { transport, uplink } = fakeUplink(t, { signing: { key: createPrivateKey(box.privatePem), centreKeys: [centrePub], windowSec: 300 }, bundles }, 'silent');
  return { transport, uplink, bundles };
}

const COMMAND = 'earshot/s/b1/command';
const pack = 'pack: site-extra\nrules:\n  - id: flux-phrase\n    title: Agent says flux capacitor\n    severity: warning\n    channel: agent\n    phrases:\n      en: ["flux capacitor"]\n';
const bundle = (version: number) => buildBundle({ kind: 'rules', version, expires: new Date(Date.now() + 86_400_000).toISOString(), target: { floors: ['f1'] }, content: pack }, centreKey);
let ids = 0;
const send = (transport: FakeTransport, text: string) => transport.deliver(COMMAND, commandBody('s', 'b1', 'bundle', `cmd-${++ids}`, centreKey, Date.now(), { bundle: text }));

/** Sends a bundle in a signed command and returns the bundles part of the status the box publishes next. */
async function sendAndRead(transport: FakeTransport, text: string): Promise<BundleStatus> {
  const statuses = () => transport.published.filter((p) => p.topic === 'earshot/s/b1/status');
  // the status published as the box connects comes first
  await transport.until('status on connect', () => statuses().length >= 1);
  const n = statuses().length + 1;
  send(transport, text);
  await transport.until(`status #${n}`, () => statuses().length >= n);
  return (JSON.parse(statuses()[n - 1].payload) as { bundles: BundleStatus }).bundles;
}

t.test('a bundle on the command topic is applied and the status reports its version; a replay is refused with its reason', async (t) => {
  const { transport, uplink, bundles } = boxUplink(t);
  uplink.start();
  const v1 = bundle(1);
  const first = await sendAndRead(transport, v1);
  t.match(first.inForce, { rules: { version: 1 } });
  t.notOk(first.refused);
  t.same(bundles.inForce, { rules: 1 });

  const second = await sendAndRead(transport, v1);
  t.match(second, { inForce: { rules: { version: 1 } }, refused: { reason: 'replayed', message: 'rules bundle v1 is already in force (a replay)' } });

  t.match(await sendAndRead(transport, bundle(2).replace(/,"sig":"[^"]+"}$/, '}')), { inForce: { rules: { version: 1 } }, refused: { reason: 'unsigned' } });

  const fourth = await sendAndRead(transport, bundle(2));
  t.match(fourth.inForce, { rules: { version: 2 } });
  t.notOk(fourth.refused, 'a refusal is cleared by the next bundle applied');
});

t.test('a bundle command that is not signed by the centre is not even looked at', async (t) => {
  const { transport, uplink, bundles } = boxUplink(t);
  uplink.start();
  transport.deliver(COMMAND, JSON.stringify({ cmd: 'bundle', id: 'x', bundle: bundle(1) }));
  transport.deliver(COMMAND, commandBody('s', 'b1', 'bundle', 'no-bundle', centreKey));
  t.equal((uplink.stats().uplink.inbound as { rejected: number }).rejected, 2, 'both rejected with their reason');
  t.same(bundles.inForce, {}, 'nothing applied');
});
