// Garbage as a rule pack: whatever the file holds, loading it ends in a RulePackError naming the file (and the
// line when it has one) on one line, or in a pack; never another exception, never a hang; and a refused pack
// leaves the pack loaded before from that file in force.
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { RulePackError, RulePackRegistry, builtinPackFiles } from '../edge/rules/pack.js';
import { fuzzSeed, hostilePayloads, mutateFields, seeded, toJson } from './support/fuzz.js';

const SITE_PACK = `pack: site\nrules:\n  - id: site-cancel\n    severity: info\n    channel: customer\n    phrases: { en: [cancel], zh: [取消] }\n  - id: site-refund\n    severity: warning\n    query: 'refund NEAR/5 "bank card"'\n    when: { window: { first: 60 } }\n`;
const BUILTIN_TEXTS = builtinPackFiles().map((f) => readFileSync(f, 'utf8'));

/** Loads `bytes` as the site pack over the good one; what is wrong with the outcome, if anything. */
function problem(registry: RulePackRegistry, file: string, bytes: Buffer | string, good: string[]): string | undefined {
  writeFileSync(file, bytes);
  // A parse that never ends is left to tap's timeout, as in config-fuzz: a wall-clock bound here failed a 1 MB
  // case that took 77-90 s on a two-core machine at load 40 and seconds on a quiet one.
  try {
    registry.load(file);
  } catch (err) {
    if (!(err instanceof RulePackError)) return `threw ${(err as Error)?.name ?? typeof err} instead of RulePackError: ${String((err as Error)?.message).slice(0, 300)}`;
    if (err.file !== file || !err.message.startsWith(file)) return `the message does not start with the file: ${err.message.slice(0, 200)}`;
    const lines = String(bytes).split('\n').length;
    if (err.line !== null && !(Number.isInteger(err.line) && err.line >= 1 && err.line <= lines + 1)) return `line ${err.line} is not in the file (${lines} lines)`;
    if (/[\r\n]/.test(err.message)) return `the message spans lines: ${JSON.stringify(err.message.slice(0, 300))}`;
    const ids = registry.rules().map((r) => r.id);
    if (good.some((id) => !ids.includes(id))) return `the previous pack is no longer in force (rules now: ${ids.join(', ')})`;
  }
  // Whatever was accepted, the good pack goes back in before the next case.
  writeFileSync(file, SITE_PACK);
  registry.load(file);
  return undefined;
}

/** A registry with the good site pack loaded from a fresh file, and that pack's rule ids: what must stay in force. */
function siteLoaded(t: Test): { seed: number; file: string; registry: RulePackRegistry; good: string[] } {
  const file = join(t.testdir({}), 'site.yml');
  const registry = RulePackRegistry.withBuiltins();
  writeFileSync(file, SITE_PACK);
  registry.load(file);
  return { seed: fuzzSeed(t), file, registry, good: registry.rules().map((r) => r.id) };
}

t.test('hostile bytes as a rule pack: RulePackError naming the file and line, and the previous pack stays in force', async (t) => {
  const { seed, file, registry, good } = siteLoaded(t);
  const problems: string[] = [];
  let n = 0;
  for (const p of hostilePayloads(seed, 300, { valid: [SITE_PACK, ...BUILTIN_TEXTS.map((x) => x.replace(/^pack: \w+/m, 'pack: site').replace(/id: /g, 'id: s-'))] })) {
    const why = problem(registry, file, p.bytes, good);
    if (why) problems.push(seeded(seed, p.label, why));
    n++;
  }
  t.same(problems.slice(0, 10), [], `${problems.length} problems in ${n} packs`);
});

t.test('every field of a pack given a wrong value, removed or joined by an unknown one: refused, previous pack kept', async (t) => {
  const { seed, file, registry, good } = siteLoaded(t);
  const problems: string[] = [];
  let n = 0;
  for (const m of mutateFields(parse(SITE_PACK) as object, seed, 10)) {
    const why = problem(registry, file, toJson(m.value), good);
    if (why) problems.push(seeded(seed, m.label, why));
    n++;
  }
  t.ok(n >= 200, `${n} variants`);
  t.same(problems.slice(0, 10), [], `${problems.length} problems in ${n} variants`);
});
