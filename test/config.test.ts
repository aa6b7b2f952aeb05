import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { ConfigError, defaultConfig, loadConfigFile, resolveConfig } from '../provisioning/config.js';
import schema from '../provisioning/config.schema.json' with { type: 'json' };
import { TRANSPORT_NAMES } from '../edge/uplink/transports.js';
import { resolveLines } from '../provisioning/lines.js';
import { runCli } from './support/cli.js';

t.test('an empty file is a complete configuration: every default comes from the schema', async (t) => {
  const dir = t.testdir({ 'empty.yml': '', 'partial.yml': 'analysis:\n  silence:\n    minSec: 5\n' });
  const empty = loadConfigFile(join(dir, 'empty.yml'));
  t.same(empty, defaultConfig());
  t.equal(empty.analysis.silence.minSec, 3);
  const partial = loadConfigFile(join(dir, 'partial.yml'));
  t.equal(partial.analysis.silence.minSec, 5, 'the installer’s value wins');
  t.equal(partial.analysis.overtalk.minSec, 0.3, 'siblings keep their defaults');
});

t.test('a bad configuration names the file and the setting', async (t) => {
  const dir = t.testdir({
    'typo.yml': 'analysis:\n  silense:\n    minSec: 5\n',
    'type.yml': 'analysis:\n  silence:\n    minSec: "long"\n',
    'range.yml': 'analysis:\n  emotion:\n    f0Rise: -1\n',
    'syntax.yml': 'analysis:\n  silence: [minSec: 5\n',
    'hysteresis.yml': 'analysis:\n  vad:\n    threshold: 0.3\n    negThreshold: 0.6\n',
  });
  const expectations: Record<string, RegExp> = {
    'typo.yml': /analysis: unknown setting "silense"/,
    'type.yml': /analysis\.silence\.minSec: must be number/,
    'range.yml': /analysis\.emotion\.f0Rise: must be >= 0\.01/,
    'syntax.yml': /YAML syntax error at line \d+, column \d+/,
    'hysteresis.yml': /negThreshold must not exceed/,
  };
  for (const [name, reason] of Object.entries(expectations)) {
    const file = join(dir, name);
    t.throws(() => loadConfigFile(file), ConfigError, name);
    try {
      loadConfigFile(file);
    } catch (err) {
      t.match((err as ConfigError).message, reason, name);
      t.match((err as ConfigError).file, file);
    }
  }
});

t.test('the CLI refuses a bad config with exit 2 before touching audio', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'bad.yml');
  writeFileSync(file, 'analysis:\n  overtalk:\n    minSec: 0\n');
  const result = await runCli(['analyze', 'demo/demo-call.wav', '--config', file]);
  t.equal(result.code, 2);
  t.match(result.stderr.trim(), /^earshot: .*bad\.yml: analysis\.overtalk\.minSec: must be >= 0\.05$/);
});

t.test('hostile YAML is refused by name before it is expanded: alias bomb, 10,000-deep nesting, YAML 1.1 tags, __proto__', async (t) => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n');
  const dir = t.testdir({
    'bomb.yml': `${bomb}\n`,
    'deep-flow.yml': `analysis: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`,
    'deep-seq.yml': `analysis:\n  ${'- '.repeat(10_000)}x\n`,
    'set.yml': 'analysis: !!set {silence, vad}\n',
    'proto.yml': 'lines:\n  a:\n    audio: { pipe: /run/a.pcm }\n    analysis: { __proto__: { silence: { minSec: 9 } } }\n',
    'control.yml': 'run:\n  "ring\\rBuffer\\u0007": 1\n',
  });
  const expectations: Record<string, RegExp> = {
    'bomb.yml': /YAML alias bomb: aliases expand past 100 copies/,
    'deep-flow.yml': /YAML nested too deep at line 1, column \d+: more than 100 levels/,
    'deep-seq.yml': /YAML nested too deep at line 2, column \d+/,
    'set.yml': /analysis\.vad: must be object; analysis\.silence: must be object/,
    'proto.yml': /lines\.a overrides: analysis: unknown setting "__proto__"/,
    'control.yml': /^[^\r\n]*run: unknown setting "ring\\x0dBuffer\\x07"$/,
  };
  for (const [name, reason] of Object.entries(expectations)) {
    const file = join(dir, name);
    // The guard's own message is the proof it stopped the parse; an expansion that ran would hang until tap's timeout.
    const err = t.throws(() => resolveLines(loadConfigFile(file), file), ConfigError, name) as ConfigError;
    t.match(err.message, reason, name);
    t.equal(err.file, file, `${name}: the file is named`);
  }
});

t.test('transports: the schema offers exactly the transports there are, and refuses another by name', async (t) => {
  const uplinkEnum = (schema as { properties: { uplink: { properties: { transport: { enum: string[] } } } } }).properties.uplink.properties.transport.enum;
  const ingestEnum = (schema as { properties: { ingest: { properties: { transport: { enum: string[] } } } } }).properties.ingest.properties.transport.enum;
  t.same([...uplinkEnum].sort(), [...TRANSPORT_NAMES].sort(), 'uplink.transport');
  t.same([...ingestEnum].sort(), [...TRANSPORT_NAMES].sort(), 'ingest.transport');
  t.equal(defaultConfig().uplink.transport, 'mqtt');
  t.throws(() => resolveConfig({ uplink: { transport: 'carrier-pigeon' } }, 'site.yml'), /site\.yml: uplink\.transport: must be equal to one of the allowed values/);
});
