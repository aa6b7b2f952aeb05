/**
 * Ed25519 signatures on what crosses the broker (docs/mqtt.md, "Signatures"): the centre signs acks and
 * commands, a box signs its records. Anyone who can publish to the broker can write on any topic, so the box
 * obeys only what verifies against the centre's keys, and ingest stores only what verifies against the
 * enrolled box's key.
 *
 * What is signed is the payload exactly as sent, minus its last member: a signed payload is a JSON object
 * whose text ends in `,"sig":"<base64 of 64 bytes>"}`, and the signed bytes are everything before that
 * comma followed by `}`. So nothing is re-serialised to check a 16 MB record (no JSON canonicalisation to
 * get wrong), the payload stays one plain JSON object the wire schemas check, and what the receiver parses is
 * what the sender wrote. Which message it is (ack, command, record) and for whom is inside the signed bytes
 * (`schema`, `box`, `site`), so one kind cannot be passed off as another.
 *
 * Pure functions over node:crypto and node:fs: no logging, no configuration.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { InputError } from './errors.js';

/** A key file or key text that cannot be used; the message names the file (or setting) and the problem. */
export class KeyError extends InputError {
  override name = 'KeyError';
}

const SIG_BYTES = 64;
/** base64 of 64 bytes: 86 characters and two of padding */
const SIG_B64_LENGTH = 88;
const TAIL_HEAD = Buffer.from(',"sig":"');
const TAIL_END = Buffer.from('"}');
const TAIL_LENGTH = TAIL_HEAD.length + SIG_B64_LENGTH + TAIL_END.length;
const CLOSE = Buffer.from('}');
const BASE64 = /^[A-Za-z0-9+/]{86}==$/;

/** `text` (a JSON object with at least one member) with its signature as the last member. */
export function signJson(text: string, key: KeyObject): string {
  if (!text.endsWith('}') || !text.startsWith('{') || (text.length < 64 && /^\{\s*\}$/.test(text))) throw new TypeError('signJson: not a JSON object with members');
  const sig = sign(null, Buffer.from(text, 'utf8'), key).toString('base64');
  return `${text.slice(0, -1)},"sig":"${sig}"}`;
}

/** The bytes a signed payload's signature covers, and the signature; null when the payload does not end in one. */
export function signedParts(payload: Buffer): { bytes: Buffer; sig: Buffer } | null {
  const n = payload.length;
  if (n <= TAIL_LENGTH + 1 || payload[0] !== 0x7b) return null;
  const tail = n - TAIL_LENGTH;
  if (!payload.subarray(tail, tail + TAIL_HEAD.length).equals(TAIL_HEAD) || !payload.subarray(n - TAIL_END.length).equals(TAIL_END)) return null;
  const b64 = payload.toString('latin1', tail + TAIL_HEAD.length, n - TAIL_END.length);
  if (!BASE64.test(b64)) return null;
  const sig = Buffer.from(b64, 'base64');
  if (sig.length !== SIG_BYTES) return null;
  return { bytes: Buffer.concat([payload.subarray(0, tail), CLOSE]), sig };
}

/**
 * Whether the payload carries a signature that one of `keys` made over it. A payload with no signature, a
 * signature of the wrong shape or one no key made all verify false: the caller says which in its refusal.
 */
export function verifyJson(payload: Buffer, keys: readonly KeyObject[]): boolean {
  const parts = signedParts(payload);
  if (!parts) return false;
  return keys.some((key) => verify(null, parts.bytes, key, parts.sig));
}

/**
 * Whether a signed message is fresh: its `at` (the signer's clock, ISO 8601) within `windowSec` either side
 * of `nowMs`. A replayed message older than the window is refused; the window is also how far the two clocks
 * may disagree. Returns why not, or null when fresh.
 */
export function freshnessProblem(at: string, nowMs: number, windowSec: number): string | null {
  const atMs = Date.parse(at);
  if (!Number.isFinite(atMs)) return `its time ${JSON.stringify(at.slice(0, 40))} is not a date`;
  const offSec = (nowMs - atMs) / 1000;
  if (Math.abs(offSec) <= windowSec) return null;
  const how = offSec > 0 ? `${Math.round(offSec)} s old` : `${Math.round(-offSec)} s in the future`;
  return `it was signed ${how}, outside the ${windowSec} s window (a replay, or a clock that is off: check NTP on both ends)`;
}

/** A new Ed25519 key pair: the private key as PKCS#8 PEM, the public key as one line (publicKeyText). */
export function generateSigningKey(): { privatePem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: publicKeyText(publicKey) };
}

/** A public key as one line: the base64 of its SubjectPublicKeyInfo (what `openssl pkey -pubout` puts between the PEM lines). */
export function publicKeyText(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return (pub.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');
}

/** An Ed25519 public key from one line of base64 (publicKeyText) or a PEM block; `where` names it in the error. */
export function parsePublicKey(text: string, where: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    key = trimmed.startsWith('-----BEGIN')
      ? createPublicKey({ key: trimmed, format: 'pem' })
      : createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new KeyError(`${where}: not a public key (expected one line of base64 from \`earshot keys generate\`, or a PEM public key)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyError(`${where}: a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}

/**
 * The Ed25519 private key in `path` (PEM, PKCS#8). Refused when anyone but the owner may read or write the
 * file: a signing key others can read signs for them too.
 */
export function loadPrivateKey(path: string): KeyObject {
  let text: string;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new KeyError(`${path}: cannot read the signing key (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    // The mode of the file actually opened, not of whatever the path names a moment later.
    const mode = fstatSync(fd).mode & 0o777;
    if (mode & 0o077) throw new KeyError(`${path}: signing key has mode ${mode.toString(8).padStart(4, '0')}, readable or writable by others: chmod 600 ${path}`);
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    throw new KeyError(`${path}: not a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyError(`${path}: a ${key.asymmetricKeyType} key, not Ed25519 (make one with \`earshot keys generate\`)`);
  return key;
}

/** Writes a private key PEM with mode 0600, refusing to replace an existing file (a key in use is not overwritten by accident). */
export function writePrivateKey(path: string, pem: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyError(code === 'EEXIST' ? `${path}: already exists; not replaced (remove it first if a new key is meant)` : `${path}: cannot write the key (${code ?? (err as Error).message})`);
  }
  try {
    writeSync(fd, pem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
