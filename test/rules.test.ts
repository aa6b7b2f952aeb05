// Rules end to end from audio: every generated rule call (test/calls/rule-<rule>-<lang>-<hit|clean>.yml)
// through the full pipeline with the speech models from ../shared/models, the engine subscribed to the
// pipeline's events (and ticked as audio is heard). Each violation must raise its rule during the call, and
// nothing else; each clean twin nothing. English here, Mandarin in rules-zh.test.ts; bench/rules.ts scores
// the same calls.
import t from 'tap';
import { RulePackRegistry } from '../edge/rules/pack.js';
import { ruleCalls, rulesConfig, testRuleCalls } from './support/rule-calls.js';

// 24 calls, two of them a minute long (agent-monologue), through recognition: more than the default 300 s
// on a busy two-core box.
t.setTimeout(600_000);

const rules = RulePackRegistry.withBuiltins().rules();
const config = rulesConfig(rules);
const calls = ruleCalls().filter((c) => c.language === 'en');

t.test('every rule call of this language has its twin', async (t) => {
  const covered = new Set(calls.map((c) => c.rule));
  for (const rule of covered) {
    t.ok(calls.some((c) => c.rule === rule && c.violation) && calls.some((c) => c.rule === rule && !c.violation), `${rule}: violation and clean twin`);
  }
  t.same([...covered].sort(), ['late-hangup', 'forbidden-phrase', 'dead-air', 'silent-agent', 'hurried-hangup', 'customer-agitation', 'agent-interrupts', 'agent-monologue', 'credential-request', 'guaranteed-return', 'stock-tip', 'refund-lure'].sort(), 'rules covered');
});

await testRuleCalls(t, calls, rules, config, 'en');
