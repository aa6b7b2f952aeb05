/**
 * Throwaway certificates for TLS tests, made with the openssl CLI (execFile, no shell): a CA, server
 * certificates for 127.0.0.1/localhost, client certificates. EC P-256 keys (fast), valid for two days.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const OPENSSL = process.env.OPENSSL ?? '/usr/bin/openssl';

const run = promisify(execFile);

async function openssl(args: string[]): Promise<void> {
  try {
    await run(OPENSSL, args, { timeout: 20_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface CertFiles {
  cert: string;
  key: string;
}

let serial = 1;

/** A self-signed CA: `<dir>/<name>.crt`, `<dir>/<name>.key`. */
export async function makeCa(dir: string, name: string): Promise<CertFiles> {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await openssl([
    'req', '-x509', ...EC_KEY, '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return files;
}

/**
 * A certificate signed by `ca`: `server` for 127.0.0.1 and localhost (subjectAltName, serverAuth), otherwise a
 * client certificate (clientAuth) whose common name is `cn`.
 */
export async function issueCert(dir: string, ca: CertFiles, name: string, kind: 'server' | 'client', cn = name): Promise<CertFiles> {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyAgreement', ...(kind === 'server' ? ['extendedKeyUsage=serverAuth', 'subjectAltName=IP:127.0.0.1,DNS:localhost'] : ['extendedKeyUsage=clientAuth']), ''].join('\n'),
  );
  await openssl(['req', '-new', ...EC_KEY, '-keyout', files.key, '-out', csr, '-subj', `/CN=${cn}`]);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(serial++ + 1000 * process.pid), '-days', '2', '-out', files.cert, '-extfile', ext]);
  return files;
}
