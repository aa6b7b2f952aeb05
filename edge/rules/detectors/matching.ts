import { metricValues, type MetricName } from '../../call/metrics.js';
import { matchCall, parseQuery, type QueryNode, type SearchHit, type SearchableIndex } from '../../search/query.js';
import type { CompileTools, Detector, RuleContext } from '../detector.js';
import { describeHits } from '../evidence.js';
import { sameEvidence } from '../../call/same-evidence.js';
import type { Alert, Bound, CompiledRule, RuleSpec } from '../types.js';
import type { CallState } from '../../call/call-state.js';
import type { PipelineEventOf } from '../../events.js';

/**
 * What rules on words share (phrase and query rules, required and forbidden phrases alike): matching the
 * call's transcript and spotter hits as they come, once per piece of evidence, under the rule's window and
 * metric conditions. A query that can only be judged at the hang-up (NOT, last:, a bound that can still
 * change) is judged then.
 */
export interface MatchState {
  /** Evidence already alerted (or folded into an alert): new hits overlapping these are not news. */
  covered: SearchHit[];
  /** The rule's latest alert and the evidence it quotes: more evidence in the same utterance goes into it. */
  latest?: Raised;
  /** Every alert the rule raised on the call and the evidence it quotes (the latest among them). */
  raised: Raised[];
  /** The words matched while the metric conditions did not hold yet. */
  pending: boolean;
  /** Quick pre-check: does what is new contain any of the rule's terms at all? */
  anyTerm?: QueryNode;
}

/** An alert a rule on words raised, and the evidence it quotes. */
export interface Raised {
  alert: Alert;
  hits: SearchHit[];
}

/** Any of the rule's terms: a cheap test of whether new words could change the rule's match. */
export function anyTermOf(rule: CompiledRule): QueryNode | undefined {
  return rule.terms.length > 0 ? parseQuery(rule.terms.map((t) => `"${t.replaceAll('"', '')}"`).join(' OR ')) : undefined;
}

/** Rules on words and figures take their conditions in `when`, not `params`. */
export function noParams(spec: RuleSpec, tools: CompileTools): void {
  if (spec.params) tools.fail('params: only detector rules have params (did you mean when.metrics?)', [], 'params');
}

/** A `first:`/`last:` window is part of the query. */
export function windowed(queryText: string, window: NonNullable<RuleSpec['when']>['window']): string {
  let q = queryText;
  if (window?.first !== undefined) q = `first:${window.first}s (${q})`;
  if (window?.last !== undefined) q = `last:${window.last}s (${q})`;
  return q;
}

/** The rule's metric conditions on the call so far (or at the end): whether they hold, and the figures. */
export function metricsHold(ctx: RuleContext<unknown>, final: boolean): { ok: boolean; text: string } {
  const { rule } = ctx;
  if (!rule.metrics) return { ok: true, text: '' };
  const values = metricValues(ctx.call.figures(final ? ctx.call.lengthSec : ctx.horizon));
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

function evaluate(ctx: RuleContext<MatchState>, final: boolean): void {
  const { rule, call, state: st } = ctx;
  const match = matchCall(rule.query as QueryNode, call.searchable());
  if (!match) return;
  const inWindow = (h: SearchHit) => (rule.window?.from === undefined || h.start >= rule.window.from) && (rule.window?.to === undefined || h.start <= rule.window.to);
  const hits = match.hits.filter(inWindow);
  if (match.hits.length > 0 && hits.length === 0) return;
  const fresh = hits.filter((h) => !st.covered.some((c) => sameEvidence(c, h)));
  // a match by absence only (NOT) has no hits: it is decided once, at the end
  if (hits.length > 0 && fresh.length === 0) return;
  if (hits.length === 0 && (!final || ctx.count > 0)) return;
  const metrics = metricsHold(ctx, final);
  if (!metrics.ok) {
    st.pending = !final;
    return;
  }
  st.pending = false;
  st.covered.push(...fresh);
  const withFigures = (evidence: string) => (metrics.text ? `${evidence} [${metrics.text}]` : evidence);
  // One sentence is one alert: a supervisor shown two critical alerts for "inside information ... buy this
  // stock" sees one thing twice. What the same utterance adds is sent as a revision of the alert.
  const latest = st.latest;
  const folded = latest ? fresh.filter((h) => inUtteranceOf(call, latest.hits, h)) : [];
  if (latest && folded.length > 0) {
    latest.hits.push(...folded);
    latest.alert = ctx.revise(latest.alert, withFigures(describeHits(call, latest.hits)));
  }
  const news = fresh.filter((h) => !folded.includes(h));
  if (fresh.length > 0 && news.length === 0) return;
  const channels = new Set(news.map((h) => h.channel));
  const alert = ctx.raise({
    channel: channels.size === 1 ? [...channels][0] : (rule.channel ?? 'both'),
    start: news.length ? Math.min(...news.map((h) => h.start)) : 0,
    end: news.length ? Math.max(...news.map((h) => h.end)) : call.lengthSec,
    evidence: withFigures(news.length ? describeHits(call, news) : `matched by absence: ${rule.queryText}`),
  });
  if (alert) {
    st.latest = { alert, hits: news };
    st.raised.push(st.latest);
  }
}

const LANGUAGE_NAMES = { en: 'English', zh: 'Mandarin' } as const;

/**
 * After a side's words were withdrawn: withdraws each of `raised` (the rule's alerts with the hits they rest on)
 * that quoted that side and whose evidence there is no longer all found in the call (a spotter hit of the
 * side's new language still is, say). Returns those withdrawn, whose evidence is free to be matched again.
 */
export function withdrawOverturned<R extends Raised>(ctx: RuleContext<unknown>, raised: readonly R[], event: PipelineEventOf<'language.switch'>): R[] {
  const onSide = (h: SearchHit) => h.channel === event.channel;
  const affected = raised.filter((r) => !r.alert.withdrawn && r.hits.some(onSide));
  if (affected.length === 0) return [];
  const found = matchCall(ctx.rule.query as QueryNode, ctx.call.searchable())?.hits ?? [];
  const stands = (h: SearchHit) => found.some((f) => sameEvidence(f, h));
  const reason = `the ${event.channel} side was heard as ${LANGUAGE_NAMES[event.from]} until ${event.end.toFixed(1)} s and is ${LANGUAGE_NAMES[event.to]}: the words this alert quoted were that speech misheard`;
  const withdrawn = affected.filter((r) => !r.hits.filter(onSide).every(stands));
  for (const r of withdrawn) r.alert = ctx.withdraw(r.alert, reason);
  return withdrawn;
}

function overturned(ctx: RuleContext<MatchState>, event: PipelineEventOf<'language.switch'>): void {
  const st = ctx.state;
  for (const r of withdrawOverturned(ctx, st.raised, event)) {
    st.covered = st.covered.filter((c) => !r.hits.includes(c));
    if (st.latest === r) st.latest = undefined;
  }
}

/** Whether a hit lies in an utterance (same side) that holds any of `hits`. */
function inUtteranceOf(call: CallState, hits: readonly SearchHit[], hit: SearchHit): boolean {
  const home = call.utteranceAt(hit.channel, hit.start, hit.end);
  return home !== null && hits.some((h) => h.channel === hit.channel && call.utteranceAt(h.channel, h.start, h.end) === home);
}

/** The judging half of a rule on words; phrase.ts and query.ts add how a pack writes it. */
export const matching: Pick<Detector<MatchState>, 'start' | 'heard' | 'tick' | 'end' | 'overturned'> = {
  start: (rule) => ({ covered: [], raised: [], pending: false, anyTerm: anyTermOf(rule) }),
  heard(ctx, heard: SearchableIndex) {
    if (ctx.rule.atEnd) return;
    // A query without NOT only gains matches when a term gains an occurrence, which can only be in what is new.
    if (ctx.state.anyTerm && !matchCall(ctx.state.anyTerm, heard)) return;
    evaluate(ctx, false);
  },
  tick(ctx, _horizon, final) {
    if (!final && !ctx.rule.atEnd && ctx.state.pending) evaluate(ctx, false);
  },
  // A call the box cut short (shutdown, fault) has no end to judge: an absence or a final ratio on the part
  // heard would blame the agent for what the cut took away. What was decided while it went on stands.
  end(ctx) {
    if (ctx.call.endedBy !== 'cut' && (ctx.rule.atEnd || ctx.state.pending)) evaluate(ctx, true);
  },
  overturned,
};
