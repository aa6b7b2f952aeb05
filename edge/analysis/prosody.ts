import Pitchfinder from 'pitchfinder';

export interface FrameProsody {
  /** RMS level, dBFS. */
  db: number;
  /** Fundamental frequency, or null for unvoiced or too-quiet frames. */
  f0: number | null;
  /** Mean power, kept so levels can be averaged in the power domain rather than in dB. */
  power: number;
}

/** Human F0 on a phone line; YIN's octave errors land outside this band and are discarded. */
const F0_MIN = 60;
const F0_MAX = 500;
/** Below this a frame is line noise, and YIN would happily find a pitch in it. */
const VOICING_FLOOR_DB = -50;

export class ProsodyAnalyzer {
  private readonly detect: (frame: Float32Array) => number | null;

  constructor(sampleRate: number) {
    this.detect = Pitchfinder.YIN({ sampleRate, threshold: 0.15 });
  }

  analyze(frame: Float32Array, mayBeSpeech: boolean): FrameProsody {
    let sum = 0;
    for (let i = 0; i < frame.length; i++) sum += frame[i] * frame[i];
    const power = sum / frame.length;
    const db = 10 * Math.log10(power + 1e-12);
    let f0: number | null = null;
    if (mayBeSpeech && db > VOICING_FLOOR_DB) {
      const pitch = this.detect(frame);
      if (pitch !== null && pitch >= F0_MIN && pitch <= F0_MAX) f0 = pitch;
    }
    return { db, f0, power };
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
