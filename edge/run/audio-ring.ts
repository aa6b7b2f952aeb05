import wavefile from 'wavefile';
import { PIPELINE_RATE } from '../analysis/pipeline.js';

/**
 * The last N minutes of a line's audio, in memory only, for a supervisor on the box to listen back to
 * (GET /lines/<name>/audio on the local health endpoint). Never published, never written to disk: when the
 * box loses power it is gone, which is the point. 16-bit stereo at 16 kHz: 3.84 MB per line-minute.
 */
export class AudioRing {
  private readonly samples: Int16Array;
  private written = 0;

  constructor(readonly minutes: number) {
    this.samples = new Int16Array(Math.round(minutes * 60 * PIPELINE_RATE) * 2);
  }

  get capacitySec(): number {
    return this.samples.length / 2 / PIPELINE_RATE;
  }

  /** Seconds held now (less than capacity until the ring has filled once). */
  get heldSec(): number {
    return Math.min(this.written, this.samples.length / 2) / PIPELINE_RATE;
  }

  write(agent: Float32Array, customer: Float32Array): void {
    const frames = this.samples.length / 2;
    for (let i = 0; i < agent.length; i++) {
      const at = ((this.written + i) % frames) * 2;
      this.samples[at] = toInt16(agent[i]);
      this.samples[at + 1] = toInt16(customer[i] ?? 0);
    }
    this.written += agent.length;
  }

  /** The most recent `sec` seconds as a stereo WAV (left agent, right customer). */
  wav(sec: number): Buffer {
    const frames = this.samples.length / 2;
    const n = Math.min(Math.round(sec * PIPELINE_RATE), this.written, frames);
    const left = new Int16Array(n);
    const right = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      const at = ((this.written - n + i) % frames) * 2;
      left[i] = this.samples[at];
      right[i] = this.samples[at + 1];
    }
    const out = new wavefile.WaveFile();
    out.fromScratch(2, PIPELINE_RATE, '16', [left, right]);
    return Buffer.from(out.toBuffer());
  }
}

function toInt16(x: number): number {
  return Math.max(-32768, Math.min(32767, Math.round(x * 32767)));
}
