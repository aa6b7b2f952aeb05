// Agitation on two cues: a caller who is a third higher and 20% faster at only +4 dB is flagged within 1.5 s of
// starting, and the alert quotes the three rises; the same caller merely 4 dB louder is not, nor are her calm
// turns. bench/agitation.ts measures the grid (pitch, tempo, loudness, voices, noise, 8 kHz) and long calm calls.
import t from 'tap';
import { renderCallByName } from './support/calls.js';
import { analyzeRendered } from './support/analysis.js';
import { defaultConfig } from '../provisioning/config.js';
import { RulePackRegistry } from '../edge/rules/pack.js';

// Rendering a call on a busy two-core box can take minutes.
t.setTimeout(600_000);

const rules = RulePackRegistry.withBuiltins().rules().filter((r) => r.id === 'customer-agitation');

t.test('agitation-two-cues-en: higher and faster is agitated; merely louder is not', async (t) => {
  const call = await renderCallByName('agitation-two-cues-en');
  const { index, alerts } = await analyzeRendered(call, {}, defaultConfig(), undefined, rules);
  const customer = call.truth.turns.filter((x) => x.channel === 'customer');
  const agitated = customer.find((x) => x.agitation && x.agitation.pitch > 0)!;
  const louder = customer.find((x) => x.agitation && x.agitation.pitch === 0)!;

  const onAgitated = index.emotion.filter((e) => e.channel === 'customer' && e.start < agitated.end && e.end > agitated.start);
  t.ok(onAgitated.length >= 1, `the agitated turn ${agitated.start}-${agitated.end} is flagged: ${JSON.stringify(index.emotion)}`);
  t.ok(onAgitated[0] && onAgitated[0].start <= agitated.start + 1.5, `within 1.5 s of its start (${onAgitated[0]?.start})`);
  const elsewhere = index.emotion.filter((e) => !onAgitated.includes(e));
  t.same(elsewhere, [], `nothing else: not the louder turn at ${louder.start}, not the calm ones, not the agent`);

  t.equal(alerts.length >= 1 ? alerts[0].rule : null, 'customer-agitation', 'customer-agitation raised');
  t.match(alerts.at(-1)?.evidence, /pitch \+\d+%, tempo [+-]\d+%, loudness \+[\d.]+ dB \(score [\d.]+\)/, 'the evidence quotes the three rises');
  t.ok(alerts.every((a) => a.start < agitated.end), 'no alert on the louder turn');
});
