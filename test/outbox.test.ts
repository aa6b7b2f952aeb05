import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Outbox, OutboxFullError } from '../edge/outbox/outbox.js';
import { AudioNotAllowedError, sanitizeForUplink } from '../lib/privacy.js';
import { backoffDelayMs } from '../lib/backoff.js';
import { PublishRefusedError } from '../edge/uplink/transport.js';
import { FakeTransport, type Published } from './support/fake-transport.js';
import { Uplink } from '../edge/uplink/uplink.js';
import { Topics, toRanges } from '../edge/uplink/topics.js';
import { defaultConfig } from '../provisioning/config.js';
import { repoRoot } from './support/cli.js';
import pino from 'pino';

t.test('append gives increasing seqs, nextBatch returns them in order, ack removes them', async (t) => {
  const dir = t.testdir();
  const ob = new Outbox(join(dir, 'o.sqlite'));
  const seqs = [ob.append('index', { a: 1 }), ob.append('alert', { b: 2 }), ob.append('status', { c: 3 })].map((r) => r.seq);
  t.same(seqs, [1, 2, 3]);
  t.equal(ob.depth(), 3);
  t.same(ob.nextBatch(10).map((r) => [r.seq, r.kind]), [[1, 'index'], [2, 'alert'], [3, 'status']]);
  t.same(ob.nextBatch(10, 1).map((r) => r.seq), [2, 3], 'after a cursor');
  t.same(JSON.parse(ob.nextBatch(1)[0].payload), { a: 1 });
  ob.markSent([1, 2]);
  t.equal(ob.nextBatch(1)[0].attempts, 1);
  t.equal(ob.ack([[1, 2]]), 2);
  t.equal(ob.ack(2), 0, 'acking twice is harmless');
  t.equal(ob.depth(), 1);
  t.ok((ob.oldestUnackedAgeSec() ?? -1) >= 0);
  ob.ack(3);
  t.equal(ob.oldestUnackedAgeSec(), null);
  ob.close();
  const again = new Outbox(join(dir, 'o.sqlite'));
  t.equal(again.append('index', {}).seq, 4, 'a seq is never reused, even after every record was acked and the file reopened');
  t.equal(again.lastSeq(), 4);
  t.equal(again.db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(again.db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL');
  again.close();
});

t.test('the quota refuses new indexes and alerts (never drops old ones), keeps room for status, and says so', async (t) => {
  const ob = new Outbox(join(t.testdir(), 'o.sqlite'), { quotaBytes: 1000, statusReserveBytes: 300 });
  const pad = 'x'.repeat(180);
  let accepted = 0;
  for (let i = 0; i < 10; i++) {
    try {
      ob.append('index', { i, pad });
      accepted++;
    } catch (err) {
      t.type(err, OutboxFullError);
    }
  }
  t.equal(accepted, 5, 'five 200-byte records fit in 1000 bytes');
  t.throws(() => ob.append('alert', { pad }), OutboxFullError, 'alerts too');
  t.ok(ob.append('status', { event: 'outbox.full' }).seq, 'a status event still fits in the reserve');
  const s = ob.stats();
  t.equal(s.full, true);
  t.equal(s.refused, 6);
  t.same(s.refusedByKind, { index: 5, alert: 1, status: 0 });
  t.equal(s.depth, 6, 'nothing accepted was dropped');
  ob.ack([[1, 3]]);
  t.equal(ob.isFull(), false, 'below the quota again after acks');
  t.ok(ob.append('index', { pad }).seq);
  ob.close();
});

t.test('what reaches the outbox is redacted, and audio never does', async (t) => {
  const ob = new Outbox(join(t.testdir(), 'o.sqlite'));
  ob.append('alert', { evidence: 'my card is 4111 1111 1111 1111', nested: [{ text: 'the verification code is 482913' }], audio: 'base64...', pcmSamples: [1, 2] });
  const stored = ob.nextBatch(1)[0].payload;
  t.notMatch(stored, /4111 1111 1111 1111/);
  t.notMatch(stored, /482913/);
  t.notMatch(stored, /audio|pcm/i, 'audio fields are dropped');
  t.throws(() => ob.append('index', { clip: Buffer.from([1, 2, 3]) }), AudioNotAllowedError);
  t.throws(() => sanitizeForUplink({ a: { b: new Int16Array(4) } }), /a\.b: raw audio is never published/);
  t.equal(ob.depth(), 1, 'a refused payload is not stored');
  ob.close();
});

t.test('SIGKILL while appending loses nothing that append returned', async (t) => {
  const file = join(t.testdir(), 'o.sqlite');
  const printed: number[] = [];
  const kills = 8;
  for (let k = 0; k < kills; k++) {
    const child = spawn(process.execPath, ['--import=tsx', join(repoRoot, 'test/support/outbox-writer.ts'), file, k % 2 ? '20' : '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (buf += d));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 250));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    for (const line of buf.split('\n')) if (/^\d/.test(line) && line.endsWith(line.trim())) printed.push(...line.trim().split(' ').map(Number));
  }
  const ob = new Outbox(file);
  const held = new Set(ob.nextBatch(1e9).map((r) => r.seq));
  const missing = printed.filter((s) => !held.has(s));
  t.ok(printed.length > kills, `${printed.length} appends returned before ${kills} kills`);
  t.same(missing, [], 'every returned append survived');
  const all = [...held].sort((a, b) => a - b);
  t.same(all, Array.from({ length: all.length }, (_, i) => i + 1), 'seqs are contiguous: a killed commit leaves no hole');
  ob.close();
});

function uplinkFor(t: Test, overrides: Partial<ConstructorParameters<typeof Uplink>[0]> = {}) {
  const outbox = new Outbox(join(t.testdir(), 'o.sqlite'));
  const transport = new FakeTransport();
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  const uplink = new Uplink({
    outbox, transport, topics: new Topics('earshot', 's', 'b1'), ackMode: 'ingest', inflight: 4, ackTimeoutSec: 0.2, stalledAfter: 3,
    deniedBackoff: { minSec: 0.1, maxSec: 0.4 }, statsIntervalSec: 3600, statsExpirySec: 60, log, ...overrides,
  });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  return { outbox, transport, uplink, lines };
}

const records = (tr: FakeTransport) => tr.published.filter((p) => /\/(index|alerts|events)$/.test(p.topic)).map((p) => JSON.parse(p.payload) as { seq: number; box: string; kind: string; schema: string });
/** Lets the uplink's queued work (a pump on setImmediate, a rejected publish) run. */
const settle = () => new Promise((r) => setImmediate(r));
const statusSays = (code: string) => (published: Published[]) =>
  published.some((p) => p.topic.endsWith('/status') && (JSON.parse(p.payload) as { problems: { code: string }[] }).problems.some((x) => x.code === code));
const statusOk = (published: Published[]) => {
  const last = published.filter((p) => p.topic.endsWith('/status')).at(-1);
  return last !== undefined && (JSON.parse(last.payload) as { state: string }).state === 'ok';
};

/** When each record publish went out, to check the pauses between attempts without a wall-clock window. */
function sendTimes(transport: FakeTransport): { seq: number; at: number }[] {
  const sends: { seq: number; at: number }[] = [];
  transport.sent.on('publish', (p) => {
    if (/\/(index|alerts|events)$/.test(p.topic)) sends.push({ seq: (JSON.parse(p.payload) as { seq: number }).seq, at: Date.now() });
  });
  return sends;
}

t.test('uplink: a bounded window, in seq order, enveloped; a record leaves only on the ingest ack', async (t) => {
  const { outbox, transport, uplink } = uplinkFor(t);
  uplink.start();
  for (let i = 0; i < 10; i++) uplink.submit(i % 3 ? 'index' : 'alert', { i });
  await transport.until('the first window', () => records(transport).length >= 4);
  await settle();
  t.same(records(transport).map((r) => r.seq), [1, 2, 3, 4], 'at most 4 unacknowledged');
  const first = records(transport)[0];
  t.match(first, { schema: 'earshot/record@1', box: 'b1', seq: 1, kind: 'alert', data: { i: 0 } });
  t.equal(transport.published.find((p) => p.topic.endsWith('/availability'))?.payload, 'online');
  t.equal(outbox.depth(), 10, 'a PUBACK is not an ack');
  // Acks are delivered and applied synchronously, as MQTT.js hands over a message.
  transport.ack('b1', [[1, 4]]);
  t.equal(outbox.depth(), 6);
  t.same(records(transport).map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
  transport.ack('b1', [[5, 8]]);
  transport.ack('other-box', [[1, 100]]);
  t.same(records(transport).map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.equal(outbox.depth(), 2, "another box's ack is ignored");
  transport.ack('b1', [[9, 10]]);
  t.equal(outbox.depth(), 0);
  await uplink.stop();
  t.equal(transport.published.at(-1)?.payload, 'stopped', 'clean shutdown says stopped on availability');
});

t.test('uplink: lost acks are resent from the oldest unacknowledged record, and a stall is reported', async (t) => {
  const { outbox, transport, uplink, lines } = uplinkFor(t, { stalledAfter: 2 });
  const sends = sendTimes(transport);
  uplink.start();
  for (let i = 0; i < 3; i++) uplink.submit('index', { i });
  await transport.until('ack.stalled on the status topic', statusSays('ack.stalled'));
  await settle();
  const seqs = sends.map((s) => s.seq);
  t.same(seqs.slice(0, 6), [1, 2, 3, 1, 2, 3], 'resent from the oldest');
  // Not a hot loop: each resend waits out the ack timeout (0.2 s), which doubles while nothing is acknowledged.
  const rounds = sends.filter((s) => s.seq === 1).map((s) => s.at);
  t.ok(rounds.length >= 3, `${rounds.length} sends of seq 1 when the stall is reported`);
  t.ok(rounds[1] - rounds[0] >= 195, `first resend after ${rounds[1] - rounds[0]} ms (timeout 200 ms)`);
  t.ok(rounds[2] - rounds[1] >= 395, `second after ${rounds[2] - rounds[1]} ms (timeout doubled)`);
  t.ok(uplink.status().problems.some((p) => p.code === 'ack.stalled'));
  t.ok(lines.some((l) => /no ack for seq 1 after 2 sends/.test(String(l.msg))));
  transport.ack('b1', [[1, 3]]);
  t.equal(outbox.depth(), 0);
  t.equal(uplink.status().state, 'ok');
});

t.test('uplink: a refused publish is logged, blocks the record, pauses with backoff and probes with one record', async (t) => {
  const { outbox, transport, uplink, lines } = uplinkFor(t);
  let deny = true;
  transport.outcome = (topic) => (deny && topic.endsWith('/index') ? new PublishRefusedError(topic, 0x87, 'not authorized') : null);
  const sends = sendTimes(transport);
  uplink.start();
  for (let i = 0; i < 5; i++) uplink.submit('index', { i });
  // The window of 4, then probes of seq 1 alone after pauses of 0.1, 0.2, 0.4 and 0.4 s (deniedBackoff 0.1-0.4).
  await transport.until('four probes after the first window', () => records(transport).length >= 8);
  await settle();
  t.same(sends.map((s) => s.seq), [1, 2, 3, 4, 1, 1, 1, 1], 'then one record at a time, never the ones after it');
  const gaps = sends.slice(3).map((s, i, all) => (i === 0 ? 0 : s.at - all[i - 1].at)).slice(1);
  [100, 200, 400, 400].forEach((pause, i) => t.ok(gaps[i] >= pause - 5, `probe ${i + 1} after ${gaps[i]} ms (pause ${pause} ms)`));
  const errors = lines.filter((l) => l.level === 50 && /broker refused publish of index seq 1 .*not authorized/.test(String(l.msg)));
  t.equal(errors.length, 5, 'one clear error line per refused attempt');
  t.match(uplink.status(), { state: 'degraded', problems: [{ code: 'publish.refused', reasonCode: 0x87, seq: 1 }] });
  t.match(outbox.nextBatch(1)[0].blocked, /not authorized/);
  const status = transport.published.filter((p) => p.topic.endsWith('/status')).map((p) => JSON.parse(p.payload) as { state: string; problems: { code: string }[] });
  t.match(status.at(-1), { state: 'degraded', problems: [{ code: 'publish.refused' }] }, 'the status topic says so');
  t.ok(transport.published.filter((p) => p.topic.endsWith('/status')).every((p) => p.options.retain), 'status is retained');
  deny = false;
  await transport.until('the status to clear once a probe goes through', statusOk);
  transport.ack('b1', [[1, 5]]);
  t.equal(outbox.depth(), 0, 'resumes once the broker accepts');
  t.equal(uplink.status().state, 'ok');
  t.equal(outbox.nextBatch(1).length, 0);
});

t.test('uplink: ackMode puback removes on the broker ack; a full outbox refuses and says so', async (t) => {
  const { outbox, transport, uplink } = uplinkFor(t, { ackMode: 'puback' });
  uplink.start();
  for (let i = 0; i < 10; i++) uplink.submit('index', { i });
  await transport.until('all ten records', () => records(transport).length >= 10);
  while (outbox.depth() > 0) await once(uplink, 'acked');
  t.same(records(transport).map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

  const small = uplinkFor(t, { outbox: new Outbox(join(t.testdir(), 'small.sqlite'), { quotaBytes: 100 }) });
  small.transport.connected = false;
  small.transport.start = () => undefined; // offline: nothing drains
  small.uplink.start();
  t.ok('seq' in small.uplink.submit('index', { pad: 'x'.repeat(60) }));
  const r = small.uplink.submit('alert', { pad: 'x'.repeat(60) });
  t.match(r, { refused: true, reason: /outbox full/ });
  t.match(small.uplink.stats(), { outbox: { full: true, refused: 1 }, uplink: { state: 'degraded', problems: [{ code: 'outbox.full' }] } });
  small.outbox.close();
});

t.test('reconnect backoff doubles to the cap with jitter; ack ranges compress', async (t) => {
  t.equal(backoffDelayMs(0, 1, 60, 0), 1000);
  t.equal(backoffDelayMs(3, 1, 60, 0), 8000);
  t.equal(backoffDelayMs(30, 1, 60, 0), 60000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelayMs(2, 1, 60, 0.3);
    t.ok(d >= 2800 && d <= 5200);
  }
  t.same(toRanges([7, 1, 2, 3, 3, 9, 8]), [[1, 3], [7, 9]]);
});

t.test('config: the uplink, outbox and ingest sections have every default', async (t) => {
  const c = defaultConfig();
  t.match(c.uplink, { enabled: false, prefix: 'earshot', protocol: 'auto', ackMode: 'ingest', inflight: 256, tls: { rejectUnauthorized: true } });
  t.match(c.outbox, { path: '/var/lib/earshot/outbox.sqlite', quotaMB: 512 });
  t.match(c.ingest, { group: 'ingest', prefix: 'earshot', db: 'ingest.sqlite' });
});
