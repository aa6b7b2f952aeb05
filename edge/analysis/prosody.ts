import { PitchDetector } from 'pitchy';
import { meanPower } from '../../device/pcm.js';

export interface FrameProsody {
  /** RMS level, dBFS. */
  db: number;
  /** Fundamental frequency, or null for unvoiced or too-quiet frames. */
  f0: number | null;
  /** Mean power, kept so levels can be averaged in the power domain rather than in dB. */
  power: number;
  /**
   * How far the smoothed loudness envelope moved in this frame, dB summed over its 8 ms steps: the faster
   * someone speaks, the faster their level swings from syllable to syllable. Tempo from the signal alone, so
   * it needs no recogniser; a level in dB, so a louder voice does not read as a faster one.
   */
  swingDb: number;
}

/** Human F0 on a phone line; octave errors beyond this band are discarded. */
const F0_MIN = 60;
const F0_MAX = 500;
/** Below this a frame is line noise, and YIN would happily find a pitch in it. */
const VOICING_FLOOR_DB = -50;

/** McLeod's clarity below this means the frame is not periodic enough to trust its pitch. */
const MIN_CLARITY = 0.7;

/**
 * The envelope is read in 8 ms blocks (4 per 32 ms frame) and smoothed over 4 of them: syllables, not pitch
 * periods. Measured on rendered callers (bench/agitation.ts): the swing rate over a whole turn follows tempo
 * (+0.0 at the calm pace, +0.1 to +0.2 at 15 % faster, +0.2 to +0.4 at 30 % faster) where counting envelope
 * peaks as syllable nuclei did not (+0.1 at 30 % faster: at speed, neighbouring peaks merge).
 */
const ENVELOPE_BLOCKS = 4;
const SMOOTH_BLOCKS = 4;

/**
 * Pitch is McLeod's method (MPM), which on telephone-band synthetic and real voices finds a pitch in two to
 * three times as many voiced frames as YIN; emotion is judged on those frames. pitchy computes it in double
 * precision through an FFT: pitchfinder's MPM, used first, drops every pitch under 80 Hz (a floor it
 * hard-codes, where a low male voice speaks) and, summing squares in single precision, finds spurious
 * "periods" at the far end of the frame that outvote the real one (a steady 65 Hz vowel went unvoiced in
 * half its frames, 240 Hz in a fifth); on the tuning split the low espeak-ng Mandarin voice had a pitch in 2 of
 * the 198 frames he spoke before his outburst. pitchy is also about seven times faster per frame.
 */
export class ProsodyAnalyzer {
  private readonly detector: PitchDetector<Float64Array>;
  private readonly samples: Float64Array;
  private readonly envelope = new EnvelopeSwing();

  constructor(private readonly sampleRate: number, frameSamples: number) {
    this.detector = PitchDetector.forFloat64Array(frameSamples);
    this.samples = new Float64Array(frameSamples);
  }

  analyze(frame: Float32Array, mayBeSpeech: boolean): FrameProsody {
    const power = meanPower(frame);
    const db = 10 * Math.log10(power + 1e-12);
    let f0: number | null = null;
    if (mayBeSpeech && db > VOICING_FLOOR_DB) {
      this.samples.set(frame);
      const [freq, clarity] = this.detector.findPitch(this.samples, this.sampleRate);
      if (clarity >= MIN_CLARITY && freq >= F0_MIN && freq <= F0_MAX) f0 = freq;
    }
    let swingDb = 0;
    const block = frame.length / ENVELOPE_BLOCKS;
    for (let b = 0; b < ENVELOPE_BLOCKS; b++) swingDb += this.envelope.push(powerToDb(meanPower(frame.subarray(b * block, (b + 1) * block))), mayBeSpeech);
    return { db, f0, power, swingDb };
  }
}

/** The smoothed loudness envelope's movement, block by block, where there may be speech above line noise. */
class EnvelopeSwing {
  private readonly recent: number[] = [];
  private last: number | null = null;

  push(blockDb: number, mayBeSpeech: boolean): number {
    this.recent.push(blockDb);
    if (this.recent.length > SMOOTH_BLOCKS) this.recent.shift();
    const env = this.recent.reduce((s, x) => s + x, 0) / this.recent.length;
    const moved = this.last !== null && mayBeSpeech && env > VOICING_FLOOR_DB ? Math.abs(env - this.last) : 0;
    this.last = env;
    return moved;
  }
}

export function powerToDb(power: number): number {
  return 10 * Math.log10(power + 1e-12);
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
