import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import { CaptureError, type LiveCaptureSource, type StereoChunk } from './capture.js';
import { AudioInputError, readWav } from './wav.js';
import { fromPcm16, toPcm16 } from '../lib/pcm16.js';

export interface ReplayLineOptions {
  files: string[];
  agentChannel: 'left' | 'right';
  sampleRate: number;
  /** Start again after the last file. */
  loop: boolean;
  /** Quiet (delivered as silence, in real time) before each file after the first. */
  gapSec: number;
  /**
   * Join the first file this far in (beyond its end: its last 2 s). Soak tests put the same few calls on dozens
   * of lines; joined at different points, the lines share one decoded copy and are still not in step.
   */
  startAtSec?: number;
  /** Quiet before the first file: staggers demo lines so their calls do not all start at once. */
  startDelaySec?: number;
  /** Samples per chunk; live devices deliver 20-100 ms at a time. */
  chunkSamples?: number;
  /** Wall-clock speed, as a line delivers (default). Off: as fast as the reader takes it, for tests and load. */
  paced?: boolean;
  /** Paced this many times faster than real time (default 1): an hour of calls through a live box in minutes. */
  speed?: number;
}

export interface ReplayBoundary {
  kind: 'start' | 'end';
  file: string;
  /** Wall-clock ms of the boundary on the replay's own clock (not when the event happened to be emitted). */
  at: number;
}

/**
 * A line whose audio is recorded calls replayed at wall-clock speed, for demos and soak tests. It is a live
 * source like a headset (quiet between calls included), and it also says where each file begins and ends,
 * which is the call state when nothing else provides one. Boundaries are emitted in order with the chunks:
 * `start` just before a file's first chunk, `end` just after its last.
 */
export class ReplayLineSource extends EventEmitter<{ boundary: [ReplayBoundary] }> implements LiveCaptureSource {
  readonly description: string;
  private closed = false;
  private readonly abort = new AbortController();

  constructor(private readonly options: ReplayLineOptions) {
    super();
    this.description = `replay of ${options.files.length === 1 ? options.files[0] : `${options.files.length} files`}${options.loop ? ' (looped)' : ''}`;
  }

  get sampleRate(): number {
    return this.options.sampleRate;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
  }

  async *chunks(): AsyncIterable<StereoChunk> {
    const { sampleRate } = this.options;
    const chunkSamples = this.options.chunkSamples ?? sampleRate / 10;
    const started = Date.now();
    const msPerSample = 1000 / sampleRate / (this.options.speed ?? 1);
    let pos = 0;
    const paced = async function* (this: ReplayLineSource, agent: Samples, customer: Samples): AsyncGenerator<StereoChunk> {
      for (let i = 0; i < agent.length && !this.closed; i += chunkSamples) {
        const end = Math.min(agent.length, i + chunkSamples);
        const chunk = { t0: pos / sampleRate, agent: asFloat(agent.subarray(i, end)), customer: asFloat(customer.subarray(i, end)) };
        pos += end - i;
        const wait = started + pos * msPerSample - Date.now();
        if (this.options.paced === false) await setImmediate(); // lets the reader's consumers run between chunks
        else if (wait > 0) await sleep(wait, undefined, { signal: this.abort.signal }).catch(() => undefined);
        if (this.closed) return;
        yield { ...chunk, capturedAt: Date.now() };
      }
    }.bind(this);
    const quiet = (sec: number) => {
      const silence = new Float32Array(Math.round(sec * sampleRate));
      return paced(silence, silence);
    };
    if (this.options.startDelaySec) yield* quiet(this.options.startDelaySec);
    let first = true;
    let joining = Boolean(this.options.startAtSec);
    do {
      for (const file of this.options.files) {
        if (this.closed) return;
        if (!first && this.options.gapSec > 0) yield* quiet(this.options.gapSec);
        first = false;
        let whole: HeldRecording;
        try {
          whole = await decodedRecording(file, this.options.agentChannel, sampleRate);
        } catch (err) {
          // A bad file in a replay list is the installer's to fix; the line faults naming it.
          throw new CaptureError(file, err instanceof AudioInputError ? err.reason : (err as Error).message);
        }
        this.emit('boundary', { kind: 'start', file, at: started + pos * msPerSample });
        const joinAt = joining ? Math.max(0, Math.min(Math.round((this.options.startAtSec ?? 0) * sampleRate), whole.agent.length - 2 * sampleRate)) : 0;
        joining = false;
        yield* paced(whole.agent.subarray(joinAt), whole.customer.subarray(joinAt));
        if (this.closed) return;
        this.emit('boundary', { kind: 'end', file, at: started + pos * msPerSample });
      }
    } while (this.options.loop && !this.closed);
  }
}

type Samples = Float32Array | Int16Array;
/** A decoded recording as held between plays: 16-bit, half the memory of the float samples lines are fed. */
interface HeldRecording { agent: Int16Array; customer: Int16Array }

function asFloat(x: Samples): Float32Array {
  return x instanceof Float32Array ? x : fromPcm16(x);
}
// The files are 16-bit or 8-bit G.711 to begin with: keeping 16 bits loses nothing they had.
const asInt16 = toPcm16;

/**
 * Decoded recordings, shared by every line of the process that replays them: a soak test puts the same few
 * calls on dozens of lines, and 3 MB of decoded audio per line per file is what would otherwise fill memory.
 * Read-only: lines take subarrays. A file that changes on disk is decoded again.
 */
const decoded = new Map<string, { mtimeMs: number; audio: Promise<HeldRecording> }>();

async function decodedRecording(file: string, agentChannel: 'left' | 'right', sampleRate: number): Promise<HeldRecording> {
  const key = `${file}\0${agentChannel}\0${sampleRate}`;
  const mtimeMs = (await stat(file).catch(() => undefined))?.mtimeMs ?? -1;
  const cached = decoded.get(key);
  if (cached && cached.mtimeMs === mtimeMs) return cached.audio;
  const audio = (async () => {
    // The whole recording, re-chunked and paced by the reader.
    const wav = await readWav(file, sampleRate);
    if (wav.channels.length !== 2) throw new AudioInputError(file, 'mono recording where a stereo call (agent + customer) is needed');
    const [left, right] = wav.channels;
    return agentChannel === 'left' ? { agent: asInt16(left), customer: asInt16(right) } : { agent: asInt16(right), customer: asInt16(left) };
  })();
  decoded.set(key, { mtimeMs, audio });
  audio.catch(() => decoded.delete(key));
  return audio;
}
