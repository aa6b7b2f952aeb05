// The agent's systemd notifications, received on a real unix datagram socket (bound by python3, as systemd
// binds its own): READY, and watchdog pings that stop while the main event loop is stuck, so systemd's
// WatchdogSec restarts a hung agent.
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { watchdogFromEnv } from '../edge/run/systemd-notify.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A datagram socket like systemd's $NOTIFY_SOCKET: every message received, in order, as it arrives. */
async function notifySocket(t: Test, socketPath: string): Promise<{ messages: string[]; next: (match: RegExp) => Promise<string> }> {
  const py = spawn('python3', ['-u', '-c', [
    'import socket, sys, json',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.bind(sys.argv[1])`,
    'print("BOUND", flush=True)',
    'while True:',
    '    print(json.dumps(s.recv(4096).decode()), flush=True)',
  ].join('\n'), socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void py.kill());
  const messages: string[] = [];
  const waiters: { match: RegExp; from: number; resolve: (m: string) => void }[] = [];
  let bound!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    bound = resolve;
    py.once('exit', (code) => reject(new Error(`the notify socket's receiver exited (${code}) before binding ${socketPath}`)));
  });
  createInterface({ input: py.stdout! }).on('line', (line) => {
    if (line === 'BOUND') return bound();
    messages.push(JSON.parse(line) as string);
    for (const w of [...waiters]) {
      const hit = messages.slice(w.from).find((m) => w.match.test(m));
      if (hit) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(hit);
      }
    }
  });
  await ready;
  return {
    messages,
    next: (match) => {
      const hit = messages.find((m) => match.test(m));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve) => waiters.push({ match, from: 0, resolve }));
    },
  };
}

function runNode(t: Test, script: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  return child;
}

t.test('watchdog pings stop while the main event loop is blocked, and come back after it', async (t) => {
  // A unix socket path has room for 107 bytes: tap's test folders are longer than that.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'earshot-notify-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'notify');
  const sock = await notifySocket(t, socketPath);
  // Pings every 20 ms (WatchdogSec 40 ms); the loop is then blocked for 600 ms: some 30 pings would be due.
  const child = runNode(
    t,
    `
    import { pino } from 'pino';
    import { SystemdNotifier, watchdogFromEnv } from './edge/run/systemd-notify.ts';
    const n = SystemdNotifier.fromEnv(pino({ level: 'silent' }));
    n.startWatchdog(watchdogFromEnv(process.env));
    n.notify('READY=1');
    await new Promise((r) => setTimeout(r, 300));
    n.notify('X-TEST=blocking');
    const until = Date.now() + 600;
    while (Date.now() < until) {}
    n.notify('X-TEST=unblocked');
    await new Promise((r) => setTimeout(r, 300));
    n.notify('X-TEST=done');
    n.close();
    `,
    { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '40000', WATCHDOG_PID: '' },
  );
  await sock.next(/^X-TEST=done$/);
  const exit = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)));
  t.equal(exit, 0);
  const m = sock.messages;
  const blocking = m.indexOf('X-TEST=blocking');
  const unblocked = m.indexOf('X-TEST=unblocked');
  t.ok(m.includes('READY=1'), 'READY=1 sent');
  t.ok(m.slice(0, blocking).filter((x) => x === 'WATCHDOG=1').length >= 3, 'pings while the loop runs');
  t.same(m.slice(blocking + 1, unblocked), [], 'not one ping while the loop is blocked');
  t.ok(m.slice(unblocked).filter((x) => x === 'WATCHDOG=1').length >= 3, 'pings again once the loop runs');
});

t.test('an abstract socket name (@...) is reached too', async (t) => {
  const name = `earshot-test-${process.pid}-${Date.now()}`;
  // python binds an abstract name with a leading NUL.
  const py = spawn('python3', ['-u', '-c', [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind("\\0" + sys.argv[1])',
    'print("BOUND", flush=True)',
    'print(s.recv(4096).decode(), flush=True)',
  ].join('\n'), name], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void py.kill());
  const lines = createInterface({ input: py.stdout! })[Symbol.asyncIterator]();
  t.equal((await lines.next()).value, 'BOUND');
  runNode(t, `import { pino } from 'pino'; import { SystemdNotifier } from './edge/run/systemd-notify.ts'; const n = SystemdNotifier.fromEnv(pino({ level: 'silent' })); n.notify('READY=1'); n.close();`, { NOTIFY_SOCKET: `@${name}` });
  t.equal((await lines.next()).value, 'READY=1');
});

t.test('the watchdog systemd asked for, and only for this process', async (t) => {
  t.same(watchdogFromEnv({ WATCHDOG_USEC: '30000000' }, 42), { intervalMs: 15000 }, 'half of WatchdogSec');
  t.same(watchdogFromEnv({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), { intervalMs: 15000 });
  t.equal(watchdogFromEnv({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42), undefined, "another process's watchdog");
  t.equal(watchdogFromEnv({}, 42), undefined, 'no WatchdogSec');
});

t.test('earshot run under systemd: pings from the start, READY once its lines are open, STOPPING on SIGTERM', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'earshot-notify-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'notify');
  const sock = await notifySocket(t, socketPath);
  const config = path.join(dir, 'earshot.yml');
  await writeFile(
    config,
    [
      `models: { root: ${JSON.stringify(path.join(dir, 'no-models'))} }`,
      `outbox: { path: ${JSON.stringify(path.join(dir, 'outbox.sqlite'))} }`,
      'uplink: { enabled: false }',
      'run: { healthPort: 0 }',
      'lines:',
      `  desk-1: { audio: { replay: [${JSON.stringify(path.join(repoRoot, 'demo', 'demo-call.wav'))}], loop: true } }`,
      '',
    ].join('\n'),
  );
  const agent = spawn(process.execPath, ['--import=tsx', path.join(repoRoot, 'edge', 'cli.ts'), 'run', '--config', config], {
    cwd: repoRoot,
    env: { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '2000000', EARSHOT_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.teardown(() => void agent.kill('SIGKILL'));
  const ready = await sock.next(/^READY=1/);
  t.match(ready, /STATUS=1 line\(s\) running/, 'READY with a status systemctl shows');
  t.ok(sock.messages.indexOf('WATCHDOG=1') < sock.messages.indexOf(ready), 'pinging while it started');
  const pingsAtReady = sock.messages.filter((m) => m === 'WATCHDOG=1').length;
  // Still pinging once running (every second here: WatchdogSec=2).
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (sock.messages.filter((m) => m === 'WATCHDOG=1').length > pingsAtReady) (clearInterval(check), resolve());
    }, 100);
  });
  t.pass('pings go on after READY');
  agent.kill('SIGTERM');
  await sock.next(/^STOPPING=1$/);
  const code = await new Promise<number | null>((r) => (agent.exitCode !== null ? r(agent.exitCode) : agent.once('exit', r)));
  t.equal(code, 0, 'a clean stop');
});
