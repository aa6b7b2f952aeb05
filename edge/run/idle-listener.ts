import type { StereoChunk } from '../../device/capture.js';
import { concatSamples } from '../../device/pcm.js';
import { VAD_FRAME, type SileroVadModel, type VadStream } from '../../models/vad.js';
import { PIPELINE_RATE } from '../analysis/pipeline.js';

/** Audio kept from before a call starts: PBX records and hook switches arrive a little after the first word. */
const PRE_ROLL_SEC = 1;
/** Auto segmentation: this much continuous speech (either side) after a quiet starts a call. */
const AUTO_START_SPEECH_SEC = 0.25;

const chunkSec = (c: StereoChunk) => c.agent.length / PIPELINE_RATE;

/**
 * A line between calls: keeps the last second of audio for the next call's start and, with automatic
 * segmentation, listens for the speech that starts one.
 */
export class IdleListener {
  private preRoll: StereoChunk[] = [];
  private preRollSec = 0;
  private vad: VadStream[];
  private pending: Float32Array[] = [new Float32Array(0), new Float32Array(0)];
  private speechRun = 0;

  constructor(
    private readonly vadModel: SileroVadModel,
    private readonly threshold: number,
  ) {
    this.vad = [vadModel.createStream(), vadModel.createStream()];
  }

  /** Seconds of audio held for the next call. */
  get heldSec(): number {
    return this.preRollSec;
  }

  /** Keeps the chunk; with `listen`, true when it (with what came before) is speech enough to start a call. */
  async hear(chunk: StereoChunk, listen: boolean): Promise<boolean> {
    this.preRoll.push(chunk);
    this.preRollSec += chunkSec(chunk);
    while (this.preRoll.length > 1 && this.preRollSec - chunkSec(this.preRoll[0]) >= PRE_ROLL_SEC) {
      this.preRollSec -= chunkSec(this.preRoll.shift() as StereoChunk);
    }
    return listen && (await this.speechHeard(chunk));
  }

  /** The audio held, handed to the call that starts now. */
  take(): StereoChunk[] {
    const held = this.preRoll;
    this.forget();
    return held;
  }

  forget(): void {
    this.preRoll = [];
    this.preRollSec = 0;
  }

  private async speechHeard(chunk: StereoChunk): Promise<boolean> {
    const sides = [chunk.agent, chunk.customer];
    const frameSec = VAD_FRAME / PIPELINE_RATE;
    let heard = false;
    const pending = this.pending.map((p, i) => concatSamples([p, sides[i]!]));
    const frames = Math.floor(Math.min(pending[0].length, pending[1].length) / VAD_FRAME);
    for (let f = 0; f < frames; f++) {
      const probs = await Promise.all(this.vad.map((v, i) => v.probability(pending[i].slice(f * VAD_FRAME, (f + 1) * VAD_FRAME))));
      this.speechRun = probs.some((p) => p >= this.threshold) ? this.speechRun + frameSec : 0;
      if (this.speechRun >= AUTO_START_SPEECH_SEC) heard = true;
    }
    this.pending = pending.map((p) => p.slice(frames * VAD_FRAME));
    if (heard) {
      this.speechRun = 0;
      this.pending = [new Float32Array(0), new Float32Array(0)];
      this.vad = [this.vadModel.createStream(), this.vadModel.createStream()];
    }
    return heard;
  }
}
