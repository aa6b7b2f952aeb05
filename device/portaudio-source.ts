import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { CaptureError, type LiveCaptureSource, type StereoChunk } from './capture.js';
import { CAPTURE_RATE, LiveChunkQueue, PcmChannelReader, SidePairAligner, type ChannelMap, type Side, type SidePair } from './pcm.js';
import { log } from '../lib/log.js';
import { serialQueue } from '../lib/queue.js';

/** A device as an installer names it in earshot.yml: its PortAudio index, or (part of) its name. */
export type AudioDeviceRef = string | number;

/** One entry of naudiodon's getDevices(). */
export interface PortAudioDeviceInfo {
  id: number;
  name: string;
  maxInputChannels: number;
  maxOutputChannels: number;
  defaultSampleRate: number;
  hostAPIName: string;
}

interface NaudiodonInOptions {
  channelCount: number;
  sampleFormat: number;
  sampleRate: number;
  deviceId: number;
  closeOnError: boolean;
  framesPerBuffer: number;
  maxQueue: number;
  highwaterMark: number;
}

interface NaudiodonInput extends EventEmitter {
  start(): void;
  quit(callback?: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** The part of naudiodon this module uses. */
export interface NaudiodonModule {
  getDevices(): PortAudioDeviceInfo[];
  AudioIO(options: { inOptions: NaudiodonInOptions }): NaudiodonInput;
  SampleFormat16Bit: number;
}

let naudiodon: NaudiodonModule | null = null;

/**
 * Loads naudiodon on first use. Loading it is cheap, but every getDevices() and AudioIO initialises PortAudio,
 * which probes ALSA; keeping the require here means paths that never capture (`earshot analyze`) never touch
 * ALSA. naudiodon also installs a segfault handler that writes crash.log into the working directory.
 */
export function loadNaudiodon(): NaudiodonModule {
  if (!naudiodon) {
    try {
      naudiodon = createRequire(import.meta.url)('naudiodon') as NaudiodonModule;
    } catch (err) {
      throw new CaptureError('PortAudio', `naudiodon (PortAudio) could not be loaded: ${(err as Error).message}`);
    }
  }
  return naudiodon;
}

const portAudioTurn = serialQueue();

/**
 * Runs one PortAudio call at a time, process-wide. naudiodon initialises and terminates PortAudio around every
 * getDevices(), AudioIO and quit, and quit runs on a threadpool thread; PortAudio's init count and open-stream
 * list are not thread-safe, and two inputs stopping at once crashed here (SIGSEGV in Pa_Terminate closing a
 * stream the other thread had just closed). Every getDevices, open and stop goes through this queue.
 */
export function withPortAudio<T>(fn: () => T | Promise<T>): Promise<T> {
  return portAudioTurn(fn);
}

export function isInputDevice(d: PortAudioDeviceInfo): boolean {
  return d.maxInputChannels > 0;
}

function describeDevice(d: PortAudioDeviceInfo): string {
  return `#${d.id} "${d.name}"`;
}

function inputsListed(devices: PortAudioDeviceInfo[]): string {
  const inputs = devices.filter(isInputDevice);
  if (inputs.length === 0) return 'there are no audio input devices on this machine (PortAudio found none; `earshot devices` lists what it sees)';
  return `input devices: ${inputs.map((d) => `${describeDevice(d)} (${d.maxInputChannels} ch)`).join(', ')}`;
}

/**
 * An input device by index, or by name: an exact name first, then a case-insensitive part of one. Names that
 * fit several devices are refused rather than guessed; the message lists the input devices there are.
 */
export function findInputDevice(devices: PortAudioDeviceInfo[], ref: AudioDeviceRef): PortAudioDeviceInfo {
  const label = typeof ref === 'number' ? `audio device #${ref}` : `audio device "${ref}"`;
  if (typeof ref === 'number') {
    const byIndex = devices.find((d) => d.id === ref);
    if (!byIndex) throw new CaptureError(label, `no device with index ${ref}; ${inputsListed(devices)}`);
    if (!isInputDevice(byIndex)) throw new CaptureError(label, `${describeDevice(byIndex)} has no input channels (an output); ${inputsListed(devices)}`);
    return byIndex;
  }
  const inputs = devices.filter(isInputDevice);
  const exact = inputs.filter((d) => d.name === ref);
  if (exact.length === 1) return exact[0];
  const needle = ref.toLowerCase();
  const partial = exact.length > 1 ? exact : inputs.filter((d) => d.name.toLowerCase().includes(needle));
  if (partial.length === 1) return partial[0];
  if (partial.length > 1) {
    throw new CaptureError(label, `the name fits several input devices: ${partial.map(describeDevice).join(', ')}; give the full name or the index`);
  }
  throw new CaptureError(label, `no input device of that name; ${inputsListed(devices)}`);
}

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

/** PortAudio buffers of 20 ms; naudiodon queues up to 2 s of them before its callback blocks. */
const BUFFER_SEC = 0.02;
const QUEUE_SEC = 2;
/** naudiodon's read() waits for this much audio before handing it over. */
const READ_SEC = 0.1;
const CHECK_MS = 250;
const DROP_WARN_MS = 10_000;

type PauseReason = 'backlog' | 'skew';

/** One opened naudiodon input and what this source knows about it. */
class DeviceInput {
  private stream: NaudiodonInput | null = null;
  private quitting: Promise<void> | null = null;
  private readonly pausedFor = new Set<PauseReason>();
  lastDataAt = 0;

  constructor(
    readonly label: string,
    readonly info: PortAudioDeviceInfo,
    readonly channels: number,
    readonly sampleRate: number,
    private readonly onData: (bytes: Buffer, at: number) => void,
    private readonly onFail: (input: DeviceInput, reason: string) => void,
  ) {}

  get paused(): boolean {
    return this.pausedFor.size > 0;
  }

  open(nd: NaudiodonModule): void {
    const frames = Math.max(1, Math.round(this.sampleRate * BUFFER_SEC));
    let stream: NaudiodonInput;
    try {
      stream = nd.AudioIO({
        inOptions: {
          channelCount: this.channels,
          sampleFormat: nd.SampleFormat16Bit,
          sampleRate: this.sampleRate,
          deviceId: this.info.id,
          // On: a PortAudio status flag (input overflow: audio lost) ends the stream with an error we see.
          // Off, naudiodon only printf()s it to stdout and the loss would go unnoticed.
          closeOnError: true,
          framesPerBuffer: frames,
          maxQueue: Math.ceil(QUEUE_SEC / BUFFER_SEC),
          highwaterMark: Math.round(this.sampleRate * READ_SEC) * this.channels * 2,
        },
      });
    } catch (err) {
      throw new CaptureError(this.label, `cannot open at ${this.sampleRate} Hz, ${this.channels} ch: ${messageOf(err)}`);
    }
    // naudiodon's own listener console.error()s every error; this source reports them itself.
    stream.removeAllListeners('error');
    stream.on('error', (err: unknown) => this.onFail(this, reasonFor(messageOf(err))));
    stream.on('end', () => {
      if (!this.quitting) this.onFail(this, 'the device stopped delivering audio (stream ended)');
    });
    stream.on('data', (bytes: Buffer) => {
      this.lastDataAt = Date.now();
      this.onData(bytes, this.lastDataAt);
    });
    this.stream = stream;
  }

  start(): void {
    try {
      this.stream?.start();
    } catch (err) {
      throw new CaptureError(this.label, `cannot start: ${messageOf(err)}`);
    }
    this.lastDataAt = Date.now();
  }

  pause(reason: PauseReason): void {
    if (this.pausedFor.size === 0) this.stream?.pause();
    this.pausedFor.add(reason);
  }

  resume(reason: PauseReason): void {
    if (!this.pausedFor.delete(reason) || this.pausedFor.size > 0) return;
    // Silence while held back is not a stall.
    this.lastDataAt = Date.now();
    this.stream?.resume();
  }

  /** Stops PortAudio's stream once (naudiodon's quit twice would close a freed stream). */
  stop(): Promise<void> {
    if (this.quitting) return this.quitting;
    const stream = this.stream;
    if (!stream) return (this.quitting = Promise.resolve());
    this.quitting = withPortAudio(
      () =>
        new Promise<void>((resolve) => {
          // quit runs on the libuv threadpool; if the pool is starved it may never run, and neither close() nor
          // the other lines waiting for their turn at PortAudio can wait for ever.
          const timer = setTimeout(() => {
            log.warn({ device: this.label }, 'PortAudio did not confirm the stream stopped within 3 s');
            resolve();
          }, 3000);
          timer.unref();
          try {
            stream.quit(() => {
              clearTimeout(timer);
              resolve();
            });
          } catch (err) {
            clearTimeout(timer);
            log.warn({ device: this.label, err: messageOf(err) }, 'stopping the PortAudio stream failed');
            resolve();
          }
        }),
    );
    return this.quitting;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function reasonFor(message: string): string {
  if (/input overflow/i.test(message)) {
    return 'input overflow: the sound card buffer overran because the capture thread was held up, so audio was lost';
  }
  return `device error: ${message.trim()}`;
}

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
