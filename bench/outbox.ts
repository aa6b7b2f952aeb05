/**
 * Outbox and uplink bench: records/s the outbox accepts durably (one fsync per commit: single records and
 * batches), and publish-to-ack latency (append -> mosquitto on loopback -> `earshot ingest` logic -> ack ->
 * removed from the outbox), plus end-to-end drain throughput. Needs /usr/sbin/mosquitto (skipped without it).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Outbox } from '../edge/outbox/outbox.js';
import { Ingest } from '../central/ingest.js';
import { openStore } from '../central/store/store.js';
import { createTransport } from '../edge/uplink/transports.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { syntheticRecord } from '../edge/uplink/agent-harness.js';
import { resolveConfig } from '../provisioning/config.js';
import { Broker, MOSQUITTO } from '../test/support/mosquitto.js';
import { percentile, r } from './stats.js';

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
const quiet = pino({ level: 'silent' });

function appendRate(dir: string, batch: number, seconds: number): number {
  const ob = new Outbox(join(dir, `rate-${batch}.sqlite`));
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    ob.appendMany(Array.from({ length: batch }, () => syntheticRecord(n++, 'bench')));
  }
  const rate = n / ((performance.now() - t0) / 1000);
  ob.close();
  return r(rate, 0);
}

export async function outboxBench(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-bench-outbox-'));
  try {
    const outbox: Record<string, unknown> = {
      note: 'WAL + synchronous=FULL: every commit is fsynced; records are ~250-byte synthetic indexes, redacted on append',
      singleRecordsPerSec: appendRate(dir, 1, 2),
      batched100RecordsPerSec: appendRate(dir, 100, 2),
    };
    if (!existsSync(MOSQUITTO)) return { outbox, uplink: { skipped: `no broker at ${MOSQUITTO}` } };

    const broker = await Broker.start();
    const transport = createTransport('mqtt', {
      url: broker.url, clientId: 'bench-ingest', protocol: 'auto', clean: false, sessionExpirySec: 3600, keepaliveSec: 30,
      connectTimeoutSec: 5, reconnect: { minSec: 0.1, maxSec: 1, jitter: 0.3 }, log: quiet,
    });
    const ingest = new Ingest({ transport, store: await openStore(join(dir, 'ingest.sqlite')), group: 'bench', prefix: 'earshot', ackDelayMs: 10, ackBatchMax: 1000, log: quiet });
    ingest.start();
    while (!ingest.connected) await sleep(20);
    await sleep(200);

    const config = resolveConfig({ outbox: { path: join(dir, 'box.sqlite') }, uplink: { broker: broker.url, site: 'bench', box: 'b1', inflight: 1000 } });
    const { uplink, outbox: box } = startUplink(config, { log: quiet });
    while (!uplink.stats().uplink.connected) await sleep(20);

    // Latency: one record at a time, 200 of them, 20 ms apart (a busy floor's alert rate, not a flood).
    const sentAt = new Map<number, number>();
    const latencies: number[] = [];
    uplink.on('acked', (ranges: [number, number][]) => {
      const now = performance.now();
      for (const [a, b] of ranges) for (let s = a; s <= b; s++) {
        const t = sentAt.get(s);
        if (t !== undefined) latencies.push(now - t), sentAt.delete(s);
      }
    });
    for (let i = 0; i < 200; i++) {
      const rec = syntheticRecord(i, 'lat');
      const t0 = performance.now();
      const res = uplink.submit(rec.kind, rec.payload);
      if ('seq' in res) sentAt.set(res.seq, t0);
      await sleep(20);
    }
    while (box.depth() > 0) await sleep(10);
    latencies.sort((a, b) => a - b);

    // Throughput: 20,000 records appended in batches of 500, drained through broker and ingest.
    const N = 20_000;
    const t0 = performance.now();
    for (let i = 0; i < N; i += 500) {
      box.appendMany(Array.from({ length: 500 }, (_, k) => syntheticRecord(i + k, 'tp')));
      uplink.notify();
    }
    while (box.depth() > 0) await sleep(10);
    const drainSec = (performance.now() - t0) / 1000;

    await uplink.stop();
    box.close();
    await ingest.stop();
    await broker.dispose();
    return {
      outbox,
      uplink: {
        note: 'append -> mosquitto (loopback, MQTT 5, QoS 1) -> ingest (SQLite, fsync, acks batched every 10 ms) -> ack -> deleted from the outbox',
        publishToAckMs: { p50: r(percentile(latencies, 0.5), 1), p95: r(percentile(latencies, 0.95), 1), max: r(latencies[latencies.length - 1], 1), n: latencies.length },
        endToEndRecordsPerSec: r(N / drainSec, 0),
        inflight: 1000,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('bench/outbox.ts')) {
  process.stdout.write(`${JSON.stringify(await outboxBench(), null, 2)}\n`);
}
