import { signalRule, type Detector, type RuleContext } from '../detector.js';
import { silenceEvidence } from '../evidence.js';
import { afterClosing } from './late-hangup.js';

/** Silences already alerted, by start. */
type State = Set<string>;

/** Both sides silent mid-call; the silence after a closing phrase is the late hang-up's. */
export const deadAir: Detector<State> = {
  kind: 'dead-air',
  params: { silenceSec: 10 },
  compile: (spec, tools) => signalRule(spec, tools),
  start: () => new Set(),
  // Live: raised the moment the quiet passes the threshold.
  tick(ctx, horizon, final) {
    if (final || !ctx.call.anyoneSpoke) return;
    const q = ctx.call.quietSince();
    const { silenceSec } = ctx.rule.params;
    if (q === null || horizon - q <= silenceSec) return;
    raiseOnce(ctx, q, q + silenceSec, horizon);
  },
  // Without ticks, still caught when the pipeline reports the silence as it ends.
  event(ctx, event) {
    if (event.type !== 'silence' || event.position !== 'mid' || event.end - event.start <= ctx.rule.params.silenceSec) return;
    raiseOnce(ctx, event.start, event.end, ctx.call.clock);
  },
};

function raiseOnce(ctx: RuleContext<State>, start: number, end: number, horizon: number): void {
  const key = start.toFixed(3);
  if (ctx.state.has(key) || afterClosing(ctx, start, horizon)) return;
  ctx.state.add(key);
  ctx.raise({ channel: 'both', start, end, evidence: silenceEvidence(ctx.call, start, ctx.rule.params.silenceSec) });
}
