/**
 * What the box and ingest do with whatever arrives on the topics they subscribe to: hostile payloads are
 * dropped with a reason and counted, retained control messages are not obeyed, commands are bounded, and a
 * valid message after any of it is handled. (hw-tests/inbound-fuzz.test.ts does this at volume through a real broker.)
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import pino from 'pino';
import { Ingest } from '../central/ingest.js';
import { openStore } from '../central/store/store.js';
import { jsonNestingExceeds, MAX_NESTING, MAX_PAYLOAD_BYTES, memberText, readWire } from '../edge/uplink/wire.js';
import { FakeTransport, fakeUplink } from './support/fake-transport.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

function capture() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) }) };
}

const uplinkFor = (t: Test) => fakeUplink(t);

const ACK = 'earshot/s/b1/ack';
const COMMAND = 'earshot/s/b1/command';
const recordsSent = (tr: FakeTransport) => tr.published.filter((p) => /\/(index|alerts|events)$/.test(p.topic)).length;
const statsSent = (tr: FakeTransport) => tr.published.filter((p) => p.topic.endsWith('/stats')).length;

t.test('wire: each kind is bounded, decoded and checked before a field is read', async (t) => {
  t.match(readWire('ack', Buffer.from('null')), { ok: false, reason: /not an earshot\/ack: \(root\) must be object/ });
  t.match(readWire('command', Buffer.from('null')), { ok: false, reason: /must be object/ });
  t.match(readWire('ack', Buffer.from(deep(100_000))), { ok: false, reason: `JSON nested deeper than ${MAX_NESTING} levels` });
  t.match(readWire('record', Buffer.from(`{"data":${deep(100_000)}}`)), { ok: false, reason: /nested deeper/ });
  t.match(readWire('command', Buffer.alloc(MAX_PAYLOAD_BYTES.command + 1, 0x20)), { ok: false, reason: new RegExp(`over the ${MAX_PAYLOAD_BYTES.command}-byte limit for command`) });
  t.match(readWire('ack', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), { ok: false, reason: 'payload is not UTF-8' });
  t.match(readWire('ack', Buffer.alloc(0)), { ok: false, reason: 'empty payload' });
  t.match(readWire('ack', Buffer.from('{"schema":"earshot/ack@1","box":"b1","ranges":[["1","2"]]}')), { ok: false, reason: /ranges\/0\/0 must be integer/ });
  t.match(readWire('ack', Buffer.from('{"schema":"earshot/ack@1","box":"b1","ranges":[[0,2]]}')), { ok: false, reason: /must be >= 1/ });
  t.match(readWire('availability', Buffer.from('onlinex')), { ok: false });
  t.match(readWire('availability', Buffer.from('offline')), { ok: true, value: 'offline' });
  t.match(readWire('ack', Buffer.from('{"schema":"earshot/ack@1","box":"b1","ranges":[[1,2]]}')), { ok: true, value: { schema: 'earshot/ack@1', box: 'b1', ranges: [[1, 2]] } });
  // U+FFFD written on purpose is text; a byte-order mark is not part of it
  t.match(readWire('ack', Buffer.from('\uFEFF{"schema":"earshot/ack@1","box":"b\uFFFD","ranges":[[1,2]]}')), { ok: true, value: { box: 'b\uFFFD' } });
  t.match(readWire('ack', Buffer.from([0x7b, 0xef, 0xbf, 0xbd, 0xff, 0x7d])), { ok: false, reason: 'payload is not UTF-8' }, 'nor does a U+FFFD hide a bad byte after it');
  const record = { schema: 'earshot/record@1', box: 'b1', site: 's', seq: 3, kind: 'index', at: '2026-12-04T10:00:00.000Z', data: { callId: 'c' } };
  t.ok(readWire('record', Buffer.from(JSON.stringify(record))).ok, 'a real record passes');
  t.notOk(readWire('record', Buffer.from(JSON.stringify({ ...record, seq: 1.5 }))).ok, 'a fractional seq does not');
  t.notOk(readWire('record', Buffer.from(JSON.stringify({ ...record, box: 'b/1' }))).ok, 'nor a box id with a topic separator');
  // Brackets inside strings are not nesting; an escaped quote does not end the string.
  t.notOk(jsonNestingExceeds(JSON.stringify({ text: '[[[[[[[[[[\\"[[[[[' }), 3));
  t.ok(jsonNestingExceeds(deep(4), 3));
  t.notOk(jsonNestingExceeds(deep(3), 3));
});

t.test('wire: memberText gives a member of the top-level object exactly as written, or null when it cannot be sure', async (t) => {
  const data = '{ "callId" : "c,1}", "n":[1, {"data":2}], "s":"\\"data\\":" }';
  t.equal(memberText(`{"schema":"x","data":${data},"sig":"y"}`, 'data'), data, 'nested braces, commas and names inside strings and values do not confuse it');
  t.equal(memberText(` {"data" :\n ${data}\n}`, 'data'), data, 'whitespace around it is not part of it');
  t.equal(memberText('{"data":{"a":1},"data":{"b":2}}', 'data'), '{"b":2}', 'a name given twice: the last, as JSON.parse takes it');
  t.equal(memberText('{"database":{"a":1},"x":"data"}', 'data'), null, 'a longer name or a value that spells it is not it');
  t.equal(memberText('{"data":{"a":1},"d\\u0061ta":{"b":2}}', 'data'), null, 'an escaped name could spell it: unsure, so null');
  t.equal(memberText('[{"data":1}]', 'data'), null, 'not an object');
  for (const text of [`{"data":${data}}`, '{"data":{"a":1},"data":{"b":2}}', '{"a":[{"data":3}],"data":[1,"]"]}']) {
    t.same(JSON.parse(memberText(text, 'data')!), JSON.parse(text).data, `what JSON.parse reads in ${text}`);
  }
});

t.test('box: hostile acks and commands are dropped and counted; a valid ack after them is obeyed', async (t) => {
  const { outbox, transport, uplink, lines } = uplinkFor(t);
  uplink.start();
  for (let i = 0; i < 5; i++) uplink.submit('index', { i });
  await sleep(20);
  const hostile = ['{"schema":"earshot/ack@1","box":"b2","ranges":[[1,5]]}', 'null', '4', '"ack"', '[]', deep(100_000), '{"schema":"earshot/ack@1"}', '{"schema":"earshot/ack@1","box":"b1","ranges":null}', '{"schema":"earshot/ack@1","box":"b1","ranges":[[5,1]]}'];
  for (const p of hostile) transport.deliver(ACK, p);
  for (const p of ['null', '{"cmd":null}', '{"cmd":"x".repeat(100)}', '{"cmd":"send-audio"}', '{"cmd":"reboot"}']) transport.deliver(COMMAND, p);
  t.equal(outbox.depth(), 5, 'nothing acked by garbage');
  const inbound = uplink.stats().uplink.inbound as { rejected: number; rejectedByTopic: Record<string, number> };
  t.equal(inbound.rejected, hostile.length + 5, 'every hostile payload counted');
  t.same(inbound.rejectedByTopic, { ack: hostile.length, command: 5 });
  const warned = lines.filter((l) => /dropped/.test(String(l.msg)));
  t.ok(warned.some((l) => l.topic === ACK && /box b2, not this box/.test(String(l.reason))), 'the warning names the topic and the reason');
  t.ok(warned.some((l) => /raw audio is never published/.test(String(l.reason))), 'a request for audio is refused with its reason');
  t.equal(warned.filter((l) => l.topic === ACK).length, 5, 'a storm is not a storm of log lines: a few per topic per window');
  transport.ack('b1', [[1, 5]]);
  await sleep(20);
  t.equal(outbox.depth(), 0, 'a valid ack after the storm is obeyed');
});

t.test('box: a retained ack or command is never obeyed; the same sent live is', async (t) => {
  const { outbox, transport, uplink, lines } = uplinkFor(t);
  uplink.start();
  for (let i = 0; i < 3; i++) uplink.submit('alert', { i });
  await sleep(20);
  const ack = JSON.stringify({ schema: 'earshot/ack@1', box: 'b1', ranges: [[1, 1_000_000]] });
  transport.deliver(ACK, ack, true);
  const before = statsSent(transport);
  transport.deliver(COMMAND, '{"cmd":"stats"}', true);
  await sleep(20);
  t.equal(outbox.depth(), 3, 'retained ack ignored');
  t.equal(statsSent(transport), before, 'retained command ignored');
  t.equal((uplink.stats().uplink.inbound as { retainedIgnored: number }).retainedIgnored, 2);
  t.ok(lines.some((l) => /retained message on earshot\/s\/b1\/ack ignored/.test(String(l.msg))));
  transport.deliver(ACK, ack);
  await sleep(20);
  t.equal(outbox.depth(), 0, 'live ack obeyed');
});

t.test('box: commands are bounded: stats and status at most every few seconds, one resend at a time, an id obeyed once', async (t) => {
  const { transport, uplink } = uplinkFor(t);
  uplink.start();
  for (let i = 0; i < 40; i++) uplink.submit('index', { i });
  await sleep(30);
  t.equal(recordsSent(transport), 40);
  const stats0 = statsSent(transport);
  for (let i = 0; i < 50; i++) transport.deliver(COMMAND, '{"cmd":"stats"}');
  await sleep(20);
  t.equal(statsSent(transport) - stats0, 1, 'fifty stats commands: one stats message');
  for (let i = 0; i < 50; i++) transport.deliver(COMMAND, '{"schema":"earshot/command@1","cmd":"resend"}');
  await sleep(50);
  t.equal(recordsSent(transport), 80, 'fifty resends while one is in progress: the outbox is sent again once');
  transport.ack('b1', [[1, 40]]);
  for (let i = 0; i < 10; i++) uplink.submit('index', { i });
  await sleep(30);
  t.equal(recordsSent(transport), 90);
  for (let i = 0; i < 3; i++) {
    transport.deliver(COMMAND, '{"cmd":"resend","id":"op-7"}');
    transport.ack('b1', [[41, 50]]);
    await sleep(30);
  }
  t.equal(recordsSent(transport), 100, 'the same command id three times: obeyed once');
  t.match(uplink.stats().uplink.commands, { obeyed: 3, throttled: 49 + 49, repeated: 2 });
});

t.test('box: a handler that throws costs only its message', async (t) => {
  const { outbox, transport, uplink, lines } = uplinkFor(t);
  uplink.start();
  uplink.submit('index', { i: 1 });
  await sleep(20);
  const realAck = outbox.ack.bind(outbox);
  outbox.ack = () => {
    throw new Error('disk I/O error');
  };
  transport.ack('b1', [[1, 1]]);
  outbox.ack = realAck;
  t.equal((uplink.stats().uplink.inbound as { handlerErrors: number }).handlerErrors, 1, 'counted');
  t.ok(lines.some((l) => l.level === 50 && l.topic === ACK && /disk I\/O error/.test(JSON.stringify(l.err))), 'logged with the topic and the error');
  transport.ack('b1', [[1, 1]]);
  await sleep(20);
  t.equal(outbox.depth(), 0, 'the next ack is obeyed');
});

t.test('ingest: hostile records and state are dropped; a valid record after them is stored and acked', async (t) => {
  const transport = new FakeTransport();
  const { log } = capture();
  const ingest = new Ingest({ transport, store: await openStore(join(t.testdir(), 'i.sqlite')), group: 'g', prefix: 'earshot', ackDelayMs: 5, ackBatchMax: 100, log });
  t.teardown(() => ingest.stop());
  ingest.start();
  const record = { schema: 'earshot/record@1', box: 'b1', site: 's', seq: 1, kind: 'index', at: '2026-12-04T10:00:00.000Z', data: { callId: 'c1' } };
  const hostile: [string, string][] = [
    ['earshot/s/b1/index', 'null'],
    ['earshot/s/b1/index', JSON.stringify({ ...record, data: 'x' }).replace('"x"', deep(100_000))],
    ['earshot/s/b1/index', JSON.stringify({ ...record, box: 'b2' })],
    ['earshot/s/b1/alerts', JSON.stringify(record)],
    ['earshot/s/b1/index', JSON.stringify({ ...record, seq: -1 })],
    ['earshot/s/b1/status', 'null'],
    ['earshot/s/b1/stats', JSON.stringify({ schema: 'earshot/stats@1', box: 'b2', site: 's' })],
    ['earshot/s/b1/availability', 'x'.repeat(100)],
  ];
  for (const [topic, payload] of hostile) transport.deliver(topic, payload);
  t.equal(ingest.counters.invalid, hostile.length);
  t.same(ingest.inboundStats().rejectedByTopic, { index: 4, alerts: 1, status: 1, stats: 1, availability: 1 });
  transport.deliver('earshot/s/b1/index', JSON.stringify(record));
  transport.deliver('earshot/s/b1/availability', 'online', true);
  transport.deliver('earshot/s/b1/status', JSON.stringify({ schema: 'earshot/status@1', box: 'b1', site: 's', kind: 'status', seq: null, at: 'now', state: 'ok', problems: [] }), true);
  await sleep(40);
  t.same((await ingest.seqsFor('b1')), [1], 'the valid record is stored');
  const acks = transport.published.filter((p) => p.topic === 'earshot/s/b1/ack').map((p) => JSON.parse(p.payload) as { ranges: number[][] });
  t.same(acks.map((a) => a.ranges), [[[1, 1]]], 'and acked, once');
  t.match(await ingest.boxState('s', 'b1'), { availability: 'online', status: { state: 'ok' }, stats: null }, 'the retained availability and status are kept');
});
