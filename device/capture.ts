/**
 * The seam between hardware and analysis: a source hands out time-aligned PCM for the two sides of a line.
 * It knows nothing about calls; call boundaries come from a CallStateSource.
 */
export interface StereoChunk {
  /** Seconds from the start of the source to the first sample of this chunk. */
  t0: number;
  agent: Float32Array;
  customer: Float32Array;
}

export interface CaptureSource {
  readonly sampleRate: number;
  /** Total length when known (files); undefined for live lines. */
  readonly durationSec?: number;
  chunks(): AsyncIterable<StereoChunk>;
}

export type ChannelSide = 'left' | 'right';
