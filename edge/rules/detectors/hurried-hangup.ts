import { signalRule, type Detector } from '../detector.js';

/**
 * The call ends while the customer speaks, or within withinSec of their last words: judged at the hang-up. Only
 * a hang-up the box heard of counts: a call cut short by a shutdown or a fault ends mid-sentence through no
 * doing of the agent's (and one auto segmentation ended was quiet long before).
 */
export const hurriedHangup: Detector<null> = {
  kind: 'hurried-hangup',
  params: { withinSec: 1 },
  compile: (spec, tools) => signalRule(spec, tools),
  start: () => null,
  end(ctx) {
    const { call } = ctx;
    if (call.endedBy !== 'hang-up') return;
    const last = call.lastEnd('customer');
    if (last === null) return;
    const D = call.lengthSec;
    const gap = Math.max(0, D - last);
    if (gap >= ctx.rule.params.withinSec) return;
    const start = call.lastStart('customer') ?? last;
    const said = call.wordsAround('customer', start, last, 0);
    const how = gap < 0.05 ? 'while the customer was still speaking' : `${gap.toFixed(1)} s after the customer's last words`;
    ctx.raise({ channel: 'customer', start, end: D, evidence: `the call ended ${how}${said ? `: "${said}"` : ''}` });
  },
};
