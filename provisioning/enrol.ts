/**
 * `earshot provision`: a bare box becomes a named one in two runs of one command line.
 * 1. Without --cert: makes the box's P-256 key (0600) and a certificate request whose CN is the box id,
 *    for the site's CA to sign.
 * 2. With --cert (the signed certificate; or --key and --cert an operator made): checks the certificate
 *    (readable, in its validity window by this box's clock, CN = box id, the box's key's), the key (0600),
 *    the broker CA, then connects to the broker with mutual TLS and subscribes to the box's ack topic.
 *    Only then are the certificate, the CA and the config written; any refusal leaves every file as it was.
 */
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createPrivateKey } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { Document, isMap } from 'yaml';
import { writeFileAtomic } from '../lib/disk.js';
import { Topics } from '../edge/uplink/topics.js';
import { resolveConfig, readYaml, YamlError, ConfigError } from './config.js';
import { checkBoxId, checkValidity, commonName, ProvisionError, readCertificate, readPrivateKey } from './identity.js';
import { certificateRequestPem, newPrivateKeyPem, notP256 } from './pki.js';
import { checkBroker } from './broker-check.js';

export interface ProvisionOptions {
  site: string;
  floor?: string;
  box: string;
  broker: string;
  /** the CA that signed the broker's certificate */
  brokerCa: string;
  /** the box's certificate, signed by a CA the broker trusts */
  cert?: string;
  /** the box's key, when made elsewhere (default: the one step 1 made, <dir>/tls/box.key) */
  key?: string;
  /** where the box keeps its TLS files (<dir>/tls) */
  dir: string;
  config: string;
  prefix?: string;
  timeoutSec: number;
  /**
   * The user the agent runs as (deploy/earshot.service: earshot), who must own the key; unset: the user
   * running this, or "earshot" when that is root and such a user exists.
   */
  owner?: string;
  now?: Date;
  out: (s: string) => void;
}

export interface BoxFiles {
  key: string;
  csr: string;
  cert: string;
  ca: string;
}

export function boxFiles(dir: string): BoxFiles {
  const tls = join(resolve(dir), 'tls');
  return { key: join(tls, 'box.key'), csr: join(tls, 'box.csr'), cert: join(tls, 'box.crt'), ca: join(tls, 'broker-ca.crt') };
}

/** The config as it stands (comments and all), or a new one: provisioning edits only its uplink section. */
async function currentConfig(file: string): Promise<Document> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Document({});
    throw new ProvisionError(file, (err as Error).message);
  }
  try {
    const { doc, data } = readYaml(text);
    resolveConfig(data, file);
    if (!isMap(doc.contents)) return new Document({});
    return doc;
  } catch (err) {
    if (err instanceof YamlError) throw new ProvisionError(file, `existing config unreadable (${err.message}): fix or remove it`);
    if (err instanceof ConfigError) throw new ProvisionError(file, `existing config invalid (${err.reason}): fix or remove it`);
    throw err;
  }
}

function ids(user: string): { uid: number; gid: number } | null {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return null;
  }
}

/** Who must own the key: the agent's user, so that a box enrolled by root still reads its key under systemd. */
function keyOwner(o: ProvisionOptions): { uid: number; gid: number } | null {
  if (o.owner) {
    const found = ids(o.owner);
    if (!found) throw new ProvisionError('--owner', `no such user "${o.owner}"`);
    return found;
  }
  return process.getuid?.() === 0 ? ids('earshot') : null;
}

function giveTo(owner: { uid: number; gid: number } | null, ...paths: string[]): void {
  if (owner) for (const p of paths) chownSync(p, owner.uid, owner.gid);
}

function checkArguments(o: ProvisionOptions): void {
  const box = checkBoxId(o.box);
  if (box) throw new ProvisionError('--box', box);
  const site = checkBoxId(o.site, 'site');
  if (site) throw new ProvisionError('--site', site);
  if (o.floor !== undefined && o.floor !== '' && !/^[^#+/]+$/.test(o.floor)) throw new ProvisionError('--floor', `floor "${o.floor}" holds "/", "+" or "#"`);
  let url: URL;
  try {
    url = new URL(o.broker);
  } catch {
    throw new ProvisionError('--broker', `"${o.broker}" is not a URL (mqtts://host:8883)`);
  }
  if (url.protocol !== 'mqtts:') throw new ProvisionError('--broker', `"${o.broker}": enrolment needs mutual TLS, so an mqtts:// URL (mqtts://host:8883)`);
}

export async function provision(o: ProvisionOptions): Promise<'requested' | 'enrolled'> {
  const now = o.now ?? new Date();
  checkArguments(o);
  const ca = readCertificate(o.brokerCa, 'broker CA certificate');
  checkValidity(ca, o.brokerCa, now, 'broker CA certificate');
  const files = boxFiles(o.dir);
  const keyFile = o.key ? resolve(o.key) : files.key;
  const doc = await currentConfig(o.config);
  const owner = keyOwner(o);

  if (!o.cert) {
    if (o.key) throw new ProvisionError('--key', '--key goes with --cert (a key and certificate made elsewhere)');
    let key;
    if (existsSync(files.key)) {
      key = readPrivateKey(files.key); // made by an earlier run: a new request for the same key
      const problem = notP256(key);
      if (problem) throw new ProvisionError(files.key, problem);
    } else {
      mkdirSync(dirname(files.key), { recursive: true, mode: 0o700 });
      const pem = newPrivateKeyPem();
      await writeFileAtomic(files.key, pem, { mode: 0o600 });
      giveTo(owner, dirname(files.key), files.key);
      key = createPrivateKey(pem);
    }
    await writeFileAtomic(files.csr, await certificateRequestPem(key, o.box));
    o.out(
      `box ${o.box}: key ${files.key} (0600), certificate request ${files.csr} (CN=${o.box})\n` +
        'not enrolled yet: have the request signed by a CA the broker trusts (a small site: earshot provision ca sign),\n' +
        'then run this command again with --cert <signed certificate>\n',
    );
    return 'requested';
  }

  const cert = readCertificate(o.cert, 'box certificate');
  checkValidity(cert, o.cert, now, 'box certificate');
  const cn = commonName(cert);
  if (cn !== o.box) throw new ProvisionError(o.cert, `certificate is for "${cn ?? '(no CN)'}" (its CN), not box "${o.box}": the box id is the certificate's CN`);
  if (!existsSync(keyFile) && !o.key) throw new ProvisionError(keyFile, 'no such key file: run earshot provision without --cert first (it makes the key and the request to sign), or give --key');
  const key = readPrivateKey(keyFile);
  if (!cert.checkPrivateKey(key)) throw new ProvisionError(o.cert, `certificate is not for the key ${keyFile} (signed from another request?)`);

  const prefix = o.prefix ?? (doc.getIn(['uplink', 'prefix']) as string | undefined) ?? 'earshot';
  const next = doc.clone();
  const set: [string[], unknown][] = [
    [['uplink', 'enabled'], true],
    [['uplink', 'broker'], o.broker],
    [['uplink', 'site'], o.site],
    [['uplink', 'box'], o.box],
    [['uplink', 'tls', 'ca'], files.ca],
    [['uplink', 'tls', 'cert'], files.cert],
    [['uplink', 'tls', 'key'], files.key],
    [['uplink', 'tls', 'rejectUnauthorized'], true],
  ];
  if (o.floor !== undefined) set.push([['uplink', 'floor'], o.floor]);
  if (o.prefix !== undefined) set.push([['uplink', 'prefix'], o.prefix]);
  for (const [path, value] of set) next.setIn(path, value);
  resolveConfig(next.toJS(), o.config);

  const [caPem, certPem, keyPem] = await Promise.all([readFile(o.brokerCa), readFile(o.cert), readFile(keyFile)]);
  await checkBroker({
    url: o.broker,
    clientId: `earshot-provision-${o.box}`.slice(0, 64),
    ca: { file: o.brokerCa, pem: caPem },
    cert: { file: o.cert, pem: certPem },
    key: keyPem,
    ackTopic: new Topics(prefix, o.site, o.box).ack,
    availabilityTopic: new Topics(prefix, o.site, o.box).availability,
    timeoutSec: o.timeoutSec,
  });

  mkdirSync(dirname(files.key), { recursive: true, mode: 0o700 });
  if (keyFile !== files.key) {
    await writeFileAtomic(files.key, keyPem, { mode: 0o600 });
    giveTo(owner, dirname(files.key), files.key);
  }
  if (resolve(o.cert) !== files.cert) await writeFileAtomic(files.cert, certPem);
  if (resolve(o.brokerCa) !== files.ca) await writeFileAtomic(files.ca, caPem);
  mkdirSync(dirname(resolve(o.config)), { recursive: true });
  await writeFileAtomic(o.config, next.toString());
  o.out(
    `enrolled: box ${o.box} at site ${o.site}${o.floor ? `, floor ${o.floor}` : ''}, connected to ${o.broker} with mutual TLS as CN=${o.box}\n` +
      `  config       ${o.config} (uplink)\n  key          ${files.key} (0600)\n  certificate  ${files.cert} (valid to ${new Date(cert.validTo).toISOString()})\n  broker CA    ${files.ca}\n`,
  );
  return 'enrolled';
}
