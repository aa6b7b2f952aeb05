// Rule packs: the built-ins, schema and semantic errors naming file/line/rule, the previous pack kept.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { RulePackError, RulePackRegistry, applyOverrides, builtinPackFiles, parseRulePack, watchPhrases } from '../edge/rules/pack.js';
import { RuleEngine } from '../edge/rules/engine.js';

const BUILTIN_IDS = [
  'late-hangup',
  'forbidden-phrase',
  'dead-air',
  'silent-agent',
  'hurried-hangup',
  'customer-agitation',
  'agent-interrupts',
  'agent-monologue',
  'credential-request',
  'guaranteed-return',
  'stock-tip',
  'refund-lure',
];

t.test('the built-in packs load, every rule with an id, severity and title; phrase rules in both languages', async (t) => {
  const registry = RulePackRegistry.withBuiltins();
  t.same(
    registry.loaded.map((p) => [p.name, path.basename(p.file)]),
    [
      ['builtin', 'builtin.yml'],
      ['compliance', 'compliance.yml'],
    ],
  );
  const rules = registry.rules();
  t.same(rules.map((r) => r.id), BUILTIN_IDS);
  for (const rule of rules) {
    t.ok(['info', 'warning', 'critical'].includes(rule.severity) && rule.title.length > 3, `${rule.id}: ${rule.severity} "${rule.title}"`);
    if (rule.query) {
      t.ok(rule.terms.some((x) => /\p{Script=Han}/u.test(x)) && rule.terms.some((x) => /[a-z]/i.test(x)), `${rule.id} has zh and en phrases`);
    }
  }
  const byId = Object.fromEntries(rules.map((r) => [r.id, r]));
  t.same(
    [byId['late-hangup'].params.silenceSec, byId['dead-air'].params.silenceSec, byId['silent-agent'].params.connectSec, byId['hurried-hangup'].params.withinSec, byId['agent-interrupts'].params.minSec, byId['agent-monologue'].params.minSec],
    [8, 10, 6, 1, 1, 30],
    'default thresholds from the issue',
  );
  const watch = watchPhrases(rules);
  for (const p of ['验证码', '密码', '推荐股票', 'verification code', 'buy this stock', '再见', 'goodbye', '不知道']) t.ok(watch.includes(p), `spotters listen for ${p}`);
});

t.test('config overrides change thresholds and switch rules off; unknown names are errors', async (t) => {
  const rules = RulePackRegistry.withBuiltins().rules({ 'dead-air': { params: { silenceSec: 20 }, severity: 'critical' }, 'stock-tip': { enabled: false } });
  const deadAir = rules.find((r) => r.id === 'dead-air')!;
  t.equal(deadAir.params.silenceSec, 20);
  t.equal(deadAir.severity, 'critical');
  t.equal(rules.find((r) => r.id === 'stock-tip')!.enabled, false);
  t.notOk(watchPhrases(rules).includes('buy this stock'), 'a disabled rule needs no spotting');
  t.throws(() => applyOverrides(rules, { 'no-such-rule': { enabled: false } }), /rules\.overrides\.no-such-rule: no loaded rule/);
  t.throws(() => applyOverrides(rules, { 'dead-air': { params: { silenceSecs: 3 } } }), /dead-air has no such parameter/);
  t.equal(new RuleEngine(rules).call.clock, 0);
});

/** Parses `yaml`, expecting it refused; returns the error (or a stand-in saying it was accepted). */
function refused(yaml: string): RulePackError {
  try {
    parseRulePack(yaml, 'site.yml');
  } catch (err) {
    if (err instanceof RulePackError) return err;
    throw err;
  }
  return new RulePackError('(accepted)', null, null, 'pack was accepted');
}

const pack = (rules: string) => `pack: site\ndescription: test pack\nrules:\n${rules}`;

t.test('a bad pack is refused with the file, line and rule named', async (t) => {
  const cases: { name: string; yaml: string; line: number; rule: string | null; reason: RegExp }[] = [
    {
      name: 'unknown field, at its key',
      yaml: pack(`  - id: ok-rule\n    severity: info\n    phrases: { en: [hello] }\n  - id: typo-rule\n    severity: info\n    phrases: { en: [hi] }\n    chanel: agent\n`),
      line: 10,
      rule: 'typo-rule',
      reason: /unknown field "chanel"/,
    },
    {
      name: 'bad severity',
      yaml: pack(`  - id: loud\n    severity: high\n    phrases: { en: [hello] }\n`),
      line: 5,
      rule: 'loud',
      reason: /severity: must be one of "info", "warning", "critical"/,
    },
    {
      name: 'missing severity',
      yaml: pack(`  - id: quiet\n    phrases: { en: [hello] }\n`),
      line: 4,
      rule: 'quiet',
      reason: /missing required field "severity"/,
    },
    {
      name: 'threshold of the wrong type',
      yaml: pack(`  - id: hold\n    severity: info\n    detector: dead-air\n    params:\n      silenceSec: long\n`),
      line: 8,
      rule: 'hold',
      reason: /params\.silenceSec: must be number/,
    },
    {
      name: 'query syntax error',
      yaml: pack(`  - id: refund-card\n    severity: critical\n    query: 'refund NEAR "bank card"'\n`),
      line: 6,
      rule: 'refund-card',
      reason: /query: NEAR needs a distance in seconds.*at position 7/,
    },
    {
      name: 'unknown detector parameter',
      yaml: pack(`  - id: hold\n    severity: info\n    detector: dead-air\n    params:\n      silenceSecs: 12\n`),
      line: 8,
      rule: 'hold',
      reason: /unknown parameter "silenceSecs" for detector dead-air \(known: silenceSec\)/,
    },
    {
      name: 'duplicate id',
      yaml: pack(`  - id: twice\n    severity: info\n    phrases: { en: [a] }\n  - id: twice\n    severity: info\n    phrases: { en: [b] }\n`),
      line: 7,
      rule: 'twice',
      reason: /duplicate rule id \(also at line 4\)/,
    },
    {
      name: 'phrases and query together',
      yaml: pack(`  - id: both\n    severity: info\n    phrases: { en: [a] }\n    query: b\n`),
      line: 7,
      rule: 'both',
      reason: /either phrases or query/,
    },
    {
      name: 'nothing to match',
      yaml: pack(`  - id: empty\n    severity: info\n`),
      line: 4,
      rule: 'empty',
      reason: /nothing to match/,
    },
    {
      name: 'late-hangup without closing phrases',
      yaml: pack(`  - id: late\n    severity: info\n    detector: late-hangup\n`),
      line: 6,
      rule: 'late',
      reason: /needs phrases/,
    },
    {
      name: 'unknown metric',
      yaml: pack(`  - id: m\n    severity: info\n    when:\n      metrics:\n        talkTime: { min: 3 }\n`),
      line: 8,
      rule: 'm',
      reason: /when\.metrics: unknown field "talkTime"/,
    },
    {
      name: 'no rules at all',
      yaml: `pack: site\nrules: []\n`,
      line: 2,
      rule: null,
      reason: /rules: must NOT have fewer than 1 items/,
    },
    {
      name: 'YAML syntax',
      yaml: pack(`  - id: x\n    severity: info\n    phrases: { en: [a }\n`),
      line: 6,
      rule: null,
      reason: /YAML syntax error/,
    },
  ];
  for (const c of cases) {
    const err = refused(c.yaml);
    t.equal(err.file, 'site.yml', c.name);
    t.equal(err.line, c.line, `${c.name}: line (${err.message})`);
    t.equal(err.rule, c.rule, `${c.name}: rule`);
    t.match(err.reason, c.reason, `${c.name}: ${err.reason}`);
    t.match(err.message, new RegExp(`^site\\.yml:${c.line}: ${c.rule ? `rule "${c.rule}": ` : ''}`), `${c.name}: message names file, line and rule`);
  }
});

t.test('a bad pack is refused as a whole and the previous one stays in force', async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, 'site.yml');
  const registry = RulePackRegistry.withBuiltins();
  writeFileSync(file, pack(`  - id: site-cancel\n    severity: info\n    phrases: { en: [cancel], zh: [取消] }\n`));
  registry.load(file);
  t.ok(registry.rules().some((r) => r.id === 'site-cancel'));

  writeFileSync(file, pack(`  - id: site-cancel\n    severity: info\n    phrases: { en: [cancel, "close my account"] }\n  - id: site-bad\n    severity: urgent\n    phrases: { en: [x] }\n`));
  const err = t.throws(() => registry.load(file)) as RulePackError;
  t.match(err, { file, line: 8, rule: 'site-bad' });
  const kept = registry.rules().find((r) => r.id === 'site-cancel')!;
  t.same(kept.terms, ['取消', 'cancel'], 'the previous version of the pack still runs');
  t.notOk(registry.rules().some((r) => r.id === 'site-bad'));

  writeFileSync(file, pack(`  - id: dead-air\n    severity: info\n    detector: dead-air\n`));
  t.throws(() => registry.load(file), { rule: 'dead-air', line: 4, message: /already defined by pack "builtin"/ }, 'a site cannot redefine a built-in rule by id');
  t.ok(registry.rules().some((r) => r.id === 'site-cancel'));

  t.throws(() => registry.load(path.join(dir, 'missing.yml')), /missing\.yml: no such file/);
  t.equal(registry.loaded.length, 3);
});

t.test('the pack files on disk are the ones documented', async (t) => {
  t.same(builtinPackFiles().map((f) => path.relative(path.resolve(import.meta.dirname, '..'), f)), ['rules/builtin.yml', 'rules/compliance.yml']);
});
