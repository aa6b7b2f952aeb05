import type { StereoChunk } from './capture.js';
import { StreamResampler } from './resample.js';

/**
 * The rate every live source delivers. It must equal PIPELINE_RATE (edge/analysis/pipeline.ts), which
 * analyzeSource checks; it is repeated here because importing the pipeline would load onnxruntime into
 * `earshot devices` and every other device-only path.
 */
export const CAPTURE_RATE = 16000;

/** Mean power of float samples in [-1, 1] (1 = full scale): level checks and dBFS both start here. */
export function meanPower(samples: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return samples.length ? sum / samples.length : 0;
}

/** The parts end to end; a single non-empty part is returned as it is, not copied. */
export function concatSamples(parts: readonly Float32Array[]): Float32Array {
  const filled = parts.filter((p) => p.length > 0);
  if (filled.length === 1) return filled[0]!;
  const out = new Float32Array(filled.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of filled) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const BYTES_PER_SAMPLE = 2;
const EMPTY_BYTES = Buffer.alloc(0);
const EMPTY_SAMPLES = new Float32Array(0);

export type Side = 'agent' | 'customer';

export interface SidePair {
  agent: Float32Array;
  customer: Float32Array;
}

/** Raw interleaved signed 16-bit little-endian PCM, as sound cards and call recorders hand it over. */
export interface PcmLayout {
  sampleRate: number;
  channels: number;
}

export interface ChannelMap {
  agentChannel: number;
  customerChannel: number;
}

function checkLayout(layout: PcmLayout, picks: readonly number[]): void {
  if (!Number.isInteger(layout.sampleRate) || layout.sampleRate <= 0) throw new RangeError(`sample rate must be a positive integer (got ${layout.sampleRate})`);
  if (!Number.isInteger(layout.channels) || layout.channels < 1) throw new RangeError(`channel count must be a positive integer (got ${layout.channels})`);
  for (const ch of picks) {
    if (!Number.isInteger(ch) || ch < 0 || ch >= layout.channels) {
      throw new RangeError(`channel ${ch} does not exist in ${layout.channels}-channel PCM (channels count from 0)`);
    }
  }
}

/**
 * Takes chosen channels out of an interleaved s16le byte stream and resamples each to CAPTURE_RATE.
 * Byte streams split wherever the OS likes (a pipe read can end mid-sample), so an incomplete frame is
 * held until the rest arrives; deinterleaving it half-done would swap or shift channels from then on.
 */
export class PcmChannelReader {
  readonly frameBytes: number;
  private carry: Buffer = EMPTY_BYTES;
  private readonly resamplers: StreamResampler[];
  private frames = 0;

  constructor(readonly layout: PcmLayout, readonly picks: readonly number[], readonly outRate: number = CAPTURE_RATE) {
    checkLayout(layout, picks);
    this.frameBytes = layout.channels * BYTES_PER_SAMPLE;
    this.resamplers = picks.map(() => new StreamResampler(layout.sampleRate, outRate));
  }

  /** Whole frames taken in so far, at the input rate. */
  get framesIn(): number {
    return this.frames;
  }

  /** Bytes of an incomplete frame waiting for the next push. */
  get pendingBytes(): number {
    return this.carry.length;
  }

  /** One array per picked channel, all the same length (each resampler sees identical input lengths). */
  push(bytes: Buffer): Float32Array[] {
    const data = this.carry.length ? Buffer.concat([this.carry, bytes]) : bytes;
    const frames = Math.floor(data.length / this.frameBytes);
    const used = frames * this.frameBytes;
    // Copied, not sliced: a slice would pin the whole (possibly large) read buffer until the next push.
    this.carry = used < data.length ? Buffer.from(data.subarray(used)) : EMPTY_BYTES;
    if (frames === 0) return this.picks.map(() => EMPTY_SAMPLES);
    this.frames += frames;
    return this.picks.map((ch, i) => {
      const out = new Float32Array(frames);
      for (let f = 0, off = ch * BYTES_PER_SAMPLE; f < frames; f++, off += this.frameBytes) out[f] = data.readInt16LE(off) / 32768;
      return this.resamplers[i].push(out);
    });
  }

  /**
   * Drops an incomplete frame, e.g. when the writer of a pipe went away mid-frame: the next writer starts
   * on a frame boundary, so keeping the fragment would misalign every frame after it. Returns bytes dropped.
   */
  discardPartial(): number {
    const n = this.carry.length;
    this.carry = EMPTY_BYTES;
    return n;
  }

  /** The stream is over: what the resamplers still hold. An incomplete frame is dropped. */
  end(): Float32Array[] {
    this.carry = EMPTY_BYTES;
    return this.resamplers.map((r) => r.end());
  }
}

/** Interleaved PCM carrying both sides of a line, the agent and the customer each on a channel of their own. */
export class InterleavedPcmFramer {
  private readonly reader: PcmChannelReader;

  constructor(readonly options: PcmLayout & ChannelMap, outRate: number = CAPTURE_RATE) {
    if (options.agentChannel === options.customerChannel) {
      throw new RangeError(`agent and customer are both on channel ${options.agentChannel}; a mono input carries one side, so pair two of them`);
    }
    this.reader = new PcmChannelReader(options, [options.agentChannel, options.customerChannel], outRate);
  }

  get framesIn(): number {
    return this.reader.framesIn;
  }

  get pendingBytes(): number {
    return this.reader.pendingBytes;
  }

  push(bytes: Buffer): SidePair {
    const [agent, customer] = this.reader.push(bytes);
    return { agent, customer };
  }

  discardPartial(): number {
    return this.reader.discardPartial();
  }

  end(): SidePair {
    const [agent, customer] = this.reader.end();
    return { agent, customer };
  }
}

/** Samples waiting to be taken, as the arrays they came in: nothing is copied until it is taken. */
export class SampleQueue {
  private parts: Float32Array[] = [];
  private head = 0;
  length = 0;

  push(samples: Float32Array): void {
    if (samples.length === 0) return;
    this.parts.push(samples);
    this.length += samples.length;
  }

  /** Up to n samples, the oldest first. */
  take(n: number): Float32Array {
    const count = Math.min(n, this.length);
    const out = new Float32Array(count);
    let filled = 0;
    while (filled < count) {
      const part = this.parts[0];
      const k = Math.min(count - filled, part.length - this.head);
      out.set(part.subarray(this.head, this.head + k), filled);
      filled += k;
      this.head += k;
      if (this.head === part.length) {
        this.parts.shift();
        this.head = 0;
      }
    }
    this.length -= count;
    return out;
  }

  drop(n: number): number {
    const count = Math.min(n, this.length);
    let left = count;
    while (left > 0) {
      const part = this.parts[0];
      const k = Math.min(left, part.length - this.head);
      this.head += k;
      left -= k;
      if (this.head === part.length) {
        this.parts.shift();
        this.head = 0;
      }
    }
    this.length -= count;
    return count;
  }
}

/**
 * Two mono streams of one line (a headset on one input, the trunk on another) paired sample by sample:
 * only what both sides have is handed on, so the two sides of every chunk cover the same moments.
 */
export class SidePairAligner {
  private readonly sides: Record<Side, SampleQueue> = { agent: new SampleQueue(), customer: new SampleQueue() };

  push(side: Side, samples: Float32Array): void {
    this.sides[side].push(samples);
  }

  /** Samples held for one side that the other has not matched yet. */
  backlog(side: Side): number {
    return this.sides[side].length;
  }

  /** Everything both sides have; null when one of them has nothing. */
  take(): SidePair | null {
    const n = Math.min(this.sides.agent.length, this.sides.customer.length);
    if (n === 0) return null;
    return { agent: this.sides.agent.take(n), customer: this.sides.customer.take(n) };
  }

  /** Drops the oldest unmatched samples of one side (to realign after drift or loss); returns how many. */
  dropOldest(side: Side, n: number): number {
    return this.sides[side].drop(n);
  }
}

export interface LiveChunkQueueOptions {
  /** Deliver no faster than real time, counting from the first chunk (for devices that are not paced). */
  paced?: boolean;
  /** Called when the backlog falls to half of `highWaterSec` after having been above it. */
  onDrain?: () => void;
  /** Backlog at which `overHighWater` turns true. */
  highWaterSec?: number;
}

/**
 * Hands a live source's audio to its reader as StereoChunks: stamps t0 (audio since the source opened,
 * including any that had to be dropped, so a gap shows) and capturedAt, holds what the reader has not taken
 * yet, and carries the end or a failure to the reader after the audio before it.
 */
export class LiveChunkQueue {
  private readonly chunks: StereoChunk[] = [];
  private backlogSamples = 0;
  private position = 0;
  private dropped = 0;
  private done = false;
  private aborted = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private wasHigh = false;
  private pacedStart: number | null = null;
  private pacedSleep: { timer: NodeJS.Timeout; resolve: () => void } | null = null;
  private iterating = false;

  constructor(readonly sampleRate: number = CAPTURE_RATE, private readonly options: LiveChunkQueueOptions = {}) {}

  /** Samples per side queued and not yet taken by the reader. */
  get backlog(): number {
    return this.backlogSamples;
  }

  get backlogSec(): number {
    return this.backlogSamples / this.sampleRate;
  }

  /** Samples per side dropped (counted by `drop`). */
  get droppedSamples(): number {
    return this.dropped;
  }

  get overHighWater(): boolean {
    const high = this.options.highWaterSec;
    return high !== undefined && this.backlogSec >= high;
  }

  push(pair: SidePair, capturedAt: number = Date.now()): void {
    if (this.done) return;
    const n = pair.agent.length;
    if (pair.customer.length !== n) throw new Error(`unaligned pair: agent ${n} samples, customer ${pair.customer.length}`);
    if (n === 0) return;
    this.chunks.push({ t0: this.position / this.sampleRate, agent: pair.agent, customer: pair.customer, capturedAt });
    this.position += n;
    this.backlogSamples += n;
    if (this.overHighWater) this.wasHigh = true;
    this.notify();
  }

  /** Accounts for audio that could not be kept: later chunks' t0 moves on by as much. */
  drop(samples: number): void {
    this.dropped += samples;
    this.position += samples;
  }

  /** No more audio: the reader gets what is queued, then the iterator ends. */
  end(): void {
    this.done = true;
    this.notify();
  }

  /** The source failed: the reader gets what is queued, then this error. The first failure wins. */
  fail(err: Error): void {
    if (this.done) return;
    this.failure = err;
    this.done = true;
    this.notify();
  }

  /** Stops at once, discarding anything queued (close() should not wait for a paced backlog to play out). */
  abort(): void {
    this.done = true;
    this.aborted = true;
    this.chunks.length = 0;
    this.backlogSamples = 0;
    if (this.pacedSleep) {
      clearTimeout(this.pacedSleep.timer);
      this.pacedSleep.resolve();
      this.pacedSleep = null;
    }
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async paceUntil(due: number): Promise<void> {
    const wait = due - Date.now();
    if (wait <= 0) return;
    await new Promise<void>((resolve) => {
      this.pacedSleep = { timer: setTimeout(resolve, wait), resolve };
    });
    this.pacedSleep = null;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<StereoChunk> {
    if (this.iterating) throw new Error('this source is already being read');
    this.iterating = true;
    try {
      for (;;) {
        const chunk = this.chunks.shift();
        if (!chunk) {
          if (this.done) {
            if (this.failure) throw this.failure;
            return;
          }
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        if (this.options.paced) {
          this.pacedStart ??= Date.now() - chunk.t0 * 1000;
          // A live device has a chunk's last sample only once the chunk's duration has passed.
          const due = this.pacedStart + ((chunk.t0 * this.sampleRate + chunk.agent.length) / this.sampleRate) * 1000;
          await this.paceUntil(due);
          if (this.aborted) return;
          chunk.capturedAt = Math.max(chunk.capturedAt ?? 0, due);
        }
        this.backlogSamples -= chunk.agent.length;
        if (this.wasHigh && this.options.highWaterSec !== undefined && this.backlogSec <= this.options.highWaterSec / 2) {
          this.wasHigh = false;
          this.options.onDrain?.();
        }
        yield chunk;
      }
    } finally {
      this.iterating = false;
    }
  }
}
