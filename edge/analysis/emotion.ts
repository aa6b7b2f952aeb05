import type { AnalysisConfig } from '../../provisioning/config.js';
import type { Channel, EmotionFound } from '../events.js';
import { median, powerToDb, type FrameProsody } from './prosody.js';

/** Median of an unbounded stream in constant memory: a call can run for hours. */
class HistogramMedian {
  private readonly bins: Uint32Array;
  private total = 0;

  constructor(private readonly min: number, private readonly max: number, private readonly step: number) {
    this.bins = new Uint32Array(Math.ceil((max - min) / step) + 1);
  }

  get count(): number {
    return this.total;
  }

  add(value: number): void {
    const clamped = Math.min(this.max, Math.max(this.min, value));
    this.bins[Math.round((clamped - this.min) / this.step)]++;
    this.total++;
  }

  median(): number {
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i];
      if (seen * 2 >= this.total) return this.min + i * this.step;
    }
    return this.max;
  }
}

interface OpenStretch {
  start: number;
  end: number;
  /** When the last ongoing event about it was sent. */
  reportedAt: number | null;
  scoreSum: number;
  f0RiseSum: number;
  dbRiseSum: number;
  frames: number;
}

/** How often a raised stretch that is still going is reported (see EmotionFound.ongoing). */
const ONGOING_EVERY_SEC = 0.5;

/**
 * The source system's emotion model: a stretch where a speaker's pitch and loudness both rise markedly over
 * that speaker's own baseline in this call. Comparing a speaker with themselves is what makes a naturally
 * high or loud voice not count as upset.
 */
export class EmotionDetector {
  private readonly f0Baseline = new HistogramMedian(60, 500, 1);
  private readonly dbBaseline = new HistogramMedian(-90, 0, 0.25);
  private readonly window: { f0: number; power: number }[] = [];
  private readonly windowFrames: number;
  private readonly baselineFrames: number;
  /** A speaker's pauses between agitated sentences do not end the stretch. */
  private readonly maxGapSec = 1.0;
  private open: OpenStretch | null = null;
  private lastVoicedAt = -Infinity;

  constructor(
    private readonly channel: Channel,
    private readonly config: AnalysisConfig['emotion'],
    private readonly frameSec: number,
  ) {
    this.windowFrames = Math.max(1, Math.round(config.windowSec / frameSec));
    this.baselineFrames = Math.round(config.baselineSec / frameSec);
  }

  /** Feeds one final frame; returns an emotion event when a raised stretch has just closed. */
  push(frameIndex: number, speaking: boolean, prosody: FrameProsody, emittedAt: number): EmotionFound | null {
    const time = frameIndex * this.frameSec;
    if (this.open && time - this.open.end > this.maxGapSec) return this.close(emittedAt);
    if (!speaking || prosody.f0 === null) return null;

    // The window describes the speech in progress; after a pause it would compare a new sentence with the
    // tail of an old one (an outburst would bleed into the calm reply that follows it).
    if (time - this.lastVoicedAt > this.maxGapSec) this.window.length = 0;
    this.lastVoicedAt = time;
    this.window.push({ f0: prosody.f0, power: prosody.power });
    if (this.window.length > this.windowFrames) this.window.shift();

    // Half a window is enough to judge: an outburst often starts a fresh sentence, right after a pause.
    const ready = this.f0Baseline.count >= this.baselineFrames && this.window.length * 2 >= this.windowFrames;
    if (ready) {
      const baseF0 = this.f0Baseline.median();
      const baseDb = this.dbBaseline.median();
      const windowF0 = median(this.window.map((w) => w.f0)) as number;
      const windowDb = powerToDb(this.window.reduce((s, w) => s + w.power, 0) / this.window.length);
      const f0Rise = windowF0 / baseF0 - 1;
      const dbRise = windowDb - baseDb;
      if (f0Rise >= this.config.f0Rise && dbRise >= this.config.loudnessRiseDb) {
        const score = Math.min(1, 0.5 * Math.min(f0Rise / this.config.f0Rise, dbRise / this.config.loudnessRiseDb));
        if (!this.open) {
          // The window's median turns once half of it is raised, so the stretch began half a window back.
          this.open = { start: Math.max(0, time - this.config.windowSec / 2), end: time, reportedAt: null, scoreSum: 0, f0RiseSum: 0, dbRiseSum: 0, frames: 0 };
        }
        this.open.end = time + this.frameSec;
        this.open.scoreSum += score;
        this.open.f0RiseSum += f0Rise;
        this.open.dbRiseSum += dbRise;
        this.open.frames++;
        return this.ongoing(emittedAt);
      }
    }
    // A raised stretch tolerates a calmer syllable or two (closed by the gap check above); calm speech
    // outside one teaches the baseline. Raised speech never does, or a long outburst would become the norm.
    if (!this.open) {
      this.f0Baseline.add(prosody.f0);
      this.dbBaseline.add(prosody.db);
    }
    return null;
  }

  finish(emittedAt: number): EmotionFound | null {
    return this.open ? this.close(emittedAt) : null;
  }

  /** Once the open stretch is long enough to count, how it stands, every ONGOING_EVERY_SEC while it lasts. */
  private ongoing(emittedAt: number): EmotionFound | null {
    const s = this.open as OpenStretch;
    if (s.end - s.start < this.config.minDurationSec) return null;
    if (s.reportedAt !== null && s.end - s.reportedAt < ONGOING_EVERY_SEC) return null;
    s.reportedAt = s.end;
    return { ...this.describe(s, emittedAt), ongoing: true };
  }

  private close(emittedAt: number): EmotionFound | null {
    const s = this.open as OpenStretch;
    this.open = null;
    if (s.end - s.start < this.config.minDurationSec) return null;
    return this.describe(s, emittedAt);
  }

  private describe(s: OpenStretch, emittedAt: number): EmotionFound {
    return {
      type: 'emotion',
      channel: this.channel,
      start: s.start,
      end: s.end,
      score: s.scoreSum / s.frames,
      f0RisePct: (100 * s.f0RiseSum) / s.frames,
      loudnessRiseDb: s.dbRiseSum / s.frames,
      emittedAt,
    };
  }
}
