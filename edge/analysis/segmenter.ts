import type { AnalysisConfig } from '../../provisioning/config.js';

/**
 * One stage of the speech/non-speech smoother: runs of `value` shorter than `minFrames` are flipped.
 * Frames are held back only while a run's fate is undecided, so the delay is bounded by `minFrames`.
 */
class RunFilter {
  private held = 0;
  private seenOpposite = false;

  constructor(
    private readonly value: boolean,
    private readonly minFrames: number,
    /** A pause only counts as a gap inside speech when speech came before it. */
    private readonly onlyAfterOpposite: boolean,
    /** What an undecided run becomes when the stream ends. */
    private readonly atEnd: 'keep' | 'flip',
  ) {}

  push(flag: boolean, out: boolean[]): void {
    if (flag !== this.value) {
      // The held run ended before reaching its minimum length: it was too short.
      this.release(!this.value, out);
      this.seenOpposite = true;
      out.push(flag);
      return;
    }
    if (this.onlyAfterOpposite && !this.seenOpposite) {
      out.push(flag);
      return;
    }
    if (this.held < 0) {
      out.push(flag); // run already long enough: passes straight through
      return;
    }
    this.held++;
    if (this.held >= this.minFrames) this.release(this.value, out, true);
  }

  flush(out: boolean[]): void {
    this.release(this.atEnd === 'keep' ? this.value : !this.value, out);
  }

  private release(as: boolean, out: boolean[], runIsLong = false): void {
    for (let i = 0; i < this.held; i++) out.push(as);
    this.held = runIsLong ? -1 : 0;
  }
}

/** Widens each speech run by `pad` frames on both sides; delays the stream by `pad` frames. */
class Padder {
  private readonly window: boolean[] = [];
  constructor(private readonly pad: number) {}

  push(flag: boolean, out: boolean[]): void {
    this.window.push(flag);
    if (this.window.length > 2 * this.pad + 1) this.window.shift();
    if (this.window.length > this.pad) out.push(this.window.includes(true));
  }

  flush(out: boolean[]): void {
    // Frames still owed are the last `pad` inputs; each looks back `pad` and forward to the end.
    const owed = Math.min(this.pad, this.window.length);
    for (let i = this.window.length - owed; i < this.window.length; i++) {
      out.push(this.window.slice(Math.max(0, i - this.pad)).includes(true));
    }
    this.window.length = 0;
  }
}

/**
 * Turns per-frame speech probabilities into final speaking/not-speaking decisions, in order, a few hundred
 * milliseconds behind the audio. Decisions depend only on the frame sequence, never on how audio was chunked.
 */
export class SpeechSegmenter {
  private speaking = false;
  private readonly pauseFilter: RunFilter;
  private readonly burstFilter: RunFilter;
  private readonly padder: Padder;

  constructor(
    private readonly vad: AnalysisConfig['vad'],
    frameSec: number,
  ) {
    this.pauseFilter = new RunFilter(false, Math.round(vad.minPauseSec / frameSec), true, 'keep');
    this.burstFilter = new RunFilter(true, Math.round(vad.minSpeechSec / frameSec), false, 'flip');
    this.padder = new Padder(Math.round(vad.padSec / frameSec));
  }

  /** Returns the frames decided by this probability (zero or more, oldest first). */
  push(probability: number): boolean[] {
    if (!this.speaking && probability >= this.vad.threshold) this.speaking = true;
    else if (this.speaking && probability < this.vad.negThreshold) this.speaking = false;
    return this.run(this.speaking, false);
  }

  flush(): boolean[] {
    return this.run(undefined, true);
  }

  private run(flag: boolean | undefined, flush: boolean): boolean[] {
    const afterPause: boolean[] = [];
    if (flag !== undefined) this.pauseFilter.push(flag, afterPause);
    if (flush) this.pauseFilter.flush(afterPause);
    const afterBurst: boolean[] = [];
    for (const f of afterPause) this.burstFilter.push(f, afterBurst);
    if (flush) this.burstFilter.flush(afterBurst);
    const out: boolean[] = [];
    for (const f of afterBurst) this.padder.push(f, out);
    if (flush) this.padder.flush(out);
    return out;
  }
}
