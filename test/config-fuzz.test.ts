// Garbage in the box's YAML configuration: whatever the file holds, loading it (and resolving its lines) ends
// in a ConfigError naming the file and the problem on one line, or in a configuration; never another
// exception and never a hang. The named cases (alias bomb, deep nesting, YAML 1.1 tags) are in config.test.ts.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, loadConfigFile } from '../provisioning/config.js';
import { resolveLines } from '../provisioning/lines.js';
import { repoRoot } from './support/cli.js';
import { fuzzSeed, hostilePayloads, mutateFields, seeded, toJson } from './support/fuzz.js';

const SITE = readFileSync(join(repoRoot, 'deploy/earshot.yml'), 'utf8');

/** What is wrong with how the box takes `file`, if anything; `names` is a setting the refusal must mention. */
function problem(file: string, names?: string): string | undefined {
  // No time limit here: on a loaded machine a 1 MB file of YAML errors takes tens of seconds; a hang is caught by
  // tap's own timeout, and the time a hostile file costs belongs in a benchmark.
  try {
    resolveLines(loadConfigFile(file), file);
  } catch (err) {
    if (!(err instanceof ConfigError)) return `threw ${(err as Error)?.name ?? typeof err} instead of ConfigError: ${String((err as Error)?.message).slice(0, 300)}`;
    if (err.file !== file || !err.message.startsWith(`${file}: `)) return `the message does not start with the file: ${err.message.slice(0, 200)}`;
    if (/[\r\n]/.test(err.message)) return `the message spans lines: ${JSON.stringify(err.message.slice(0, 300))}`;
    if (err.reason.trim() === '') return 'no reason given';
    if (names !== undefined && !err.reason.startsWith('YAML') && !err.reason.includes(names)) return `the refusal does not name ${names}: ${err.reason.slice(0, 300)}`;
  }
  return undefined;
}

t.test('hostile bytes as the config file: a ConfigError naming the file, or a configuration', async (t) => {
  const seed = fuzzSeed(t);
  const file = join(t.testdir({}), 'earshot.yml');
  const problems: string[] = [];
  let n = 0;
  for (const p of hostilePayloads(seed, 400, { valid: [SITE, 'analysis:\n  silence: { minSec: 5 }\n', 'lines:\n  a: { audio: { pipe: /run/a.pcm } }\n'] })) {
    writeFileSync(file, p.bytes);
    const why = problem(file);
    if (why) problems.push(seeded(seed, p.label, why));
    n++;
  }
  t.same(problems.slice(0, 10), [], `${problems.length} problems in ${n} files`);
});

t.test('every setting of the example site file given a wrong value, removed or joined by an unknown one: refused naming it', async (t) => {
  const seed = fuzzSeed(t);
  const file = join(t.testdir({}), 'earshot.yml');
  const site = parse(SITE) as object;
  const problems: string[] = [];
  let n = 0;
  for (const m of mutateFields(site, seed)) {
    // JSON is YAML: the file holds exactly the mutated value, however deep or long.
    writeFileSync(file, toJson(m.value));
    const why = problem(file, String(m.path[0]));
    if (why) problems.push(seeded(seed, m.label, why));
    n++;
  }
  t.ok(n >= 300, `${n} variants`);
  t.same(problems.slice(0, 10), [], `${problems.length} problems in ${n} variants`);
});
