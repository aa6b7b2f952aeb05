/**
 * `earshot provision` and `earshot provision ca` up to the broker: the key and request a bare box makes,
 * what the site CA signs and refuses, and every bad input an installer can bring (a garbled certificate, a
 * key others can read, a certificate outside its validity by the box's clock, another box's or another
 * key's certificate, a garbled broker CA, a broker that is not there): each is one line on stderr naming
 * the file, exit status 2, and not one file changed. The enrolment against a real broker, and a wrong
 * broker CA, are in hw-tests/provision.test.ts.
 */
import t from 'tap';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './support/cli.js';
import { issueCertificate } from '../provisioning/pki.js';
import { provision, type ProvisionOptions } from '../provisioning/enrol.js';
import { caInit, caIssue, caSign } from '../provisioning/ca.js';
import { ProvisionError } from '../provisioning/identity.js';
import { resolveConfig } from '../provisioning/config.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { freePort } from './support/broker-process.js';

/** Every file under `dir` with its mode and a digest of its content: what "nothing changed" compares. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = `${(statSync(p).mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`;
    }
  };
  walk(dir);
  return out;
}

const dir = t.testdir({});
const ca = join(dir, 'ca');
const box = join(dir, 'box');
const config = join(box, 'earshot.yml');
let port: number;

const enrol = (extra: string[]) => ['provision', '--site', 's1', '--floor', '3F', '--box', 'box-7', '--broker', `mqtts://127.0.0.1:${port}`, '--broker-ca', join(ca, 'ca.crt'), '--dir', box, '--config', config, '--timeout', '3', ...extra];
/** The same enrolment in this process: the CLI takes a dozen seconds to start on a loaded machine. */
const enrolHere = (o: Partial<ProvisionOptions>) => provision({ site: 's1', floor: '3F', box: 'box-7', broker: `mqtts://127.0.0.1:${port}`, brokerCa: join(ca, 'ca.crt'), dir: box, config, timeoutSec: 3, out: () => {}, ...o });
const quiet = () => {};

t.before(async () => {
  port = await freePort(); // nothing listens there
  await caInit({ dir: ca, name: 'Test site CA', days: 30, out: quiet });
});

t.test('a bare box: a P-256 key (0600) and a request for CN=<box id>; no config yet', async (t) => {
  const first = await runCli(enrol([]));
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /not enrolled yet/);
  const key = join(box, 'tls', 'box.key');
  t.equal(statSync(key).mode & 0o777, 0o600, 'the key is 0600');
  t.equal(createPrivateKey(readFileSync(key)).asymmetricKeyDetails?.namedCurve, 'prime256v1', 'an EC P-256 key');
  t.match(readFileSync(join(box, 'tls', 'box.csr'), 'utf8'), /-----BEGIN CERTIFICATE REQUEST-----/);
  t.notOk(existsSync(config), 'no config before the broker is reached');
  const keyBefore = readFileSync(key);
  t.equal(await enrolHere({}), 'requested');
  t.same(readFileSync(key), keyBefore, 'run again: the same key, a new request');
});

t.test('the site CA signs the box request as a client certificate with its CN', async (t) => {
  const signed = await runCli(['provision', 'ca', 'sign', join(box, 'tls', 'box.csr'), '--ca-dir', ca, '--out', join(dir, 'box-7.crt')]);
  t.equal(signed.code, 0, signed.stderr);
  const cert = new X509Certificate(readFileSync(join(dir, 'box-7.crt')));
  t.equal(cert.subject, 'CN=box-7');
  t.ok(cert.checkIssued(new X509Certificate(readFileSync(join(ca, 'ca.crt')))), 'issued by the site CA');
  t.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(join(box, 'tls', 'box.key')))), "for the box's key");
  t.match(cert.keyUsage ?? [], ['1.3.6.1.5.5.7.3.2'], 'extended key usage: TLS client');
  t.equal(cert.ca, false);

  const refused = async (what: string, p: Promise<unknown>, error: RegExp) => {
    const err = await p.then(() => null, (e: unknown) => e);
    t.ok(err instanceof ProvisionError, `${what}: refused`);
    t.match((err as Error).message, error, `${what}: ${(err as Error).message}`);
  };
  await refused('a box request signed as ingest', caSign({ dir: ca, csr: join(box, 'tls', 'box.csr'), role: 'ingest', days: 30, out: join(dir, 'x.crt'), print: quiet }), /box\.csr: CN "box-7": a ingest certificate's CN is "earshot-ingest"/);
  await refused('a box named like a role', caIssue({ dir: ca, role: 'box', cn: 'earshot-ingest', days: 30, outDir: join(dir, 'x'), print: quiet }), /box id \(CN\) "earshot-ingest" is the name of the centre's ingest role/);
  writeFileSync(join(dir, 'garbled.csr'), '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n');
  await refused('a garbled request', caSign({ dir: ca, csr: join(dir, 'garbled.csr'), role: 'box', days: 30, print: quiet }), /garbled\.csr: garbled certificate request/);
  await refused('a second CA over the first', caInit({ dir: ca, name: 'again', days: 30, out: quiet }), /ca\.key: exists/);
  // A site CA made with openssl's default RSA key: named, with the way out.
  const rsa = join(dir, 'rsa-ca');
  execFileSync('mkdir', ['-p', rsa]);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(rsa, 'ca.key'), '-out', join(rsa, 'ca.crt'), '-days', '2', '-subj', '/CN=rsa'], { stdio: 'ignore' });
  chmodSync(join(rsa, 'ca.key'), 0o600);
  await refused('an RSA CA key', caSign({ dir: rsa, csr: join(box, 'tls', 'box.csr'), role: 'box', days: 30, out: join(dir, 'x.crt'), print: quiet }), /rsa-ca\/ca\.key: an EC P-256 key is needed to sign here \(this one is rsa\); the openssl recipe/);
  t.notOk(existsSync(join(dir, 'x.crt')) || existsSync(join(dir, 'x')), 'nothing written for the refused ones');
});

/** Certificates for the bad-input cases, signed by the site CA. */
async function certFor(o: { cn?: string; key?: string; now?: Date; days?: number }): Promise<string> {
  return issueCertificate({
    role: 'box',
    cn: o.cn ?? 'box-7',
    publicKey: createPrivateKey(readFileSync(o.key ?? join(box, 'tls', 'box.key'))),
    ca: { certPem: readFileSync(join(ca, 'ca.crt'), 'utf8'), key: createPrivateKey(readFileSync(join(ca, 'ca.key'))) },
    days: o.days ?? 30,
    now: o.now,
  });
}

t.test('bad input: one line naming the file, exit 2, nothing changed', async (t) => {
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const good = readFileSync(join(dir, 'box-7.crt'), 'utf8');
  const day = 86_400_000;
  const otherKey = (await caIssue({ dir: ca, role: 'box', cn: 'box-9', days: 30, outDir: join(dir, 'other'), print: quiet })).key;
  const cases: { name: string; args: () => Promise<Partial<ProvisionOptions>>; error: RegExp; before?: () => void; after?: () => void }[] = [
    { name: 'a garbled certificate', args: async () => ({ cert: file('garbled.crt', good.replace(/^(.{30}).{20}/m, '$1!!!!!!!!!!!!!!!!!!!!')) }), error: /garbled\.crt: garbled box certificate/ },
    { name: 'not a certificate at all', args: async () => ({ cert: file('junk.crt', 'hello\n') }), error: /junk\.crt: not a PEM box certificate/ },
    {
      name: 'a key others can read',
      args: async () => ({ cert: join(dir, 'box-7.crt') }),
      before: () => chmodSync(join(box, 'tls', 'box.key'), 0o644),
      after: () => chmodSync(join(box, 'tls', 'box.key'), 0o600),
      error: /box\.key: private key readable by others \(mode 0644\); chmod 600 /,
    },
    { name: 'the clock far behind (certificate not yet valid)', args: async () => ({ cert: file('future.crt', await certFor({ now: new Date(Date.now() + 400 * day) })) }), error: /future\.crt: box certificate not valid until \S+; this box's clock says \S+ \(set the clock/ },
    { name: 'the clock far ahead (certificate expired)', args: async () => ({ cert: file('old.crt', await certFor({ now: new Date(Date.now() - 400 * day), days: 30 })) }), error: /old\.crt: box certificate expired on \S+; this box's clock says/ },
    { name: "another box's certificate", args: async () => ({ cert: file('box-8.crt', await certFor({ cn: 'box-8' })) }), error: /box-8\.crt: certificate is for "box-8" \(its CN\), not box "box-7"/ },
    { name: "a certificate for another key", args: async () => ({ cert: file('otherkey.crt', await certFor({ key: otherKey })) }), error: /otherkey\.crt: certificate is not for the key .*box\.key/ },
    { name: 'a garbled broker CA', args: async () => ({ cert: join(dir, 'box-7.crt'), brokerCa: file('garbled-ca.crt', '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n') }), error: /garbled-ca\.crt: garbled broker CA certificate/ },
    { name: 'no broker there', args: async () => ({ cert: join(dir, 'box-7.crt') }), error: new RegExp(`mqtts://127\\.0\\.0\\.1:\\d+: cannot connect to the broker: .*ECONNREFUSED`) },
    { name: 'a broker URL without TLS', args: async () => ({ cert: join(dir, 'box-7.crt'), broker: 'mqtt://127.0.0.1:1883' }), error: /--broker: "mqtt:\/\/127\.0\.0\.1:1883": enrolment needs mutual TLS/ },
    { name: 'a box id that is no topic level', args: async () => ({ box: 'box/7' }), error: /--box: box id "box\/7" is not 1-64 letters/ },
  ];
  for (const c of cases) {
    const args = await c.args();
    c.before?.();
    const before = snapshot(box);
    const err = await enrolHere(args).then(() => null, (e: unknown) => e);
    const after = snapshot(box);
    c.after?.();
    t.ok(err instanceof ProvisionError, `${c.name}: refused`);
    const message = (err as Error).message;
    t.notOk(message.includes('\n'), `${c.name}: one line`);
    t.match(message, c.error, `${c.name}: ${message}`);
    t.same(after, before, `${c.name}: nothing changed`);
    t.notOk(existsSync(config), `${c.name}: no config written`);
  }

  // What the installer sees: the same line on stderr, and exit status 2.
  const r = await runCli(enrol(['--cert', join(dir, 'garbled.crt')]));
  t.equal(r.code, 2, 'the CLI exits 2');
  t.match(r.stderr, /^earshot: \S+garbled\.crt: garbled box certificate: [^\n]*\n$/, `one line on stderr: ${r.stderr.trim()}`);
});

t.test("the agent refuses a config whose box id is not its certificate's CN", async (t) => {
  const cfg = join(dir, 'mismatch.yml');
  writeFileSync(cfg, ['uplink:', '  enabled: true', '  broker: mqtts://127.0.0.1:8883', '  site: s1', '  box: box-8', '  tls:', `    cert: ${join(dir, 'box-7.crt')}`, `    key: ${join(box, 'tls', 'box.key')}`, ''].join('\n'));
  for (const args of [['run', '--check', '--config', cfg], ['run', '--config', cfg]]) {
    const r = await runCli(args);
    t.equal(r.code, 2, `earshot ${args.join(' ')}: exit 2`);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.match(r.stderr, /box-7\.crt: certificate is for box "box-7" \(its CN\), but the config says uplink\.box "box-8"/);
  }
  // The uplink itself (earshot analyze --publish, the daemon) refuses before it opens the outbox or connects.
  const config = resolveConfig({ outbox: { path: join(dir, 'never.sqlite') }, uplink: { broker: 'mqtts://127.0.0.1:8883', site: 's1', box: 'box-8', tls: { cert: join(dir, 'box-7.crt'), key: join(box, 'tls', 'box.key') } } });
  t.throws(() => startUplink(config), { name: 'ProvisionError', message: /certificate is for box "box-7"/ });
  t.notOk(existsSync(join(dir, 'never.sqlite')), 'no outbox opened');
});
