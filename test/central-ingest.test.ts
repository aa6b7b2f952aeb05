/**
 * Ingest on the centre's store, without a broker: acks go out only after the commit, duplicates are acked
 * again, a store that fails acks nothing; with registration closed, a record from a box or site the centre
 * was not told of is held apart and still acked (the box must not resend it forever).
 */
import t from 'tap';
import { join } from 'node:path';
import pino from 'pino';
import { FakeTransport } from './support/fake-transport.js';
import { Ingest } from '../central/ingest.js';
import { openStore, type Store } from '../central/store/store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = pino({ level: 'silent' });

function record(box: string, seq: number, site = 's1') {
  return JSON.stringify({ schema: 'earshot/record@1', box, site, seq, kind: 'index', at: '2026-12-04T10:00:00.000Z', data: { callId: `${box}-${seq}`, durationSec: 12 } });
}

const acksTo = (tr: FakeTransport, box: string, site = 's1') =>
  tr.published.filter((p) => p.topic === `earshot/${site}/${box}/ack`).map((p) => (JSON.parse(p.payload) as { ranges: [number, number][] }).ranges);

async function ingestOn(store: Store, registration?: 'open' | 'closed') {
  const transport = new FakeTransport();
  const ingest = new Ingest({ transport, store, group: 'g', prefix: 'earshot', ackDelayMs: 5, ackBatchMax: 100, registration, log: quiet });
  ingest.start();
  return { transport, ingest };
}

/** Ingest whose log lines the test reads (as parsed JSON). */
function loggedIngestOn(store: Store, ackDelayMs: number) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  const transport = new FakeTransport();
  const ingest = new Ingest({ transport, store, group: 'g', prefix: 'earshot', ackDelayMs, ackBatchMax: 100, log });
  ingest.start();
  return { transport, ingest, lines };
}

t.test('acks only after the commit; a duplicate is acked again', async (t) => {
  const store = await openStore(join(t.testdir(), 'i.sqlite'));
  // Hold the commit until the test lets it go: no ack may leave before.
  const real = store.storeBatch.bind(store);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  store.storeBatch = async (...args) => {
    await gate;
    return real(...args);
  };
  const { transport, ingest } = await ingestOn(store);
  t.teardown(() => ingest.stop());
  transport.deliver('earshot/s1/b1/index', record('b1', 1));
  transport.deliver('earshot/s1/b1/index', record('b1', 2));
  await sleep(50);
  t.same(acksTo(transport, 'b1'), [], 'nothing acked while the commit is pending');
  release();
  await sleep(30);
  t.same(acksTo(transport, 'b1'), [[[1, 2]]], 'acked once committed');
  transport.deliver('earshot/s1/b1/index', record('b1', 2));
  await sleep(30);
  t.same(acksTo(transport, 'b1').at(-1), [[2, 2]], 'the duplicate is acked again');
  t.match(ingest.counters, { stored: 2, duplicates: 1, acksSent: 2 });
  t.same(await ingest.seqsFor('b1'), [1, 2]);
});

t.test('a store that fails acks nothing and is used again once it works', async (t) => {
  const store = await openStore(join(t.testdir(), 'i.sqlite'));
  const real = store.storeBatch.bind(store);
  let failing = true;
  store.storeBatch = (...args) => (failing ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')) : real(...args));
  const { transport, ingest, lines } = loggedIngestOn(store, 5);
  t.teardown(() => ingest.stop());
  for (let seq = 1; seq <= 3; seq++) {
    transport.deliver('earshot/s1/b1/index', record('b1', seq));
    await sleep(20);
  }
  t.same(acksTo(transport, 'b1'), [], 'no ack');
  t.equal(ingest.counters.storeFailures, 3);
  t.equal(lines.filter((l) => l.level === 50).length, 1, 'one error line for the stretch');
  failing = false;
  for (let seq = 1; seq <= 3; seq++) transport.deliver('earshot/s1/b1/index', record('b1', seq));
  await sleep(30);
  t.same(acksTo(transport, 'b1'), [[[1, 3]]], 'the resend is stored and acked');
  t.ok(lines.some((l) => l.msg === 'ingest stores records again'));
});

t.test('registration closed: unknown boxes and sites are held apart, acked, listed for an admin', async (t) => {
  const store = await openStore(join(t.testdir(), 'i.sqlite'));
  await store.registerBox('s1', 'b1');
  const { transport, ingest } = await ingestOn(store, 'closed');
  t.teardown(() => ingest.stop());
  transport.deliver('earshot/s1/b1/index', record('b1', 1));
  transport.deliver('earshot/s1/stray/index', record('stray', 1));
  transport.deliver('earshot/elsewhere/b9/index', record('b9', 1, 'elsewhere'));
  await sleep(40);
  t.same(acksTo(transport, 'b1'), [[[1, 1]]]);
  t.same(acksTo(transport, 'stray'), [[[1, 1]]], 'an unregistered box is acked all the same');
  t.same(acksTo(transport, 'b9', 'elsewhere'), [[[1, 1]]], 'so is a box of an unknown site');
  t.match(ingest.counters, { stored: 1, heldApart: 2, duplicates: 0 });
  t.same((await store.listCalls({ site: 's1' })).calls.map((c) => c.callId), ['b1-1'], 'only the registered box\'s call is listed');
  t.same((await store.listUnregistered()).map((u) => `${u.site}/${u.box}: ${u.reason}`).sort(), ['elsewhere/b9: site elsewhere is not registered', 's1/stray: box stray is not registered at site s1']);
});

t.test('registration open (the default): every box is stored', async (t) => {
  const store = await openStore(join(t.testdir(), 'i.sqlite'));
  const { transport, ingest } = await ingestOn(store);
  t.teardown(() => ingest.stop());
  transport.deliver('earshot/s1/stray/index', record('stray', 1));
  await sleep(30);
  t.same(await ingest.seqsFor('stray'), [1]);
  t.same(await store.listUnregistered(), []);
});

t.test('a record whose data the store cannot read is refused alone: the rest of its batch is stored and acked', async (t) => {
  const store = await openStore(join(t.testdir(), 'i.sqlite'));
  const { transport, ingest, lines } = loggedIngestOn(store, 20);
  t.teardown(() => ingest.stop());
  const withData = (seq: number, data: unknown) =>
    JSON.stringify({ schema: 'earshot/record@1', box: 'b1', site: 's1', seq, kind: 'index', at: '2026-12-04T10:00:00.000Z', data });
  transport.deliver('earshot/s1/b1/index', record('b1', 1));
  // what a stranger's fuzzer sent: well-formed envelopes, data of the wrong types where the store reads it
  transport.deliver('earshot/s1/b1/index', withData(2, { callId: 'c2', durationSec: 60, utterances: [{ channel: 'agent', start: 1, end: 2, text: 5 }] }));
  transport.deliver('earshot/s1/b1/index', withData(3, { callId: 'c3', durationSec: 60, line: { endedAt: 'last tuesday' } }));
  transport.deliver('earshot/s1/b1/index', withData(4, { callId: 'c4', durationSec: 60, utterances: [{ channel: 'agent', start: 1, end: 2, text: 'hi' }], keywords: 'none' }));
  transport.deliver('earshot/s1/b1/index', record('b1', 5));
  await sleep(80);
  t.same(acksTo(transport, 'b1'), [[[1, 1], [5, 5]]], 'the readable records are acked; the unreadable ones are not, so nothing the box sent is dropped unseen');
  t.same(await ingest.seqsFor('b1'), [1, 5], 'and only they are stored');
  t.match(ingest.counters, { stored: 2, refusedData: 3, storeFailures: 0 });
  const refusals = lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('refused')).map((l) => String(l.msg));
  t.equal(refusals.length, 3, 'each refusal is logged once');
  t.match(refusals.find((m) => m.includes('seq 2')), /utterances\[0\]\.text.*not text/, 'naming the field that cannot be read');
  t.match(refusals.find((m) => m.includes('seq 3')), /line\.endedAt is not a time/);
  t.match(refusals.find((m) => m.includes('seq 4')), /keywords.*not a list/);
  t.equal(lines.filter((l) => l.level === 50).length, 0, 'no store failure: the batch itself was fine');
});
