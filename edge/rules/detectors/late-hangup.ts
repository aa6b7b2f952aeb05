import { CHANNELS } from '../../events.js';
import { matchCall, type QueryNode, type SearchHit } from '../../search/query.js';
import { signalRule, type Detector, type RuleContext } from '../detector.js';
import { describeHits, silenceEvidence } from '../evidence.js';
import { anyTermOf, withdrawOverturned, type Raised } from './matching.js';

interface State {
  /** The latest closing phrase heard (after the greeting window). */
  closing?: SearchHit;
  anyTerm?: QueryNode;
  /** Silences already alerted, by start. */
  alerted: Set<string>;
  /** The alerts raised, each with the closing it followed. */
  raised: Raised[];
}

/**
 * Not hanging up: a closing phrase, then the line stays open in silence; or, at the hang-up, a silence that ran
 * to it for longer than openLineSec with no closing heard (the recogniser misses closings: the line was left
 * open all the same).
 */
export const lateHangup: Detector<State> = {
  kind: 'late-hangup',
  // silence after a closing phrase; closings in the first seconds are greetings ("thank you for calling X");
  // speech after the closing longer than reopenSec means the conversation went on; openLineSec 0: a closing
  // must have been heard
  params: { silenceSec: 8, ignoreFirstSec: 10, reopenSec: 2, openLineSec: 8 },
  compile: (spec, tools) => signalRule(spec, tools, { needed: 'the closing phrases (goodbye, 再见, ...)' }),
  start: (rule) => ({ anyTerm: anyTermOf(rule), alerted: new Set(), raised: [] }),
  heard(ctx, heard) {
    if (!ctx.state.anyTerm || !matchCall(ctx.state.anyTerm, heard)) return;
    const match = matchCall(ctx.rule.query as QueryNode, ctx.call.searchable());
    const hits = (match?.hits ?? []).filter((h) => h.start >= ctx.rule.params.ignoreFirstSec);
    if (hits.length === 0) return;
    const latest = hits.reduce((a, b) => (b.end > a.end ? b : a));
    if (!ctx.state.closing || latest.end > ctx.state.closing.end) ctx.state.closing = latest;
  },
  // A closing heard in a side's withdrawn words was not said (nor was the late hang-up that followed it); the
  // new language's words may say it again.
  overturned(ctx, event) {
    if (ctx.state.closing?.channel === event.channel) ctx.state.closing = undefined;
    withdrawOverturned(ctx, ctx.state.raised, event);
  },
  tick(ctx, horizon) {
    const p = ctx.rule.params;
    const closing = closingStands(ctx, horizon);
    const q = ctx.call.quietSince();
    if (!closing || q === null || q < closing.start || horizon - q <= p.silenceSec) return;
    const key = q.toFixed(3);
    if (ctx.state.alerted.has(key)) return;
    ctx.state.alerted.add(key);
    const alert = ctx.raise({
      channel: 'both',
      start: q,
      end: q + p.silenceSec,
      evidence: `closing ${describeHits(ctx.call, [closing])}, then no speech for more than ${p.silenceSec} s while the line stayed open`,
    });
    if (alert) ctx.state.raised.push({ alert, hits: [closing] });
  },
  end(ctx) {
    const q = leftOpenSince(ctx);
    if (q === null || ctx.state.alerted.has(q.toFixed(3))) return;
    ctx.state.alerted.add(q.toFixed(3));
    const evidence = `no closing heard; ${silenceEvidence(ctx.call, q, ctx.rule.params.openLineSec)}, until the hang-up at ${ctx.call.lengthSec.toFixed(1)} s`;
    ctx.raise({ channel: 'both', start: q, end: q + ctx.rule.params.openLineSec, evidence });
  },
};

/**
 * At a hang-up: the start of a silence that ran to it for longer than openLineSec, if the rule looks for one. A
 * call that auto segmentation ended on the quiet, or that was cut, did not end in a hang-up the box heard of.
 */
function leftOpenSince(ctx: RuleContext<State>): number | null {
  const q = ctx.call.quietSince();
  const { openLineSec } = ctx.rule.params;
  if (ctx.call.endedBy !== 'hang-up' || openLineSec <= 0 || q === null || !ctx.call.anyoneSpoke) return null;
  return ctx.call.lengthSec - q > openLineSec ? q : null;
}

/** At the hang-up, is the quiet since `q` the line left open (a late hang-up's, closing heard or not)? */
export function leftOpen(ctx: RuleContext<unknown>, q: number): boolean {
  if (ctx.call.endedBy !== 'hang-up') return false;
  return ctx.peers<State>(lateHangup.kind).some((peer) => leftOpenSince(peer) === q || (closingStands(peer, ctx.call.lengthSec)?.start ?? Infinity) <= q);
}

/** The closing, if it still stands: nobody has said more than a short reply (reopenSec) since it. */
function closingStands(ctx: RuleContext<State>, horizon: number): SearchHit | null {
  const closing = ctx.state.closing;
  if (!closing) return null;
  const { reopenSec } = ctx.rule.params;
  if (ctx.call.utterances.some((u) => !u.open && u.start > closing.end + 0.1 && u.end - u.start > reopenSec)) return null;
  for (const c of CHANNELS) {
    const s = ctx.call.speakingSince(c);
    if (s !== null && s > closing.end + 0.1 && horizon - s > reopenSec) return null;
  }
  return closing;
}

/** Is the quiet since `q` after a standing closing, i.e. a late hang-up's rather than dead air? */
export function afterClosing(ctx: RuleContext<unknown>, q: number, horizon: number): boolean {
  return ctx.peers<State>(lateHangup.kind).some((peer) => (closingStands(peer, horizon)?.start ?? Infinity) <= q);
}
