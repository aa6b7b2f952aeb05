import type { Channel } from '../events.js';
import type { MetricName } from '../call/metrics.js';
import type { QueryNode } from '../search/query.js';
import type { PhraseTuning } from '../../provisioning/config.js';

export type Severity = 'info' | 'warning' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

/** One raised alert. Times are seconds into the call, rounded to the millisecond. */
export interface Alert {
  /** Deterministic per call: `${rule}-${n}`, n counting that rule's alerts from 1. */
  id: string;
  rule: string;
  severity: Severity;
  title: string;
  /** Whose words or silence the evidence is; `both` for dead air, or evidence from both sides. */
  channel: Channel | 'both';
  start: number;
  end: number;
  /** The media time (seconds heard) at which the engine raised it: the `emittedAt` of the completing event. */
  raisedAt: number;
  /** Redacted: the matched text with its neighbouring words, or what the signal showed. */
  evidence: string;
  /**
   * Absent when first raised. An alert raised before its evidence was complete (customer agitation, raised
   * while the voice is still raised, before the recogniser has finalised the words; a phrase rule whose
   * utterance goes on to say another of its phrases) is sent again with the same id, the next revision
   * (2, 3, ...) and what was learnt since; consumers keep the highest revision of an id.
   */
  revision?: number;
  /** The media time of the revision. */
  revisedAt?: number;
  /**
   * Present on the revision that withdraws the alert, saying why: the words it rested on are no longer the
   * call's (a side's language was overturned and its speech heard again). Final: never revised again.
   */
  withdrawn?: string;
}

/** The alerts that stand: a withdrawn alert was raised on words that turned out not to be the call's. */
export const standing = <A extends Pick<Alert, 'withdrawn'>>(alerts: readonly A[]): A[] => alerts.filter((a) => a.withdrawn === undefined);

export interface Bound {
  min?: number;
  max?: number;
}

export interface PhraseLists {
  zh?: string[];
  en?: string[];
}

/** A rule as written in a pack (after schema validation). */
export interface RuleSpec {
  id: string;
  title?: string;
  description?: string;
  severity: Severity;
  enabled?: boolean;
  channel?: Channel | 'any';
  /** A signal detector's kind (edge/rules/detectors/); without one, the rule is on words or figures. */
  detector?: string;
  params?: Record<string, number>;
  phrases?: PhraseLists;
  /** Per phrase of the rule: how the spotters and the recogniser listen for it. */
  tuning?: Record<string, PhraseTuning>;
  /** The keyword spotter the rule's phrases are decoded by (PhraseTuning.group), unless a phrase's tuning names another. */
  spotterGroup?: string;
  near?: { phrases: PhraseLists; withinSec: number; channel?: Channel | 'any' };
  query?: string;
  when?: {
    window?: { first?: number; last?: number; from?: number; to?: number };
    metrics?: Partial<Record<MetricName, Bound>>;
  };
  cooldownSec?: number;
}

export interface PackSpec {
  pack: string;
  description?: string;
  rules: RuleSpec[];
}

/** A rule ready to run. */
export interface CompiledRule {
  id: string;
  title: string;
  severity: Severity;
  enabled: boolean;
  /** Side the rule is about; undefined: either. */
  channel?: Channel;
  pack: string;
  file: string;
  line: number;
  /** Which detector judges it (edge/rules/detectors/): a signal detector, or phrase, query or metrics. */
  kind: string;
  params: Record<string, number>;
  /** Phrase/query rules: what must be said. Late-hangup: the closing phrases. */
  query?: QueryNode;
  queryText?: string;
  /** Every term the query looks for: the keyword spotters should listen for them. */
  terms: string[];
  /** Per term, as the pack tuned it (threshold, boost, tolerance, hotword, spotter group). */
  tuning: Record<string, PhraseTuning>;
  /** Hits must start inside [from, to]. */
  window?: { from?: number; to?: number };
  metrics?: Partial<Record<MetricName, Bound>>;
  /** Decided only at the hang-up: the query has NOT or last:, or a metric condition can still change. */
  atEnd: boolean;
  cooldownSec: number;
}

export type { RuleOverrides, PhraseTuning } from '../../provisioning/config.js';
