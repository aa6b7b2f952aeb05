import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface NativeLinearResampler {
  resample(samples: Float32Array): Float32Array;
  flush(samples: Float32Array): Float32Array;
}

/**
 * Sample-rate conversion with sherpa-onnx's streaming resampler (Kaldi's LinearResample: windowed-sinc
 * interpolation). Measured here on 8 kHz G.711 calls: the speech models transcribe its 16 kHz output almost
 * perfectly, while the same call upsampled by a steep sinc (sox, wavefile) came out near-empty, because
 * the models never saw a spectrum cut off that sharply at 4 kHz. One resampler for files and live lines.
 */
export class StreamResampler {
  private readonly native: NativeLinearResampler | null;

  constructor(readonly fromRate: number, readonly toRate: number) {
    if (fromRate === toRate) {
      this.native = null;
      return;
    }
    const { LinearResampler } = require('sherpa-onnx-node') as { LinearResampler: new (from: number, to: number) => NativeLinearResampler };
    this.native = new LinearResampler(fromRate, toRate);
  }

  /** Converts one chunk; the resampler keeps the filter's history between calls. */
  push(samples: Float32Array): Float32Array {
    return this.native ? this.native.resample(samples) : samples;
  }

  /** The last chunk: emits what the filter still holds. */
  end(samples: Float32Array = new Float32Array(0)): Float32Array {
    return this.native ? this.native.flush(samples) : samples;
  }
}

export function resample(samples: Float32Array, fromRate: number, toRate: number): Float32Array {
  return new StreamResampler(fromRate, toRate).end(samples);
}
