import { createHash } from 'node:crypto';

/**
 * Deterministic randomness, for whatever must come out the same every time: rendered test calls and the
 * evaluation set (identical bytes, so caches hold), the noise the narrowband fill adds (a call analysed twice is
 * analysed the same), fuzz and chunking tests (a failure reproduces from its seed). Not for secrets.
 */
export type Rng = () => number;

/** mulberry32: uniform in [0, 1), a full 2^32 period from any 32-bit seed. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A generator seeded from text (a call's name, a voice and its line): the same text, the same sequence. */
export function seededRandom(seedText: string): Rng {
  return mulberry32(createHash('sha256').update(seedText).digest().readUInt32LE(0));
}
