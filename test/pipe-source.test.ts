import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './support/cli.js';
import { CaptureError, type StereoChunk } from '../device/capture.js';
import { PipeSource } from '../device/pipe-source.js';
import { tempDir } from './support/temp.js';

const dir = tempDir('pipe');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let fifoCount = 0;
function fifo(): string {
  const path = join(dir, `line-${fifoCount++}.pcm`);
  execFileSync('mkfifo', [path]);
  return path;
}

/** Stereo s16le at 16 kHz: agent counts up from `from`, customer is its negative, so order and side both show. */
function counterPcm(from: number, frames: number): Buffer {
  const buf = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const v = ((from + i) % 30000) + 1;
    buf.writeInt16LE(v, i * 4);
    buf.writeInt16LE(-v, i * 4 + 2);
  }
  return buf;
}

/** A separate writer process, as a call recorder would be: it opens the FIFO, writes, and exits. */
function writer(path: string, data: Buffer): Promise<void> {
  const file = join(dir, `w-${Math.random().toString(36).slice(2)}.raw`);
  writeFileSync(file, data);
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, path], { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
  });
}

/** Reads until `samples` per side have come, or the iterator ends. */
async function collect(chunks: AsyncIterator<StereoChunk>, samples: number, timeoutMs = 10_000) {
  const got: StereoChunk[] = [];
  let n = 0;
  const deadline = Date.now() + timeoutMs;
  while (n < samples) {
    const next = await Promise.race([
      chunks.next(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out with ${n} of ${samples} samples`)), deadline - Date.now()).unref()),
    ]);
    if (next.done) break;
    got.push(next.value);
    n += next.value.agent.length;
  }
  return got;
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function sideValues(chunks: StereoChunk[], side: 'agent' | 'customer'): number[] {
  return chunks.flatMap((c) => [...c[side]].map((x) => Math.round(x * 32768)));
}

const stereo16k = { sampleRate: 16000, channels: 2, agentChannel: 0, customerChannel: 1 };

t.test('delivers what a writer writes, then waits for the next writer and carries on', async (t) => {
  const path = fifo();
  const source = new PipeSource({ path, ...stereo16k });
  t.teardown(() => source.close());
  await source.open();
  const it = source.chunks()[Symbol.asyncIterator]();
  const opened = Date.now();

  await writer(path, counterPcm(0, 8000));
  const first = await collect(it, 8000);
  t.same(sideValues(first, 'agent'), Array.from({ length: 8000 }, (_, i) => i + 1), 'first writer: every agent sample, in order');
  t.same(sideValues(first, 'customer'), Array.from({ length: 8000 }, (_, i) => -(i + 1)), 'customer on its own channel, not swapped');

  // The recorder restarts: a new process opens the pipe and continues. A fragment of a frame from a writer that
  // died mid-write must not shift the channels of the next one. Each writer waits until the source has seen
  // the one before leave: one that opens earlier shares its session, a FIFO gives no boundary then (on Node 24
  // the first writer's end can come a little after its data, and the second writer sometimes opened first).
  await until(() => source.writerSessions === 1);
  await writer(path, counterPcm(8000, 4000).subarray(0, 4000 * 4 - 1));
  await until(() => source.writerSessions === 2);
  await writer(path, counterPcm(12000, 4000));
  const rest = await collect(it, 3999 + 4000);
  const agent = sideValues(rest, 'agent');
  const customer = sideValues(rest, 'customer');
  t.equal(agent.length, 7999, 'the incomplete last frame of the second writer was dropped');
  t.same(agent.slice(0, 3999), Array.from({ length: 3999 }, (_, i) => 8000 + i + 1));
  t.same(agent.slice(3999), Array.from({ length: 4000 }, (_, i) => 12000 + i + 1), 'the third writer is read frame-aligned');
  t.same(customer.slice(3999), Array.from({ length: 4000 }, (_, i) => -(12000 + i + 1)));
  await until(() => source.writerSessions === 3);

  const all = [...first, ...rest];
  let expectT0 = 0;
  for (const c of all) {
    t.equal(c.t0, expectT0, 't0 counts the audio delivered so far');
    expectT0 += c.agent.length / 16000;
    t.ok(c.capturedAt! >= opened && c.capturedAt! <= Date.now(), 'capturedAt is when it was read');
  }

  const closing = Date.now();
  await source.close();
  t.equal((await it.next()).done, true, 'the iterator ends after close()');
  t.ok(Date.now() - closing < 500);
});

t.test('close() while waiting for a writer ends the iterator promptly', async (t) => {
  const path = fifo();
  const source = new PipeSource({ path, ...stereo16k });
  const reading = (async () => {
    let n = 0;
    for await (const c of source.chunks()) n += c.agent.length;
    return n;
  })();
  await new Promise((r) => setTimeout(r, 300));
  const closing = Date.now();
  await source.close();
  t.equal(await reading, 0);
  const ms = Date.now() - closing;
  t.ok(ms < 200, `ended ${ms} ms after close()`);
});

t.test('8 kHz telephony PCM on a pipe comes out at 16 kHz', async (t) => {
  const path = fifo();
  const source = new PipeSource({ path, sampleRate: 8000, channels: 2, agentChannel: 1, customerChannel: 0 });
  t.teardown(() => source.close());
  await source.open();
  const it = source.chunks()[Symbol.asyncIterator]();
  const pcm = Buffer.alloc(8000 * 4);
  for (let i = 0; i < 8000; i++) {
    pcm.writeInt16LE(0, i * 4);
    pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 300 * i) / 8000)), i * 4 + 2);
  }
  await writer(path, pcm);
  const got = await collect(it, 15900);
  await source.close();
  const agent = got.flatMap((c) => [...c.agent]);
  const customer = got.flatMap((c) => [...c.customer]);
  t.ok(agent.length >= 15900 && agent.length <= 16000, `${agent.length} samples for 1 s`);
  t.ok(Math.max(...agent.map(Math.abs)) > 0.2, 'agent (channel 1) carries the tone');
  t.ok(Math.max(...customer.map(Math.abs)) < 0.001, 'customer (channel 0) is the silent one');
});

t.test('a raw PCM file is followed as a recorder appends to it', async (t) => {
  const path = join(dir, 'recording.raw');
  writeFileSync(path, counterPcm(0, 1600));
  const source = new PipeSource({ path, ...stereo16k });
  t.teardown(() => source.close());
  const it = source.chunks()[Symbol.asyncIterator]();
  const first = await collect(it, 1600);
  appendFileSync(path, counterPcm(1600, 1600));
  const second = await collect(it, 1600);
  await source.close();
  t.same(sideValues([...first, ...second], 'agent'), Array.from({ length: 3200 }, (_, i) => i + 1));
  t.equal((await it.next()).done, true);
});

/** Root reads anything, so as root the check runs in a child process as nobody. */
async function unreadableReason(): Promise<string> {
  const open = tempDir('perm');
  t.teardown(() => rmSync(open, { recursive: true, force: true }));
  chmodSync(open, 0o755);
  const locked = join(open, 'locked.pcm');
  execFileSync('mkfifo', ['-m', '200', locked]);
  if (process.getuid?.() !== 0) {
    return new PipeSource({ path: locked, ...stereo16k }).open().then(() => 'opened', (e: CaptureError) => e.reason);
  }
  const script = join(open, 'open.mts');
  const module = pathToFileURL(join(repoRoot, 'device/pipe-source.ts')).href;
  writeFileSync(
    script,
    `import { PipeSource } from ${JSON.stringify(module)};\n` +
      `const r = await new PipeSource({ path: process.argv[2], sampleRate: 16000, channels: 2, agentChannel: 0, customerChannel: 1 }).open().then(() => 'opened', (e) => e.reason);\n` +
      'process.stdout.write(r);\n',
  );
  chmodSync(script, 0o644);
  const r = spawnSync(process.execPath, ['--import=tsx', script, locked], { uid: 65534, gid: 65534, cwd: repoRoot, encoding: 'utf8' });
  return r.stdout || `child failed: ${r.stderr}`;
}

t.test('a path that cannot be read is a CaptureError that says why', async (t) => {
  const missing = join(dir, 'no-such-pipe');
  const err = await new PipeSource({ path: missing, ...stereo16k }).open().catch((e: unknown) => e);
  t.type(err, CaptureError);
  t.equal((err as CaptureError).source, missing);
  t.match((err as CaptureError).reason, /no such pipe or file/);

  const iterated = await (async () => {
    for await (const _ of new PipeSource({ path: missing, ...stereo16k }).chunks()) void _;
  })().catch((e: unknown) => e);
  t.type(iterated, CaptureError, 'iterating a source that cannot open throws the same');

  const sub = join(dir, 'a-directory');
  mkdirSync(sub);
  t.match(await new PipeSource({ path: sub, ...stereo16k }).open().catch((e: CaptureError) => e.reason), /a directory, not a named pipe/);

  const notDir = join(dir, 'recording.raw', 'x');
  t.match(await new PipeSource({ path: notDir, ...stereo16k }).open().catch((e: CaptureError) => e.reason), /not a directory/);

  t.match(await unreadableReason(), /permission denied: not readable by this user/);

  t.throws(() => new PipeSource({ path: missing, sampleRate: 16000, channels: 1, agentChannel: 0, customerChannel: 0 }), /both on channel 0/);
});
