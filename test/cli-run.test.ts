import t from 'tap';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
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
  // As shipped it names the certificate enrolment installs: on a box without it, --check says so first.
  const shipped = await runCli(['run', '--config', join(repoRoot, 'deploy', 'earshot.yml'), '--check']);
  t.equal(shipped.code, 2, 'a box not yet enrolled does not pass the check');
  t.match(shipped.stderr, /\/etc\/earshot\/box\.pem: no such certificate file/, 'and the check names the missing certificate');
  // The same site before enrolment (no TLS section yet) describes its lines.
  const example = readFileSync(join(repoRoot, 'deploy', 'earshot.yml'), 'utf8');
  t.match(example, /^ {2}tls: .*\n/m, 'the example has its TLS line');
  const unenrolled = join(t.testdir({}), 'earshot.yml');
  writeFileSync(unenrolled, example.replace(/^ {2}tls: .*\n/m, ''));
  const r = await runCli(['run', '--config', unenrolled, '--check']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /OK: 3 line\(s\)/);
  t.match(r.stdout, /desk-1001 +audio device +calls by pbx/);
  t.match(r.stdout, /desk-1002 +audio devices +calls by hook +language zh/);
  t.match(r.stdout, /trunk-7 +audio pipe +calls by auto/);
});
