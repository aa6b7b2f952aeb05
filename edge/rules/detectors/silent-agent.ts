import { signalRule, type Detector } from '../detector.js';

/** The agent's silences already alerted, by when the agent last spoke. */
type State = Set<string>;

/**
 * The agent says nothing after the call connects; or, mid-call, the customer spoke, paused for an answer
 * (yieldGapSec), spoke again, and the agent stayed silent. One alert per silence of the agent.
 */
export const silentAgent: Detector<State> = {
  kind: 'silent-agent',
  params: { connectSec: 6, unansweredSec: 6, yieldGapSec: 1 },
  compile: (spec, tools) => signalRule(spec, tools),
  start: () => new Set(),
  tick(ctx, horizon) {
    const { call, rule, state: alerted } = ctx;
    const p = rule.params;
    if (call.speakingSince('agent') !== null) return;
    const since = call.lastEnd('agent') ?? 0;
    const key = since.toFixed(3);
    if (alerted.has(key)) return;
    if (call.lastEnd('agent') === null && call.lastStart('agent') === null && horizon > p.connectSec) {
      alerted.add(key);
      const said = call.wordsAround('customer', 0, p.connectSec, 8);
      ctx.raise({ channel: 'agent', start: 0, end: p.connectSec, evidence: `the agent said nothing for ${p.connectSec} s after the call connected${said ? `; customer: "${said}"` : ''}` });
      return;
    }
    // customer utterances since the agent last spoke: one that got a pause for an answer, then more speech
    const customer = call.utterances.filter((u) => u.channel === 'customer');
    const unanswered = customer.find((u) => !u.open && u.end > since && customer.some((s) => s.start >= u.end + p.yieldGapSec));
    if (!unanswered || horizon - unanswered.end <= p.unansweredSec) return;
    alerted.add(key);
    const said = call.wordsAround('customer', unanswered.start, horizon, 6);
    ctx.raise({
      channel: 'agent',
      start: unanswered.end,
      end: unanswered.end + p.unansweredSec,
      evidence: `the customer kept speaking and the agent did not answer for more than ${p.unansweredSec} s${said ? `; customer: "${said}"` : ''}`,
    });
  },
};
