import type { Channel, PipelineEvent, PipelineEventOf } from '../events.js';
import type { CallState } from '../call/call-state.js';
import type { SearchableIndex } from '../search/query.js';
import type { Alert, CompiledRule, PhraseLists, RuleSpec } from './types.js';

/**
 * One kind of rule: what it takes in a pack, and how it judges a call from the call's state. Each kind is one
 * file under detectors/, found by its `kind` in detectors/index.ts; the engine (engine.ts) feeds it the call
 * and owns what every kind shares (alert ids, cooldowns, revisions). Recipe: docs/rules.md, "A new kind".
 */
export interface Detector<S = unknown> {
  /** `detector:` in a pack; phrase, query and metrics rules are the kinds chosen by their fields. */
  readonly kind: string;
  /** Chosen by a rule's fields (phrases, query, when.metrics) rather than named in `detector:`. */
  readonly byFields?: true;
  /** The thresholds it takes and their defaults: a pack's `params` may set exactly these. */
  readonly params: Readonly<Record<string, number>>;
  /** Load time: what only this kind can check in a rule (throwing through tools.fail); returns its query. */
  compile(spec: RuleSpec, tools: CompileTools): Compiled;
  /** A fresh state for one rule on one call. */
  start(rule: CompiledRule): S;
  /** Each pipeline event, once the call state has taken it in. */
  event?(ctx: RuleContext<S>, event: PipelineEvent): void;
  /** Words recognised or a phrase spotted: `heard` holds only what is new (the whole call is ctx.call). */
  heard?(ctx: RuleContext<S>, heard: SearchableIndex): void;
  /**
   * The clock moved on (an event, or audio heard in silence): timers. `horizon` is how far "nobody has started
   * speaking" can be trusted (the clock minus the pipeline's decision lag); `final` at the hang-up.
   */
  tick?(ctx: RuleContext<S>, horizon: number, final: boolean): void;
  /** The hang-up, after the final tick of every rule. */
  end?(ctx: RuleContext<S>): void;
  /**
   * A side's words so far were withdrawn (its language overturned; the call state has dropped them, the new
   * language's words come next): evidence on them no longer stands, and alerts resting on it are withdrawn.
   */
  overturned?(ctx: RuleContext<S>, event: PipelineEventOf<'language.switch'>): void;
}

export interface Compiled {
  /** The query the rule matches (search language), when it matches words. */
  queryText?: string;
  /** The side a rule is about when the pack names none. */
  channel?: Channel;
}

export interface CompileTools {
  /** Refuses the rule, naming the line of `key` (or of the field at `at`) in the pack. */
  fail(reason: string, at?: (string | number)[], key?: string): never;
}

export interface AlertDraft {
  channel: Channel | 'both';
  start: number;
  end: number;
  evidence: string;
}

/** One rule on one call, as its detector sees it. */
export interface RuleContext<S = unknown> {
  readonly rule: CompiledRule;
  readonly call: CallState;
  readonly state: S;
  /** Alerts this rule has raised on the call. */
  readonly count: number;
  /** How far "nobody has started speaking" can be trusted now: the clock minus the decision lag. */
  readonly horizon: number;
  /** Raises an alert (redacted); null when the rule's cooldown folds this evidence into its last alert. */
  raise(draft: AlertDraft): Alert | null;
  /** Sends an alert again with fuller evidence: same id and span, the next revision (returned). */
  revise(alert: Alert, evidence: string): Alert;
  /** Sends an alert's last revision: withdrawn, saying why; its cooldown no longer holds back new evidence. */
  withdraw(alert: Alert, reason: string): Alert;
  /** Every rule of a kind on this call: a detector that yields to another kind asks it. */
  peers<T>(kind: string): RuleContext<T>[];
}

const quote = (phrase: string) => `"${phrase.trim()}"`;
export const allPhrases = (p: PhraseLists | undefined): string[] => [...(p?.zh ?? []), ...(p?.en ?? [])];

/** Phrase lists as a query: any of them, said by `channel`. */
export function phraseQuery(p: PhraseLists, channel: RuleSpec['channel']): string {
  const or = `(${allPhrases(p).map(quote).join(' OR ')})`;
  return channel && channel !== 'any' ? `${channel}:${or}` : or;
}

/**
 * The load-time checks every signal detector shares: thresholds are its params, so no query, near or when;
 * phrases only where the detector needs them (late-hangup's closings), then as its query.
 */
export function signalRule(spec: RuleSpec, tools: CompileTools, phrases?: { needed: string }): Compiled {
  const kind = spec.detector as string;
  if (spec.query !== undefined) tools.fail(`detector ${kind} takes no query`, [], 'query');
  if (spec.near) tools.fail(`detector ${kind} takes no near`, [], 'near');
  if (spec.when) tools.fail(`detector ${kind} takes no when (its thresholds are params)`, [], 'when');
  if (!phrases) {
    if (spec.phrases) tools.fail(`detector ${kind} takes no phrases`, [], 'phrases');
    return {};
  }
  if (allPhrases(spec.phrases).length === 0) tools.fail(`detector ${kind} needs phrases: ${phrases.needed}`, [], 'detector');
  return { queryText: phraseQuery(spec.phrases!, spec.channel) };
}
