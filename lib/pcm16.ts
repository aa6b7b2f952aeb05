// Audio held for a while (recordings between plays, a side's speech while its language may still change) is
// kept as 16-bit PCM: half the memory of the float samples the analysis is fed, and no less than a telephone
// line or a 16-bit file carried in the first place.

/** Float samples in [-1, 1] to 16-bit PCM, clipped. */
export function toPcm16(x: Float32Array): Int16Array {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(x[i]! * 32768)));
  return out;
}

/** 16-bit PCM back to float samples. A plain loop: from() with a mapping function is ~10x slower at audio rate. */
export function fromPcm16(x: Int16Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! / 32768;
  return out;
}
