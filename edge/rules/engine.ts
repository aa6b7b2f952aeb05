import type { PipelineEvent } from '../events.js';
import type { AnalysisConfig } from '../../provisioning/config.js';
import { CallState } from '../call/call-state.js';
import type { SearchableIndex } from '../search/query.js';
import { redact } from '../../lib/redact.js';
import type { AlertDraft, Detector, RuleContext } from './detector.js';
import { detectorFor } from './detectors/index.js';
import { standing, type Alert, type CompiledRule } from './types.js';

export interface RuleEngineOptions {
  /** The call the rules judge; the engine feeds it the events. A fresh one (default turn rules) if not given. */
  call?: CallState;
  /**
   * How far the pipeline's speaking/quiet decisions lag the audio, seconds: a timer rule (dead air, late
   * hang-up, silent agent, interruptions) only trusts "nobody has started speaking" up to `clock - lag`.
   * Use decisionLagSec(config.analysis.vad).
   */
  decisionLagSec?: number;
}

/** Frames the segmenter may still hold back: a pause until it is long enough, a burst until it is speech, the padding. */
export function decisionLagSec(vad: AnalysisConfig['vad'], frameSec = 0.032): number {
  return vad.minPauseSec + vad.minSpeechSec + 2 * vad.padSec + frameSec;
}

const round = (x: number) => Number(x.toFixed(3));

/** One enabled rule on this call: its detector, the detector's state, and what every rule shares. */
class RuleRun implements RuleContext<unknown> {
  readonly state: unknown;
  count = 0;
  /** End of the evidence of the rule's latest alert: new evidence within cooldownSec of it is folded in. */
  private lastAlertEnd: number | null = null;

  constructor(
    readonly rule: CompiledRule,
    readonly detector: Detector,
    private readonly engine: RuleEngine,
  ) {
    this.state = detector.start(rule);
  }

  get call(): CallState {
    return this.engine.call;
  }

  get horizon(): number {
    return this.engine.horizon;
  }

  raise(draft: AlertDraft): Alert | null {
    const { rule } = this;
    if (this.lastAlertEnd !== null && rule.cooldownSec > 0 && draft.start - this.lastAlertEnd < rule.cooldownSec) return null;
    this.count++;
    this.lastAlertEnd = Math.max(this.lastAlertEnd ?? 0, draft.end);
    return this.engine.publish({
      id: `${rule.id}-${this.count}`,
      rule: rule.id,
      severity: rule.severity,
      title: rule.title,
      channel: draft.channel,
      start: round(draft.start),
      end: round(Math.max(draft.start, draft.end)),
      raisedAt: round(this.call.clock),
      // The words it quotes come redacted in the conversation's context (CallState.quote); this pass is for
      // the rest of the text (a spotted term, a site's own wording).
      evidence: redact(draft.evidence),
    });
  }

  revise(alert: Alert, evidence: string): Alert {
    return this.engine.publish({ ...alert, evidence: redact(evidence), revision: (alert.revision ?? 1) + 1, revisedAt: round(this.call.clock) });
  }

  withdraw(alert: Alert, reason: string): Alert {
    const withdrawn = this.engine.publish({ ...alert, withdrawn: redact(reason), revision: (alert.revision ?? 1) + 1, revisedAt: round(this.call.clock) });
    const mine = standing(this.engine.alerts).filter((a) => a.rule === this.rule.id);
    this.lastAlertEnd = mine.length > 0 ? Math.max(...mine.map((a) => a.end)) : null;
    return withdrawn;
  }

  peers<T>(kind: string): RuleContext<T>[] {
    return this.engine.runsOf(kind) as RuleContext<T>[];
  }
}

/**
 * Runs rules over a call's pipeline events, in order, and raises each alert as soon as its evidence is
 * complete. Each event goes into the call's state (edge/call), then to every rule's detector (detectors/),
 * then every rule's timers run. Feed every event to push(); in live capture also call tick() as audio arrives
 * (timers such as dead air fire while nothing else happens); call finish() at the hang-up if no `call.end`
 * event came.
 */
export class RuleEngine {
  readonly call: CallState;
  private readonly runs: RuleRun[];
  private readonly raised: Alert[] = [];
  private readonly lag: number;
  private out: Alert[] = [];
  /** Where the timers have got to: the clock minus the decision lag (the call's end at the hang-up). */
  horizon = 0;
  private ended = false;

  constructor(rules: CompiledRule[], options: RuleEngineOptions = {}) {
    this.call = options.call ?? new CallState();
    this.lag = options.decisionLagSec ?? 0.8;
    this.runs = rules.filter((r) => r.enabled).map((r) => new RuleRun(r, detectorFor(r.kind), this));
  }

  /** Every alert raised so far, in order; a revision in place of the alert it revises. */
  get alerts(): readonly Alert[] {
    return this.raised;
  }

  push(event: PipelineEvent): Alert[] {
    if (this.ended) return [];
    this.call.apply(event);
    this.horizon = this.call.clock - this.lag;
    return this.collect(() => {
      if (event.type === 'call.end') return this.hangUp();
      const heard = whatIsNew(this.call, event);
      for (const run of this.runs) {
        if (event.type === 'language.switch') run.detector.overturned?.(run, event);
        if (heard) run.detector.heard?.(run, heard);
        run.detector.event?.(run, event);
      }
      this.timers(this.call.clock - this.lag, false);
    });
  }

  /** Advances the media clock without an event (live capture: per audio chunk), so timers can fire. */
  tick(heardSec: number): Alert[] {
    if (this.ended || heardSec <= this.call.clock) return [];
    this.call.advance(heardSec);
    return this.collect(() => this.timers(heardSec - this.lag, false));
  }

  /** The hang-up when no `call.end` event was pushed: the call ends at the last time heard. Idempotent. */
  finish(): Alert[] {
    if (this.ended) return [];
    return this.push({ type: 'call.end', durationSec: this.call.clock, emittedAt: this.call.clock });
  }

  /** @internal for RuleRun: records an alert (a revision replaces the alert it revises). */
  publish(alert: Alert): Alert {
    const earlier = this.raised.findIndex((a) => a.id === alert.id);
    if (earlier >= 0) this.raised[earlier] = alert;
    else this.raised.push(alert);
    this.out.push(alert);
    return alert;
  }

  /** @internal for RuleRun: the rules of a kind on this call. */
  runsOf(kind: string): RuleRun[] {
    return this.runs.filter((r) => r.rule.kind === kind);
  }

  private collect(work: () => void): Alert[] {
    this.out = [];
    work();
    return this.out;
  }

  private timers(horizon: number, final: boolean): void {
    this.horizon = horizon;
    for (const run of this.runs) run.detector.tick?.(run, horizon, final);
  }

  private hangUp(): void {
    this.timers(this.call.lengthSec, true);
    for (const run of this.runs) run.detector.end?.(run);
    this.ended = true;
  }
}

/** What a `words` or `keyword` event added: rules on words look only there to know if they can match anew. */
function whatIsNew(call: CallState, event: PipelineEvent): SearchableIndex | null {
  if (event.type === 'words') return { utterances: call.lastHeard };
  if (event.type === 'keyword') return { keywords: [call.keywords[call.keywords.length - 1]] };
  return null;
}
