import t from 'tap';
import { join } from 'node:path';
import { runCli, repoRoot } from './support/cli.js';

t.test('earshot run refuses to start on a configuration an installer must fix, saying what to fix', async (t) => {
  const dir = t.testdir({
    'nolines.yml': 'recognition: { language: en }\n',
    'badpbx.yml': 'pbx:\n  floor: { path: /dev/ttyUSB0, pattern: "(?<ext>\\\\d+)" }\nlines:\n  d1:\n    agent: { extension: "1" }\n    audio: { device: 0 }\n    callState: { pbx: floor }\n',
    'twosources.yml': 'lines:\n  d1:\n    audio: { device: 0, pipe: /tmp/x }\n',
  });
  const none = await runCli(['run']);
  t.equal(none.code, 2);
  t.match(none.stderr, /earshot run needs --config <earshot\.yml> \(or --demo\)/);
  const noLines = await runCli(['run', '--config', join(dir, 'nolines.yml')]);
  t.equal(noLines.code, 2);
  t.match(noLines.stderr, /nolines\.yml: no lines configured: add a lines: section/);
  const badPbx = await runCli(['run', '--config', join(dir, 'badpbx.yml'), '--check']);
  t.equal(badPbx.code, 2);
  t.match(badPbx.stderr, /badpbx\.yml: pbx\.floor: PBX record pattern/);
  const two = await runCli(['run', '--config', join(dir, 'twosources.yml')]);
  t.equal(two.code, 2);
  t.match(two.stderr, /lines\.d1\.audio: give exactly one of .* \(found device, pipe\)/);
  t.equal(two.stdout, '', 'nothing was started');
});

t.test('the example site file in deploy/ is valid and --check describes each line', async (t) => {
  const r = await runCli(['run', '--config', join(repoRoot, 'deploy', 'earshot.yml'), '--check']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /OK: 3 line\(s\)/);
  t.match(r.stdout, /desk-1001 +audio device +calls by pbx/);
  t.match(r.stdout, /desk-1002 +audio devices +calls by hook +language zh/);
  t.match(r.stdout, /trunk-7 +audio pipe +calls by auto/);
});
