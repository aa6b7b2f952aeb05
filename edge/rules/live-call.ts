import { type Channel, type PipelineEvent, type PipelineEventOf } from '../events.js';
import { longestMonologue, type IndexedUtterance } from '../index/call-index.js';
import type { SearchKeyword, SearchUtterance, SearchableIndex } from '../search/query.js';
import type { MetricName } from './types.js';

interface Span {
  start: number;
  end: number;
}

/**
 * What has been heard of a call so far, folded from the pipeline's events as they come: the partial index
 * the rules look at. Words are kept per recognised stretch (one `words` event = one searchable utterance),
 * so a phrase is found as soon as the recogniser has finalised it, whatever the VAD has decided.
 */
export class LiveCall {
  /** Media seconds heard: the latest `emittedAt` or tick. */
  clock = 0;
  durationSec: number | null = null;
  readonly utterances: (Span & { channel: Channel })[] = [];
  /** Every utterance start, in order of arrival. */
  readonly starts: { channel: Channel; start: number }[] = [];
  /** Start of the utterance in progress per side, null when quiet. */
  readonly speaking: Record<Channel, number | null> = { agent: null, customer: null };
  readonly lastEnd: Record<Channel, number | null> = { agent: null, customer: null };
  readonly lastStart: Record<Channel, number | null> = { agent: null, customer: null };
  readonly segments: SearchUtterance[] = [];
  readonly keywords: SearchKeyword[] = [];
  readonly silences: PipelineEventOf<'silence'>[] = [];
  readonly overtalk: PipelineEventOf<'overtalk'>[] = [];
  readonly emotion: PipelineEventOf<'emotion'>[] = [];

  constructor(private readonly monologueMaxPauseSec = 2) {}

  apply(event: PipelineEvent): void {
    this.clock = Math.max(this.clock, event.emittedAt);
    switch (event.type) {
      case 'utterance.start':
        this.speaking[event.channel] = event.start;
        this.lastStart[event.channel] = event.start;
        this.starts.push({ channel: event.channel, start: event.start });
        break;
      case 'utterance.end':
        this.speaking[event.channel] = null;
        this.lastEnd[event.channel] = Math.max(this.lastEnd[event.channel] ?? 0, event.end);
        this.lastStart[event.channel] = event.start;
        this.utterances.push({ channel: event.channel, start: event.start, end: event.end });
        break;
      case 'words':
        this.segments.push({ channel: event.channel, start: event.start, end: event.end, text: event.text, script: event.script, words: event.words });
        break;
      case 'keyword':
        this.keywords.push({ term: event.term, channel: event.channel, start: event.start, end: event.end, score: event.score, source: event.source });
        break;
      case 'silence':
        this.silences.push(event);
        break;
      case 'overtalk':
        this.overtalk.push(event);
        break;
      case 'emotion':
        if (!event.ongoing) this.emotion.push(event);
        break;
      case 'call.end':
        this.durationSec = event.durationSec;
        this.clock = Math.max(this.clock, event.durationSec);
        break;
    }
  }

  get anyoneSpoke(): boolean {
    return this.starts.length > 0;
  }

  /** Since when both sides have been quiet (0 before anyone spoke); null while someone speaks. */
  quietSince(): number | null {
    if (this.speaking.agent !== null || this.speaking.customer !== null) return null;
    return Math.max(0, this.lastEnd.agent ?? 0, this.lastEnd.customer ?? 0);
  }

  /** The call as search sees it: what was said so far, and the length heard so far. */
  searchable(): SearchableIndex {
    return { durationSec: this.durationSec ?? this.clock, utterances: this.segments, keywords: this.keywords };
  }

  /** Recognised words of one side overlapping [start, end], with `pad` neighbours either side. */
  wordsAround(channel: Channel, start: number, end: number, pad = 4): string {
    const segs = this.segments.filter((s) => s.channel === channel && s.start <= end + 0.5 && s.end >= start - 0.5);
    const words = segs.flatMap((s) => s.words ?? []).sort((a, b) => a.start - b.start);
    if (words.length === 0) return '';
    const inside = words.map((w, i) => ({ w, i })).filter(({ w }) => w.start < end + 0.05 && w.end > start - 0.05);
    const first = inside.length ? inside[0].i : words.findIndex((w) => w.start >= start);
    const last = inside.length ? inside[inside.length - 1].i : first;
    if (first < 0) return '';
    const from = Math.max(0, first - pad);
    const to = Math.min(words.length - 1, last + pad);
    const text = words
      .slice(from, to + 1)
      .map((w) => w.w)
      .join(' ');
    return `${from > 0 ? '… ' : ''}${text}${to < words.length - 1 ? ' …' : ''}`;
  }

  /** Live metrics for custom rules; speech in progress counts up to `horizon`. */
  metrics(horizon: number): Record<MetricName, number | null> {
    const talk = (c: Channel) =>
      this.utterances.filter((u) => u.channel === c).reduce((s, u) => s + (u.end - u.start), 0) +
      (this.speaking[c] !== null ? Math.max(0, horizon - (this.speaking[c] as number)) : 0);
    const agentTalkSec = talk('agent');
    const customerTalkSec = talk('customer');
    const rate = (c: Channel) => {
      const segs = this.segments.filter((s) => s.channel === c && s.words?.length);
      const secs = segs.reduce((s, x) => s + (x.end - x.start), 0);
      return secs > 0 ? segs.reduce((n, x) => n + (x.words?.length ?? 0), 0) / secs : null;
    };
    const open = (['agent', 'customer'] as Channel[]).filter((c) => this.speaking[c] !== null).map((c) => ({ channel: c, start: this.speaking[c] as number, end: Math.max(this.speaking[c] as number, horizon) }));
    const sorted = [...this.utterances, ...open].sort((a, b) => a.start - b.start) as IndexedUtterance[];
    const count = <T extends { channel?: Channel; by?: Channel }>(xs: T[], c: Channel) => xs.filter((x) => (x.channel ?? x.by) === c).length;
    return {
      durationSec: this.durationSec ?? this.clock,
      agentTalkSec,
      customerTalkSec,
      talkRatio: agentTalkSec + customerTalkSec > 0 ? agentTalkSec / (agentTalkSec + customerTalkSec) : null,
      silenceTotalSec: this.silences.reduce((s, x) => s + (x.end - x.start), 0),
      longestSilenceSec: Math.max(0, ...this.silences.map((x) => x.end - x.start)),
      overtalkTotalSec: this.overtalk.reduce((s, x) => s + (x.end - x.start), 0),
      agentOvertalkCount: count(this.overtalk, 'agent'),
      customerOvertalkCount: count(this.overtalk, 'customer'),
      longestMonologueSec: longestMonologue(sorted, this.monologueMaxPauseSec)?.durationSec ?? 0,
      agentUtterances: this.utterances.filter((u) => u.channel === 'agent').length + (this.speaking.agent !== null ? 1 : 0),
      customerUtterances: this.utterances.filter((u) => u.channel === 'customer').length + (this.speaking.customer !== null ? 1 : 0),
      customerEmotionCount: count(this.emotion, 'customer'),
      agentEmotionCount: count(this.emotion, 'agent'),
      agentSpeechRate: rate('agent'),
      customerSpeechRate: rate('customer'),
    };
  }
}
