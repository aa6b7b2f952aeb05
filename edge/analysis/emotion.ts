import type { AnalysisConfig } from '../../provisioning/config.js';
import type { Channel, EmotionFound } from '../events.js';
import { Histogram } from './histogram.js';
import { median, powerToDb, type FrameProsody } from './prosody.js';

interface OpenStretch {
  start: number;
  end: number;
  /** When the last ongoing event about it was sent. */
  reportedAt: number | null;
  scoreSum: number;
  f0RiseSum: number;
  tempoRiseSum: number;
  dbRiseSum: number;
  frames: number;
}

/** One frame of the speech in progress. */
interface WindowFrame {
  f0: number | null;
  power: number;
  swingDb: number;
}

/** How the window in progress stands against the speaker's baseline. */
export interface Rises {
  /** Relative: 0.3 is a third higher. */
  f0: number;
  /** Relative pace (envelope swing rate): 0.2 is a fifth faster. */
  tempo: number;
  db: number;
}

/** How often a raised stretch that is still going is reported (see EmotionFound.ongoing). */
const ONGOING_EVERY_SEC = 0.5;

/**
 * How far a window is raised, from its three rises, each as a multiple of its configured threshold: the mean
 * of the two largest, each counted up to its cap (riseCap; f0RiseCap for pitch). 1 is "two of the three at
 * their thresholds"; tempo or loudness alone, however large, stays under 1 unless another cue rises too,
 * while pitch alone reaches it at f0RiseCap times its threshold.
 */
export function raisedBy(rises: Rises, config: AnalysisConfig['emotion']): number {
  const counted = (multiple: number, cap: number) => Math.min(cap, Math.max(0, multiple));
  // Pitch may count for more: a microphone's distance or a trunk's compression moves loudness, and pace
  // wanders in calm speech, but a voice a third higher than its own calm median is the speaker's doing.
  const parts = [
    counted(rises.f0 / config.f0Rise, config.f0RiseCap),
    counted(rises.tempo / config.tempoRise, config.riseCap),
    counted(rises.db / config.loudnessRiseDb, config.riseCap),
  ].sort((a, b) => b - a);
  return (parts[0] + parts[1]) / 2;
}

/**
 * Agitation: a stretch where a speaker's voice rises markedly over that speaker's own baseline in this call,
 * in at least two of pitch, tempo (how fast the loudness envelope swings) and loudness, or very far in pitch
 * alone. Comparing a speaker with themselves is what makes a naturally high, fast or loud voice not count as
 * upset; asking for two cues is what lets a caller who gets higher and faster but hardly louder (a headset, a
 * compressed trunk) count, while a calm speaker who merely leans into the microphone does not. The baseline
 * is the upper part of the speaker's calm voice (baselineQuantile), not its middle: every calm sentence
 * starts higher and louder than it ends.
 */
export class EmotionDetector {
  private readonly f0Baseline = new Histogram(60, 500, 1);
  private readonly dbBaseline = new Histogram(-90, 0, 0.25);
  /** Calm speaking frames and their envelope swing: the speaker's own pace. */
  private calmFrames = 0;
  private calmSwing = 0;
  private readonly window: WindowFrame[] = [];
  private voicedInWindow = 0;
  private readonly windowFrames: number;
  /** Pace is judged over a longer window than pitch and loudness: over one second it wanders by +-40 % in calm speech. */
  private readonly tempoFrames: number;
  private readonly baselineFrames: number;
  /** A pause longer than this starts a fresh sentence: the window restarts. */
  private readonly maxGapSec = 1.0;
  /**
   * A stretch ends after this long without a raised frame: pauses between agitated sentences and the calmer
   * second or so a new sentence takes to be judged do not split one outburst into two alerts (the demo
   * caller's two sentences dipped for 1.4 s between them on two cues).
   */
  private readonly maxCalmSec = 2.0;
  private open: OpenStretch | null = null;
  private lastSpokeAt = -Infinity;

  constructor(
    private readonly channel: Channel,
    private readonly config: AnalysisConfig['emotion'],
    private readonly frameSec: number,
  ) {
    this.windowFrames = Math.max(1, Math.round(config.windowSec / frameSec));
    this.tempoFrames = Math.max(this.windowFrames, Math.round(config.tempoWindowSec / frameSec));
    this.baselineFrames = Math.round(config.baselineSec / frameSec);
  }

  /** Feeds one final frame; returns an emotion event when a raised stretch has just closed (or reports one going on). */
  push(frameIndex: number, speaking: boolean, prosody: FrameProsody, emittedAt: number): EmotionFound | null {
    const time = frameIndex * this.frameSec;
    if (this.open && time - this.open.end > this.maxCalmSec) return this.close(emittedAt);
    if (!speaking) return null;

    // The window describes the speech in progress; after a pause it would compare a new sentence with the
    // tail of an old one (an outburst would bleed into the calm reply that follows it).
    if (time - this.lastSpokeAt > this.maxGapSec) {
      this.window.length = 0;
      this.voicedInWindow = 0;
    }
    this.lastSpokeAt = time;
    this.window.push({ f0: prosody.f0, power: prosody.power, swingDb: prosody.swingDb });
    if (prosody.f0 !== null) this.voicedInWindow++;
    if (this.window.length > this.windowFrames && this.window[this.window.length - this.windowFrames - 1].f0 !== null) this.voicedInWindow--;
    if (this.window.length > this.tempoFrames) this.window.shift();

    // Half a window is enough to judge: an outburst often starts a fresh sentence, right after a pause.
    const ready =
      this.f0Baseline.count >= this.baselineFrames / 2 &&
      this.calmFrames >= this.baselineFrames &&
      this.window.length * 2 >= this.windowFrames &&
      this.voicedInWindow >= this.config.minVoicedShare * Math.min(this.window.length, this.windowFrames);
    // Judged at every speaking frame, not only where pitch was found: the window's pitch stands for the frames
    // between, and a voice the tracker finds in one frame of five (espeak's Mandarin, a narrowband line) was
    // judged half a second late, at its next voiced frame.
    if (ready) {
      const rises = this.rises();
      const raised = raisedBy(rises, this.config);
      if (raised >= 1) {
        const score = Math.min(1, 0.5 * raised);
        if (!this.open) {
          // The window's median turns once half of it is raised, so the stretch began half a window back.
          this.open = { start: Math.max(0, time - this.config.windowSec / 2), end: time, reportedAt: null, scoreSum: 0, f0RiseSum: 0, tempoRiseSum: 0, dbRiseSum: 0, frames: 0 };
        }
        this.open.end = time + this.frameSec;
        this.open.scoreSum += score;
        this.open.f0RiseSum += rises.f0;
        this.open.tempoRiseSum += rises.tempo;
        this.open.dbRiseSum += rises.db;
        this.open.frames++;
        return this.ongoing(emittedAt);
      }
    }
    // A raised stretch tolerates a calmer syllable or two (closed by the gap check above); calm speech
    // outside one teaches the baseline. Raised speech never does, or a long outburst would become the norm.
    if (!this.open) {
      this.calmFrames++;
      this.calmSwing += prosody.swingDb;
      if (prosody.f0 !== null) {
        this.f0Baseline.add(prosody.f0);
        this.dbBaseline.add(prosody.db);
      }
    }
    return null;
  }

  finish(emittedAt: number): EmotionFound | null {
    return this.open ? this.close(emittedAt) : null;
  }

  /** The window against the baseline: pitch and loudness over its voiced frames, tempo over all of it. */
  private rises(): Rises {
    const voiced = this.window.slice(-this.windowFrames).filter((w) => w.f0 !== null);
    const windowF0 = median(voiced.map((w) => w.f0 as number)) as number;
    const windowDb = powerToDb(voiced.reduce((s, w) => s + w.power, 0) / voiced.length);
    const windowRate = this.window.reduce((s, w) => s + w.swingDb, 0) / this.window.length;
    const baseRate = this.calmSwing / this.calmFrames;
    return {
      f0: windowF0 / this.f0Baseline.quantile(this.config.baselineQuantile) - 1,
      // Pace over a short stretch is mostly which syllables happened to be in it: trusted in proportion.
      tempo: baseRate > 0 ? (windowRate / baseRate - 1) * Math.min(1, this.window.length / this.tempoFrames) : 0,
      db: windowDb - this.dbBaseline.quantile(this.config.baselineQuantile),
    };
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
      tempoRisePct: (100 * s.tempoRiseSum) / s.frames,
      loudnessRiseDb: s.dbRiseSum / s.frames,
      emittedAt,
    };
  }
}
