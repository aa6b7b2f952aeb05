// The import directions of docs/architecture.md, checked on every .ts file in the repository: a module may
// import from its own layer and the layers below it, never above. An upward import fails here, naming the
// file, the import and the rule, before it can become a cycle that nobody meant.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { repoRoot } from './support/cli.js';

/** Product layers, lowest first. */
const LAYERS = ['lib', 'provisioning', 'device', 'models', 'edge', 'enrolment', 'central'] as const;
type Layer = (typeof LAYERS)[number];

/**
 * Enrolment is provisioning's one job above the box: it proves the broker connection the box will make, with
 * the uplink's own topics and transport, before it writes the config. The config schema and the identity
 * check it writes for stay at the bottom, where everything reads them.
 */
const ENROLMENT = ['provisioning/enrol.ts', 'provisioning/broker-check.ts', 'provisioning/provision-command.ts'];

/** The composition root: the CLI wires the box and the centre together, so it may import anything. */
const ROOT = 'edge/cli.ts';

function layerOf(file: string): Layer | undefined {
  if (ENROLMENT.includes(file)) return 'enrolment';
  const top = file.split('/')[0];
  return (LAYERS as readonly string[]).includes(top) ? (top as Layer) : undefined;
}

const under = (file: string, dir: string) => file === dir || file.startsWith(`${dir}/`);

/** Why `from` may not import `to` (both repository-relative), or null when it may. */
export function forbidden(from: string, to: string): string | null {
  if (from === ROOT) return null;
  const a = layerOf(from);
  const b = layerOf(to);
  if (a && !b) return `product code imports ${to.split('/')[0]}/ (tests, benches and scripts are not part of the product)`;
  if (a && b && LAYERS.indexOf(b) > LAYERS.indexOf(a)) return `${a}/ is below ${b}/ (layers, lowest first: ${LAYERS.join(' < ')})`;
  if (to === ROOT) return `${ROOT} is the composition root: nothing imports it`;
  // Inside edge/: the daemon is the top of the box; the outbox lies below the uplink that drains it; search and
  // the analysis pipeline know nothing of what consumes them.
  if (a && under(to, 'edge/run') && !under(from, 'edge/run')) return 'only edge/run/ imports edge/run/ (the daemon is the top of the box)';
  if (under(from, 'edge/outbox') && under(to, 'edge/uplink')) return 'edge/outbox/ is below edge/uplink/';
  // The call's state is read by the rules and the index, so it knows neither; the index holds the rules'
  // alerts, so the rules know nothing of the index (they used to import each other).
  for (const low of ['edge/search', 'edge/analysis', 'edge/call']) {
    for (const high of ['edge/index', 'edge/rules', 'edge/outbox', 'edge/uplink'])
      if (under(from, low) && under(to, high)) return `${low}/ is below ${high}/`;
  }
  if (under(from, 'edge/rules') && under(to, 'edge/index')) return 'edge/rules/ is below edge/index/';
  // Tests and benches share helpers only through test/support/.
  const support = under(to, 'test/support');
  if (under(from, 'bench') && (under(to, 'test') || under(to, 'hw-tests')) && !support) return 'bench/ uses test code only through test/support/';
  if (under(from, 'hw-tests') && under(to, 'test') && !support) return 'hw-tests/ uses test code only through test/support/';
  if ((under(from, 'test') || under(from, 'hw-tests')) && under(to, 'bench')) return 'tests do not import benches: share through test/support/';
  if (under(from, 'test') && under(to, 'hw-tests')) return 'test/ does not import hw-tests/: share through test/support/';
  if (under(from, 'test/support') && under(to, 'test') && !support) return 'test/support/ imports only itself from test/';
  return null;
}

/** Every relative import and re-export of a file (static, dynamic and type-only), repository-relative. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(path.join(repoRoot, file), 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
}

t.test('the rule itself: an upward import is refused, a downward one is not', async (t) => {
  t.match(forbidden('device/wav.ts', 'edge/events.ts'), /device\/ is below edge\//);
  t.match(forbidden('provisioning/config.ts', 'edge/rules/types.ts'), /provisioning\/ is below edge\//);
  t.match(forbidden('edge/publish.ts', 'edge/run/line.ts'), /only edge\/run\//);
  t.match(forbidden('edge/outbox/outbox.ts', 'edge/uplink/uplink.ts'), /edge\/outbox\/ is below edge\/uplink\//);
  t.match(forbidden('bench/rules.ts', 'test/search.test.ts'), /through test\/support/);
  t.match(forbidden('edge/analyze.ts', 'central/store/store.ts'), /edge\/ is below central\//);
  t.match(forbidden('edge/call/call-state.ts', 'edge/rules/types.ts'), /edge\/call\/ is below edge\/rules\//);
  t.match(forbidden('edge/rules/engine.ts', 'edge/index/call-index.ts'), /edge\/rules\/ is below edge\/index\//);
  t.equal(forbidden('edge/index/call-index.ts', 'edge/rules/types.ts'), null);
  t.equal(forbidden('central/search/search.ts', 'edge/search/query.ts'), null, 'the centre may use the box');
  t.equal(forbidden('edge/uplink/uplink.ts', 'lib/log.ts'), null);
  t.equal(forbidden('central/ingest.ts', 'edge/uplink/wire.ts'), null);
  t.equal(forbidden('edge/cli.ts', 'central/central.ts'), null, 'the CLI composes everything');
  t.equal(forbidden('bench/rules.ts', 'test/support/calls.ts'), null);
  t.equal(forbidden('provisioning/enrol.ts', 'edge/uplink/topics.ts'), null, 'enrolment proves the uplink');
  t.match(forbidden('edge/uplink/start-uplink.ts', 'provisioning/enrol.ts'), /edge\/ is below enrolment\//);
});

t.test('no file in the repository imports up the layers', async (t) => {
  const files = execFileSync('git', ['ls-files', '*.ts'], { cwd: repoRoot, encoding: 'utf8' }).split('\n').filter((f) => f && !f.endsWith('.d.ts'));
  t.ok(files.length > 100, `${files.length} files checked`);
  const violations: string[] = [];
  let imports = 0;
  for (const file of files) {
    for (const target of importsOf(file)) {
      imports++;
      const why = forbidden(file, target);
      if (why) violations.push(`${file} imports ${target}: ${why}`);
    }
  }
  t.ok(imports > 500, `${imports} imports read`);
  t.same(violations, [], 'no upward import');
});
