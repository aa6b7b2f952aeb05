import type { AnalysisConfig } from '../../provisioning/config.js';
import { CHANNELS, type Channel, type PipelineEvent } from '../events.js';
import { median, powerToDb, type FrameProsody } from './prosody.js';
import { InterruptionTracker, type Interruption } from './interruptions.js';

interface ChannelState {
  speaking: boolean;
  /** Frame where the current run of speech (or of quiet) began. */
  runStart: number;
  powerSum: number;
  frames: number;
  f0s: number[];
}

/**
 * Reads the two sides' final speaking decisions frame by frame, in lockstep, and turns them into the
 * conversation's shape: utterances, silences where nobody speaks, and over-talk where both do.
 */
export class ConversationTracker {
  private readonly state: Record<Channel, ChannelState> = {
    agent: { speaking: false, runStart: 0, powerSum: 0, frames: 0, f0s: [] },
    customer: { speaking: false, runStart: 0, powerSum: 0, frames: 0, f0s: [] },
  };
  private anyoneSpoke = false;
  private quietSince: number | null = 0;
  private readonly interruptions: InterruptionTracker;

  constructor(
    private readonly config: AnalysisConfig,
    private readonly frameSec: number,
  ) {
    this.interruptions = new InterruptionTracker(config.overtalk.maxGapSec);
  }

  push(frame: number, speaking: Record<Channel, boolean>, prosody: Record<Channel, FrameProsody>, emittedAt: number): PipelineEvent[] {
    const events: PipelineEvent[] = [];
    const time = frame * this.frameSec;
    const wasQuiet = this.quietSince !== null;

    // Stops before starts: a side that hands over on the very frame the other begins did not overlap it.
    for (const channel of CHANNELS) {
      if (!speaking[channel] && this.state[channel].speaking) {
        events.push(this.endUtterance(channel, time, emittedAt));
        this.interruptions.stop(channel, time);
      }
    }
    const over = this.interruptions.expire(time);
    if (over) this.overtalk(over, emittedAt, events);
    for (const channel of CHANNELS) {
      const st = this.state[channel];
      if (speaking[channel] && !st.speaking) {
        Object.assign(st, { speaking: true, runStart: frame, powerSum: 0, frames: 0, f0s: [] });
        events.push({ type: 'utterance.start', channel, start: time, emittedAt });
        const closed = this.interruptions.start(channel, time);
        if (closed) this.overtalk(closed, emittedAt, events);
      }
      if (st.speaking) {
        st.powerSum += prosody[channel].power;
        st.frames++;
        if (prosody[channel].f0 !== null) st.f0s.push(prosody[channel].f0 as number);
      }
    }

    const quiet = !speaking.agent && !speaking.customer;
    if (quiet && !wasQuiet) this.quietSince = frame;
    if (!quiet && wasQuiet) {
      const silence = this.endSilence(time, this.anyoneSpoke ? 'mid' : 'start', emittedAt);
      if (silence) events.push(silence);
    }
    if (!quiet) this.anyoneSpoke = true;
    return events;
  }

  /** Closes whatever is open at the hang-up; `durationSec` is the true end, not the last frame boundary. */
  finish(durationSec: number, emittedAt: number): PipelineEvent[] {
    const events: PipelineEvent[] = [];
    for (const channel of CHANNELS) {
      if (this.state[channel].speaking) events.push(this.endUtterance(channel, durationSec, emittedAt));
    }
    const open = this.interruptions.finish(durationSec);
    if (open) this.overtalk(open, emittedAt, events);
    if (this.quietSince !== null) {
      const silence = this.endSilence(durationSec, this.anyoneSpoke ? 'end' : 'start', emittedAt);
      if (silence) events.push(silence);
    }
    return events;
  }

  private endUtterance(channel: Channel, end: number, emittedAt: number): PipelineEvent {
    const st = this.state[channel];
    st.speaking = false;
    return {
      type: 'utterance.end',
      channel,
      start: st.runStart * this.frameSec,
      end,
      loudnessDb: powerToDb(st.frames ? st.powerSum / st.frames : 0),
      f0Hz: median(st.f0s),
      emittedAt,
    };
  }

  /** An interruption that is over, as an over-talk event: from the first to the last moment both spoke. */
  private overtalk(i: Interruption, emittedAt: number, events: PipelineEvent[]): void {
    const end = i.end as number;
    if (end - i.start >= this.config.overtalk.minSec) events.push({ type: 'overtalk', start: i.start, end, by: i.by, emittedAt });
  }

  private endSilence(end: number, position: 'start' | 'mid' | 'end', emittedAt: number): PipelineEvent | null {
    const start = (this.quietSince as number) * this.frameSec;
    this.quietSince = null;
    if (end - start < this.config.silence.minSec) return null;
    return { type: 'silence', start, end, position, emittedAt };
  }
}
