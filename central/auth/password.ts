/**
 * Password hashes: scrypt from node:crypto, a random salt per hash, the cost parameters written into the
 * stored string (`$scrypt$ln=15,r=8,p=3$<salt>$<hash>`, PHC style), so they can be raised later: a hash made
 * with lower ones still verifies and is replaced at the user's next sign-in. Compared in constant time.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  /** log2 of N, the CPU/memory cost */
  ln: number;
  /** block size */
  r: number;
  /** parallelism */
  p: number;
}

/**
 * OWASP's scrypt settings of equal strength to N=2^17,r=8,p=1 at a quarter of the memory (32 MiB per hash
 * rather than 128): a burst of sign-ins (the rate limit counts them, but they still run) stays within a
 * small server's memory.
 */
export const DEFAULT_SCRYPT: ScryptParams = { ln: 15, r: 8, p: 3 };

const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Longer than any passphrase, short enough that hashing one costs what hashing any does. */
export const MAX_PASSWORD_CHARS = 1024;
export const MIN_PASSWORD_CHARS = 10;

function derive(password: string, salt: Buffer, params: ScryptParams, keylen: number): Promise<Buffer> {
  const N = 2 ** params.ln;
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 128 * N * params.r + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFKC'), salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

interface Parsed {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parse(stored: string): Parsed | null {
  const m = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (!m) return null;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  // A stored string is ours, but a hand-edited row must not make one sign-in take the server's memory.
  if (params.ln < 1 || params.ln > 22 || params.r < 1 || params.p < 1) return null;
  const key = Buffer.from(m[5], 'base64url');
  return key.length >= 16 ? { params, salt: Buffer.from(m[4], 'base64url'), key } : null;
}

/** Whether `password` is the one `stored` was made from; false for anything not a hash of ours. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const p = parse(stored);
  if (!p) return false;
  const key = await derive(password, p.salt, p.params, p.key.length);
  return timingSafeEqual(key, p.key);
}

/** A hash made with cheaper parameters than `params` (raised since): made again at the next sign-in. */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT): boolean {
  const p = parse(stored);
  if (!p) return true;
  const memory = (q: ScryptParams) => 2 ** q.ln * q.r;
  return memory(p.params) < memory(params) || memory(p.params) * p.params.p < memory(params) * params.p;
}

/**
 * What is wrong with a new password, or null. Length only: a long passphrase is what matters, and rules of
 * character classes make people write them down.
 */
export function passwordProblem(password: string): string | null {
  if ([...password].length < MIN_PASSWORD_CHARS) return `a password needs at least ${MIN_PASSWORD_CHARS} characters`;
  if (password.length > MAX_PASSWORD_CHARS) return `a password may have at most ${MAX_PASSWORD_CHARS} characters`;
  return null;
}

/** A random password to be shown once: 120 bits, in letters and digits a person can type. */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  // 57 letters: rejection keeps every one equally likely.
  const out: string[] = [];
  while (out.length < 21) {
    for (const b of randomBytes(32)) {
      if (b < 228 && out.length < 21) out.push(alphabet[b % 57]);
    }
  }
  return out.join('');
}
