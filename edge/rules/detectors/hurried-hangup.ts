import { signalRule, type Detector } from '../detector.js';

/** The call ends while the customer speaks, or within withinSec of their last words: judged at the hang-up. */
export const hurriedHangup: Detector<null> = {
  kind: 'hurried-hangup',
  params: { withinSec: 1 },
  compile: (spec, tools) => signalRule(spec, tools),
  start: () => null,
  end(ctx) {
    const { call } = ctx;
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
