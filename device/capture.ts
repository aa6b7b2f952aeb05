import { InputError } from '../lib/errors.js';

/**
 * The seam between hardware and analysis: a source hands out time-aligned PCM for the two sides of a line.
 * It knows nothing about calls; call boundaries come from a CallStateSource.
 */
export interface StereoChunk {
  /** Seconds from the start of the source to the first sample of this chunk. */
  t0: number;
  agent: Float32Array;
  customer: Float32Array;
  /** Live sources only: wall-clock ms when the chunk's last sample was captured. */
  capturedAt?: number;
}

export interface CaptureSource {
  readonly sampleRate: number;
  /** Total length when known (files); undefined for live lines. */
  readonly durationSec?: number;
  chunks(): AsyncIterable<StereoChunk>;
}

export type ChannelSide = 'left' | 'right';

/**
 * A live source that cannot deliver: the device is unplugged or missing, the pipe is gone. The line it feeds
 * faults and retries with backoff; other lines carry on.
 */
export class CaptureError extends InputError {
  constructor(readonly source: string, readonly reason: string) {
    super(`${source}: ${reason}`);
    this.name = 'CaptureError';
  }
}

/**
 * A line's audio as it happens. Chunks are 16 kHz, both sides time-aligned; `capturedAt` on each chunk is
 * the wall-clock time (ms) its last sample was captured, from which the line measures how far it lags.
 * The iterator ends after close(); it throws CaptureError when the hardware goes away.
 */
export interface LiveCaptureSource extends CaptureSource {
  /** What an installer would recognise: device name, pipe path, file. */
  readonly description: string;
  close(): Promise<void>;
}
