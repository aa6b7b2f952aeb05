/** Thresholds of the signal analysis; defaults live in provisioning/config.schema.json, tuned on generated and real calls. */
export interface AnalysisConfig {
  vad: {
    /** Speech starts when Silero's probability reaches this. */
    threshold: number;
    /** ...and ends only when it falls below this (hysteresis keeps soft syllables inside a word). */
    negThreshold: number;
    /** Bursts shorter than this are clicks or breaths, not utterances. */
    minSpeechSec: number;
    /** Pauses shorter than this stay inside one utterance. */
    minPauseSec: number;
    /** Added before and after each utterance: Silero fires a little late on onsets and early on tails. */
    padSec: number;
  };
  silence: { minSec: number };
  overtalk: { minSec: number };
  /**
   * A monologue (a turn: edge/call/turns.ts) continues across the speaker's own pauses up to maxPauseSec and
   * across the other side's back-channels, utterances shorter than backchannelSec.
   */
  monologue: { maxPauseSec: number; backchannelSec: number };
  emotion: {
    /** Relative rise of F0 over the speaker's baseline, e.g. 0.2 = 20 % higher. */
    f0Rise: number;
    loudnessRiseDb: number;
    minDurationSec: number;
    /** Voiced speech needed before a speaker's baseline is trusted. */
    baselineSec: number;
    /** Length of the voiced window compared against the baseline. */
    windowSec: number;
  };
}
