import t from 'tap';
import path from 'node:path';
import { cpSync, readFileSync, appendFileSync, mkdirSync } from 'node:fs';
import { runCli, repoRoot } from './support/cli.js';
import { renderCallByName } from './support/calls.js';
import { callIndexProblems } from '../edge/index/validate.js';

const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

t.test('--help lists the commands', async (t) => {
  const { code, stdout } = await runCli(['--help']);
  t.equal(code, 0);
  for (const command of ['analyze', 'search', 'models']) t.match(stdout, new RegExp(`\\n\\s+${command}\\b`));
});

t.test('the demo call: a readable summary, and an index that matches the schema', async (t) => {
  const dir = t.testdir({});
  const out = path.join(dir, 'demo.json');
  const { code, stdout } = await runCli(['analyze', 'demo/demo-call.wav', '--out', out, '--models', path.join(dir, 'no-models')]);
  t.equal(code, 0);
  t.match(stdout, /Call demo-call: 0:47\.3 long/);
  t.match(stdout, /silence\s+1 stretch/);
  t.match(stdout, /customer talked over the agent/);
  t.match(stdout, /emotion\s+1 raised stretch/);
  t.match(stdout, /agent: not transcribed: no recognizer provisioned/, 'says why there is no transcript');
  const index = JSON.parse(readFileSync(out, 'utf8'));
  t.same(callIndexProblems(index), []);
  t.equal(index.source.encoding, 'mulaw');
  t.equal(index.source.sampleRate, 8000);
});

t.test('two mono files of one call give the same shape as the stereo call', async (t) => {
  const split = await renderCallByName('en-split');
  const { code, stdout } = await runCli(['analyze', '--agent', split.agentWav as string, '--customer', split.customerWav as string, '--json']);
  t.equal(code, 0);
  const index = JSON.parse(stdout);
  t.ok(index.utterances.some((u: { channel: string }) => u.channel === 'agent') && index.utterances.some((u: { channel: string }) => u.channel === 'customer'));
  const both = await runCli(['analyze', split.agentWav as string, '--agent', split.agentWav as string]);
  t.equal(both.code, 2, 'a stereo call and --agent together is a usage error');
});

t.test('models install onto a box, then analyze transcribes; a corrupted model is skipped with a reason', async (t) => {
  const base = t.testdir({});
  const root = path.join(base, 'box-models');
  const install = await runCli(['models', 'install', path.join(shared, 'models', 'kws-en-gigaspeech-3.3M'), '--root', root]);
  t.equal(install.code, 0, install.stderr);
  t.match(install.stdout, /installed kws-en-gigaspeech-3\.3M/);
  const call = await renderCallByName('en-basic');
  const ok = await runCli(['analyze', call.wav as string, '--models', root, '--lang', 'en']);
  t.equal(ok.code, 0);
  t.match(ok.stdout, /thank you for calling/);
  // A box whose model file was damaged after install keeps analysing, and says why there are no words.
  const broken = path.join(root, 'kws-en-gigaspeech-3.3M');
  appendFileSync(path.join(broken, 'tokens.txt'), 'x');
  const degraded = await runCli(['analyze', call.wav as string, '--models', root, '--lang', 'en', '--json']);
  t.equal(degraded.code, 0);
  const index = JSON.parse(degraded.stdout);
  t.equal(index.recognition.agent.degraded, true);
  t.ok(index.utterances.length > 5, 'signal analysis unaffected');
  const corrupt = path.join(base, 'usb', 'kws-en-gigaspeech-3.3M');
  mkdirSync(path.dirname(corrupt));
  cpSync(broken, corrupt, { recursive: true });
  const refused = await runCli(['models', 'install', corrupt, '--root', path.join(base, 'other-box')]);
  t.equal(refused.code, 2, 'a corrupt model is not installed');
  t.match(refused.stderr, /tokens\.txt/);
});

t.test('search: matches, no match (exit 1), bad query (exit 2 with position)', async (t) => {
  const dir = t.testdir({});
  const call = await renderCallByName('en-refund-scam');
  const out = path.join(dir, 'scam.json');
  t.equal((await runCli(['analyze', call.wav as string, '--models', path.join(shared, 'models'), '--out', out])).code, 0);
  const hit = await runCli(['search', 'agent:"verification code"', out]);
  t.equal(hit.code, 0);
  t.match(hit.stdout, /agent \d+:\d+\.\d-\d+:\d+\.\d\s+"verification code"/);
  const none = await runCli(['search', 'customer:"verification code"', out]);
  t.equal(none.code, 1);
  const bad = await runCli(['search', 'refund AND (', out]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^earshot: query: .*position 12/);
});

t.test('--rules: a site pack raises its alert in the summary; a bad pack is refused naming file, line and rule', async (t) => {
  const dir = t.testdir({
    'site.yml': [
      'pack: site',
      'description: words this site cares about',
      'rules:',
      '  - id: bank-card-mention',
      '    title: Bank card discussed',
      '    severity: warning',
      '    channel: agent',
      '    phrases:',
      '      en: ["bank card"]',
      '',
    ].join('\n'),
    'bad.yml': ['pack: bad', 'rules:', '  - id: broken', '    title: no kind at all', '    severity: loud', ''].join('\n'),
  });
  const call = await renderCallByName('en-refund-scam');
  const ok = await runCli(['analyze', call.wav as string, '--models', path.join(shared, 'models'), '--lang', 'en', '--rules', path.join(dir, 'site.yml')]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /warning\s+bank-card-mention \(agent, raised at \d:\d\d\.\d\): .*bank card/);
  t.match(ok.stdout, /critical\s+credential-request/, 'the built-in compliance pack runs too');
  const bad = await runCli(['analyze', call.wav as string, '--rules', path.join(dir, 'bad.yml')]);
  t.equal(bad.code, 2);
  t.match(bad.stderr.trim(), /^earshot: .*bad\.yml:\d+: rule "broken": /);
});

t.test('earshot --version prints the version of the package, and exits 0', async (t) => {
  const { version } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await runCli([flag]);
    t.equal(r.code, 0, flag);
    t.equal(r.stdout.trim(), version, flag);
  }
});
