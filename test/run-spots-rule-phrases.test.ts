// The keyword spotters listen for the rules' phrases in `earshot run` as in `earshot analyze`: loadRules()
// returns them instead of writing them into the configuration, and both commands hand them on. On the
// bundled investment call the stock-tip rule's "inside information", which is not in the default
// watch.phrases, is only heard if they do.
import t from 'tap';
import path from 'node:path';
import pino from 'pino';
import { resolveConfig } from '../provisioning/config.js';
import { resolveLines } from '../provisioning/lines.js';
import { LocalLineGroup } from '../edge/run/line-group.js';
import { loadRules } from '../edge/rules/setup.js';
import type { CallIndex } from '../edge/index/call-index.js';
import { repoRoot, runCli } from './support/cli.js';

const models = path.join(process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared'), 'models');
const INVEST = path.join(repoRoot, 'demo', 'demo-invest-en.wav');

const spotted = (index: CallIndex) => index.keywords.filter((k) => k.source === 'kws').map((k) => `${k.channel} "${k.term}" at ${k.start}`);
/** Spotter hits of `a` that `b` has no hit of (same phrase, same side, within a few frames: a line's may land a little off a file's). */
const missing = (a: CallIndex, b: CallIndex) =>
  a.keywords.filter((k) => k.source === 'kws' && !b.keywords.some((x) => x.source === 'kws' && x.term === k.term && x.channel === k.channel && Math.abs(x.start - k.start) < 0.3));

t.test('loadRules leaves the configuration as it was', async (t) => {
  const config = resolveConfig({});
  const before = structuredClone(config);
  const { watch } = loadRules(config);
  t.same(config, before);
  t.ok(watch.phrases.includes('inside information') && !config.watch.phrases.includes('inside information'), 'the rules\u2019 phrases come back instead');
});

t.test('earshot run spots every rule phrase that earshot analyze spots on the same call', async (t) => {
  const analyze = await runCli(['analyze', INVEST, '--models', models, '--lang', 'en', '--json']);
  t.equal(analyze.code, 0, analyze.stderr);
  const analyzed = JSON.parse(analyze.stdout) as CallIndex;
  const ruleOnly = spotted(analyzed).filter((k) => k.includes('"inside information"'));
  t.ok(ruleOnly.length > 0, `analyze spots a phrase only a rule asks for (${spotted(analyzed).join('; ')})`);

  // The line group as `earshot run` starts it (in the daemon's thread or a worker's), on a replay of the call.
  const config = resolveConfig({
    models: { root: models },
    recognition: { language: 'en' },
    // Live as a line is, four times faster than real time: nothing is shed, so the speed changes no word.
    lines: { 'desk-1': { audio: { replay: [INVEST], speed: 4 } } },
    run: { shed: { behindSec: 1000, caughtUpSec: 1, maxBacklogSec: 2000 } },
  });
  const indexes: CallIndex[] = [];
  const group = new LocalLineGroup({ config, settings: resolveLines(config), log: pino({ level: 'silent' }) }, { alert: () => {}, index: (i) => indexes.push(i) });
  await group.start();
  await group.done();
  await group.stop();
  t.equal(indexes.length, 1, 'the call, indexed');
  t.same(missing(analyzed, indexes[0]), [], `run spots every phrase analyze spots, where it spots it (${spotted(indexes[0]).join('; ')})`);
  t.same(missing(indexes[0], analyzed), [], 'and nothing else');
  t.same(indexes[0].alerts.map((a) => a.id), analyzed.alerts.map((a) => a.id), 'and raises the same alerts');
});
