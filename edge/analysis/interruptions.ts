import type { Channel } from '../events.js';

/** One interruption: both sides talking, through short gaps, and who cut in. */
export interface Interruption {
  /** The first moment both spoke. */
  start: number;
  /** The last moment both spoke; null while both still are. */
  end: number | null;
  /** The side that started talking while the other was mid-utterance. */
  by: Channel;
}

/**
 * Who interrupts whom, from the two sides starting and stopping to speak. The one who starts while the other is
 * mid-utterance (inside a run of speech joined across that speaker's own pauses up to `maxGapSec`) is the
 * interrupter for the whole overlap: overlaps less than `maxGapSec` apart are one interruption, so the cut-in
 * side stays the interrupter through a pause of either side and through the other's back-channel ("mm",
 * "yes") that follows. Judged run by run instead, a pause in the interrupted sentence makes its resumption
 * look like a fresh interruption by the other side. The pipeline's tracker (frames) and the call state
 * (utterance events) both feed one of these, so the index and the live rule agree.
 */
export class InterruptionTracker {
  private readonly speaking: Record<Channel, boolean> = { agent: false, customer: false };
  private readonly talkStart: Record<Channel, number> = { agent: 0, customer: 0 };
  private readonly lastEnd: Record<Channel, number | null> = { agent: null, customer: null };
  private episode: Interruption | null = null;
  /** When the overlap in progress began, and where the episode's end stood before it: undone if it lasts no time. */
  private overlap: { since: number; endBefore: number | null; fresh: boolean } | null = null;

  constructor(private readonly maxGapSec: number) {}

  /** The interruption in progress (both talking, or in a short gap between overlaps), if any. */
  get current(): Interruption | null {
    return this.episode;
  }

  get bothSpeaking(): boolean {
    return this.speaking.agent && this.speaking.customer;
  }

  /** A side starts speaking at `time`; returns an earlier interruption this shows to be over. */
  start(channel: Channel, time: number): Interruption | null {
    if (this.speaking[channel]) return null;
    const last = this.lastEnd[channel];
    if (last === null || time - last > this.maxGapSec) this.talkStart[channel] = time;
    this.speaking[channel] = true;
    if (!this.bothSpeaking) return null;
    const closed = this.expire(time);
    this.overlap = { since: time, endBefore: this.episode?.end ?? null, fresh: !this.episode };
    if (this.episode) {
      this.episode.end = null;
    } else {
      // A tie (the same instant) counts against the agent: yielding the floor is their job.
      const by: Channel = this.talkStart.customer > this.talkStart.agent ? 'customer' : 'agent';
      this.episode = { start: time, end: null, by };
    }
    return closed;
  }

  /** A side stops speaking at `time`. */
  stop(channel: Channel, time: number): void {
    if (!this.speaking[channel]) return;
    if (this.bothSpeaking && this.episode && this.overlap) {
      // Both "spoke" for no time at all (one stopped the instant the other started): that was no overlap.
      if (time <= this.overlap.since) {
        if (this.overlap.fresh) this.episode = null;
        else this.episode.end = this.overlap.endBefore;
      } else {
        this.episode.end = time;
      }
      this.overlap = null;
    }
    this.speaking[channel] = false;
    this.lastEnd[channel] = time;
  }

  /** The interruption that is over by `time` (its last overlap ended more than maxGapSec before), if any. */
  expire(time: number): Interruption | null {
    const e = this.episode;
    if (!e || e.end === null || time - e.end <= this.maxGapSec) return null;
    this.episode = null;
    return e;
  }

  /** The hang-up: whatever interruption is open ends, at the last overlap or at `time` if both still talk. */
  finish(time: number): Interruption | null {
    const e = this.episode;
    this.episode = null;
    return e ? { ...e, end: e.end ?? time } : null;
  }
}
