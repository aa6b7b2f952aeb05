import { setTimeout as sleep } from 'node:timers/promises';
import type { CaptureSource, ChannelSide, StereoChunk } from './capture.js';
import { AudioInputError, readWav, type DecodedWav } from './wav.js';

export interface ReplayOptions {
  /** Samples per chunk, or a function choosing each chunk's size (tests use random sizes). */
  chunkSamples?: number | (() => number);
  /** Replay at wall-clock speed, as a live line would deliver audio; default is as fast as the CPU allows. */
  paced?: boolean;
}

export type CallAudioInput =
  | { stereo: string; agentChannel?: ChannelSide }
  | { agent: string; customer: string };

/** Replays a recorded call (one stereo WAV or two mono WAVs) as if it were a live line. */
export class WavReplaySource implements CaptureSource {
  readonly sampleRate: number;
  readonly durationSec: number;

  private constructor(
    private readonly agent: Float32Array,
    private readonly customer: Float32Array,
    sampleRate: number,
    private readonly options: ReplayOptions,
    readonly inputs: DecodedWav[],
  ) {
    this.sampleRate = sampleRate;
    this.durationSec = Math.max(agent.length, customer.length) / sampleRate;
  }

  static async open(input: CallAudioInput, sampleRate: number, options: ReplayOptions = {}): Promise<WavReplaySource> {
    if ('stereo' in input) {
      const wav = await readWav(input.stereo, sampleRate);
      if (wav.channels.length !== 2) {
        throw new AudioInputError(
          input.stereo,
          'mono recording where a stereo call (agent + customer) is needed; pass --agent and --customer for two mono files',
        );
      }
      const [left, right] = wav.channels;
      const agentLeft = (input.agentChannel ?? 'left') === 'left';
      return new WavReplaySource(agentLeft ? left : right, agentLeft ? right : left, sampleRate, options, [wav]);
    }
    const [agentWav, customerWav] = await Promise.all([readWav(input.agent, sampleRate), readWav(input.customer, sampleRate)]);
    for (const wav of [agentWav, customerWav]) {
      if (wav.channels.length !== 1) throw new AudioInputError(wav.file, 'stereo file where one mono side of the call is needed');
    }
    return new WavReplaySource(agentWav.channels[0], customerWav.channels[0], sampleRate, options, [agentWav, customerWav]);
  }

  async *chunks(): AsyncIterable<StereoChunk> {
    const total = Math.max(this.agent.length, this.customer.length);
    const nextSize = typeof this.options.chunkSamples === 'function' ? this.options.chunkSamples : () => (this.options.chunkSamples as number | undefined) ?? this.sampleRate / 10;
    const started = Date.now();
    for (let pos = 0; pos < total; ) {
      const size = Math.max(1, Math.floor(nextSize()));
      const end = Math.min(total, pos + size);
      yield { t0: pos / this.sampleRate, agent: sliceZeroPadded(this.agent, pos, end), customer: sliceZeroPadded(this.customer, pos, end) };
      pos = end;
      if (this.options.paced) {
        const due = started + (pos / this.sampleRate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }
  }
}

/** Two mono files of a call rarely have exactly equal lengths; the shorter side is silent at its end. */
function sliceZeroPadded(samples: Float32Array, start: number, end: number): Float32Array {
  if (end <= samples.length) return samples.subarray(start, end);
  const out = new Float32Array(end - start);
  if (start < samples.length) out.set(samples.subarray(start));
  return out;
}
