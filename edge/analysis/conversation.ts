import type { AnalysisConfig } from '../../provisioning/config.js';
import { CHANNELS, type Channel, type PipelineEvent } from '../events.js';
import { median, powerToDb, type FrameProsody } from './prosody.js';

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
  private bothSince: number | null = null;

  constructor(
    private readonly config: AnalysisConfig,
    private readonly frameSec: number,
  ) {}

  push(frame: number, speaking: Record<Channel, boolean>, prosody: Record<Channel, FrameProsody>, emittedAt: number): PipelineEvent[] {
    const events: PipelineEvent[] = [];
    const time = frame * this.frameSec;
    const wasBoth = this.bothSince !== null;
    const wasQuiet = this.quietSince !== null;

    for (const channel of CHANNELS) {
      const st = this.state[channel];
      if (speaking[channel] && !st.speaking) {
        Object.assign(st, { speaking: true, runStart: frame, powerSum: 0, frames: 0, f0s: [] });
        events.push({ type: 'utterance.start', channel, start: time, emittedAt });
      } else if (!speaking[channel] && st.speaking) {
        events.push(this.endUtterance(channel, time, emittedAt));
      }
      if (st.speaking) {
        st.powerSum += prosody[channel].power;
        st.frames++;
        if (prosody[channel].f0 !== null) st.f0s.push(prosody[channel].f0 as number);
      }
    }

    const both = speaking.agent && speaking.customer;
    const quiet = !speaking.agent && !speaking.customer;
    if (both && !wasBoth) this.bothSince = frame;
    if (!both && wasBoth) {
      const overtalk = this.endOvertalk(time, emittedAt);
      if (overtalk) events.push(overtalk);
    }
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
    if (this.bothSince !== null) {
      const overtalk = this.endOvertalk(durationSec, emittedAt);
      if (overtalk) events.push(overtalk);
    }
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

  private endOvertalk(end: number, emittedAt: number): PipelineEvent | null {
    const start = (this.bothSince as number) * this.frameSec;
    this.bothSince = null;
    if (end - start < this.config.overtalk.minSec) return null;
    // Whoever began their current run later is the one who talked over the other. A tie (same 32 ms frame)
    // counts against the agent: yielding the floor is their job.
    const by: Channel = this.state.customer.runStart > this.state.agent.runStart ? 'customer' : 'agent';
    return { type: 'overtalk', start, end, by, emittedAt };
  }

  private endSilence(end: number, position: 'start' | 'mid' | 'end', emittedAt: number): PipelineEvent | null {
    const start = (this.quietSince as number) * this.frameSec;
    this.quietSince = null;
    if (end - start < this.config.silence.minSec) return null;
    return { type: 'silence', start, end, position, emittedAt };
  }
}
