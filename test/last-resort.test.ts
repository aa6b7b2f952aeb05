/**
 * What cannot be contained ends the process with a clear code and a note, and the next process says on the
 * box's status topic why it restarted.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox } from '../edge/outbox/outbox.js';
import { Uplink } from '../edge/uplink/uplink.js';
import { Topics } from '../edge/uplink/topics.js';
import { EXIT_UNCONTAINED, exitNoteFile, takePreviousExit } from '../edge/last-resort.js';
import { FakeTransport } from './support/fake-transport.js';
import { repoRoot } from './support/cli.js';

function runScript(code: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], { cwd: repoRoot }, (_err, stdout) => resolve({ code: child.exitCode, stdout }));
  });
}

for (const [what, trigger] of [
  ['uncaught exception', "setTimeout(() => { throw new TypeError(\"Cannot read properties of null (reading 'schema')\"); }, 10);"],
  ['unhandled promise rejection', "void Promise.reject(new RangeError('Maximum call stack size exceeded'));"],
] as const) {
  t.test(`an ${what} exits with ${EXIT_UNCONTAINED}, logs why, and leaves a note the next process reports`, async (t) => {
    const dir = t.testdir();
    const note = exitNoteFile(dir);
    const script = `
      import pino from 'pino';
      import { installLastResort } from './edge/last-resort.ts';
      installLastResort(pino(pino.destination({ dest: 1, sync: true })), ${JSON.stringify(note)});
      ${trigger}
      setTimeout(() => console.log('still running'), 2000);`;
    const run = await runScript(script);
    t.equal(run.code, EXIT_UNCONTAINED, 'a distinct exit code, so systemd restarts it and an operator can tell');
    t.notMatch(run.stdout, /still running/, 'the process did not carry on in an unknown state');
    const fatal = JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as { level: number; msg: string };
    t.equal(fatal.level, 60, 'logged as fatal');
    t.match(fatal.msg, new RegExp(`^${what}: \\w+Error: `));
    t.ok(existsSync(note));
    t.match(JSON.parse(readFileSync(note, 'utf8')), { reason: new RegExp(what), exitCode: EXIT_UNCONTAINED });

    const previous = takePreviousExit(note);
    t.notOk(existsSync(note), 'the note is reported once');
    const outbox = new Outbox(join(dir, 'o.sqlite'));
    const transport = new FakeTransport();
    const uplink = new Uplink({
      outbox, transport, topics: new Topics('earshot', 's', 'b1'), ackMode: 'ingest', inflight: 4, ackTimeoutSec: 30, stalledAfter: 3,
      deniedBackoff: { minSec: 1, maxSec: 2 }, statsIntervalSec: 3600, statsExpirySec: 60, restartedAfter: previous,
    });
    uplink.start();
    await new Promise((r) => setTimeout(r, 20));
    const status = JSON.parse(transport.published.find((p) => p.topic === 'earshot/s/b1/status')?.payload ?? '{}') as { restartedAfter?: { reason: string } };
    t.match(status.restartedAfter?.reason, what, 'the status topic says why the box restarted');
    await uplink.stop();
    outbox.close();
  });
}

t.test('no note, no report', async (t) => {
  t.equal(takePreviousExit(exitNoteFile(t.testdir())), null);
});
