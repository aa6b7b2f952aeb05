/**
 * `protocol: auto` against brokers that do not answer an MQTT 5 CONNECT with a CONNACK, played by tiny `net`
 * servers on 127.0.0.1 that look only at the CONNECT's protocol level: RabbitMQ 3.10 closes the socket, a
 * broken one sends garbage, a stuck one says nothing. Each must end on 3.1.1, remembered across reconnects;
 * a broker that is down (nothing listening), an MQTT 5 broker that hangs up once, and a proxy that hangs up
 * on every protocol must not.
 */
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { HANGUPS_BEFORE_FALLBACK } from '../edge/uplink/mqtt-transport.js';
import { createTransport } from '../edge/uplink/transports.js';
import { freePort } from './support/mosquitto.js';
import { memoryLog, waitFor } from './support/uplink.js';

type Answer = 'connack' | 'hangup' | 'garbage' | 'silence' | 'refuse';

const CONNACK = { 4: Buffer.from([0x20, 0x02, 0x00, 0x00]), 5: Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]) };
// An MQTT 5 CONNACK with reason 0x84 "unsupported protocol version".
const REFUSE_V5 = Buffer.from([0x20, 0x03, 0x00, 0x84, 0x00]);

/** A fake broker: `answer(level, n)` decides what the n-th CONNECT (0-based) of protocol level 4 or 5 gets. */
async function fakeBroker(answer: (level: number, n: number) => Answer, port = 0): Promise<{ server: Server; port: number; url: string; levels: number[]; sockets: Set<Socket>; close: () => Promise<void> }> {
  const levels: number[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.once('data', (buf) => {
      const level = buf[buf.indexOf('MQTT') + 4];
      const what = answer(level, levels.filter((l) => l === level).length);
      levels.push(level);
      if (what === 'connack') s.write(CONNACK[level as 4 | 5] ?? CONNACK[4]);
      else if (what === 'refuse') s.write(REFUSE_V5);
      else if (what === 'garbage') s.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]));
      else if (what === 'hangup') s.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as { port: number }).port;
  return {
    server,
    port: bound,
    url: `mqtt://127.0.0.1:${bound}`,
    levels,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function transport(url: string, opts: { connectTimeoutSec?: number } = {}) {
  const { log, lines } = memoryLog('debug');
  const tr = createTransport('mqtt', {
    url,
    clientId: 'unit',
    protocol: 'auto',
    clean: true,
    keepaliveSec: 30,
    connectTimeoutSec: opts.connectTimeoutSec ?? 10,
    reconnect: { minSec: 0.05, maxSec: 0.2, jitter: 0 },
    log,
  });
  return { tr, lines };
}

const onlyV4 = (bad: Answer) => (level: number) => (level === 5 ? bad : 'connack');

for (const [bad, what] of [
  ['hangup', 'closes the socket on an MQTT 5 CONNECT (RabbitMQ 3.10)'],
  ['garbage', 'answers an MQTT 5 CONNECT with bytes that are not MQTT'],
  ['silence', 'never answers an MQTT 5 CONNECT (no CONNACK before the timeout)'],
] as const) {
  t.test(`a broker that ${what}: 3.1.1 next, kept for the broker, logged once, shown`, async (t) => {
    const broker = await fakeBroker(onlyV4(bad));
    t.teardown(broker.close);
    const { tr, lines } = transport(broker.url, { connectTimeoutSec: bad === 'silence' ? 0.3 : 10 });
    t.teardown(() => tr.close());
    const t0 = Date.now();
    tr.start();
    await waitFor('a 3.1.1 connection', () => tr.connected, 8000);
    t.comment(`connected on 3.1.1 after ${Date.now() - t0} ms`);
    if (bad === 'garbage') t.ok(Date.now() - t0 < 3000, 'garbage ends the attempt at once, not at the 10 s CONNACK timeout');
    t.same(broker.levels, [...Array(HANGUPS_BEFORE_FALLBACK).fill(5), 4], `MQTT 5 ${HANGUPS_BEFORE_FALLBACK} times, then 3.1.1`);
    t.equal(tr.protocol, '3.1.1');
    t.match(tr.protocolFallback, /no CONNACK|without a CONNACK/, 'why, for stats and status');

    // The broker restarts under the box: it comes back on 3.1.1 directly, and says nothing new about it.
    for (const s of broker.sockets) s.destroy();
    await waitFor('the reconnect', () => broker.levels.length === HANGUPS_BEFORE_FALLBACK + 2 && tr.connected, 5000);
    t.equal(broker.levels.at(-1), 4, 'the reconnect uses 3.1.1 without trying MQTT 5 again');
    const chosen = lines.filter((l) => /accepts MQTT 3\.1\.1: using 3\.1\.1 with this broker until restart/.test(String(l.msg)));
    t.equal(chosen.length, 1, 'the choice is logged once');
    t.equal(chosen[0].level, 40, 'as a warning');
  });
}

t.test('a CONNACK refusing MQTT 5 falls back at once (one attempt) and says why', async (t) => {
  const broker = await fakeBroker(onlyV4('refuse'));
  t.teardown(broker.close);
  const { tr } = transport(broker.url);
  t.teardown(() => tr.close());
  tr.start();
  await waitFor('a 3.1.1 connection', () => tr.connected, 5000);
  t.same(broker.levels, [5, 4]);
  t.match(tr.protocolFallback, /refused MQTT 5/);
});

t.test('a broker that is down is not taken for a 3.1.1-only one: MQTT 5 on every attempt', async (t) => {
  const port = await freePort();
  const { tr, lines } = transport(`mqtt://127.0.0.1:${port}`);
  t.teardown(() => tr.close());
  tr.start();
  await waitFor('several refused attempts', () => lines.filter((l) => l.msg === 'mqtt connect failed').length >= 6, 5000);
  t.notOk(lines.some((l) => /trying MQTT 3\.1\.1/.test(String(l.msg))), 'no 3.1.1 attempt');
  t.equal(tr.protocolFallback, null);
  t.match(lines.find((l) => l.msg === 'mqtt connect failed'), { err: /ECONNREFUSED/ });
  // The broker comes up on that port: the first CONNECT it sees is MQTT 5, and the box stays on 5.
  const broker = await fakeBroker(() => 'connack', port);
  t.teardown(broker.close);
  await waitFor('the connection', () => tr.connected, 5000);
  t.equal(broker.levels[0], 5, 'still MQTT 5 after the outage');
  t.equal(tr.protocol, '5');
});

t.test('an MQTT 5 broker that hangs up once (shutting down, restarting) keeps MQTT 5', async (t) => {
  const broker = await fakeBroker((level, n) => (level === 5 && n === 0 ? 'hangup' : 'connack'));
  t.teardown(broker.close);
  const { tr } = transport(broker.url);
  t.teardown(() => tr.close());
  tr.start();
  await waitFor('the connection', () => tr.connected, 5000);
  t.same(broker.levels, [5, 5], 'one hang-up, then MQTT 5 again');
  t.equal(tr.protocol, '5');
  t.equal(tr.protocolFallback, null);
});

t.test('a proxy that hangs up on every protocol: one 3.1.1 trial, then MQTT 5 again, nothing remembered', async (t) => {
  const cycle = [...Array(HANGUPS_BEFORE_FALLBACK).fill(5), 4];
  // Two whole cycles of hang-ups, then the broker behind the proxy is back (speaking MQTT 5).
  let seen = 0;
  const broker = await fakeBroker(() => (seen++ < 2 * cycle.length ? 'hangup' : 'connack'));
  t.teardown(broker.close);
  const { tr } = transport(broker.url);
  t.teardown(() => tr.close());
  tr.start();
  await waitFor('the connection', () => tr.connected, 5000);
  t.same(broker.levels, [...cycle, ...cycle, 5], 'each 3.1.1 trial failed too, so MQTT 5 again');
  t.equal(tr.protocol, '5', 'a broker that was only away is not pinned to 3.1.1');
  t.equal(tr.protocolFallback, null);
});
