import type { Detector, RuleContext } from '../detector.js';
import { metricsHold, noParams } from './matching.js';

/** A rule on the call's figures alone (`when.metrics`): raised once per call, when they hold. */
export const metrics: Detector<null> = {
  kind: 'metrics',
  byFields: true,
  params: {},
  compile(spec, tools) {
    noParams(spec, tools);
    if (!spec.when?.metrics) tools.fail('nothing to match: give phrases, query, detector or when.metrics', [], 'id');
    return {};
  },
  start: () => null,
  tick(ctx, _horizon, final) {
    if (!final && !ctx.rule.atEnd && ctx.count === 0) raiseIfHeld(ctx, false);
  },
  // Not on a call the box cut short: its figures at the cut are not the call's (matching.ts says why).
  end(ctx) {
    if (ctx.call.endedBy !== 'cut' && ctx.rule.atEnd) raiseIfHeld(ctx, true);
  },
};

function raiseIfHeld(ctx: RuleContext<null>, final: boolean): void {
  const m = metricsHold(ctx, final);
  if (m.ok) ctx.raise({ channel: ctx.rule.channel ?? 'both', start: 0, end: ctx.call.lengthSec, evidence: m.text });
}
