import { signalRule, type Detector, type RuleContext } from '../detector.js';
import { silenceEvidence } from '../evidence.js';
import type { Alert } from '../types.js';
import { afterClosing, leftOpen } from './late-hangup.js';

/** Silences already judged, by start: the alert raised (null when the cooldown held it back). */
type State = Map<string, Alert | null>;

/**
 * Both sides silent mid-call; the silence after a closing phrase is the late hang-up's, and so is one that ran to
 * the hang-up: alerted live as dead air (nobody could know yet), it is withdrawn there, late-hangup's to raise.
 * One cut short (shutdown, fault) keeps it: the call was still going. On a line that ends calls on a quiet
 * (callState auto) every call ends in one longer than the threshold: there dead air is raised when the silence
 * breaks in speech, not live, or every call would flash a false alert before its end.
 */
export const deadAir: Detector<State> = {
  kind: 'dead-air',
  params: { silenceSec: 10 },
  compile: (spec, tools) => signalRule(spec, tools),
  start: () => new Map(),
  // Live: raised the moment the quiet passes the threshold.
  tick(ctx, horizon, final) {
    if (final || !ctx.call.anyoneSpoke || ctx.call.options.endsOnQuietSec !== undefined) return;
    const q = ctx.call.quietSince();
    const { silenceSec } = ctx.rule.params;
    if (q === null || horizon - q <= silenceSec) return;
    raiseOnce(ctx, q, q + silenceSec, horizon);
  },
  // Without ticks, or on a line that ends calls on a quiet, caught when the pipeline reports the silence as it ends.
  event(ctx, event) {
    if (event.type !== 'silence' || event.position !== 'mid' || event.end - event.start <= ctx.rule.params.silenceSec) return;
    raiseOnce(ctx, event.start, event.end, ctx.call.clock);
  },
  end(ctx) {
    const q = ctx.call.quietSince();
    if (q === null) return;
    const key = q.toFixed(3);
    const alert = ctx.state.get(key);
    if (!alert) return;
    if (leftOpen(ctx, q)) ctx.state.set(key, ctx.withdraw(alert, `the silence ran to the hang-up at ${ctx.call.lengthSec.toFixed(1)} s: the line was left open (late hang-up), not dead air mid-call`));
  },
};

function raiseOnce(ctx: RuleContext<State>, start: number, end: number, horizon: number): void {
  const key = start.toFixed(3);
  if (ctx.state.has(key) || afterClosing(ctx, start, horizon)) return;
  ctx.state.set(key, ctx.raise({ channel: 'both', start, end, evidence: silenceEvidence(ctx.call, start, ctx.rule.params.silenceSec) }));
}
