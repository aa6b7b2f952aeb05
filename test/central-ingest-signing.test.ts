/**
 * Ingest with signatures (docs/mqtt.md, "Signatures"), without a broker: a box enrolled with a public key has
 * its signed records stored and acked with the centre's signature; a record that claims to be it but is
 * unsigned, signed by another key, or names another site is refused with a warning and a count, and is
 * neither stored nor acked, so the real record, when it comes, is stored.
 */
import t from 'tap';
import { join } from 'node:path';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import pino from 'pino';
import { FakeTransport } from './support/fake-transport.js';
import { Ingest } from '../central/ingest.js';
import { openStore, type Store } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { generateSigningKey, parsePublicKey, verifyJson } from '../lib/signing.js';
import { controlProblem, recordBody } from '../edge/uplink/signed-wire.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function keyPair(): { key: KeyObject; publicKey: string } {
  const k = generateSigningKey();
  return { key: createPrivateKey(k.privatePem), publicKey: k.publicKey };
}

const centre = keyPair();
const box1 = keyPair();
const stranger = keyPair();
const data = (box: string, seq: number) => JSON.stringify({ callId: `${box}-${seq}`, durationSec: 12 });
const AT = Date.parse('2026-12-04T10:00:00.000Z');
const CARD = '4111 1111 1111 1111';

async function ingestOn(store: Store, requireSigned = false) {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s) as { level: number; msg: string }) });
  const transport = new FakeTransport();
  const ingest = new Ingest({ transport, store, group: 'g', prefix: 'earshot', ackDelayMs: 5, ackBatchMax: 100, signing: { key: centre.key, requireSigned }, log });
  ingest.start();
  return { transport, ingest, lines };
}

const acksTo = (tr: FakeTransport, box: string, site = 's1') => tr.published.filter((p) => p.topic === `earshot/${site}/${box}/ack`).map((p) => p.payload);

t.test('an enrolled box: signed records stored, acks signed by the centre for that box, fresh', async (t) => {
  const store = await openStore(join(t.testdir(), 'i.sqlite'));
  await store.registerBox('s1', 'b1', box1.publicKey);
  const { transport, ingest } = await ingestOn(store);
  t.teardown(() => ingest.stop());
  for (const seq of [1, 2]) transport.deliver('earshot/s1/b1/index', recordBody('s1', 'b1', seq, 'index', AT, data('b1', seq), box1.key));
  await sleep(60);
  t.same(await ingest.seqsFor('b1'), [1, 2]);
  const [ack] = acksTo(transport, 'b1');
  t.match(JSON.parse(ack), { schema: 'earshot/ack@2', box: 'b1', site: 's1', ranges: [[1, 2]] });
  const me = { site: 's1', box: 'b1' };
  const signing = { key: box1.key, centreKeys: [parsePublicKey(centre.publicKey, 'centre')], windowSec: 300 };
  t.equal(controlProblem('ack', Buffer.from(ack), JSON.parse(ack), me, signing), null, 'the box would obey it');
  t.match(controlProblem('ack', Buffer.from(ack), JSON.parse(ack), { site: 's1', box: 'b2' }, signing), /ack is for s1\/b1, not this box/);
  t.match(controlProblem('ack', Buffer.from(ack), JSON.parse(ack), me, signing, Date.now() + 3600_000), /3600 s old/, 'nor an hour later');
  t.ok(verifyJson(Buffer.from(ack), [parsePublicKey(centre.publicKey, 'centre')]));
});

t.test('a spoofed box id is refused: never stored, never acked, logged and counted; the real record is stored after', async (t) => {
  const store = await openStore(join(t.testdir(), 'i.sqlite'));
  await store.registerBox('s1', 'b1', box1.publicKey);
  await store.registerBox('s2', 'b2');
  const { transport, ingest, lines } = await ingestOn(store);
  t.teardown(() => ingest.stop());
  const forged = {
    'signed by a stranger': ['earshot/s1/b1/index', recordBody('s1', 'b1', 5, 'index', AT, data('forged', 5), stranger.key), /record signature does not verify with box b1's enrolled key/],
    unsigned: ['earshot/s1/b1/index', recordBody('s1', 'b1', 6, 'index', AT, data('forged', 6), null), /unsigned record \(earshot\/record@1\) from box b1, which is enrolled with a key/],
    'at another site': ['earshot/s2/b1/index', recordBody('s2', 'b1', 7, 'index', AT, data('b1', 7), box1.key), /box b1 is enrolled at site s1, not s2/],
  } as const;
  for (const [topic, payload] of Object.values(forged)) transport.deliver(topic, payload);
  await sleep(60);
  t.same(await ingest.seqsFor('b1'), [], 'nothing stored');
  t.same([...acksTo(transport, 'b1'), ...acksTo(transport, 'b1', 's2')], [], 'nothing acked');
  t.equal(ingest.counters.refusedSignature, 3);
  t.equal(ingest.inboundStats().rejectedByTopic.index, 3);
  for (const [what, [, , reason]] of Object.entries(forged)) t.ok(lines.some((l) => l.level === 40 && reason.test(l.msg) && /not stored, not acked/.test(l.msg)), `a warning says why: ${what}`);

  // The real seq 5 arrives after the forgery: it is stored, not taken for a duplicate.
  transport.deliver('earshot/s1/b1/index', recordBody('s1', 'b1', 5, 'index', AT, data('b1', 5), box1.key));
  await sleep(60);
  t.same(await ingest.seqsFor('b1'), [5]);
  t.equal((await store.getCall('b1', 'b1-5'))?.callId, 'b1-5', 'the real call, not the forged one');
  t.equal(acksTo(transport, 'b1').length, 1);

  // A box registered without a key is taken as before unless every record must be signed.
  transport.deliver('earshot/s2/b2/index', recordBody('s2', 'b2', 1, 'index', AT, data('b2', 1), null));
  await sleep(60);
  t.same(await ingest.seqsFor('b2'), [1]);
});

t.test('records: required refuses boxes with no enrolled key, and unknown boxes', async (t) => {
  const store = await openStore(join(t.testdir(), 'i.sqlite'));
  await store.registerBox('s1', 'b1', box1.publicKey);
  await store.registerBox('s1', 'nokey');
  const { transport, ingest, lines } = await ingestOn(store, true);
  t.teardown(() => ingest.stop());
  transport.deliver('earshot/s1/b1/index', recordBody('s1', 'b1', 1, 'index', AT, data('b1', 1), box1.key));
  transport.deliver('earshot/s1/nokey/index', recordBody('s1', 'nokey', 1, 'index', AT, data('nokey', 1), stranger.key));
  transport.deliver('earshot/s1/stray/index', recordBody('s1', 'stray', 1, 'index', AT, data('stray', 1), stranger.key));
  await sleep(60);
  t.same(await ingest.seqsFor('b1'), [1]);
  t.same([...(await ingest.seqsFor('nokey')), ...(await ingest.seqsFor('stray'))], []);
  t.same([...acksTo(transport, 'nokey'), ...acksTo(transport, 'stray')], []);
  t.equal(ingest.counters.refusedSignature, 2);
  t.ok(lines.some((l) => /box nokey has no public key registered: earshot central box add s1 nokey --public-key/.test(l.msg)));
  t.ok(lines.some((l) => /box stray is not registered with a public key/.test(l.msg)));
});

t.test('redaction at the centre: a record signed by its enrolled box is stored as it was sent; an unsigned one is redacted on arrival', async (t) => {
  const store = (await openStore(join(t.testdir(), 'i.sqlite'))) as SqlStore;
  await store.registerBox('s1', 'b1', box1.publicKey);
  await store.registerBox('s1', 'legacy');
  const { transport, ingest } = await ingestOn(store);
  t.teardown(() => ingest.stop());
  // As the box wrote it (its own spacing), with what a box's outbox would have masked: the centre trusts a
  // signing box's redaction, so what it stores shows whether the centre redacted again.
  const index = (callId: string) => `{"callId":"${callId}", "durationSec":12, "utterances":[{"channel":"customer","start":1,"end":5,"text":"my card is ${CARD}"}]}`;
  transport.deliver('earshot/s1/b1/index', recordBody('s1', 'b1', 1, 'index', AT, index('signed'), box1.key));
  transport.deliver('earshot/s1/legacy/index', recordBody('s1', 'legacy', 1, 'index', AT, index('unsigned'), null));
  await sleep(80);
  const payload = async (box: string) => (await store.db.all<{ payload: string }>('SELECT payload FROM records WHERE box = ?', [box]))[0]?.payload;
  t.equal(await payload('b1'), index('signed'), 'the signed record: its data byte for byte as the box sent it');
  const unsigned = await payload('legacy');
  t.notMatch(unsigned, /4111/, 'the unsigned record: the card number is not stored');
  t.match((JSON.parse(unsigned) as { utterances: { text: string }[] }).utterances[0].text, /^my card is \*{4} \*{4} \*{4} 1111$/, "it is masked as the box would have (all but the last four)");
  t.equal((await store.getCall('legacy', 'unsigned'))?.durationSec, 12, 'and projected as usual');
});
