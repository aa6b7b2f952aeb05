/**
 * The uplink without the pipeline, for tests and benches: appends synthetic indexes and alerts at a rate to a
 * real outbox and runs the real uplink (startUplink, from configuration), as the agent would.
 *
 *   node --import=tsx edge/uplink/agent-harness.ts --broker mqtt://127.0.0.1:1883 --outbox /tmp/o.sqlite \
 *     --box b1 --count 1000 --rate 500 [--batch 1] [--drain] [--ack-timeout 2] [--inflight 256]
 *
 * stdout gets one line per commit, `accepted <first seq> <last seq>`, written only after the records are on
 * disk: a test that kills this process can hold it to every line it read; `refused <n> <reason>` when a full
 * outbox or disk refused a commit (production goes on, as in the agent). With --drain it exits (0) once
 * everything it produced (and anything left from earlier runs) is acknowledged, printing `drained`.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { resolveConfig } from '../../provisioning/config.js';
import { startUplink } from './start-uplink.js';
import type { Uplink } from './uplink.js';
import { OutboxFullError, type Outbox, type RecordKind } from '../outbox/outbox.js';
import { DiskFullError } from '../../lib/disk.js';

export interface HarnessOptions {
  broker: string;
  outbox: string;
  box: string;
  site?: string;
  prefix?: string;
  count: number;
  /** records per second (0: as fast as the disk allows) */
  rate?: number;
  /** records per commit */
  batch?: number;
  inflight?: number;
  ackTimeoutSec?: number;
  ackMode?: 'ingest' | 'puback';
  protocol?: 'auto' | '5' | '3.1.1';
  drain?: boolean;
  onAccepted?: (first: number, last: number) => void;
  /** records the outbox refused (full quota or disk): not accepted, so nothing is owed for them */
  onRefused?: (count: number, reason: string) => void;
  log?: Logger;
}

export function syntheticRecord(n: number, tag: string): { kind: RecordKind; payload: object } {
  if (n % 10 === 9) {
    return { kind: 'alert', payload: { schema: 'earshot/alert@1', rule: 'synthetic', callId: `${tag}-${n}`, n, severity: 'warn', text: 'customer raised voice' } };
  }
  return {
    kind: 'index',
    payload: { schema: 'earshot/call-index@1', callId: `${tag}-${n}`, n, durationSec: 60 + (n % 240), metrics: { talkRatio: 0.5, silenceTotalSec: 3.2 }, utterances: [] },
  };
}

export async function runHarness(o: HarnessOptions): Promise<{ uplink: Uplink; outbox: Outbox; produced: number }> {
  const config = resolveConfig({
    outbox: { path: o.outbox },
    uplink: {
      enabled: true,
      broker: o.broker,
      box: o.box,
      site: o.site ?? 'test',
      prefix: o.prefix ?? 'earshot',
      inflight: o.inflight ?? 256,
      ackTimeoutSec: o.ackTimeoutSec ?? 2,
      ackMode: o.ackMode ?? 'ingest',
      protocol: o.protocol ?? 'auto',
      reconnect: { minSec: 0.1, maxSec: 1, jitter: 0.3 },
      statsIntervalSec: 5,
    },
  });
  const { uplink, outbox } = startUplink(config, { log: o.log });
  const batch = Math.max(1, o.batch ?? 1);
  const tag = `${o.box}-${process.pid}-${Date.now()}`;
  let produced = 0;
  const t0 = Date.now();
  while (produced < o.count) {
    const n = Math.min(batch, o.count - produced);
    const records = Array.from({ length: n }, (_, i) => syntheticRecord(produced + i, tag));
    produced += n;
    try {
      const seqs = outbox.appendMany(records);
      o.onAccepted?.(seqs[0].seq, seqs[seqs.length - 1].seq);
      uplink.notify();
    } catch (err) {
      // As the agent does (Uplink.submit): a full outbox or disk refuses these records and production goes on.
      if (!(err instanceof OutboxFullError || err instanceof DiskFullError)) throw err;
      o.onRefused?.(n, err.message);
    }
    const due = o.rate ? t0 + (1000 * produced) / o.rate : 0;
    const wait = due - Date.now();
    await new Promise((r) => (wait > 0 ? setTimeout(r, wait) : setImmediate(r)));
  }
  if (o.drain) {
    while (outbox.depth() > 0) await new Promise((r) => setTimeout(r, 20));
  }
  return { uplink, outbox, produced };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      outbox: { type: 'string' },
      box: { type: 'string', default: 'harness' },
      site: { type: 'string', default: 'test' },
      prefix: { type: 'string', default: 'earshot' },
      count: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '0' },
      batch: { type: 'string', default: '1' },
      inflight: { type: 'string', default: '256' },
      'ack-timeout': { type: 'string', default: '2' },
      'ack-mode': { type: 'string', default: 'ingest' },
      drain: { type: 'boolean', default: false },
    },
  });
  if (!values.outbox) throw new Error('--outbox <file> is required');
  const { uplink, outbox } = await runHarness({
    broker: values.broker!,
    outbox: values.outbox,
    box: values.box!,
    site: values.site,
    prefix: values.prefix,
    count: Number(values.count),
    rate: Number(values.rate),
    batch: Number(values.batch),
    inflight: Number(values.inflight),
    ackTimeoutSec: Number(values['ack-timeout']),
    ackMode: values['ack-mode'] as 'ingest' | 'puback',
    drain: values.drain,
    // stdout to a pipe is synchronous on Linux: a line read by the test means the records were committed before it
    onAccepted: (a, b) => void process.stdout.write(`accepted ${a} ${b}\n`),
    onRefused: (n, reason) => void process.stdout.write(`refused ${n} ${reason}\n`),
  });
  if (values.drain) {
    process.stdout.write('drained\n');
    await uplink.stop();
    outbox.close();
    process.exit(0);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`agent-harness: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
