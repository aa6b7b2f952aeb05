import { setTimeout as sleep } from 'node:timers/promises';
import type { CaptureSource, ChannelSide, StereoChunk } from './capture.js';
import { SampleQueue } from './pcm.js';
import { AudioInputError, WavReader, type WavFormat } from './wav.js';

export interface ReplayOptions {
  /** Samples per chunk, or a function choosing each chunk's size (tests use random sizes). */
  chunkSamples?: number | (() => number);
  /** Replay at wall-clock speed, as a live line would deliver audio; default is as fast as the CPU allows. */
  paced?: boolean;
}

export type CallAudioInput =
  | { stereo: string; agentChannel?: ChannelSide }
  | { agent: string; customer: string };

/** Where each side's audio comes from: a reader and the channel of it. */
interface SideSource {
  reader: WavReader;
  channel: number;
}

/**
 * Replays a recorded call (one stereo WAV or two mono WAVs) as if it were a live line. The files are read a
 * block at a time as the reader takes chunks, so a two-hour call takes no more memory than a minute's.
 */
export class WavReplaySource implements CaptureSource {
  readonly durationSec: number;
  private used = false;

  private constructor(
    private readonly agent: SideSource,
    private readonly customer: SideSource,
    readonly sampleRate: number,
    private readonly options: ReplayOptions,
    /** The files as their headers describe them (agent's first for two mono files). */
    readonly inputs: WavFormat[],
  ) {
    this.durationSec = Math.max(...inputs.map((f) => f.durationSec));
  }

  /** Checks the header(s): a file that cannot be used is refused here, before anything is analysed. */
  static async open(input: CallAudioInput, sampleRate: number, options: ReplayOptions = {}): Promise<WavReplaySource> {
    if ('stereo' in input) {
      const reader = WavReader.open(input.stereo);
      if (reader.format.channels !== 2) {
        reader.close();
        throw new AudioInputError(input.stereo, 'mono recording where a stereo call (agent + customer) is needed; pass --agent and --customer for two mono files');
      }
      const agentLeft = (input.agentChannel ?? 'left') === 'left';
      return new WavReplaySource({ reader, channel: agentLeft ? 0 : 1 }, { reader, channel: agentLeft ? 1 : 0 }, sampleRate, options, [reader.format]);
    }
    const readers: WavReader[] = [];
    try {
      for (const file of [input.agent, input.customer]) {
        const reader = WavReader.open(file);
        readers.push(reader);
        if (reader.format.channels !== 1) throw new AudioInputError(file, 'stereo file where one mono side of the call is needed');
      }
    } catch (err) {
      for (const r of readers) r.close();
      throw err;
    }
    const [agent, customer] = readers;
    return new WavReplaySource({ reader: agent, channel: 0 }, { reader: customer, channel: 0 }, sampleRate, options, [agent.format, customer.format]);
  }

  async *chunks(): AsyncIterable<StereoChunk> {
    if (this.used) throw new Error('a recorded call is replayed once');
    this.used = true;
    const nextSize = typeof this.options.chunkSamples === 'function' ? this.options.chunkSamples : () => (this.options.chunkSamples as number | undefined) ?? this.sampleRate / 10;
    const sides = new CallSides(this.agent, this.customer, this.sampleRate);
    const started = Date.now();
    let pos = 0;
    try {
      for (;;) {
        const size = Math.max(1, Math.floor(nextSize()));
        const a = sides.take('agent', size);
        const c = sides.take('customer', size);
        // Two mono files of a call rarely have exactly equal lengths; the shorter side is silent at its end.
        const n = Math.max(a.length, c.length);
        if (n === 0) return;
        yield { t0: pos / this.sampleRate, agent: padTo(a, n), customer: padTo(c, n) };
        pos += n;
        if (this.options.paced) {
          const wait = started + (pos / this.sampleRate) * 1000 - Date.now();
          if (wait > 0) await sleep(wait);
        }
      }
    } finally {
      this.agent.reader.close();
      this.customer.reader.close();
    }
  }
}

type Side = 'agent' | 'customer';

/**
 * Both sides of a call, taken in whatever sizes the caller asks for from the blocks the file(s) are read in.
 * A stereo file feeds both sides from one read; two mono files are read each as its side needs.
 */
class CallSides {
  private readonly queues: Record<Side, SampleQueue> = { agent: new SampleQueue(), customer: new SampleQueue() };
  private readonly feeds: { blocks: Iterator<Float32Array[]>; routes: [number, Side][]; done: boolean }[];

  constructor(agent: SideSource, customer: SideSource, rate: number) {
    this.feeds =
      agent.reader === customer.reader
        ? [{ blocks: agent.reader.blocks(rate), routes: [[agent.channel, 'agent'], [customer.channel, 'customer']], done: false }]
        : [
            { blocks: agent.reader.blocks(rate), routes: [[agent.channel, 'agent']], done: false },
            { blocks: customer.reader.blocks(rate), routes: [[customer.channel, 'customer']], done: false },
          ];
  }

  /** Up to n samples of the side; fewer only at the end of its file. */
  take(side: Side, n: number): Float32Array {
    const queue = this.queues[side];
    const feed = this.feeds.find((f) => f.routes.some(([, s]) => s === side))!;
    while (queue.length < n && !feed.done) {
      const next = feed.blocks.next();
      if (next.done) feed.done = true;
      else for (const [channel, to] of feed.routes) this.queues[to].push(next.value[channel]);
    }
    return queue.take(n);
  }
}

function padTo(samples: Float32Array, n: number): Float32Array {
  if (samples.length === n) return samples;
  const out = new Float32Array(n);
  out.set(samples);
  return out;
}
