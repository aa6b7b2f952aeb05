// A rule pack swapped into a running line group (a rules bundle, edge/run/live-bundles.ts) brings a phrase
// the keyword spotters were not built for: the group rebuilds them, and the line's next call hears the phrase,
// raises the rule's alert and names the bundle's version. A pack that does not load leaves the group as it was.
import t from 'tap';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import pino from 'pino';
import { resolveConfig } from '../provisioning/config.js';
import { resolveLines } from '../provisioning/lines.js';
import { LocalLineGroup } from '../edge/run/line-group.js';
import { bundleContentFile } from '../edge/bundles/bundle.js';
import type { CallIndex } from '../edge/index/call-index.js';
import { repoRoot } from './support/cli.js';

const models = path.join(process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared'), 'models');
const INVEST = path.join(repoRoot, 'demo', 'demo-invest-en.wav');
/** The line plays four times faster than real time: what is checked is which rules judge the call, not when. */
const SPEED = 4;
/** Of wall time: five times what rebuilding the spotters took on a two-core box already busy with a benchmark (2-3 s), so they load first. */
const FIRST_CALL_AFTER_SEC = 15;

const pack = (phrase: string) => `pack: site-extra\nrules:\n  - id: tip-off\n    title: Inside tip\n    severity: warning\n    phrases:\n      en: ["${phrase}"]\n`;

t.test('a swapped-in pack with a new phrase: the spotters are rebuilt and the next call raises its alert', async (t) => {
  const dir = t.testdir({});
  const config = resolveConfig({
    models: { root: models },
    recognition: { language: 'en' },
    rules: { builtin: false },
    uplink: { signing: { bundleDir: path.join(dir, 'bundles') } },
    lines: { 'desk-1': { audio: { replay: [INVEST], speed: SPEED } } },
    run: { shed: { behindSec: 1000, caughtUpSec: 1, maxBacklogSec: 2000 } },
  });
  const indexes: CallIndex[] = [];
  const group = new LocalLineGroup(
    { config, settings: resolveLines(config), log: pino({ level: 'silent' }), staggerSec: FIRST_CALL_AFTER_SEC * SPEED, order: { 'desk-1': 1 } },
    { alert: () => {}, index: (i) => indexes.push(i) },
  );
  await group.start();
  t.teardown(() => group.stop());

  // As the bundle store leaves it: the pack kept in the bundle directory, then the group told.
  mkdirSync(path.join(dir, 'bundles'));
  writeFileSync(bundleContentFile(config.uplink.signing.bundleDir, 'rules'), pack('inside information'));
  const started = Date.now();
  await group.reload({ config, rulesBundle: 7 });
  t.ok(Date.now() - started < FIRST_CALL_AFTER_SEC * 1000, `reloaded before the call began (${Date.now() - started} ms)`);

  // A pack that does not load (bad YAML) is refused; the one just put in force stays.
  writeFileSync(bundleContentFile(config.uplink.signing.bundleDir, 'rules'), 'pack: [');
  await t.rejects(group.reload({ config, rulesBundle: 8 }), /YAML/);

  await group.done();
  t.equal(indexes.length, 1, 'the call, indexed');
  const index = indexes[0]!;
  t.ok(index.keywords.some((k) => k.source === 'kws' && k.term === 'inside information'), 'the rebuilt spotters heard the new phrase');
  t.ok(index.alerts.some((a) => a.rule === 'tip-off'), "the new rule's alert");
  t.equal(index.line?.rulesBundle, 7, 'judged by v7, not the refused v8');
});
