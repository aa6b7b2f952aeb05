/**
 * Keys, certificate requests and a small site's CA, with @peculiar/x509 over Node's WebCrypto (no openssl
 * on the box needed). Keys are EC P-256: what mosquitto's OpenSSL, EMQX and every TLS 1.2/1.3 stack accept
 * for client certificates, and fast on an ARM box (Ed25519 client certificates are not accepted by all
 * brokers' TLS stacks yet).
 */
// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata API
// installed before the library loads (its README): this import must stay first.
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

export type CertRole = 'box' | 'ingest' | 'centre' | 'server';

/** A new P-256 private key, as PKCS#8 PEM. */
export function newPrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
}

/** Why this key cannot sign here (null: it can): requests and certificates are made with EC P-256 keys only. */
export function notP256(key: KeyObject): string | null {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return null;
  return `an EC P-256 key is needed to sign here (this one is ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}); the openssl recipe in docs/install.md signs with any key`;
}

async function signingKey(key: KeyObject): Promise<CryptoKey> {
  const problem = notP256(key);
  if (problem) throw new Error(problem);
  // Imported through DER: the same path takes openssl's "EC PRIVATE KEY" files and our PKCS#8 ones.
  return webcrypto.subtle.importKey('pkcs8', key.export({ format: 'der', type: 'pkcs8' }), EC, false, ['sign']) as Promise<CryptoKey>;
}

async function publicCryptoKey(key: KeyObject): Promise<CryptoKey> {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return webcrypto.subtle.importKey('spki', pub.export({ format: 'der', type: 'spki' }), EC, true, ['verify']) as Promise<CryptoKey>;
}

/** A PKCS#10 request for `CN=<cn>`, signed with the key it carries. */
export async function certificateRequestPem(key: KeyObject, cn: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [cn] }],
    keys: { privateKey: await signingKey(key), publicKey: await publicCryptoKey(key) },
    signingAlgorithm: SIGNING,
  });
  return csr.toString('pem');
}

/** A parsed request whose signature verifies, and its CN. */
export async function readCertificateRequest(pem: string): Promise<{ csr: x509.Pkcs10CertificateRequest; cn: string | null }> {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  if (!(await csr.verify())) throw new Error('its signature does not verify (altered after it was made?)');
  return { csr, cn: csr.subjectName.getField('CN')[0] ?? null };
}

function serial(): string {
  // 16 random bytes, top bit clear: a positive integer, as RFC 5280 wants, never repeated in practice.
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

const DAY_MS = 86_400_000;

/** A self-signed CA for a site without a PKI. */
export async function createCa(name: string, days: number, now = new Date()): Promise<{ keyPem: string; certPem: string }> {
  const keyPem = newPrivateKeyPem();
  const key = createPrivateKey(keyPem);
  const keys = { privateKey: await signingKey(key), publicKey: await publicCryptoKey(key) };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [name] }],
    notBefore: new Date(now.getTime() - 3600_000), // an hour back: a box whose clock is a little behind still accepts it
    notAfter: new Date(now.getTime() + days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keyPem, certPem: cert.toString('pem') };
}

export interface IssueOptions {
  role: CertRole;
  cn: string;
  /** the subject's public key (from a request, or a key made beside) */
  publicKey: KeyObject;
  ca: { certPem: string; key: KeyObject };
  days: number;
  /** server: the host names and IP addresses the broker is reached by */
  hosts?: string[];
  now?: Date;
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+:[0-9a-f:]*)$/i;

/** A certificate for a box, ingest or centre client (clientAuth) or the broker (serverAuth with its names). */
export async function issueCertificate(o: IssueOptions): Promise<string> {
  const caCert = new x509.X509Certificate(o.ca.certPem);
  const now = o.now ?? new Date();
  const publicKey = await publicCryptoKey(o.publicKey);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([o.role === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  if (o.role === 'server') {
    const hosts = o.hosts?.length ? o.hosts : [o.cn];
    extensions.push(new x509.SubjectAlternativeNameExtension(hosts.map((h) => (IP.test(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }))));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [o.cn] }],
    issuer: caCert.subjectName,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(Math.min(now.getTime() + o.days * DAY_MS, caCert.notAfter.getTime())),
    publicKey,
    signingKey: await signingKey(o.ca.key),
    signingAlgorithm: SIGNING,
    extensions,
  });
  return cert.toString('pem');
}

/** The public key of a request, as a Node key. */
export async function requestPublicKey(csr: x509.Pkcs10CertificateRequest): Promise<KeyObject> {
  return createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
}
