/**
 * Erasure by customer (docs/privacy.md): the box writes the caller's number into a call's index only as a
 * keyed hash, so a site can later find and erase one customer's calls at the centre by giving their number
 * and the site's key, while nobody holding the index alone can read the number back (a plain hash of a phone
 * number is reversed by trying every number).
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InputError } from './errors.js';

/** Too short a key would make the hash guessable by trying keys as well as numbers. */
const MIN_KEY_BYTES = 16;

/** The site's customer key from its file (`openssl rand -out <file> 32`; the same file on every box and the centre). */
export function readCustomerSecret(file: string): Buffer {
  let secret: Buffer;
  try {
    secret = readFileSync(file);
  } catch (err) {
    throw new InputError(`customer key ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}); create it with: openssl rand -out ${file} 32`);
  }
  if (secret.length < MIN_KEY_BYTES) throw new InputError(`customer key ${file}: ${secret.length} bytes, at least ${MIN_KEY_BYTES} needed (openssl rand -out ${file} 32)`);
  return secret;
}

/** The key of a caller's number: its digits only, so "+44 20 7946 0000" and "442079460000" are one customer; undefined without digits. */
export function customerKey(secret: Buffer, number: string): string | undefined {
  const digits = number.replace(/\D/g, '');
  if (digits === '') return undefined;
  return `hmac-sha256:${createHmac('sha256', secret).update(digits).digest('hex').slice(0, 32)}`;
}
