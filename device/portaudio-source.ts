import { log } from '../lib/log.js';
import { CaptureError, type LiveCaptureSource, type StereoChunk } from './capture.js';
import { CAPTURE_RATE, LiveChunkQueue, PcmChannelReader, SidePairAligner, type ChannelMap, type Side, type SidePair } from './pcm.js';
import { describeDevice, findInputDevice, loadNaudiodon, withPortAudio, type AudioDeviceRef, type NaudiodonModule, type PortAudioDeviceInfo } from './portaudio-binding.js';
import { DeviceInput, messageOf } from './portaudio-input.js';

// What a caller of the source needs too: the binding a test hands in, and naudiodon's loader.
export { loadNaudiodon, type AudioDeviceRef, type NaudiodonModule, type PortAudioDeviceInfo } from './portaudio-binding.js';

const CHECK_MS = 250;
const DROP_WARN_MS = 10_000;

interface CommonOptions {
  /** The rate to open the device(s) at; audio is resampled to 16 kHz. */
  sampleRate: number;
  /**
   * Deliver no faster than real time and hold the device back when the reader is behind. For devices that are
   * not clocked (ALSA's file and null plugins in tests); a real sound card must not be held back. Default false.
   */
  paced?: boolean;
  /** Audio held for a reader that is behind; beyond it new audio is dropped and counted. Default 10 s. */
  maxBacklogSec?: number;
  /** A device that delivers nothing for this long has failed (unplugged cards just go quiet). Default 3 s. */
  stallSec?: number;
  /** Two mono devices: how far one may run ahead of the other before it is realigned. Default 1 s. */
  maxSkewSec?: number;
  /** The binding to capture through; default naudiodon, loaded by open(). Tests pass a stand-in to play failures. */
  binding?: NaudiodonModule;
}

/** One stereo (or multi-channel) input carrying both sides, chosen by channel index. */
export interface PortAudioStereoOptions extends CommonOptions, ChannelMap {
  device: AudioDeviceRef;
  channels: number;
}

export interface PortAudioSide {
  device: AudioDeviceRef;
  /** The channel of that device carrying this side; default 0. */
  channel?: number;
}

/** Two mono inputs, one per side (a headset on one, the trunk on another), aligned sample by sample. */
export interface PortAudioPairOptions extends CommonOptions {
  agent: PortAudioSide;
  customer: PortAudioSide;
}

export type PortAudioSourceOptions = PortAudioStereoOptions | PortAudioPairOptions;

/**
 * A live line from sound cards through PortAudio (naudiodon): one stereo or multi-channel input with a channel
 * map, or two mono inputs aligned sample by sample. Audio is resampled to 16 kHz; each chunk's t0 counts the
 * audio since open (dropped audio included, so a gap shows) and capturedAt is when it was read.
 *
 * Nothing is lost silently. naudiodon itself never drops: when its queue is full its PortAudio callback blocks,
 * ALSA then overruns, and PortAudio flags an input overflow, which ends the stream as a CaptureError. To keep
 * that from happening this source always reads the device promptly, and if its own reader falls more than
 * maxBacklogSec behind, new audio is dropped here instead, counted in `droppedSamples` and logged.
 *
 * Each open input keeps one libuv threadpool thread blocked in naudiodon's read() while it waits for audio,
 * and stopping an input needs one more. With the default pool of 4, four inputs starve everything else that
 * uses the pool (fs, dns.lookup, crypto) and their own stop; a box with N inputs needs UV_THREADPOOL_SIZE of
 * at least N + 4, set before Node starts its pool.
 */
export class PortAudioSource implements LiveCaptureSource {
  readonly sampleRate = CAPTURE_RATE;
  private readonly queue: LiveChunkQueue;
  private inputs: DeviceInput[] = [];
  private readers: PcmChannelReader[] = [];
  /** Two mono devices: which input feeds which side (empty when one stream carries both). */
  private sideOf = new Map<DeviceInput, Side>();
  private readonly startedAt: Record<Side, number | null> = { agent: null, customer: null };
  private readonly lastArrival: Record<Side, number> = { agent: 0, customer: 0 };
  private pairStarted = false;
  private readonly aligner = new SidePairAligner();
  private opening: Promise<void> | null = null;
  private checkTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private failed = false;
  private realignDropped = 0;
  private lastDropWarn = 0;
  private desc: string;

  constructor(readonly options: PortAudioSourceOptions) {
    const rate = options.sampleRate;
    if (!Number.isInteger(rate) || rate <= 0) throw new RangeError(`sample rate must be a positive integer (got ${rate})`);
    if ('device' in options) {
      // Builds the channel map now so a bad one is refused before any device is touched.
      this.readers = [new PcmChannelReader({ sampleRate: rate, channels: options.channels }, [options.agentChannel, options.customerChannel])];
      if (options.agentChannel === options.customerChannel) throw new RangeError(`agent and customer are both on channel ${options.agentChannel}`);
      this.desc = `audio device ${refLabel(options.device)}`;
    } else {
      for (const side of [options.agent, options.customer]) {
        const ch = side.channel ?? 0;
        if (!Number.isInteger(ch) || ch < 0) throw new RangeError(`channel must be an index from 0 (got ${ch})`);
      }
      this.desc = `agent: audio device ${refLabel(options.agent.device)}; customer: audio device ${refLabel(options.customer.device)}`;
    }
    const paced = options.paced ?? false;
    this.queue = new LiveChunkQueue(CAPTURE_RATE, {
      paced,
      highWaterSec: options.maxBacklogSec ?? 10,
      onDrain: () => this.inputs.forEach((i) => i.resume('backlog')),
    });
  }

  /** What an installer would recognise; names the devices actually opened once open() has run. */
  get description(): string {
    return this.desc;
  }

  /** Samples (per side, at 16 kHz) dropped because the reader fell behind or the two inputs drifted apart. */
  get droppedSamples(): number {
    return this.queue.droppedSamples + this.realignDropped;
  }

  /** Finds and opens the device(s) and starts capturing. An unknown or unusable device is a CaptureError. */
  open(): Promise<void> {
    if (this.closed) return Promise.reject(new CaptureError(this.desc, 'source is closed'));
    this.opening ??= withPortAudio(() => this.doOpen());
    return this.opening;
  }

  async *chunks(): AsyncIterable<StereoChunk> {
    if (!this.closed) await this.open();
    yield* this.queue;
  }

  /** Stops the device(s); the chunk iterator ends (after what was already read, unless paced). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.opening) await this.opening.catch(() => undefined);
    await this.stopAll();
    if (this.options.paced) {
      this.queue.abort();
    } else {
      this.flushTails();
      this.queue.end();
    }
  }

  /** Runs in PortAudio's turn (withPortAudio), so it must not wait for anything that needs a turn itself. */
  private async doOpen(): Promise<void> {
    if (this.closed) return;
    const nd = this.options.binding ?? loadNaudiodon();
    const { options } = this;
    const rate = options.sampleRate;
    // Enumerated right before opening: PortAudio numbers devices afresh at every initialisation.
    let devices: PortAudioDeviceInfo[];
    try {
      devices = nd.getDevices();
    } catch (err) {
      throw new CaptureError(this.desc, `PortAudio could not list devices: ${messageOf(err)}`);
    }
    const onFail = (input: DeviceInput, reason: string) => this.fail(input.label, reason);
    const make = (label: string, info: PortAudioDeviceInfo, channels: number): DeviceInput => {
      if (channels > info.maxInputChannels) {
        throw new CaptureError(label, `${describeDevice(info)} has ${info.maxInputChannels} input channel(s); ${channels} are needed`);
      }
      const input: DeviceInput = new DeviceInput(label, info, channels, rate, (bytes, at) => this.onData(input, bytes, at), onFail);
      return input;
    };
    if ('device' in options) {
      const info = findInputDevice(devices, options.device);
      const label = `audio device ${describeDevice(info)}`;
      this.inputs = [make(label, info, options.channels)];
      this.desc = `${label} (${info.hostAPIName}): agent on channel ${options.agentChannel}, customer on channel ${options.customerChannel} of ${options.channels}`;
    } else {
      const agentInfo = findInputDevice(devices, options.agent.device);
      const customerInfo = findInputDevice(devices, options.customer.device);
      const agentCh = options.agent.channel ?? 0;
      const customerCh = options.customer.channel ?? 0;
      if (agentInfo.id === customerInfo.id) {
        // Both sides on one device: one stream with a channel map; opening an ALSA device twice fails (busy).
        if (agentCh === customerCh) {
          throw new CaptureError(`audio device ${describeDevice(agentInfo)}`, `agent and customer are both channel ${agentCh} of the same device`);
        }
        const channels = Math.max(agentCh, customerCh) + 1;
        const label = `audio device ${describeDevice(agentInfo)}`;
        this.inputs = [make(label, agentInfo, channels)];
        this.readers = [new PcmChannelReader({ sampleRate: rate, channels }, [agentCh, customerCh])];
        this.desc = `${label} (${agentInfo.hostAPIName}): agent on channel ${agentCh}, customer on channel ${customerCh}`;
      } else {
        const agent = make(`agent device ${describeDevice(agentInfo)}`, agentInfo, agentCh + 1);
        const customer = make(`customer device ${describeDevice(customerInfo)}`, customerInfo, customerCh + 1);
        this.inputs = [agent, customer];
        this.sideOf = new Map<DeviceInput, Side>([
          [agent, 'agent'],
          [customer, 'customer'],
        ]);
        this.readers = [
          new PcmChannelReader({ sampleRate: rate, channels: agentCh + 1 }, [agentCh]),
          new PcmChannelReader({ sampleRate: rate, channels: customerCh + 1 }, [customerCh]),
        ];
        this.desc = `agent: ${describeDevice(agentInfo)} channel ${agentCh}; customer: ${describeDevice(customerInfo)} channel ${customerCh} (${agentInfo.hostAPIName})`;
      }
    }
    try {
      for (const input of this.inputs) input.open(nd);
      // Started back to back so two mono inputs begin as close together as possible.
      for (const input of this.inputs) input.start();
    } catch (err) {
      // Not awaited: the stops queue for PortAudio behind this open, which holds it until it returns.
      void this.stopAll();
      throw err;
    }
    this.checkTimer = setInterval(() => this.checkStalls(), CHECK_MS);
    this.checkTimer.unref();
    log.info({ source: this.desc, paced: this.options.paced ?? false }, 'audio capture started');
  }

  private onData(input: DeviceInput, bytes: Buffer, at: number): void {
    if (this.closed || this.failed) return;
    const index = this.inputs.indexOf(input);
    const out = this.readers[index].push(bytes);
    const side = this.sideOf.get(input);
    if (!side) {
      this.deliver({ agent: out[0], customer: out[1] }, at);
      return;
    }
    this.aligner.push(side, out[0]);
    this.lastArrival[side] = at;
    // naudiodon hands over a read once it is full, so its first sample was captured about one read earlier.
    this.startedAt[side] ??= at - (bytes.length / (input.channels * 2) / input.sampleRate) * 1000;
    if (!this.options.paced && !this.pairStarted) this.alignStart();
    else this.balance();
    const pair = this.aligner.take();
    if (pair) this.deliver(pair, at);
  }

  /**
   * Two devices are started one after the other and take their own time to deliver; what the first captured
   * before the second began has no partner. Pairing by count alone would offset the sides by that much for
   * the whole line, so the earlier side's head is trimmed by the difference in start times. (A paced source
   * is for devices with no clock, whose timing says nothing; they start together.)
   */
  private alignStart(): void {
    const maxSkew = (this.options.maxSkewSec ?? 1) * CAPTURE_RATE;
    const { agent, customer } = this.startedAt;
    if (agent === null || customer === null) {
      // One side so far: keep no more of it than could still be paired.
      for (const side of ['agent', 'customer'] as const) {
        const excess = this.aligner.backlog(side) - maxSkew;
        const start = this.startedAt[side];
        if (excess > 0 && start !== null) this.startedAt[side] = start + (this.aligner.dropOldest(side, excess) / CAPTURE_RATE) * 1000;
      }
      return;
    }
    this.pairStarted = true;
    const early: Side = agent <= customer ? 'agent' : 'customer';
    const head = Math.min(this.aligner.backlog(early), Math.round((Math.abs(customer - agent) / 1000) * CAPTURE_RATE));
    if (head > 0) this.aligner.dropOldest(early, head);
    log.debug({ source: this.desc, early, trimmedSamples: head }, 'two mono inputs aligned at start');
  }

  private deliver(pair: SidePair, at: number): void {
    const n = pair.agent.length;
    if (n === 0) return;
    if (this.options.paced) {
      this.queue.push(pair, at);
      if (this.queue.overHighWater) this.inputs.forEach((i) => i.pause('backlog'));
      return;
    }
    if (this.queue.backlog + n > (this.options.maxBacklogSec ?? 10) * CAPTURE_RATE) {
      this.queue.drop(n);
      this.warnDropped('the reader is more than maxBacklogSec behind');
      return;
    }
    this.queue.push(pair, at);
  }

  /**
   * Two devices never run at exactly the same rate, and one can lose audio the other keeps. When one side
   * gets more than maxSkewSec ahead, a paced source waits for the other; a live one drops the oldest of the
   * lead that delivery timing does not explain (the other side's latest read may simply not be in yet),
   * since samples paired across that much time would misplace every over-talk and reply. A side that stops
   * altogether is left to the stall check: its partner's lead is then explained by the silence.
   */
  private balance(): void {
    const maxSkew = (this.options.maxSkewSec ?? 1) * CAPTURE_RATE;
    for (const [input, side] of this.sideOf) {
      const ahead = this.aligner.backlog(side);
      if (this.options.paced) {
        if (ahead > maxSkew) input.pause('skew');
        else if (ahead <= maxSkew / 2) input.resume('skew');
        continue;
      }
      if (ahead <= maxSkew) continue;
      const other: Side = side === 'agent' ? 'customer' : 'agent';
      const explained = Math.max(0, Math.round(((this.lastArrival[side] - this.lastArrival[other]) / 1000) * CAPTURE_RATE));
      const excess = ahead - Math.min(ahead, explained);
      if (excess <= 0) continue;
      this.realignDropped += this.aligner.dropOldest(side, excess);
      this.warnDropped(`the ${side} device ran ahead of the other by more than ${this.options.maxSkewSec ?? 1} s (clock drift, or audio lost on the other)`);
    }
  }

  private warnDropped(why: string): void {
    const now = Date.now();
    if (now - this.lastDropWarn < DROP_WARN_MS) return;
    this.lastDropWarn = now;
    log.warn({ source: this.desc, droppedSamples: this.droppedSamples, droppedSec: this.droppedSamples / CAPTURE_RATE }, `audio dropped: ${why}`);
  }

  /** An unplugged USB card, or one whose driver wedged, does not fail: it just goes quiet. */
  private checkStalls(): void {
    if (this.closed || this.failed) return;
    const now = Date.now();
    const stallMs = (this.options.stallSec ?? 3) * 1000;
    for (const input of this.inputs) {
      if (input.paused || now - input.lastDataAt <= stallMs) continue;
      const others = this.inputs.filter((o) => o !== input && (o.paused || now - o.lastDataAt < stallMs / 2));
      const silentFor = ((now - input.lastDataAt) / 1000).toFixed(1);
      this.fail(
        input.label,
        others.length
          ? `delivered no audio for ${silentFor} s while ${others.map((o) => o.label).join(', ')} kept delivering (unplugged, or its driver stalled)`
          : `delivered no audio for ${silentFor} s (unplugged, or its driver stalled)`,
      );
      return;
    }
  }

  private fail(label: string, reason: string): void {
    if (this.closed || this.failed) return;
    this.failed = true;
    log.warn({ source: this.desc, device: label, reason }, 'audio capture failed');
    void this.stopAll();
    this.queue.fail(new CaptureError(label, reason));
  }

  private async stopAll(): Promise<void> {
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.checkTimer = null;
    await Promise.all(this.inputs.map((i) => i.stop()));
  }

  private flushTails(): void {
    if (this.sideOf.size === 0) {
      const [agent, customer] = this.readers[0]?.end() ?? [];
      if (agent && customer) this.queue.push({ agent, customer });
      return;
    }
    this.inputs.forEach((input, i) => {
      const side = this.sideOf.get(input);
      if (side) this.aligner.push(side, this.readers[i].end()[0]);
    });
    const pair = this.aligner.take();
    if (pair) this.queue.push(pair);
  }
}

function refLabel(ref: AudioDeviceRef): string {
  return typeof ref === 'number' ? `#${ref}` : `"${ref}"`;
}
