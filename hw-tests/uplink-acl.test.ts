/**
 * A broker whose ACL denies our publish: a clear error in the log and on the status topic, the record marked
 * blocked, and a bounded number of attempts (a pause with backoff, then one probe), never a hot loop.
 * MQTT 5: mosquitto answers PUBACK 0x87 (not authorized). MQTT 3.1.1 has no way to say no: mosquitto acks
 * and drops the message, so the box sees no ingest ack and reports ack.stalled after a few resends.
 */
import t from 'tap';
import { join } from 'node:path';
import { Broker } from '../test/support/mosquitto.js';
import { ingestOn, memoryLog, sleep, tempDir, waitFor, watch } from '../test/support/uplink.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { resolveConfig } from '../provisioning/config.js';

const ACL = ['topic deny earshot/test/+/index', 'topic readwrite #', ''].join('\n');

for (const protocol of ['5', '3.1.1'] as const) {
  t.test(`MQTT ${protocol}: an ACL-denied publish is reported clearly, without a retry loop`, async (t) => {
    const dir = tempDir('acl');
    const broker = await Broker.start({ acl: ACL });
    t.teardown(() => broker.dispose());
    const ingest = await ingestOn(broker.url, dir);
    t.teardown(() => ingest.stop());
    const status = await watch(broker.url, 'earshot/test/+/status');
    t.teardown(() => status.close());
    const { log, lines } = memoryLog('warn');
    const config = resolveConfig({
      outbox: { path: join(dir, 'outbox.sqlite') },
      uplink: { broker: broker.url, site: 'test', box: 'denied', protocol, ackTimeoutSec: 0.5, stalledAfter: 2, deniedBackoff: { minSec: 0.5, maxSec: 2 }, reconnect: { minSec: 0.1, maxSec: 1 } },
    });
    const { uplink, outbox } = startUplink(config, { log });
    t.teardown(async () => {
      await uplink.stop();
      outbox.close();
    });
    for (let i = 0; i < 5; i++) uplink.submit('index', { i, callId: `c${i}` });
    uplink.submit('alert', { rule: 'r1' });

    const windowSec = 6;
    await sleep(windowSec * 1000);
    const stats = uplink.stats();
    const sends = uplink.counters.published;
    t.comment(`${sends} publishes in ${windowSec} s; log: ${lines.filter((l) => (l.level as number) >= 50).map((l) => l.msg).join(' | ')}`);
    t.ok(sends <= 30, `bounded attempts: ${sends} publishes in ${windowSec} s, not a hot loop`);
    // The alert was already in flight (same window) when the refusal came back, so it went through.
    t.equal(await ingest.count('denied'), 1, 'only the alert (its topic is allowed) reached ingest');
    t.equal(outbox.depth(), 5, 'the denied indexes wait in the outbox: nothing dropped');
    const last = status.messages.filter((m) => m.topic === 'earshot/test/denied/status').map((m) => JSON.parse(m.payload.toString()) as { state: string; problems: { code: string; reasonCode?: number; message: string }[] }).at(-1);
    if (protocol === '5') {
      const errors = lines.filter((l) => l.level === 50 && /broker refused publish of index seq 1 to earshot\/test\/denied\/index: not authorized/.test(String(l.msg)));
      t.ok(errors.length >= 1 && errors.length <= 6, `a clear error line per refused attempt (${errors.length})`);
      t.ok(uplink.counters.refusedPublishes <= 8, `refused ${uplink.counters.refusedPublishes} times in ${windowSec} s (backoff 0.5 s doubling to 2 s)`);
      t.match(last, { state: 'degraded', problems: [{ code: 'publish.refused', reasonCode: 0x87 }] }, 'the status topic says publish.refused, not authorized');
      t.match(stats, { outbox: { blocked: 1 }, uplink: { state: 'degraded' } }, 'stats count the blocked record');
    } else {
      t.ok(lines.some((l) => l.level === 50 && /no ack for seq 1 after 2 sends/.test(String(l.msg))), 'a clear error: no ack, maybe a silent ACL drop');
      t.ok(uplink.counters.resends <= 5, `resends back off (${uplink.counters.resends} in ${windowSec} s)`);
      t.match(last, { state: 'degraded', problems: [{ code: 'ack.stalled' }] }, 'the status topic says ack.stalled');
    }
    await waitFor('status retained', () => status.messages.length > 0, 1000);
  });
}
