// GET /metrics on the box and on the centre, scraped after real activity: a replayed call through a real
// line, its alert and index published over MQTT, stored and acked by the centre, a floor page on SSE, a
// resend, and garbage on the wire. Each counter is read before and after and must have moved.
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import mqtt from 'mqtt';
import { defaultConfig, resolveConfig } from '../provisioning/config.js';
import { Daemon } from '../edge/run/daemon.js';
import { EmbeddedBroker } from '../edge/run/demo.js';
import { startCentral } from '../central/central.js';
import { freePort } from './support/mosquitto.js';
import { demoCallOpening } from './support/calls.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

/** One sample's value from Prometheus' text format; labels must all match. undefined: no such sample. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`${url}/metrics: ${res.status}`);
  if (!res.headers.get('content-type')?.startsWith('text/plain; version=0.0.4')) throw new Error(`${url}/metrics: content-type ${res.headers.get('content-type')}`);
  return res.text();
}

/** Waits for `check`; on a timeout the error carries the metrics last scraped from `show`, to see what did not move. */
async function until(what: string, check: () => Promise<boolean>, show?: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) {
      const seen = show ? (await scrape(show)).split('\n').filter((l) => l.startsWith('earshot_') && !l.includes('_process_')).join('\n') : '';
      throw new Error(`timed out waiting for ${what}\n${seen}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

t.test('box and centre metrics move with a real call, a resend, a floor page and refused messages', async (t) => {
  const dir = t.testdir({});
  const log = pino({ level: 'silent' });
  const broker = await EmbeddedBroker.start();
  t.teardown(() => broker.close());
  const central = await startCentral({ ingest: { ...defaultConfig().ingest, broker: broker.url, db: path.join(dir, 'central.sqlite'), clientId: 'central-metrics' }, listen: '127.0.0.1:0', accounts: false, log });
  t.teardown(() => central.close());

  const before = await scrape(central.url);
  t.equal(sample(before, 'earshot_central_records_stored_total'), 0);
  t.equal(sample(before, 'earshot_central_sse_clients'), 0);
  t.ok(sample(before, 'earshot_central_process_nodejs_eventloop_lag_seconds') !== undefined, 'process metrics too');

  // A floor page, listening.
  const page = new AbortController();
  const sse = await fetch(`${central.url}/api/live/site-m`, { signal: page.signal });
  const reader = sse.body!.getReader();
  await reader.read();
  t.equal(sample(await scrape(central.url), 'earshot_central_sse_clients'), 1, 'one floor page connected');

  // Everything the box publishes, to resend one record as a box does after a lost ack.
  const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  t.teardown(() => watcher.endAsync(true));
  const published: { topic: string; payload: Buffer }[] = [];
  watcher.on('message', (topic, payload) => published.push({ topic, payload }));
  await watcher.subscribeAsync('earshot/site-m/box-m/alerts');

  const port = await freePort();
  const config = resolveConfig({
    models: { root: path.join(shared, 'models') },
    recognition: { language: 'en' },
    outbox: { path: path.join(dir, 'outbox.sqlite') },
    uplink: { enabled: true, ackMode: 'ingest', broker: broker.url, site: 'site-m', box: 'box-m', protocol: '3.1.1' },
    run: { healthPort: port },
    lines: { 'desk-1': { agent: { id: 'A1' }, audio: { replay: [await demoCallOpening(dir, 11)] } } },
  });
  const daemon = await Daemon.start(config, { log });
  t.teardown(() => daemon.stop(0));
  const box = `http://127.0.0.1:${port}`;
  const start = await scrape(box);
  t.equal(sample(start, 'earshot_line_calls_total', { line: 'desk-1' }), 0);
  t.equal(sample(start, 'earshot_uplink_acked_total'), 0);

  await until('the call indexed and its records acknowledged', async () => {
    const m = await scrape(box);
    return sample(m, 'earshot_line_calls_total', { line: 'desk-1' }) === 1 && sample(m, 'earshot_outbox_depth') === 0 && (sample(m, 'earshot_uplink_acked_total') ?? 0) >= 2;
  }, box);
  const after = await scrape(box);
  t.ok(sample(after, 'earshot_line_alerts_total', { line: 'desk-1' })! >= 1, 'the guaranteed-return alert counted');
  t.ok(sample(after, 'earshot_line_heard_seconds_total', { line: 'desk-1' })! >= 10, 'the 11 s heard');
  const rtf = sample(after, 'earshot_line_rtf', { line: 'desk-1' })!;
  t.ok(rtf > 0 && rtf < 5, `recognition RTF reported (${rtf.toFixed(3)})`);
  t.equal(sample(after, 'earshot_outbox_oldest_age_seconds'), 0, 'nothing waiting');
  t.equal(sample(after, 'earshot_uplink_connected'), 1);
  t.ok(sample(after, 'earshot_uplink_published_total')! >= 2);
  t.equal(sample(after, 'earshot_lines', { state: 'stopped' }), 1, 'the replayed line stopped at the end of its file');
  t.equal(sample(after, 'earshot_line_up', { line: 'desk-1' }), 1);

  await until('the centre to count the stored records and the alert', async () => {
    const m = await scrape(central.url);
    return (sample(m, 'earshot_central_records_stored_total') ?? 0) >= 2 && (sample(m, 'earshot_central_alerts_total', { severity: 'critical' }) ?? 0) >= 1;
  }, central.url);
  const c1 = await scrape(central.url);
  t.equal(sample(c1, 'earshot_central_records_duplicate_total'), 0);
  t.ok(sample(c1, 'earshot_central_acks_sent_total')! >= 1, 'acks sent');

  // A resend of a stored record: a duplicate, not a second record.
  t.ok(published.length >= 1, 'the alert was seen on the broker');
  await watcher.publishAsync(published[0]!.topic, published[0]!.payload, { qos: 1 });
  // Garbage: on a record topic (the centre refuses it) and on the box's ack topic (the box refuses it).
  await watcher.publishAsync('earshot/site-m/box-m/index', 'not json', { qos: 1 });
  await watcher.publishAsync('earshot/site-m/box-m/ack', '{"schema":"nope"}', { qos: 1 });
  await until('the centre to count the duplicate and the refusal', async () => {
    const m = await scrape(central.url);
    return sample(m, 'earshot_central_records_duplicate_total') === 1 && sample(m, 'earshot_central_messages_refused_total', { topic: 'index' }) === 1;
  }, central.url);
  t.equal(sample(await scrape(central.url), 'earshot_central_records_stored_total'), sample(c1, 'earshot_central_records_stored_total'), 'the resend is not stored again');
  await until('the box to count the refused ack', async () => sample(await scrape(box), 'earshot_inbound_rejected_total', { topic: 'ack' }) === 1, box);

  page.abort();
  await until('the page gone from the count', async () => sample(await scrape(central.url), 'earshot_central_sse_clients') === 0, central.url);
});
