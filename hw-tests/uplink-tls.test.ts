/**
 * Mutual TLS against a real mosquitto: a throwaway CA, a server certificate for 127.0.0.1/localhost, a client
 * certificate for the box and one for ingest (made with openssl), and a TLS listener that requires a client
 * certificate (`require_certificate true`, `use_identity_as_username true`).
 * - With its certificate the box (`mqtts://`, `uplink.tls`) delivers every record end to end over TLS to an
 *   ingest that is also on TLS with its own certificate, and every record is acked.
 * - Without a client certificate, or with one from another CA, the broker refuses the box; without our CA the
 *   box refuses the broker. Each time: one clear error in the box's log (not one per attempt) naming what to
 *   fix, nothing leaves the outbox, and the attempts, counted by the broker over a few seconds, are bounded
 *   by the backoff (no hot loop).
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Broker } from '../test/support/mosquitto.js';
import { issueCert, makeCa, type CertFiles } from './helpers/tls.js';
import { memoryLog, sleep, tempDir, waitFor, watch } from '../test/support/uplink.js';
import { startIngest } from '../central/ingest.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { defaultConfig, resolveConfig } from '../provisioning/config.js';

const N = 300;

const dir = tempDir('tls');
t.teardown(() => rmSync(dir, { recursive: true, force: true })); // throwaway keys: do not leave them in /tmp
let ca: CertFiles;
let serverCert: CertFiles;
let boxCert: CertFiles;
let ingestCert: CertFiles;
let rogueCert: CertFiles;

t.before(async () => {
  const t0 = Date.now();
  ca = await makeCa(dir, 'earshot-test-ca');
  serverCert = await issueCert(dir, ca, 'broker', 'server', '127.0.0.1');
  boxCert = await issueCert(dir, ca, 'box-tls', 'client');
  ingestCert = await issueCert(dir, ca, 'ingest-tls', 'client');
  // Same common name as the real box, but signed by a CA the broker does not trust.
  const rogueCa = await makeCa(dir, 'rogue-ca');
  rogueCert = await issueCert(dir, rogueCa, 'box-rogue', 'client', 'box-tls');
  t.comment(`certificates made in ${Date.now() - t0} ms`);
});

/** mosquitto with a plain listener and a TLS listener that requires a client certificate signed by our CA */
async function tlsBroker(): Promise<Broker> {
  const b = await Broker.start({ tls: { ca: ca.cert, cert: serverCert.cert, key: serverCert.key, requireCertificate: true, useIdentityAsUsername: true } });
  // Broker.start probed the TLS port with a bare TCP connection: wait until mosquitto has logged it (as an
  // "unexpected eof"), so that it is not counted as one of the box's attempts.
  await waitFor('the TLS port probe in the broker log', () => /unexpected eof/.test(b.log), 3000);
  return b;
}

/**
 * Connection attempts on a broker's TLS port, from its log: "New connection from ... on port <tls>" when the
 * TLS handshake is still going on at accept, or "Client connection from ... failed" (no port) when it failed
 * there already (only the TLS listener does TLS).
 */
function tlsAttempts(b: Broker): number {
  return b.log.split('\n').filter((l) => (l.includes('New connection from') && l.includes(`on port ${b.tlsPort}.`)) || l.includes('Client connection from')).length;
}

t.test('mutual TLS: records go end to end over mqtts:// and are acked', async (t) => {
  const broker = await tlsBroker();
  t.teardown(() => broker.dispose());
  const ingest = await startIngest(
    { ...defaultConfig().ingest, broker: broker.tlsUrl, db: join(dir, 'ingest.sqlite'), clientId: 'ingest-tls', tls: { ca: ca.cert, cert: ingestCert.cert, key: ingestCert.key, rejectUnauthorized: true } },
    memoryLog('warn').log,
  );
  t.teardown(() => ingest.stop());
  await waitFor('ingest to connect over TLS', () => ingest.connected, 10_000);
  await sleep(100); // its SUBACK follows the CONNACK

  const availability = await watch(broker.url, 'earshot/tls/+/availability'); // the plain listener: a bystander
  t.teardown(() => availability.close());
  const { log, lines } = memoryLog('info');
  const config = resolveConfig({
    outbox: { path: join(dir, 'outbox-ok.sqlite') },
    uplink: { broker: broker.tlsUrl, site: 'tls', box: 'box-tls', tls: { ca: ca.cert, cert: boxCert.cert, key: boxCert.key }, reconnect: { minSec: 0.2, maxSec: 2 } },
  });
  const { uplink, outbox } = startUplink(config, { log });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  const kinds = ['index', 'alert'] as const;
  for (let i = 0; i < N; i++) uplink.submit(kinds[i % 2], { i, callId: `call-${i}` });

  const ms = await waitFor(`all ${N} records stored and acked`, async () => (await ingest.count('box-tls')) >= N && outbox.depth() === 0, 15_000, 50);
  t.comment(`${N} records over TLS ingested and acked in ${ms} ms`);
  t.ok(lines.some((l) => l.msg === 'mqtt connected' && l.url === broker.tlsUrl && l.protocol === '5'), 'the box connected with MQTT 5 over mqtts://');
  const held = (await ingest.seqsFor('box-tls'));
  t.same(held, Array.from({ length: N }, (_, i) => i + 1), 'ingest holds 1..N, each once, in order');
  t.equal(outbox.depth(), 0, 'outbox empty');
  t.equal(uplink.counters.acked, N, 'every record acked');
  await waitFor('online on availability', () => availability.messages.some((m) => m.payload.toString() === 'online'), 5_000);
  t.pass('availability online (seen on the plain listener)');
  // use_identity_as_username: the broker knows each client by its certificate's common name.
  t.match(broker.log, /New client connected from 127\.0\.0\.1:\d+ as earshot-tls-box-tls \(p5, [^)]*u'box-tls'\)/, "the broker authenticated the box by its certificate (user 'box-tls')");
  t.match(broker.log, /as ingest-tls \(p5, [^)]*u'ingest-tls'\)/, "and ingest by its own (user 'ingest-tls')");
});

const REFUSALS = [
  { variant: 'no client certificate', error: /: TLS: tlsv13 alert certificate required \(the broker wants a client certificate: uplink\.tls\.cert and uplink\.tls\.key\); retrying with backoff$/ },
  { variant: 'a client certificate from another CA', error: /: TLS: tlsv1 alert unknown ca \(the broker does not accept this client certificate: is it signed by a CA the broker trusts, and valid\?\); retrying with backoff$/ },
  { variant: "the box does not trust the broker's CA", error: /: TLS: (self-signed certificate in certificate chain|unable to verify the first certificate|unable to get local issuer certificate) \(the broker's certificate does not verify: uplink\.tls\.ca, and the host name or IP in uplink\.broker\); retrying with backoff$/ },
] as const;

for (const { variant, error } of REFUSALS) {
  t.test(`${variant}: refused with a clear error, reconnects bounded by the backoff`, async (t) => {
    // A broker of its own, so the attempts it counts are this box's only.
    const broker = await tlsBroker();
    t.teardown(() => broker.dispose());
    const tls =
      variant === 'no client certificate'
        ? { ca: ca.cert }
        : variant === 'a client certificate from another CA'
          ? { ca: ca.cert, cert: rogueCert.cert, key: rogueCert.key }
          : { cert: boxCert.cert, key: boxCert.key }; // no uplink.tls.ca: the system's CAs, which do not know ours
    const before = tlsAttempts(broker);
    const { log, lines } = memoryLog('debug');
    const reconnect = { minSec: 0.2, maxSec: 1.6, jitter: 0.3 };
    const config = resolveConfig({
      outbox: { path: join(dir, `outbox-refused-${REFUSALS.findIndex((r) => r.variant === variant)}.sqlite`) },
      uplink: { broker: broker.tlsUrl, site: 'tls', box: 'box-tls', tls, reconnect, connectTimeoutSec: 2 },
    });
    const { uplink, outbox } = startUplink(config, { log });
    t.teardown(async () => {
      await uplink.stop();
      outbox.close();
    });
    for (let i = 0; i < 5; i++) uplink.submit('alert', { i });

    const windowSec = 4;
    await sleep(windowSec * 1000);
    const attempts = tlsAttempts(broker) - before;
    const errors = lines.filter((l) => (l.level as number) >= 50).map((l) => String(l.msg));
    t.comment(`${attempts} connection attempts in ${windowSec} s; box log: ${errors.join(' | ')}`);
    // Backoff 0.2 s doubling to 1.6 s, jitter ±30 %: at the fastest the attempts start at 0, 0.14, 0.42, 0.98,
    // 2.1 and 3.22 s, so at most 6 in 4 s. A hot loop would make hundreds.
    t.ok(attempts >= 3 && attempts <= 6, `the broker saw ${attempts} attempts in ${windowSec} s: retried, bounded by the backoff`);
    const delays = lines.filter((l) => l.msg === 'mqtt connect failed').map((l) => l.retryInMs as number);
    const inBand = delays.every((d, i) => {
      const base = 1000 * Math.min(reconnect.maxSec, reconnect.minSec * 2 ** i);
      return d >= base * (1 - reconnect.jitter) - 1 && d <= base * (1 + reconnect.jitter) + 1;
    });
    t.ok(delays.length >= 3 && inBand, `the delays double from 0.2 s to 1.6 s, ±30 %: ${delays.join(', ')} ms`);
    t.ok(errors.length >= 1 && error.test(errors[0]), `a clear error: ${errors[0]}`);
    t.ok(errors.length <= 2, `logged once, not per attempt (${errors.length} error lines for ${attempts} attempts)`);
    t.equal(uplink.stats().uplink.connected, false, 'stats: not connected');
    t.equal(uplink.counters.published, 0, 'nothing published');
    t.equal(outbox.depth(), 5, 'the records wait in the outbox');
  });
}
