// Who interrupts whom: the agent cuts into the customer's sentence for under a second, and the overlap goes on
// through a pause of the customer's or the customer's back-channel. The index must show one interruption, by
// the agent, from the cut-in to the last moment both spoke; the agent-interrupts rule must fire while it lasts.
import t from 'tap';
import { renderCallByName } from './support/calls.js';
import { analyzeRendered } from './support/analysis.js';
import { defaultConfig } from '../provisioning/config.js';
import { RulePackRegistry } from '../edge/rules/pack.js';
import type { TruthTurn } from '../scripts/make-call.js';

// Rendering two calls on a busy two-core box can take minutes.
t.setTimeout(600_000);

const rules = RulePackRegistry.withBuiltins().rules().filter((r) => r.id === 'agent-interrupts');
const TOLERANCE = 0.25;

/** The agent's cut-in and the last moment both sides spoke, from the truth. */
function truthInterruption(turns: TruthTurn[]): { start: number; end: number } {
  const agent = turns.find((x) => x.channel === 'agent') as TruthTurn;
  const overlaps = turns.filter((x) => x.channel === 'customer' && x.start < agent.end && x.end > agent.start);
  return { start: agent.start, end: Math.max(...overlaps.map((x) => Math.min(x.end, agent.end))) };
}

for (const name of ['overtalk-agent-pause', 'overtalk-agent-backchannel']) {
  t.test(`${name}: one interruption, by the agent, through the gap`, async (t) => {
    const call = await renderCallByName(name);
    const truth = truthInterruption(call.truth.turns);
    const customer = call.truth.turns.filter((x) => x.channel === 'customer');
    t.ok(customer[1].start - customer[0].end >= 0.6, 'the customer falls quiet long enough for the VAD to split the overlap');
    t.ok(customer[0].end - truth.start < 1, 'the first overlap alone is under the rule\'s 1 s');

    const { index, alerts } = await analyzeRendered(call, {}, defaultConfig(), undefined, rules);
    t.equal(index.overtalk.length, 1, `one over-talk, not split: ${JSON.stringify(index.overtalk)}`);
    const o = index.overtalk[0];
    t.equal(o?.by, 'agent', 'the agent cut in');
    t.ok(Math.abs(o.start - truth.start) <= TOLERANCE, `starts ${o.start} at the cut-in ${truth.start}`);
    t.ok(Math.abs(o.end - truth.end) <= TOLERANCE, `ends ${o.end} when both last spoke (${truth.end})`);
    t.same(index.metrics.overtalkCount, { agent: 1, customer: 0 });

    t.equal(alerts.length, 1, 'agent-interrupts raised once');
    t.match(alerts[0], { rule: 'agent-interrupts', channel: 'agent' });
    t.ok(Math.abs(alerts[0].start - truth.start) <= TOLERANCE, `the alert quotes the cut-in (${alerts[0].start})`);
    t.ok(alerts[0].raisedAt < truth.end + 1.5, `raised live (${alerts[0].raisedAt}), not after the call`);
  });
}
