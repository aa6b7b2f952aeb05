/**
 * A box's identity on the broker: its certificate (whose common name is the box id), its private key, and
 * the CA it trusts for the broker. Everything here reads and checks; nothing writes. Each refusal is one
 * line naming the file and what is wrong with it (ProvisionError, a ConfigError: the CLI prints it and
 * exits 2).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ConfigError, type UplinkConfig } from './config.js';

export class ProvisionError extends ConfigError {
  constructor(file: string, reason: string) {
    super(file, reason);
    this.name = 'ProvisionError';
  }
}

/**
 * A box id: one MQTT topic level (no `/`, `+`, `#`), a certificate CN that needs no escaping, and a name a
 * mosquitto `pattern` ACL can substitute for `%u` (which it refuses for names holding `+`, `#` or `/`).
 */
export const BOX_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const BOX_ID_RULE = '1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';

/**
 * The common names of the centre's own clients in the shipped ACL (deploy/mosquitto/earshot.acl). A box
 * certificate with one of them would get that role's rights, so no box may be called so.
 */
export const ROLE_NAMES = { ingest: 'earshot-ingest', centre: 'earshot-centre' } as const;

export function checkBoxId(id: string, what = 'box id'): string | null {
  if (!BOX_ID_PATTERN.test(id)) return `${what} "${id}" is not ${BOX_ID_RULE}`;
  if ((Object.values(ROLE_NAMES) as string[]).includes(id)) return `${what} "${id}" is the name of the centre's ${id.slice('earshot-'.length)} role in the broker ACL; choose another`;
  return null;
}

function readBytes(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ProvisionError(file, code === 'ENOENT' ? `no such ${what} file` : code === 'EACCES' ? `${what} file not readable by this user` : (err as Error).message);
  }
}

/** The first certificate of a PEM file, refused when garbled. */
export function readCertificate(file: string, what = 'certificate'): X509Certificate {
  const bytes = readBytes(file, what);
  if (!bytes.includes('-----BEGIN CERTIFICATE-----')) throw new ProvisionError(file, `not a PEM ${what} (no "-----BEGIN CERTIFICATE-----" line)`);
  try {
    return new X509Certificate(bytes);
  } catch (err) {
    throw new ProvisionError(file, `garbled ${what}: ${(err as Error).message}`);
  }
}

/** Refuses a certificate outside its validity window, naming the box's clock: a box far off in time is the usual cause. */
export function checkValidity(cert: X509Certificate, file: string, now: Date, what = 'certificate'): void {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  const clock = `this box's clock says ${now.toISOString()}`;
  if (now < from) throw new ProvisionError(file, `${what} not valid until ${from.toISOString()}; ${clock} (set the clock: timedatectl, NTP)`);
  if (now > to) throw new ProvisionError(file, `${what} expired on ${to.toISOString()}; ${clock} (a new certificate, or set the clock if it is wrong)`);
}

/** The subject's CN, or null when it has none. */
export function commonName(cert: X509Certificate): string | null {
  const line = cert.subject.split('\n').find((l) => l.startsWith('CN='));
  return line ? line.slice(3) : null;
}

/**
 * The box's private key, refused when others may read it (as ssh refuses a loose identity file: a key
 * others could copy is no proof of being this box) or when it is not a private key at all.
 */
export function readPrivateKey(file: string): KeyObject {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch (err) {
    throw new ProvisionError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such key file' : (err as Error).message);
  }
  if (mode & 0o077) throw new ProvisionError(file, `private key readable by others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 ${file}`);
  const bytes = readBytes(file, 'key');
  try {
    return createPrivateKey(bytes);
  } catch (err) {
    throw new ProvisionError(file, `garbled private key: ${(err as Error).message}`);
  }
}

/**
 * The agent's side of enrolment: with a client certificate configured, the box id in the config must be
 * the certificate's CN. The broker's ACL names the box by its CN, so a box configured as another would
 * publish where it may not, or (on a broker without ACLs) speak for a box it is not.
 */
export function checkBoxIdentity(uplink: UplinkConfig, box: string): void {
  if (!uplink.tls.cert) return;
  const cert = readCertificate(uplink.tls.cert);
  const cn = commonName(cert);
  if (cn !== box) {
    throw new ProvisionError(uplink.tls.cert, `certificate is for box "${cn ?? '(no CN)'}" (its CN), but the config says uplink.box "${box}": the box id must be the certificate's CN`);
  }
}
