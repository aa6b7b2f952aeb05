import { CallAnalysis, type CallAnalysisOptions } from '../analyze.js';
import type { CallIndex, CallLine, Span } from '../index/call-index.js';
import type { LiveCallRef } from './line.js';

/** Who is speaking at this moment of the call, as the VAD's open utterances say. */
export type Talking = 'agent' | 'customer' | 'both' | 'none';

/** The call in progress, as a supervisor's floor view needs it: signal only, never words or audio. */
export interface LiveCallStatus {
  callId: string;
  startedAt: string;
  heardSec: number;
  talking: Talking;
  /** Seconds since anyone last spoke (0 while someone speaks), in the call's media time. */
  silenceSec: number;
  /** The customer's agitation, 0..1: the latest emotion score, fading out over AGITATION_FADE_SEC after the raised stretch. */
  agitation: number;
}

/** How long a raised voice keeps the meter up once it calms: long enough for a supervisor's glance to catch it. */
export const AGITATION_FADE_SEC = 10;

/**
 * The call in progress on a line: its analysis, where it happened, and the audio the line lost during it.
 * What it knows of the conversation it reads from the call's state; it keeps no copy of its own.
 */
export class LineCall {
  readonly analysis: CallAnalysis;
  private readonly dropped: Span[] = [];

  constructor(
    callId: string,
    readonly ref: LiveCallRef,
    readonly boundaries: CallLine['boundaries'],
    private readonly caller: string | undefined,
    options: CallAnalysisOptions,
  ) {
    this.analysis = new CallAnalysis(callId, options);
  }

  get callId(): string {
    return this.analysis.callId;
  }

  /** Seconds since both sides went quiet; null while someone speaks. */
  quietForSec(): number | null {
    const since = this.analysis.state.quietSince();
    return since === null ? null : this.analysis.heardSec - since;
  }

  /** Audio the line dropped (behind beyond its backlog limit) before the next chunk of this call. */
  noteDropped(sec: number): void {
    const at = this.analysis.heardSec;
    this.dropped.push({ start: at, end: at + sec });
  }

  status(): LiveCallStatus {
    const heard = this.analysis.heardSec;
    const state = this.analysis.state;
    const agent = state.speakingSince('agent') !== null;
    const customer = state.speakingSince('customer') !== null;
    const upset = state.latestEmotion.customer;
    const fade = upset ? Math.max(0, 1 - Math.max(0, heard - upset.end) / AGITATION_FADE_SEC) : 0;
    return {
      callId: this.callId,
      startedAt: this.ref.startedAt,
      heardSec: Number(heard.toFixed(1)),
      talking: agent && customer ? 'both' : agent ? 'agent' : customer ? 'customer' : 'none',
      silenceSec: Number((this.quietForSec() ?? 0).toFixed(1)),
      agitation: Number(((upset?.score ?? 0) * fade).toFixed(2)),
    };
  }

  /** The hang-up: the index, and how much speech the call held (auto segmentation drops a call of too little). */
  async finish(endedBy: CallLine['endedBy']): Promise<{ index: CallIndex; speechSec: number }> {
    const { index } = await this.analysis.finish({
      line: {
        ...this.ref,
        endedAt: new Date().toISOString(),
        boundaries: this.boundaries,
        endedBy,
        ...(this.caller ? { caller: maskCaller(this.caller) } : {}),
      },
      audioDropped: this.dropped,
    });
    const { talkSec } = this.analysis.state.figures(this.analysis.state.lengthSec);
    return { index, speechSec: talkSec.agent + talkSec.customer };
  }
}

/** Caller numbers are personal data: enough digits stay for a supervisor to tell two callers apart. */
export function maskCaller(caller: string): string {
  const digits = caller.replace(/\D/g, '').length;
  let keep = Math.min(4, Math.max(0, digits - 4));
  return [...caller]
    .reverse()
    .map((ch) => (/\d/.test(ch) ? (keep-- > 0 ? ch : '*') : ch))
    .reverse()
    .join('');
}
