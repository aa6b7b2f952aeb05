import FFT from 'fft.js';
import { meanPower } from '../../device/pcm.js';
import { mulberry32, type Rng } from '../../lib/seeded-random.js';
import { Histogram } from './histogram.js';
import { powerToDb } from './prosody.js';

/**
 * Where 16 kHz audio from an 8 kHz source (a G.711 trunk, a narrowband recorder) has nothing to speak of: above
 * the resampler's transition band (which leaks up to about 5 kHz).
 */
const UPPER_BAND_HZ: readonly [number, number] = [5000, 7800];
/**
 * The upper band's share of speech energy below which a side is narrowband. Measured: -54 to -70 dB on 8 kHz
 * calls (84 sides of the evaluation set, line noise or not, G.711 or PCM; the bundled demo calls), -4 to -39 dB
 * on 16 kHz ones (76 sides), -19 to -34 dB on the real 16 kHz Mandarin clips of ../shared/audio/zh-real.
 */
const NARROWBAND_SHARE_DB = -46;
/** Speech frames (VAD probability at least this) are what the band is judged on. */
const SPEECH_PROBABILITY = 0.5;
/** Frames the VAD is this sure hold no speech are what the line's own noise is measured on. */
const NOISE_PROBABILITY = 0.2;
/**
 * The first judgement is made on this much speech, and followed (the side filled or not) from then on; it is
 * final after JUDGED_AFTER_SEC. Before it, nothing is added: a wideband side is never touched. Half a second,
 * not less: two of the real Mandarin clips read -50 dB over their first quarter second, -41 dB and above by half.
 */
const FIRST_JUDGED_AFTER_SEC = 0.5;
const JUDGED_AFTER_SEC = 2;

/**
 * Narrowband speech as the speech models should hear it: with the line's noise carried on into the empty
 * upper band. The recognisers and spotters were trained on wideband speech; fed a side whose upper band (above
 * 4 kHz) is empty while the band below carries line noise, they drop words, the more the noisier the line. White
 * noise at `relativeDb` from the side's own noise floor (the median level where the VAD hears no speech) gives
 * them a floor across the band; on a clean line it is next to nothing. Nothing else in the pipeline (VAD,
 * pitch, loudness, any audio kept) hears it. A wideband side goes through untouched.
 */
export class NarrowbandFill {
  private readonly fft: FFT;
  private readonly spectrum: number[];
  private readonly window: Float32Array;
  private readonly band: [number, number];
  private readonly firstJudgedAfterFrames: number;
  private readonly judgedAfterFrames: number;
  private upper = 0;
  private total = 0;
  private speechFrames = 0;
  private narrowband: boolean | null = null;
  private readonly noiseDb = new Histogram(-120, 0, 0.5);
  private readonly random: Rng;

  constructor(
    sampleRate: number,
    private readonly frameSamples: number,
    /** The noise's level from the side's noise floor, dB; null: never fill. */
    private readonly relativeDb: number | null,
    /** Seeds the noise, so a call analysed twice is analysed the same. */
    seed: number,
  ) {
    this.fft = new FFT(frameSamples);
    this.spectrum = this.fft.createComplexArray() as number[];
    this.window = Float32Array.from({ length: frameSamples }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (frameSamples - 1)));
    const bin = (hz: number) => Math.round((hz * frameSamples) / sampleRate);
    this.band = [bin(UPPER_BAND_HZ[0]), bin(UPPER_BAND_HZ[1])];
    this.firstJudgedAfterFrames = Math.round((FIRST_JUDGED_AFTER_SEC * sampleRate) / frameSamples);
    this.judgedAfterFrames = Math.round((JUDGED_AFTER_SEC * sampleRate) / frameSamples);
    this.random = mulberry32(seed);
  }

  /** Whether the side is narrowband: null until it has said enough to tell. */
  get isNarrowband(): boolean | null {
    return this.narrowband ?? (this.speechFrames < this.firstJudgedAfterFrames ? null : this.shareDb() < NARROWBAND_SHARE_DB);
  }

  /** The level of the noise added, dBFS RMS: null while nothing is added. */
  get fillDbfs(): number | null {
    if (this.relativeDb === null || this.isNarrowband !== true || this.noiseDb.count === 0) return null;
    return this.noiseDb.quantile(0.5) + this.relativeDb;
  }

  /** The frame as the speech engines should hear it (a new array when filled). */
  apply(frame: Float32Array, probability: number): Float32Array {
    // Judged for good, and wideband or the fill off: nothing to add, and no line noise worth measuring.
    if (this.narrowband === false || (this.narrowband === true && this.relativeDb === null)) return frame;
    // The band is judged with the fill off too: the index says which sides were heard narrowband.
    if (this.relativeDb !== null && probability < NOISE_PROBABILITY) this.noiseDb.add(powerToDb(meanPower(frame)));
    if (this.narrowband === null && probability >= SPEECH_PROBABILITY) this.measure(frame);
    const level = this.fillDbfs;
    if (level === null) return frame;
    // Uniform noise of RMS r has amplitude r * sqrt(3).
    const amplitude = Math.sqrt(3) * 10 ** (level / 20);
    const out = new Float32Array(frame.length);
    for (let i = 0; i < frame.length; i++) out[i] = frame[i] + amplitude * (2 * this.random() - 1);
    return out;
  }

  private measure(frame: Float32Array): void {
    if (frame.length !== this.frameSamples) return;
    const input = Array.from(frame, (x, i) => x * this.window[i]);
    this.fft.realTransform(this.spectrum, input);
    for (let k = 1; k < this.frameSamples / 2; k++) {
      const power = this.spectrum[2 * k] ** 2 + this.spectrum[2 * k + 1] ** 2;
      this.total += power;
      if (k >= this.band[0] && k <= this.band[1]) this.upper += power;
    }
    this.speechFrames++;
    if (this.speechFrames >= this.judgedAfterFrames) this.narrowband = this.shareDb() < NARROWBAND_SHARE_DB;
  }

  private shareDb(): number {
    return this.total > 0 ? 10 * Math.log10(Math.max(this.upper, 1e-30) / this.total) : 0;
  }
}
