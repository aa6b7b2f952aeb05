import { CHANNELS, otherChannel, type Channel, type PipelineEvent, type PipelineEventOf } from '../events.js';
import type { AnalysisConfig } from '../../provisioning/config.js';
import { formatTime, matchCall, parseQuery, type QueryNode, type SearchHit, type SearchableIndex } from '../search/query.js';
import { redact } from '../redact.js';
import { LiveCall } from './live-call.js';
import type { Alert, Bound, CompiledRule, MetricName } from './types.js';

export interface RuleEngineOptions {
  /**
   * How far the pipeline's speaking/quiet decisions lag the audio, seconds: a timer rule (dead air, late
   * hang-up, silent agent, interruptions) only trusts "nobody has started speaking" up to `clock - lag`.
   * Use decisionLagSec(config.analysis.vad).
   */
  decisionLagSec?: number;
  /** analysis.monologue.maxPauseSec, for the longestMonologueSec metric. */
  monologueMaxPauseSec?: number;
}

/** Frames the segmenter may still hold back: a pause until it is long enough, a burst until it is speech, the padding. */
export function decisionLagSec(vad: AnalysisConfig['vad'], frameSec = 0.032): number {
  return vad.minPauseSec + vad.minSpeechSec + 2 * vad.padSec + frameSec;
}

const round = (x: number) => Number(x.toFixed(3));
/** Two hits are the same evidence when they are on one side and overlap (within this slack). */
const SAME_EVIDENCE_SLACK = 0.5;
const MAX_EVIDENCE_PARTS = 3;

function emotionEvidence(e: PipelineEventOf<'emotion'>, said: string): string {
  return `${e.channel} voice raised: pitch +${e.f0RisePct.toFixed(0)}%, loudness +${e.loudnessRiseDb.toFixed(1)} dB (score ${e.score.toFixed(2)})${said ? `: "${said}"` : ''}`;
}

interface RuleState {
  count: number;
  /** Evidence already alerted (or folded into an alert): new hits overlapping these are not news. */
  covered: SearchHit[];
  /** Signal evidence already alerted, by key (e.g. the start of a silence). */
  keys: Set<string>;
  lastAlertEnd: number | null;
  /** A query rule whose words matched while its metric conditions did not hold yet. */
  pending: boolean;
  /** Late-hangup: the latest closing phrase heard (after the greeting window). */
  closing?: SearchHit;
  /** Emotion: stretches alerted before any of their words were recognised, completed once they are. */
  awaitingWords?: Map<string, { alert: Alert; event: PipelineEventOf<'emotion'>; closed: boolean }>;
  /** Quick pre-check: does a new stretch of words contain any of the rule's terms at all? */
  anyTerm?: QueryNode;
}

/**
 * Runs rules over a call's pipeline events, in order, and raises each alert as soon as its evidence is
 * complete. Feed every event to push(); in live capture also call tick() as audio arrives (timers such as
 * dead air fire while nothing else happens); call finish() at the hang-up if no `call.end` event came.
 */
export class RuleEngine {
  private readonly live: LiveCall;
  private readonly rules: CompiledRule[];
  private readonly state = new Map<string, RuleState>();
  private readonly raised: Alert[] = [];
  private readonly lag: number;
  private ended = false;

  constructor(rules: CompiledRule[], options: RuleEngineOptions = {}) {
    this.rules = rules.filter((r) => r.enabled);
    this.lag = options.decisionLagSec ?? 0.8;
    this.live = new LiveCall(options.monologueMaxPauseSec ?? 2);
    for (const rule of this.rules) {
      const st: RuleState = { count: 0, covered: [], keys: new Set(), lastAlertEnd: null, pending: false };
      if (rule.terms.length > 0) st.anyTerm = parseQuery(rule.terms.map((t) => `"${t.replaceAll('"', '')}"`).join(' OR '));
      this.state.set(rule.id, st);
    }
  }

  /** Every alert raised so far, in order. */
  get alerts(): readonly Alert[] {
    return this.raised;
  }

  /** The partial index the rules see (what was heard so far). */
  get call(): LiveCall {
    return this.live;
  }

  push(event: PipelineEvent): Alert[] {
    if (this.ended) return [];
    const out: Alert[] = [];
    this.live.apply(event);
    switch (event.type) {
      case 'words': {
        const item: SearchableIndex = { utterances: [this.live.segments[this.live.segments.length - 1]] };
        this.onWords(item, out);
        this.completeEmotion(event.channel, false, out);
        break;
      }
      case 'keyword': {
        const item: SearchableIndex = { keywords: [this.live.keywords[this.live.keywords.length - 1]] };
        this.onWords(item, out);
        break;
      }
      case 'emotion':
        this.onEmotion(event, out);
        break;
      case 'overtalk':
        this.onOvertalk(event, out);
        break;
      case 'silence':
        this.onSilence(event, out);
        break;
      case 'call.end':
        this.onEnd(out);
        return out;
      default:
        break;
    }
    this.timers(this.live.clock - this.lag, out);
    this.pendingRules(out);
    return out;
  }

  /** Advances the media clock without an event (live capture: per audio chunk), so timers can fire. */
  tick(heardSec: number): Alert[] {
    if (this.ended || heardSec <= this.live.clock) return [];
    this.live.clock = heardSec;
    const out: Alert[] = [];
    this.timers(heardSec - this.lag, out);
    this.pendingRules(out);
    return out;
  }

  /** The hang-up when no `call.end` event was pushed: the call ends at the last time heard. Idempotent. */
  finish(): Alert[] {
    if (this.ended) return [];
    return this.push({ type: 'call.end', durationSec: this.live.clock, emittedAt: this.live.clock });
  }

  // -------------------------------------------------------------------------------------------------------

  private st(rule: CompiledRule): RuleState {
    return this.state.get(rule.id) as RuleState;
  }

  private raise(rule: CompiledRule, a: { channel: Channel | 'both'; start: number; end: number; evidence: string }, out: Alert[]): Alert {
    const st = this.st(rule);
    st.count++;
    st.lastAlertEnd = Math.max(st.lastAlertEnd ?? 0, a.end);
    const alert: Alert = {
      id: `${rule.id}-${st.count}`,
      rule: rule.id,
      severity: rule.severity,
      title: rule.title,
      channel: a.channel,
      start: round(a.start),
      end: round(Math.max(a.start, a.end)),
      raisedAt: round(this.live.clock),
      evidence: redact(a.evidence),
    };
    this.raised.push(alert);
    out.push(alert);
    return alert;
  }

  /**
   * The same alert (same id, same span: what it was raised on) with fuller evidence; it replaces the earlier
   * one in `alerts`.
   */
  private revise(alert: Alert, evidence: string, out: Alert[]): void {
    const revised: Alert = { ...alert, evidence: redact(evidence), revision: (alert.revision ?? 1) + 1, revisedAt: round(this.live.clock) };
    this.raised[this.raised.indexOf(alert)] = revised;
    out.push(revised);
  }

  private isCovered(st: RuleState, h: SearchHit): boolean {
    return st.covered.some((c) => c.channel === h.channel && h.start < c.end + SAME_EVIDENCE_SLACK && c.start < h.end + SAME_EVIDENCE_SLACK);
  }

  /** "agent 0:19.2 “… read me the verification code and …”" per piece of evidence (spotter hits and words of one place merged). */
  private describeHits(hits: SearchHit[]): string {
    const groups: SearchHit[][] = [];
    for (const h of [...hits].sort((a, b) => a.start - b.start)) {
      const g = groups.find((x) => x[0].channel === h.channel && x.some((y) => h.start < y.end + SAME_EVIDENCE_SLACK && y.start < h.end + SAME_EVIDENCE_SLACK));
      if (g) g.push(h);
      else groups.push([h]);
    }
    const parts = groups.slice(0, MAX_EVIDENCE_PARTS).map((g) => {
      const start = Math.min(...g.map((h) => h.start));
      const end = Math.max(...g.map((h) => h.end));
      const context = this.live.wordsAround(g[0].channel, start, end);
      const terms = [...new Set(g.map((h) => h.text))];
      const spotted = g.every((h) => h.source === 'keyword');
      const said = spotted ? `"${terms.join('" / "')}" (keyword spotter)${context ? `, words: "${context}"` : ''}` : `"${context || terms.join(' ')}"`;
      return `${g[0].channel} ${formatTime(start)} ${said}`;
    });
    if (groups.length > MAX_EVIDENCE_PARTS) parts.push(`+${groups.length - MAX_EVIDENCE_PARTS} more`);
    return parts.join('; ');
  }

  private metricsHold(rule: CompiledRule, final: boolean): { ok: boolean; text: string } {
    if (!rule.metrics) return { ok: true, text: '' };
    const values = this.live.metrics(final ? Infinity : this.live.clock - this.lag);
    const parts: string[] = [];
    for (const [name, bound] of Object.entries(rule.metrics) as [MetricName, Bound][]) {
      const v = values[name];
      if (v === null) return { ok: false, text: '' };
      if (bound.min !== undefined && v < bound.min) return { ok: false, text: '' };
      if (bound.max !== undefined && v > bound.max) return { ok: false, text: '' };
      parts.push(`${name} ${Number(v.toFixed(2))}${bound.min !== undefined ? ` >= ${bound.min}` : ''}${bound.max !== undefined ? ` <= ${bound.max}` : ''}`);
    }
    return { ok: true, text: parts.join(', ') };
  }

  /** Query rules on new words or a spotter hit; late-hangup closings are tracked here too. */
  private onWords(item: SearchableIndex, out: Alert[]): void {
    for (const rule of this.rules) {
      if (!rule.query) continue;
      const st = this.st(rule);
      if (rule.detector === 'late-hangup') {
        if (st.anyTerm && matchCall(st.anyTerm, item)) this.updateClosing(rule);
        continue;
      }
      if (rule.detector || rule.atEnd) continue;
      // A query without NOT only gains matches when a term gains an occurrence, which can only be in the new item.
      if (st.anyTerm && !matchCall(st.anyTerm, item)) continue;
      this.evaluateQuery(rule, false, out);
    }
  }

  private evaluateQuery(rule: CompiledRule, final: boolean, out: Alert[]): void {
    const st = this.st(rule);
    const match = matchCall(rule.query as QueryNode, this.live.searchable());
    if (!match) return;
    const inWindow = (h: SearchHit) => (rule.window?.from === undefined || h.start >= rule.window.from) && (rule.window?.to === undefined || h.start <= rule.window.to);
    const hits = match.hits.filter(inWindow);
    if (match.hits.length > 0 && hits.length === 0) return;
    const fresh = hits.filter((h) => !this.isCovered(st, h));
    // a match by absence only (NOT) has no hits: it is decided once, at the end
    if (hits.length > 0 && fresh.length === 0) return;
    if (hits.length === 0 && (!final || st.count > 0)) return;
    const metrics = this.metricsHold(rule, final);
    if (!metrics.ok) {
      st.pending = !final;
      return;
    }
    st.pending = false;
    st.covered.push(...fresh);
    const start = fresh.length ? Math.min(...fresh.map((h) => h.start)) : 0;
    if (st.lastAlertEnd !== null && rule.cooldownSec > 0 && start - st.lastAlertEnd < rule.cooldownSec) return; // folded into the last alert
    const channels = new Set(fresh.map((h) => h.channel));
    const evidence = fresh.length ? this.describeHits(fresh) : `matched by absence: ${rule.queryText}`;
    this.raise(
      rule,
      {
        channel: channels.size === 1 ? [...channels][0] : (rule.channel ?? 'both'),
        start,
        end: fresh.length ? Math.max(...fresh.map((h) => h.end)) : (this.live.durationSec ?? this.live.clock),
        evidence: metrics.text ? `${evidence} [${metrics.text}]` : evidence,
      },
      out,
    );
  }

  /** Rules waiting on metrics (and metric-only rules) are re-checked as the call goes on. */
  private pendingRules(out: Alert[]): void {
    for (const rule of this.rules) {
      if (rule.detector || rule.atEnd) continue;
      const st = this.st(rule);
      if (rule.query && st.pending) this.evaluateQuery(rule, false, out);
      else if (!rule.query && rule.metrics && st.count === 0) this.evaluateMetricsOnly(rule, false, out);
    }
  }

  private evaluateMetricsOnly(rule: CompiledRule, final: boolean, out: Alert[]): void {
    const m = this.metricsHold(rule, final);
    if (!m.ok) return;
    this.raise(rule, { channel: rule.channel ?? 'both', start: 0, end: this.live.durationSec ?? this.live.clock, evidence: m.text }, out);
  }

  // -------------------------------------------------------------------------------------------------------
  // Signal detectors

  private updateClosing(rule: CompiledRule): void {
    const st = this.st(rule);
    const match = matchCall(rule.query as QueryNode, this.live.searchable());
    const hits = (match?.hits ?? []).filter((h) => h.start >= rule.params.ignoreFirstSec);
    if (hits.length === 0) return;
    const latest = hits.reduce((a, b) => (b.end > a.end ? b : a));
    if (!st.closing || latest.end > st.closing.end) st.closing = latest;
  }

  /** The closing still stands: nobody has said more than a short reply (reopenSec) since it. */
  private closingStands(rule: CompiledRule, horizon: number): SearchHit | null {
    const closing = this.st(rule).closing;
    if (!closing) return null;
    const after = this.live.utterances.filter((u) => u.start > closing.end + 0.1 && u.end - u.start > rule.params.reopenSec);
    if (after.length > 0) return null;
    for (const c of ['agent', 'customer'] as Channel[]) {
      const s = this.live.speaking[c];
      if (s !== null && s > closing.end + 0.1 && horizon - s > rule.params.reopenSec) return null;
    }
    return closing;
  }

  /** Is this quiet stretch (since `q`) after a closing phrase, i.e. late-hangup's rather than dead air? */
  private afterClosing(q: number, horizon: number): boolean {
    return this.rules.some((r) => r.detector === 'late-hangup' && (this.closingStands(r, horizon)?.start ?? Infinity) <= q);
  }

  private timers(horizon: number, out: Alert[], final = false): void {
    const live = this.live;
    for (const rule of this.rules) {
      if (!rule.detector) continue;
      const st = this.st(rule);
      const p = rule.params;
      switch (rule.detector) {
        case 'dead-air': {
          if (final || !live.anyoneSpoke) break;
          const q = live.quietSince();
          if (q === null || horizon - q <= p.silenceSec) break;
          const key = q.toFixed(3);
          if (st.keys.has(key) || this.afterClosing(q, horizon)) break;
          st.keys.add(key);
          this.raise(rule, { channel: 'both', start: q, end: q + p.silenceSec, evidence: this.silenceEvidence(q, p.silenceSec) }, out);
          break;
        }
        case 'late-hangup': {
          const closing = this.closingStands(rule, horizon);
          const q = live.quietSince();
          if (!closing || q === null || q < closing.start) break;
          if (horizon - q <= p.silenceSec) break;
          const key = q.toFixed(3);
          if (st.keys.has(key)) break;
          st.keys.add(key);
          this.raise(
            rule,
            {
              channel: 'both',
              start: q,
              end: q + p.silenceSec,
              evidence: `closing ${this.describeHits([closing])}, then no speech for more than ${p.silenceSec} s while the line stayed open`,
            },
            out,
          );
          break;
        }
        case 'silent-agent': {
          if (live.speaking.agent !== null) break;
          const since = live.lastEnd.agent ?? 0;
          const key = since.toFixed(3);
          if (st.keys.has(key)) break;
          if (live.lastEnd.agent === null && live.lastStart.agent === null && horizon > p.connectSec) {
            st.keys.add(key);
            const said = live.wordsAround('customer', 0, p.connectSec, 8);
            this.raise(rule, { channel: 'agent', start: 0, end: p.connectSec, evidence: `the agent said nothing for ${p.connectSec} s after the call connected${said ? `; customer: "${said}"` : ''}` }, out);
            break;
          }
          // customer utterances since the agent last spoke: one that got a pause for an answer, then more speech
          const customer = live.utterances.filter((u) => u.channel === 'customer' && u.end > since).sort((a, b) => a.start - b.start);
          const starts = live.starts.filter((s) => s.channel === 'customer');
          const unanswered = customer.find((u) => starts.some((s) => s.start >= u.end + p.yieldGapSec));
          if (!unanswered || horizon - unanswered.end <= p.unansweredSec) break;
          st.keys.add(key);
          const said = live.wordsAround('customer', unanswered.start, horizon, 6);
          this.raise(
            rule,
            {
              channel: 'agent',
              start: unanswered.end,
              end: unanswered.end + p.unansweredSec,
              evidence: `the customer kept speaking and the agent did not answer for more than ${p.unansweredSec} s${said ? `; customer: "${said}"` : ''}`,
            },
            out,
          );
          break;
        }
        case 'overtalk': {
          const by = rule.channel ?? 'agent';
          const mine = live.speaking[by];
          const theirs = live.speaking[otherChannel(by)];
          if (mine === null || theirs === null) break;
          // the interrupter is whoever started later; a tie counts against the agent (as the index does)
          if (!(theirs < mine || (theirs === mine && by === 'agent'))) break;
          if (horizon - mine <= p.minSec) break;
          this.raiseInterruption(rule, by, mine, mine + p.minSec, out);
          break;
        }
        default:
          break;
      }
    }
  }

  private silenceEvidence(q: number, sec: number): string {
    const before = this.lastWords(q);
    return `no speech on either side for more than ${sec} s from ${formatTime(q)}${before ? `; last words: ${before}` : ''}`;
  }

  private lastWords(before: number): string {
    const seg = this.live.segments.filter((s) => s.start < before).sort((a, b) => b.end - a.end)[0];
    if (!seg) return '';
    const words = seg.words ?? [];
    const tail = words.slice(-6).map((w) => w.w).join(' ');
    return `${seg.channel} "${words.length > 6 ? '… ' : ''}${tail}"`;
  }

  private raiseInterruption(rule: CompiledRule, by: Channel, start: number, end: number, out: Alert[]): void {
    const st = this.st(rule);
    const key = start.toFixed(3);
    if (st.keys.has(key)) return;
    st.keys.add(key);
    const said = this.live.wordsAround(by, start, end, 4);
    this.raise(rule, { channel: by, start, end, evidence: `the ${by} talked over the ${otherChannel(by)} for more than ${rule.params.minSec} s${said ? `: "${said}"` : ''}` }, out);
  }

  private onOvertalk(event: PipelineEventOf<'overtalk'>, out: Alert[]): void {
    for (const rule of this.rules) {
      if (rule.detector !== 'overtalk') continue;
      const by = rule.channel ?? 'agent';
      if (event.by !== by || event.end - event.start <= rule.params.minSec) continue;
      this.raiseInterruption(rule, by, event.start, event.end, out);
    }
  }

  private onEmotion(event: PipelineEventOf<'emotion'>, out: Alert[]): void {
    for (const rule of this.rules) {
      if (rule.detector !== 'emotion') continue;
      if (rule.channel && event.channel !== rule.channel) continue;
      const st = this.st(rule);
      const stretch = `${event.channel}@${event.start.toFixed(3)}`;
      // One alert per stretch: raised as soon as the stretch in progress qualifies, not again when it closes.
      const awaiting = st.awaitingWords?.get(stretch);
      if (awaiting) Object.assign(awaiting, { event, closed: !event.ongoing });
      if (st.keys.has(stretch)) continue;
      if (event.score < rule.params.minScore || event.end - event.start < rule.params.minDurationSec) continue;
      st.keys.add(stretch);
      const said = this.live.wordsAround(event.channel, event.start, event.end, 2);
      const alert = this.raise(rule, { channel: event.channel, start: event.start, end: event.end, evidence: emotionEvidence(event, said) }, out);
      if (!said) (st.awaitingWords ??= new Map()).set(stretch, { alert, event, closed: !event.ongoing });
    }
    if (!event.ongoing) this.completeEmotion(event.channel, false, out);
  }

  /**
   * Emotion alerts raised before their words were recognised are sent again with the words (a revision),
   * once the stretch has closed and its words are final, or at the end of the call with whatever was heard.
   */
  private completeEmotion(channel: Channel, callEnded: boolean, out: Alert[]): void {
    for (const rule of this.rules) {
      const awaiting = this.st(rule).awaitingWords;
      if (rule.detector !== 'emotion' || !awaiting) continue;
      for (const [stretch, w] of awaiting) {
        if (w.event.channel !== channel || !(w.closed || callEnded)) continue;
        const said = this.live.wordsAround(channel, w.event.start, w.event.end, 2);
        if (!said && !callEnded) continue;
        awaiting.delete(stretch);
        if (said) this.revise(w.alert, emotionEvidence(w.event, said), out);
      }
    }
  }

  /** Without ticks, dead air is still caught when the pipeline reports the silence as it ends. */
  private onSilence(event: PipelineEventOf<'silence'>, out: Alert[]): void {
    if (event.position !== 'mid') return;
    for (const rule of this.rules) {
      if (rule.detector !== 'dead-air') continue;
      const st = this.st(rule);
      const key = event.start.toFixed(3);
      if (event.end - event.start <= rule.params.silenceSec || st.keys.has(key) || this.afterClosing(event.start, this.live.clock)) continue;
      st.keys.add(key);
      this.raise(rule, { channel: 'both', start: event.start, end: event.end, evidence: this.silenceEvidence(event.start, rule.params.silenceSec) }, out);
    }
  }

  private onEnd(out: Alert[]): void {
    const live = this.live;
    const D = live.durationSec ?? live.clock;
    this.timers(D, out, true);
    for (const channel of CHANNELS) this.completeEmotion(channel, true, out);
    for (const rule of this.rules) {
      if (rule.detector === 'hurried-hangup') {
        const last = live.lastEnd.customer;
        if (last === null) continue;
        const gap = Math.max(0, D - last);
        if (gap >= rule.params.withinSec) continue;
        const start = live.lastStart.customer ?? last;
        const said = live.wordsAround('customer', start, last, 0);
        const how = gap < 0.05 ? 'while the customer was still speaking' : `${gap.toFixed(1)} s after the customer's last words`;
        this.raise(rule, { channel: 'customer', start, end: D, evidence: `the call ended ${how}${said ? `: "${said}"` : ''}` }, out);
      } else if (!rule.detector && rule.atEnd) {
        if (rule.query) this.evaluateQuery(rule, true, out);
        else this.evaluateMetricsOnly(rule, true, out);
      } else if (!rule.detector && this.st(rule).pending) {
        this.evaluateQuery(rule, true, out);
      }
    }
    this.ended = true;
  }
}
