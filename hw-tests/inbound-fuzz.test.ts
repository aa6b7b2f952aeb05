/**
 * An attacker on the same broker (issue 13): for every topic the box and ingest subscribe to, over a
 * thousand seeded hostile payloads each — null, numbers, strings, arrays, deep nesting, 1 MB strings, wrong
 * types in every field of a valid message, invalid UTF-8, some retained — published to a real mosquitto
 * while a box (the uplink harness, a child process) produces records and `earshot ingest` (a child
 * process) stores them. Afterwards both are alive, every record the box accepted is held by ingest once,
 * and records and acks sent after the storm are handled. Replay a failure with EARSHOT_FUZZ_SEED=<seed>.
 */
import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { Broker } from '../test/support/mosquitto.js';
import { acceptedSeqs, sleep, spawnHarness, tempDir, waitFor, watch } from '../test/support/uplink.js';
import { startCli } from '../test/support/cli.js';
import { DEEP, fuzzSeed, hostilePayloads, mutateFields } from '../test/support/fuzz.js';

const PER_TOPIC = Number(process.env.EARSHOT_FUZZ_PER_TOPIC ?? 1000);
const SITE = 'fuzz';
const BOX = 'box-f';
/** Record and state topics of a box that does not exist: a forged but well-formed record for the real box is issue 16's (signatures), not this one's. */
const STRANGER = 'stranger';

const at = '2026-12-04T10:00:00.000Z';
const VALID: Record<string, object> = {
  ack: { schema: 'earshot/ack@1', box: BOX, ranges: [[5_000_000, 6_000_000]] },
  command: { schema: 'earshot/command@1', cmd: 'resend', id: 'fuzz-1' },
  index: { schema: 'earshot/record@1', box: STRANGER, site: SITE, seq: 7, kind: 'index', at, data: { schema: 'earshot/call-index@1', callId: 'c', durationSec: 60, utterances: [{ channel: 'agent', start: 1, end: 2, text: 'hello', words: [] }] } },
  alerts: { schema: 'earshot/record@1', box: STRANGER, site: SITE, seq: 8, kind: 'alert', at, data: { rule: 'dead-air', severity: 'warn', evidence: 'x', start: 1, end: 2 } },
  events: { schema: 'earshot/record@1', box: STRANGER, site: SITE, seq: 9, kind: 'status', at, data: { event: 'line.down', line: 'l1' } },
  status: { schema: 'earshot/status@1', box: STRANGER, site: SITE, kind: 'status', seq: null, at, state: 'degraded', problems: [{ code: 'outbox.full', message: 'm', since: at }] },
  stats: { schema: 'earshot/stats@1', box: STRANGER, site: SITE, kind: 'stats', seq: null, at, outbox: { depth: 1 } },
};
const TOPICS: [string, string][] = [
  ...['ack', 'command'].map((leaf) => [leaf, `earshot/${SITE}/${BOX}/${leaf}`] as [string, string]),
  ...['index', 'alerts', 'events', 'status', 'stats', 'availability'].map((leaf) => [leaf, `earshot/${SITE}/${STRANGER}/${leaf}`] as [string, string]),
];

/** PER_TOPIC payloads for one topic: raw hostile bytes, and the topic's valid message with each field made hostile. */
function* stormFor(leaf: string, seed: number): Generator<{ label: string; bytes: Buffer }> {
  const valid = VALID[leaf];
  const samples = valid ? [JSON.stringify(valid)] : ['online', 'offline'];
  let n = 0;
  if (valid) {
    for (const m of mutateFields(valid, seed)) {
      if (n >= PER_TOPIC / 2) break;
      yield { label: `${leaf} ${m.label}`, bytes: Buffer.from(messageText(valid, m)) };
      n++;
    }
  }
  for (const p of hostilePayloads(seed + 1, PER_TOPIC - n, { valid: samples })) yield { label: `${leaf} ${p.label}`, bytes: p.bytes };
}

/**
 * JSON.stringify recurses, and a 10,000-deep value inside a message overflows its stack: such a field is
 * written as text into the message instead (what arrives on the wire is the same).
 */
function messageText(valid: object, m: { path: (string | number)[]; value: unknown }): string {
  try {
    return JSON.stringify(m.value);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    const marker = '\u0000deep\u0000';
    const copy = structuredClone(valid) as Record<string | number, unknown>;
    let node = copy;
    for (const k of m.path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
    node[m.path.at(-1) as string | number] = marker;
    return JSON.stringify(copy).replace(JSON.stringify(marker), '['.repeat(DEEP) + ']'.repeat(DEEP));
  }
}

function heldSeqs(db: string, box: string): number[] {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (d.prepare('SELECT seq FROM records WHERE box = ? ORDER BY seq').all(box) as { seq: number }[]).map((r) => r.seq);
  } finally {
    d.close();
  }
}

t.test(`${PER_TOPIC} hostile payloads on each of the ${TOPICS.length} subscribed topics: box and ingest live on, nothing accepted is lost`, async (t) => {
  const seed = fuzzSeed(t);
  const dir = tempDir('fuzz');
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const attacker = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'attacker', reconnectPeriod: 0 });
  t.teardown(() => attacker.endAsync(true));

  // Before the box starts: a retained ack for everything it will ever send, and a retained resend. The
  // broker hands both to the box at every (re)connect.
  await attacker.publishAsync(`earshot/${SITE}/${BOX}/ack`, JSON.stringify({ schema: 'earshot/ack@1', box: BOX, ranges: [[1, 1_000_000]] }), { qos: 1, retain: true });
  await attacker.publishAsync(`earshot/${SITE}/${BOX}/command`, '{"cmd":"resend"}', { qos: 1, retain: true });

  const db = join(dir, 'ingest.sqlite');
  const ingest = startCli(['ingest', '--broker', broker.url, '--db', db, '--client-id', 'fuzz-ingest'], { env: { EARSHOT_LOG_LEVEL: 'warn' } });
  t.teardown(() => void ingest.child.kill('SIGKILL'));
  await waitFor('ingest to create its store', () => {
    try {
      heldSeqs(db, BOX);
      return true;
    } catch {
      return false;
    }
  }, 20_000, 100);
  await sleep(1500); // connected and subscribed
  const outbox = join(dir, 'outbox.sqlite');
  const common = ['--broker', broker.url, '--outbox', outbox, '--box', BOX, '--site', SITE, '--ack-timeout', '2'];
  const box = spawnHarness([...common, '--count', '1000000', '--rate', '40']);
  t.teardown(() => void box.child.kill('SIGKILL'));
  await waitFor('the box to accept records', () => acceptedSeqs(box.out()).length > 20, 20_000, 50);
  const stats = await watch(broker.url, `earshot/${SITE}/${BOX}/stats`);
  t.teardown(() => stats.close());

  let sent = 0;
  let retained = 0;
  const t0 = Date.now();
  for (const [i, [leaf, topic]] of TOPICS.entries()) {
    for (const p of stormFor(leaf, seed + i * 7919)) {
      const retain = (sent & 7) === 3;
      retained += retain ? 1 : 0;
      await attacker.publishAsync(topic, p.bytes, { qos: (sent & 1) as 0 | 1, retain });
      sent++;
    }
  }
  const stormMs = Date.now() - t0;
  t.comment(`storm: ${sent} payloads (${retained} retained) in ${stormMs} ms`);
  t.ok(sent >= PER_TOPIC * TOPICS.length - TOPICS.length, `at least ${PER_TOPIC} per topic`);

  t.equal(box.child.exitCode, null, `the box is alive after the storm ${box.err()}`);
  t.equal(ingest.child.exitCode, null, `ingest is alive after the storm ${ingest.err()}`);

  // The box's stats (every 5 s from the harness) count what it dropped and the retained messages it ignored.
  const inboundOf = (m: { payload: Buffer }) => (JSON.parse(m.payload.toString()) as { uplink: { inbound: { rejected: number; retainedIgnored: number; rejectedByTopic: Record<string, number> } } }).uplink.inbound;
  await waitFor('stats that count the storm', () => stats.messages.some((m) => inboundOf(m).rejected >= PER_TOPIC), 15_000, 100);
  const inbound = inboundOf(stats.messages.at(-1) as { payload: Buffer });
  t.ok(inbound.retainedIgnored >= 2, `the retained ack and resend were not obeyed (${inbound.retainedIgnored} retained ignored)`);
  t.ok((inbound.rejectedByTopic.ack ?? 0) > PER_TOPIC / 2 && (inbound.rejectedByTopic.command ?? 0) > PER_TOPIC / 2, `drops counted per topic ${JSON.stringify(inbound.rejectedByTopic)}`);

  // After the storm: the box goes on accepting, ingest goes on storing and acking.
  const acceptedAtStormEnd = acceptedSeqs(box.out()).length;
  await waitFor('records accepted after the storm to be stored', () => heldSeqs(db, BOX).length >= acceptedAtStormEnd + 40, 30_000, 100);
  t.equal(box.child.exitCode, null, 'the box is still alive');
  box.child.kill('SIGTERM');
  await box.exit;

  // One more box run on the same outbox: produces after the storm and drains, so every record it and the
  // first run accepted is acknowledged (valid acks after the storm are obeyed).
  const last = spawnHarness([...common, '--count', '20', '--drain']);
  t.teardown(() => void last.child.kill('SIGKILL'));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([last.exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 60_000)))]);
  clearTimeout(timer);
  if (code === 'timeout') last.child.kill('SIGKILL');
  t.equal(code, 0, `the last run drained ${last.err()}`);

  const accepted = [...acceptedSeqs(box.out()), ...acceptedSeqs(last.out())];
  const held = heldSeqs(db, BOX);
  t.equal(new Set(held).size, held.length, 'ingest holds each record once');
  const heldSet = new Set(held);
  t.same(accepted.filter((s) => !heldSet.has(s)), [], `every record the box accepted reached ingest (seed ${seed})`);
  t.equal(held.length, accepted.length, 'and nothing else was stored as this box');

  t.equal(ingest.child.exitCode, null, 'ingest is alive at the end');
  ingest.child.kill('SIGTERM');
  t.equal(await ingest.exit, 0, 'and stops cleanly');
  const summary = /stored (\d+), duplicates (\d+), held apart (\d+), invalid (\d+)/.exec(ingest.err());
  t.ok(summary, `ingest reports its counts ${ingest.err().slice(-500)}`);
  t.ok(Number(summary?.[4]) >= PER_TOPIC * 4, `ingest counted the hostile payloads it dropped (${summary?.[4]})`);
  t.notMatch(ingest.err(), /TypeError|RangeError|Maximum call stack/, 'no handler blew up');
  t.notMatch(ingest.err(), /could not store/, 'no hostile record failed the batch it came in: each is refused alone');
  t.match(ingest.err(), /dropped: /, 'drops are logged with their reason');
});
