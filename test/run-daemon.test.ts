import t from 'tap';
import os from 'node:os';
import path from 'node:path';
import { createWriteStream } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import wavefile from 'wavefile';
import { readWav } from '../device/wav.js';
import { resolveConfig } from '../provisioning/config.js';
import { Daemon, workerCount } from '../edge/run/daemon.js';
import { PIPELINE_RATE } from '../edge/analysis/pipeline.js';
import { freePort } from './support/mosquitto.js';
import { waitFor } from './support/uplink.js';
import { demoCallOpening } from './support/calls.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.EARSHOT_SHARED ?? path.resolve(repoRoot, '..', 'shared');

t.test('lines run in one worker per core; a line that cannot open faults alone and health says which', async (t) => {
  const dir = t.testdir({});
  const call = await demoCallOpening(dir, 11);
  const port = await freePort();
  const config = resolveConfig({
    models: { root: path.join(shared, 'models') },
    recognition: { language: 'en' },
    outbox: { path: path.join(dir, 'outbox.sqlite') },
    run: { healthPort: port, workers: 2, ringBufferMin: 1, retry: { minSec: 0.2, maxSec: 1 } },
    lines: {
      'desk-1': { agent: { id: 'A1' }, audio: { replay: [call] } },
      'desk-2': { agent: { id: 'A2' }, audio: { replay: [call] } },
      'desk-3': { audio: { replay: [path.join(dir, 'missing.wav')] } },
    },
  });
  const alerts: { rule: string; line: string }[] = [];
  const indexes: string[] = [];
  const log = pino({ level: 'silent' });
  const daemon = await Daemon.start(config, { log, onAlert: (a) => alerts.push({ rule: a.rule, line: a.line.name }), onIndex: (_id, line) => indexes.push(line) });
  t.equal(daemon.threads, 2, 'two threads on request');
  await new Promise((r) => setTimeout(r, 3000));
  const health = await fetch(`http://127.0.0.1:${port}/health`);
  t.equal(health.status, 503, 'degraded while a line is faulted');
  const report = (await health.json()) as { status: string; problems: string[]; lines: Record<string, string> };
  t.equal(report.status, 'degraded');
  t.match(report.problems.join('\n'), /line desk-3: .*missing\.wav/, 'the problem names the line and the file');
  t.same(report.lines, { 'desk-1': 'in-call', 'desk-2': 'in-call', 'desk-3': 'faulted' });
  const lines = (await (await fetch(`http://127.0.0.1:${port}/lines`)).json()) as { name: string; state: string; retryInSec?: number }[];
  t.match(lines.find((l) => l.name === 'desk-3'), { state: 'faulted', retryInSec: Number });
  const audio = await fetch(`http://127.0.0.1:${port}/lines/desk-2/audio?sec=2`);
  t.equal(audio.headers.get('content-type'), 'audio/wav', 'a line’s recent audio can be listened to on the box');
  const wav = new wavefile.WaveFile(new Uint8Array(await audio.arrayBuffer()));
  t.ok(Math.abs((wav.data as { chunkSize: number }).chunkSize / 4 / PIPELINE_RATE - 2) < 0.05, 'two seconds of it, from the worker that runs the line');
  t.equal((await fetch(`http://127.0.0.1:${port}/lines/nope/audio`)).status, 404);

  await waitFor('both good lines indexed', () => indexes.length >= 2, 20_000, 100).catch(() => 0);
  t.same(indexes.sort(), ['desk-1', 'desk-2'], 'both good lines indexed their call');
  t.same(alerts.filter((a) => a.rule === 'guaranteed-return').map((a) => a.line).sort(), ['desk-1', 'desk-2'], 'alerts come back from the workers with their line');
  // Worker threads report their lines' counters every 500 ms.
  await waitFor('the workers\' counters', () => daemon.lineStatuses()[0].counters.calls === 1, 3000, 100).catch(() => 0);
  const stats = daemon.stats() as { lines: Record<string, { calls: number; faults: number }>; process: { threads: number } };
  t.equal(stats.lines['desk-1'].calls, 1);
  t.ok(stats.lines['desk-3'].faults >= 2, 'the bad line keeps retrying');
  t.equal(stats.process.threads, 2);
  await daemon.stop(0);
});

t.test('threads: the main thread by default (one copy of the models), worker threads as configured', async (t) => {
  t.equal(workerCount(resolveConfig({}), 64), 1, 'speech decodes on every core from the main thread');
  t.equal(workerCount(resolveConfig({ run: { workers: 3 } }), 8), 3);
  t.equal(workerCount(resolveConfig({ run: { workers: 8 } }), 2), 2, 'never more threads than lines');
  t.equal(workerCount(resolveConfig({ run: { workers: 0 } }), 64), os.availableParallelism(), '0: one per core');
});

t.test('malloc arenas are capped on a glibc box unless the installer set MALLOC_ARENA_MAX', async (t) => {
  const script = `import { capMallocArenas } from ${JSON.stringify(path.join(repoRoot, 'edge/run/allocator.ts'))}; console.log(capMallocArenas());`;
  const run = (env: NodeJS.ProcessEnv) => execFileSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8' }).trim();
  const { MALLOC_ARENA_MAX: _, ...withoutCap } = process.env;
  t.equal(run(withoutCap), 'true');
  t.equal(run({ ...withoutCap, MALLOC_ARENA_MAX: '4' }), 'false', "the installer's setting stands");
});

t.test('a call recorder writing raw PCM to a named pipe: the call is found in the audio and indexed', async (t) => {
  const dir = t.testdir({});
  const fifo = path.join(dir, 'trunk.pcm');
  execFileSync('mkfifo', [fifo]);
  // The first 11 s of the invest call as a recorder would write it: 8 kHz s16le stereo, then 6 s of quiet.
  const wav = await readWav(path.join(repoRoot, 'demo', 'demo-invest-en.wav'), 8000);
  const n = 11 * 8000;
  const pcm = Buffer.alloc((n + 6 * 8000) * 4);
  for (let i = 0; i < n; i++) {
    pcm.writeInt16LE(Math.round(Math.max(-1, Math.min(1, wav.channels[0][i])) * 32767), i * 4);
    pcm.writeInt16LE(Math.round(Math.max(-1, Math.min(1, wav.channels[1][i])) * 32767), i * 4 + 2);
  }
  const config = resolveConfig({
    models: { root: path.join(shared, 'models') },
    recognition: { language: 'en' },
    outbox: { path: path.join(dir, 'outbox.sqlite') },
    run: { healthPort: 0, workers: 1, shed: { behindSec: 1000, caughtUpSec: 1, maxBacklogSec: 2000 } },
    lines: { 'trunk-7': { audio: { pipe: fifo, sampleRate: 8000 }, callState: { auto: { endAfterQuietSec: 4 } } } },
  });
  const indexes: string[] = [];
  const alerts: string[] = [];
  const daemon = await Daemon.start(config, { log: pino({ level: 'silent' }), onIndex: (id) => indexes.push(id), onAlert: (a) => alerts.push(a.rule) });
  const writer = createWriteStream(fifo);
  writer.end(pcm);
  await waitFor('the call indexed', () => indexes.length === 1, 30_000, 100).catch(() => 0);
  t.equal(indexes.length, 1, 'one call');
  t.match(indexes[0], /^trunk-7-/);
  t.ok(alerts.includes('guaranteed-return'), 'its alert was raised');
  const [status] = daemon.lineStatuses();
  t.equal(status.state, 'idle', 'after the call the line listens for the next one');
  t.equal(status.counters.calls, 1);
  await daemon.stop(0);
});
