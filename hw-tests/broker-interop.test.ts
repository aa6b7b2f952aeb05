/**
 * The box and ingest on the brokers a site may already run, from Debian, each on its own loopback ports:
 * mosquitto (MQTT 5), nats-server's MQTT listener (refuses MQTT 5 with a CONNACK) and RabbitMQ's
 * rabbitmq_mqtt (hangs up on an MQTT 5 CONNECT). Everything at its defaults (`protocol: auto`), per broker:
 * - a stream of indexes and alerts with the broker restarted (stopped, started on the same data) in the
 *   middle: ingest holds every seq exactly once and the box's outbox drains, so the ack path works;
 * - the protocol each side settled on, why, and that a restart does not make the box try MQTT 5 again;
 * - `stats` and `status` commands on the box's command topic are answered, carrying that protocol; on MQTT 5
 *   stats expire, on 3.1.1 there is no expiry and a consumer has only their `at`;
 * - availability: `online` retained after connect, `stopped` on a clean stop, and `offline` from the Last
 *   Will when a box process is SIGKILLed; whether the broker keeps that Will retained is measured, since a
 *   broker that does not leaves a late subscriber the stale `online`.
 * Each broker is started once for all of its cases (RabbitMQ takes most of the time).
 */
import t from 'tap';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Broker } from '../test/support/mosquitto.js';
import { NatsBroker } from './helpers/nats.js';
import { RabbitBroker } from './helpers/rabbitmq.js';
import type { LoopbackBroker } from '../test/support/broker-process.js';
import { ingestOn, memoryLog, sleep, spawnHarness, tempDir, waitFor, watch } from '../test/support/uplink.js';
import { runHarness } from '../edge/uplink/agent-harness.js';
import { HANGUPS_BEFORE_FALLBACK } from '../edge/uplink/mqtt-transport.js';

const N = 400;
const RATE = 200;
const SITE = 'interop';

interface Case {
  name: string;
  start: () => Promise<LoopbackBroker>;
  /** what the box and ingest settle on with `protocol: auto` */
  protocol: '5' | '3.1.1';
  /** their `protocolFallback`, as a pattern (null: MQTT 5, no fallback) */
  fallback: RegExp | null;
  /** what a subscriber arriving after the Last Will was published gets as the retained availability */
  retainedAfterWill: 'offline' | 'online';
}

const CASES: Case[] = [
  { name: 'mosquitto', start: () => Broker.start(), protocol: '5', fallback: null, retainedAfterWill: 'offline' },
  { name: 'nats', start: () => NatsBroker.start(), protocol: '3.1.1', fallback: /refused MQTT 5 \(CONNACK/, retainedAfterWill: 'offline' },
  { name: 'rabbitmq', start: () => RabbitBroker.start(), protocol: '3.1.1', fallback: /without a CONNACK|^no CONNACK/, retainedAfterWill: 'offline' },
];

const text = (m: { payload: Buffer }) => m.payload.toString('utf8');

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const dir = tempDir(`interop-${c.name}`);
    const t0 = Date.now();
    const broker = await c.start();
    const startMs = Date.now() - t0;
    t.teardown(() => broker.dispose());
    t.comment(`${c.name} started in ${startMs} ms`);
    const v = c.protocol === '5' ? 5 : 4;

    const ingestLog = memoryLog('info');
    const ingest = await ingestOn(broker.url, dir, `ingest-${c.name}`, 'ingest', ingestLog.log);
    t.teardown(() => ingest.stop());

    const box = `box-${c.name}`;
    const base = `earshot/${SITE}/${box}`;
    const boxLog = memoryLog('info');
    let accepted = 0;

    await t.test('a stream with the broker restarted in the middle: every record once, outbox drained', async (t) => {
      const running = runHarness({ broker: broker.url, outbox: join(dir, 'outbox.sqlite'), box, site: SITE, count: N, rate: RATE, log: boxLog.log, onAccepted: (_a, b) => (accepted = b) });
      await waitFor('a third of the stream accepted', () => accepted >= N / 3, 10_000);
      const stopAt = Date.now();
      const stoppedAtSeq = accepted;
      await broker.stop();
      const stoppedMs = Date.now() - stopAt;
      const restartMs = await broker.start();
      const backAt = Date.now();
      t.comment(`${c.name} restart: stopped at seq ${stoppedAtSeq} (in ${stoppedMs} ms), ready again ${restartMs} ms later`);
      const { uplink, outbox } = await running;
      t.teardown(async () => {
        await uplink.stop();
        outbox.close();
      });
      await waitFor(`all ${N} records stored and acked`, async () => (await ingest.count(box)) >= N && outbox.depth() === 0, 60_000, 50);
      const drainedAt = Date.now();
      const connectedAt = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'mqtt connected').map((l) => l.time as number);
      const connects = connectedAt(boxLog.lines);
      // From the stop: the broker's own readiness probe may see it back after the box already has.
      const boxBack = (connects.find((at) => at >= stopAt) ?? NaN) - stopAt;
      const ingestBack = (connectedAt(ingestLog.lines).find((at) => at >= stopAt) ?? NaN) - stopAt;
      t.comment(
        `${c.name}: ${N} records delivered; from the stop: broker ready ${backAt - stopAt} ms, box reconnected ${boxBack} ms, ingest reconnected ${ingestBack} ms ` +
          `(its backoff), everything stored and acked ${drainedAt - stopAt} ms; ` +
          `${uplink.counters.published} publishes, ${uplink.counters.resends} resends, ${ingest.counters.duplicates} duplicates dropped by ingest`,
      );
      const held = (await ingest.seqsFor(box));
      t.equal(held.length, N, 'ingest holds every record');
      t.equal(new Set(held).size, N, 'each once');
      t.same([...held].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i + 1), 'exactly seqs 1..N');
      t.same(await ingest.store.countByKind(box), { alert: N / 10, index: (9 * N) / 10 }, 'indexes and alerts');
      t.equal(outbox.depth(), 0, 'the outbox drained: ingest acked everything over the broker');
      t.equal(uplink.counters.acked, N, 'every record acked');
      t.ok(connects.length >= 2, 'the box reconnected after the restart');

      // The protocol each side chose, why, and that the choice outlived the broker restart.
      const stats = uplink.stats().uplink;
      t.equal(stats.protocol, c.protocol, `box: MQTT ${c.protocol}`);
      t.equal(ingest.protocol.protocol, c.protocol, `ingest: MQTT ${c.protocol}`);
      if (c.fallback) {
        t.match(stats.protocolFallback, c.fallback, 'stats say why the box uses 3.1.1');
        t.match(ingest.protocol.fallback, c.fallback, 'and ingest fell back the same way');
        const fellBack = boxLog.lines.filter((l) => /falling back to MQTT 3\.1\.1|accepts MQTT 3\.1\.1/.test(String(l.msg)));
        t.equal(fellBack.length, 1, 'the fallback is logged once, not again after the restart');
        t.ok(ingestLog.lines.some((l) => /3\.1\.1 only: plain subscriptions/.test(String(l.msg))), 'no shared subscriptions: ingest subscribes plainly and warns to run one process');
      } else {
        t.equal(stats.protocolFallback, null, 'no fallback');
        t.notOk(ingestLog.lines.some((l) => /plain subscriptions/.test(String(l.msg))), 'ingest uses a shared subscription ($share/ingest/...)');
      }
      if (c.name === 'rabbitmq') {
        const hangups = boxLog.lines.filter((l) => /connection closed before the broker accepted it/.test(String(l.reason)));
        t.ok(hangups.length >= 1, `RabbitMQ hung up on MQTT 5 (${HANGUPS_BEFORE_FALLBACK} times before 3.1.1 was tried)`);
      }

      await t.test('commands: stats and status are answered, with the protocol; expiry only on MQTT 5', async (t) => {
        const seen = await watch(broker.url, `${base}/+`, v);
        t.teardown(seen.close);
        const of = (leaf: string) => seen.messages.filter((m) => m.topic === `${base}/${leaf}`);
        // After a periodic stats message (every 5 s) the next one within 2 s can only be the command's answer.
        await waitFor('a periodic stats message', () => of('stats').length >= 1, 7000);
        const before = { stats: of('stats').length, status: of('status').length };
        const cmd = await mqtt.connectAsync(broker.url, { protocolVersion: v, reconnectPeriod: 0, clientId: `cmd-${c.name}` });
        t.teardown(() => cmd.endAsync(true));
        await cmd.publishAsync(`${base}/command`, JSON.stringify({ schema: 'earshot/command@1', cmd: 'stats' }), { qos: 1 });
        const answerMs = await waitFor('the stats answer', () => of('stats').length > before.stats, 2000);
        const stats = of('stats').at(-1)!;
        const body = JSON.parse(text(stats)) as { schema: string; at: string; uplink: { protocol: string; protocolFallback: string | null } };
        t.comment(`${c.name}: stats answered ${answerMs} ms after the command`);
        t.equal(body.schema, 'earshot/stats@1');
        t.equal(body.uplink.protocol, c.protocol, 'stats carry the protocol');
        if (c.fallback) t.match(body.uplink.protocolFallback, c.fallback, 'and why 3.1.1');
        if (v === 5) t.ok(stats.expirySec !== undefined && stats.expirySec > 0 && stats.expirySec <= 120, `MQTT 5: stats expire (${stats.expirySec} s left)`);
        else t.ok(stats.expirySec === undefined && Date.parse(body.at) > 0, 'MQTT 3.1.1: no expiry; a consumer judges staleness by `at`');

        await cmd.publishAsync(`${base}/command`, JSON.stringify({ schema: 'earshot/command@1', cmd: 'status' }), { qos: 1 });
        await waitFor('the status answer', () => of('status').length > before.status, 2000);
        const status = JSON.parse(text(of('status').at(-1)!)) as { schema: string; state: string; protocol: string; protocolFallback: string | null };
        t.match(status, { schema: 'earshot/status@1', state: 'ok', protocol: c.protocol }, 'status answered, with the protocol');
        if (c.fallback) t.match(status.protocolFallback, c.fallback, 'and why 3.1.1');
      });

      await t.test('availability: online retained, stopped on a clean stop', async (t) => {
        const late = await watch(broker.url, `${base}/availability`, v);
        t.teardown(late.close);
        await waitFor('the retained availability', () => late.messages.length > 0, 5000);
        t.match(late.messages[0], { retain: true }, 'retained');
        t.equal(text(late.messages[0]), 'online', 'online');
        await uplink.stop();
        await waitFor('stopped', () => late.messages.some((m) => text(m) === 'stopped'), 5000);
        await sleep(300);
        t.same(late.messages.map(text), ['online', 'stopped'], 'online, then stopped, never the Last Will');
        const after = await watch(broker.url, `${base}/availability`, v);
        t.teardown(after.close);
        await waitFor('the retained availability after the stop', () => after.messages.length > 0, 5000);
        t.equal(text(after.messages[0]), 'stopped', 'a new subscriber gets the retained stopped');
      });
    });

    await t.test('Last Will: a box process SIGKILLed is offline', async (t) => {
      const willBox = `will-${c.name}`;
      const topic = `earshot/${SITE}/${willBox}/availability`;
      const live = await watch(broker.url, topic, v);
      t.teardown(live.close);
      const harness = spawnHarness(['--broker', broker.url, '--outbox', join(dir, 'will.sqlite'), '--box', willBox, '--site', SITE, '--count', '3']);
      await waitFor('the box online', () => live.messages.some((m) => text(m) === 'online'), 20_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${harness.out().slice(-1000)}\n${harness.err().slice(-1000)}`);
      });
      await waitFor('its records stored', async () => (await ingest.count(willBox)) >= 3, 10_000);
      const killedAt = Date.now();
      harness.child.kill('SIGKILL');
      const willMs = await waitFor('the Last Will', () => live.messages.some((m) => text(m) === 'offline'), 10_000);
      t.comment(`${c.name}: the Last Will arrived ${willMs} ms after the SIGKILL (${Date.now() - killedAt} ms)`);
      t.pass('offline published by the broker for the vanished box');
      const after = await watch(broker.url, topic, v);
      t.teardown(after.close);
      await waitFor('the retained availability', () => after.messages.length > 0, 5000);
      t.equal(text(after.messages[0]), c.retainedAfterWill, `a later subscriber gets ${c.retainedAfterWill} (retained)`);
    });
  });
}
