// One opened naudiodon input: its stream, pausing and resuming it, and stopping it exactly once.
import { log } from '../lib/log.js';
import { CaptureError } from './capture.js';
import { withPortAudio, type NaudiodonInput, type NaudiodonModule, type PortAudioDeviceInfo } from './portaudio-binding.js';

/** PortAudio buffers of 20 ms; naudiodon queues up to 2 s of them before its callback blocks. */
const BUFFER_SEC = 0.02;
const QUEUE_SEC = 2;
/** naudiodon's read() waits for this much audio before handing it over. */
const READ_SEC = 0.1;

type PauseReason = 'backlog' | 'skew';

/** One opened naudiodon input and what this source knows about it. */
export class DeviceInput {
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

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function reasonFor(message: string): string {
  if (/input overflow/i.test(message)) {
    return 'input overflow: the sound card buffer overran because the capture thread was held up, so audio was lost';
  }
  return `device error: ${message.trim()}`;
}
