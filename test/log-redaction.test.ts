/** The box's log is a sink like any other: structured fields that carry speech are logged redacted. */
import t from 'tap';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { repoRoot } from './support/cli.js';

t.test('a log line keeps its context and masks the secrets in speech-bearing fields', async (t) => {
  const script = `import { log } from ${JSON.stringify(resolve(repoRoot, 'lib/log.ts'))};
log.warn({ text: 'the pin is 4 3 2 1', preview: 'CALL 4111 1111 1111 1111 ext 204', alert: { evidence: 'my cvv is seven three one' }, depth: 12 }, 'something to look at');`;
  const stderr = await new Promise<string>((res, rej) =>
    execFile(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { cwd: repoRoot }, (err, _out, errText) => (err ? rej(err) : res(errText))),
  );
  const line = JSON.parse(stderr.trim().split('\n').pop()!);
  t.equal(line.text, 'the pin is * * * *');
  t.equal(line.preview, 'CALL **** **** **** 1111 ext 204');
  t.equal(line.alert.evidence, 'my cvv is * * *');
  t.equal(line.depth, 12, 'other fields untouched');
  t.equal(line.msg, 'something to look at');
});
