import { otherChannel, type Channel } from '../../events.js';
import { signalRule, type Detector, type RuleContext } from '../detector.js';

/** Interruptions already alerted, by start. */
type State = Set<string>;

/**
 * One side (`channel`, default the agent) cuts in on the other, and the interruption (both talking, through
 * short gaps) lasts more than minSec; raised while it goes on.
 */
export const overtalk: Detector<State> = {
  kind: 'overtalk',
  params: { minSec: 1 },
  compile: (spec, tools) => ({ ...signalRule(spec, tools), channel: 'agent' }),
  start: () => new Set(),
  tick(ctx, horizon) {
    const by = ctx.rule.channel ?? 'agent';
    // Who cut in is the call state's judgement (edge/analysis/interruptions.ts), as the index's over-talk is:
    // the interrupter stays so through pauses and the other side's back-channels.
    const now = ctx.call.interruptionNow();
    if (!now || now.by !== by || horizon - now.start <= ctx.rule.params.minSec) return;
    raiseOnce(ctx, by, now.start, now.start + ctx.rule.params.minSec);
  },
  // Without ticks, from the over-talk the pipeline reports as it ends.
  event(ctx, event) {
    const by = ctx.rule.channel ?? 'agent';
    if (event.type !== 'overtalk' || event.by !== by || event.end - event.start <= ctx.rule.params.minSec) return;
    raiseOnce(ctx, by, event.start, event.end);
  },
};

function raiseOnce(ctx: RuleContext<State>, by: Channel, start: number, end: number): void {
  const key = start.toFixed(3);
  if (ctx.state.has(key)) return;
  ctx.state.add(key);
  const said = ctx.call.wordsAround(by, start, end, 4);
  ctx.raise({ channel: by, start, end, evidence: `the ${by} talked over the ${otherChannel(by)} for more than ${ctx.rule.params.minSec} s${said ? `: "${said}"` : ''}` });
}
