/**
 * The boxes of the central bench's ingest measurement, in a process of their own: a publisher sharing ingest's
 * process spent about a fifth of that process's CPU (encoding and writing 8 KiB packets to the broker), which
 * made "CPU per record in ingest" partly the publisher's. Forked by bench/central.ts with an IPC channel:
 * it reads the prepared messages from a file (encoded before the clock starts), says `ready`, publishes on
 * `go` keeping at most `window` records ahead of what the parent says ingest has stored (as boxes waiting
 * for their acks would; the broker queues 10,000 per client), then says `published`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt';

interface PublisherMessage {
  topic: string;
  payload: Buffer;
}

/** Parent to child: start, and how many records ingest has stored so far. */
export type ToPublisher = { go: true } | { done: number };
/** Child to parent; `cpuSec`: what publishing cost this process, from `go` until the broker acknowledged every record. */
export type FromPublisher = { ready: true } | { published: number; cpuSec: number } | { failed: string };

/** Length-prefixed topic and payload, one after another: what the child reads without parsing JSON. */
export function writeMessages(file: string, messages: readonly { topic: string; payload: string | Buffer }[]): void {
  const parts: Buffer[] = [];
  for (const m of messages) {
    const topic = Buffer.from(m.topic);
    const payload = Buffer.from(m.payload);
    const head = Buffer.alloc(6);
    head.writeUInt16LE(topic.length, 0);
    head.writeUInt32LE(payload.length, 2);
    parts.push(head, topic, payload);
  }
  writeFileSync(file, Buffer.concat(parts));
}

function readMessages(file: string): PublisherMessage[] {
  const data = readFileSync(file);
  const out: PublisherMessage[] = [];
  for (let at = 0; at < data.length; ) {
    const topicLength = data.readUInt16LE(at);
    const payloadLength = data.readUInt32LE(at + 2);
    at += 6;
    const topic = data.toString('utf8', at, at + topicLength);
    at += topicLength;
    out.push({ topic, payload: data.subarray(at, at + payloadLength) });
    at += payloadLength;
  }
  return out;
}

async function main(url: string, file: string, window: number): Promise<void> {
  const send = (m: FromPublisher) => process.send?.(m);
  const messages = readMessages(file);
  let done = 0;
  let wake: (() => void) | null = null;
  const go = new Promise<void>((resolve) =>
    process.on('message', (m: ToPublisher) => {
      if ('go' in m) resolve();
      else {
        done = m.done;
        wake?.();
      }
    }),
  );
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'bench-boxes' });
  send({ ready: true });
  await go;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < messages.length; i++) {
    while (i - done >= window) await new Promise<void>((resolve) => (wake = resolve));
    void client.publishAsync(messages[i].topic, messages[i].payload, { qos: 1 });
  }
  await client.endAsync();
  const cpu = process.cpuUsage(cpu0);
  send({ published: messages.length, cpuSec: (cpu.user + cpu.system) / 1e6 });
  process.disconnect?.();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [url, file, window] = process.argv.slice(2);
  main(url, file, Number(window)).catch((err: unknown) => {
    process.send?.({ failed: (err as Error).message } satisfies FromPublisher);
    process.exitCode = 1;
  });
}
