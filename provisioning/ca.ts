/**
 * `earshot provision ca`: a certificate authority for a small site without a PKI, kept in one directory
 * (ca.key 0600, ca.crt) on a machine that is not a box. It signs boxes' requests, and makes the key and
 * certificate of ingest, the centre and the broker. The CN decides the role on the broker (the shipped
 * ACL uses the certificate's CN as the user name), so the CA refuses a box named like a role.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../lib/disk.js';
import { checkBoxId, checkValidity, ProvisionError, readCertificate, readPrivateKey, ROLE_NAMES } from './identity.js';
import { createCa, issueCertificate, newPrivateKeyPem, notP256, readCertificateRequest, requestPublicKey, type CertRole } from './pki.js';

export const CA_ROLES: CertRole[] = ['box', 'ingest', 'centre', 'server'];

function caFiles(dir: string): { key: string; cert: string } {
  return { key: join(resolve(dir), 'ca.key'), cert: join(resolve(dir), 'ca.crt') };
}

export async function caInit(o: { dir: string; name: string; days: number; out: (s: string) => void }): Promise<void> {
  const files = caFiles(o.dir);
  for (const f of [files.key, files.cert]) if (existsSync(f)) throw new ProvisionError(f, 'exists: this directory already holds a CA (a second would orphan every certificate the first signed)');
  const { keyPem, certPem } = await createCa(o.name, o.days);
  mkdirSync(resolve(o.dir), { recursive: true, mode: 0o700 });
  await writeFileAtomic(files.key, keyPem, { mode: 0o600 });
  await writeFileAtomic(files.cert, certPem);
  o.out(`CA "${o.name}": ${files.cert} (give it to the broker as cafile, and to each box as --broker-ca if it signs the broker's certificate too)\n  key ${files.key} (0600): keep it off the boxes\n`);
}

async function loadCa(dir: string, now: Date): Promise<{ certPem: string; key: KeyObject }> {
  const files = caFiles(dir);
  const cert = readCertificate(files.cert, 'CA certificate');
  checkValidity(cert, files.cert, now, 'CA certificate');
  const key = readPrivateKey(files.key);
  if (!cert.checkPrivateKey(key)) throw new ProvisionError(files.key, `not the key of ${files.cert}`);
  const problem = notP256(key);
  if (problem) throw new ProvisionError(files.key, problem);
  return { certPem: await readFile(files.cert, 'utf8'), key };
}

/** The CN a role's certificate must carry: a box is named by its id, ingest and the centre by their role. */
function checkName(role: CertRole, cn: string, file: string): void {
  if (role === 'box') {
    const problem = checkBoxId(cn, 'box id (CN)');
    if (problem) throw new ProvisionError(file, problem);
  } else if (role === 'ingest' || role === 'centre') {
    if (cn !== ROLE_NAMES[role]) throw new ProvisionError(file, `CN "${cn}": a ${role} certificate's CN is "${ROLE_NAMES[role]}", the user the broker ACL gives the ${role} role`);
  } else if (!cn) {
    throw new ProvisionError(file, 'a server certificate needs a CN (the broker host name)');
  }
}

export async function caSign(o: { dir: string; csr: string; role: CertRole; days: number; hosts?: string[]; out?: string; print: (s: string) => void }): Promise<string> {
  const ca = await loadCa(o.dir, new Date());
  let text: string;
  try {
    text = await readFile(o.csr, 'utf8');
  } catch (err) {
    throw new ProvisionError(o.csr, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such certificate request file' : (err as Error).message);
  }
  let request;
  try {
    request = await readCertificateRequest(text);
  } catch (err) {
    throw new ProvisionError(o.csr, `garbled certificate request: ${(err as Error).message}`);
  }
  const cn = request.cn ?? '';
  checkName(o.role, cn, o.csr);
  const pem = await issueCertificate({ role: o.role, cn, publicKey: await requestPublicKey(request.csr), ca, days: o.days, hosts: o.hosts });
  const out = o.out ?? o.csr.replace(/(\.csr)?$/, '.crt');
  await writeFileAtomic(out, pem);
  o.print(`signed ${o.role} certificate for CN=${cn}: ${out}\n`);
  return out;
}

/** A key and certificate made here, for ingest, the centre, the broker (or a box whose key an operator makes). */
export async function caIssue(o: { dir: string; role: CertRole; cn?: string; days: number; hosts?: string[]; outDir: string; print: (s: string) => void }): Promise<{ key: string; cert: string }> {
  const ca = await loadCa(o.dir, new Date());
  const cn = o.cn ?? (o.role === 'ingest' || o.role === 'centre' ? ROLE_NAMES[o.role] : '');
  checkName(o.role, cn, '--cn');
  const keyPem = newPrivateKeyPem();
  const pem = await issueCertificate({ role: o.role, cn, publicKey: createPrivateKey(keyPem), ca, days: o.days, hosts: o.hosts });
  const files = { key: join(resolve(o.outDir), `${cn}.key`), cert: join(resolve(o.outDir), `${cn}.crt`) };
  for (const f of [files.key, files.cert]) if (existsSync(f)) throw new ProvisionError(f, 'exists: not overwritten (remove it first to replace it)');
  mkdirSync(resolve(o.outDir), { recursive: true });
  await writeFileAtomic(files.key, keyPem, { mode: 0o600 });
  await writeFileAtomic(files.cert, pem);
  o.print(`${o.role} key ${files.key} (0600) and certificate ${files.cert} (CN=${cn})\n`);
  return files;
}
