/**
 * Enrolment end to end against Debian's real mosquitto running the shipped templates, every certificate
 * made by `earshot provision ca` (so mosquitto's OpenSSL accepts what @peculiar/x509 makes):
 * a bare box makes its key and request, the site CA signs it, the second run checks the broker with mutual
 * TLS and writes the config, and the agent started from that config delivers a record that ingest stores
 * and acks. A wrong broker CA, a box the broker's ACL does not know under its id: one line naming the file,
 * exit 2, nothing written.
 */
import t from 'tap';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../test/support/cli.js';
import { TemplateBroker } from './helpers/template-broker.js';
import { memoryLog, sleep, tempDir, waitFor } from '../test/support/uplink.js';
import { startIngest } from '../central/ingest.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { defaultConfig, loadConfigFile } from '../provisioning/config.js';
import { caInit, caIssue, caSign } from '../provisioning/ca.js';
import { provision } from '../provisioning/enrol.js';

const dir = tempDir('provision');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const ca = join(dir, 'ca');
const certs = join(dir, 'certs');
const box = join(dir, 'box');
const config = join(box, 'earshot.yml');
let broker: TemplateBroker;

const quiet = () => {};

// The CA's steps in this process (the CLI takes a dozen seconds to start on a loaded machine; test/provision.test.ts
// runs them through it); the box's steps through the CLI, as an installer runs them.
t.before(async () => {
  await caInit({ dir: ca, name: 'Test site CA', days: 30, out: quiet });
  await caIssue({ dir: ca, role: 'server', cn: '127.0.0.1', hosts: ['127.0.0.1', 'localhost'], days: 30, outDir: certs, print: quiet });
  await caIssue({ dir: ca, role: 'ingest', days: 30, outDir: certs, print: quiet });
  broker = await TemplateBroker.start({ ca: join(ca, 'ca.crt'), cert: join(certs, '127.0.0.1.crt'), key: join(certs, '127.0.0.1.key') });
});
t.teardown(() => broker?.dispose());

const enrol = (extra: string[]) => ['provision', '--site', 's1', '--floor', '3F', '--box', 'box-7', '--broker', broker.url, '--broker-ca', join(ca, 'ca.crt'), '--dir', box, '--config', config, ...extra];

t.test('a bare box, enrolled and connected', async (t) => {
  const first = await runCli(enrol([]));
  t.equal(first.code, 0, first.stderr);
  await caSign({ dir: ca, csr: join(box, 'tls', 'box.csr'), role: 'box', days: 30, out: join(dir, 'box-7.crt'), print: quiet });

  // A CA the broker's certificate does not chain to.
  await caInit({ dir: join(dir, 'other-ca'), name: 'Another CA', days: 30, out: quiet });
  const wrongCa = await runCli(enrol(['--cert', join(dir, 'box-7.crt'), '--broker-ca', join(dir, 'other-ca', 'ca.crt')]));
  t.equal(wrongCa.code, 2);
  t.equal(wrongCa.stderr.trim().split('\n').length, 1, 'one line');
  t.match(wrongCa.stderr, /other-ca\/ca\.crt: the broker's certificate at mqtts:\/\/127\.0\.0\.1:\d+ does not verify against this CA/);
  t.notOk(existsSync(config), 'wrong broker CA: no config written');
  t.notOk(existsSync(join(box, 'tls', 'box.crt')), 'wrong broker CA: no certificate installed');

  const done = await runCli(enrol(['--cert', join(dir, 'box-7.crt')]));
  t.equal(done.code, 0, done.stderr);
  t.match(done.stdout, /enrolled: box box-7 at site s1, floor 3F, connected to mqtts:\/\/127\.0\.0\.1:\d+ with mutual TLS as CN=box-7/);
  const written = loadConfigFile(config);
  t.match(written.uplink, { enabled: true, site: 's1', floor: '3F', box: 'box-7', broker: broker.url, tls: { ca: join(box, 'tls', 'broker-ca.crt'), cert: join(box, 'tls', 'box.crt'), key: join(box, 'tls', 'box.key') } });
  t.equal(statSync(join(box, 'tls', 'box.key')).mode & 0o777, 0o600, 'the key stays 0600');

  // The agent from the written config: its records reach ingest (earshot-ingest, from the same CA) and are acked.
  const ingestTls = { ca: join(ca, 'ca.crt'), cert: join(certs, 'earshot-ingest.crt'), key: join(certs, 'earshot-ingest.key'), rejectUnauthorized: true };
  const ingest = await startIngest({ ...defaultConfig().ingest, broker: broker.url, db: join(dir, 'ingest.sqlite'), tls: ingestTls }, memoryLog('warn').log);
  t.teardown(() => ingest.stop());
  await waitFor('ingest to connect', () => ingest.connected, 15_000);
  await sleep(300);
  written.outbox.path = join(dir, 'outbox.sqlite');
  const { uplink, outbox } = startUplink(written, { log: memoryLog('warn').log });
  t.teardown(async () => {
    await uplink.stop();
    outbox.close();
  });
  uplink.submit('alert', { rule: 'r1', callId: 'c1' });
  await waitFor('the record stored and acked', async () => (await ingest.count('box-7')) === 1 && outbox.depth() === 0, 20_000);
  t.pass('the enrolled box delivers a record, acked by ingest');
});

t.test("a box the broker accepts but whose topics its ACL does not grant: told before anything is written", async (t) => {
  const other = join(dir, 'box-x');
  t.equal(await provision({ site: 's1', box: 'box-x', broker: broker.url, brokerCa: join(ca, 'ca.crt'), dir: other, config: join(other, 'earshot.yml'), prefix: 'elsewhere', timeoutSec: 10, out: quiet }), 'requested');
  await caSign({ dir: ca, csr: join(other, 'tls', 'box.csr'), role: 'box', days: 30, out: join(dir, 'box-x.crt'), print: quiet });
  // --prefix elsewhere: the shipped ACL grants topics under "earshot/" only.
  const r = await runCli(['provision', '--site', 's1', '--box', 'box-x', '--broker', broker.url, '--broker-ca', join(ca, 'ca.crt'), '--dir', other, '--config', join(other, 'earshot.yml'), '--prefix', 'elsewhere', '--cert', join(dir, 'box-x.crt')]);
  t.equal(r.code, 2);
  t.match(r.stderr, /box-x\.crt: the broker accepts this certificate but refuses the box's publish to elsewhere\/s1\/box-x\/availability \(.*reason code 0x87\)/);
  t.notOk(existsSync(join(other, 'earshot.yml')), 'no config written');
});
