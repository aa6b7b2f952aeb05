/**
 * Memory against the length of a recording: `earshot analyze` (the build a box installs, recognition off) on a
 * one-minute and a two-hour call, both the bundled demo call looped with sox into a temporary file, and the
 * peak RSS of each process. A recording is read a block at a time and a call keeps what its index needs, so
 * the two should be close (goal: within 50 MB).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../test/support/cli.js';
import { r } from './stats.js';

const DEMO = path.join(repoRoot, 'demo', 'demo-call.wav');
const CLI = path.join(repoRoot, 'dist', 'edge', 'cli.js');

interface Run {
  audioSec: number;
  peakRssMB: number;
  wallSec: number;
}

/** The demo call looped to `seconds` (8 kHz stereo mu-law, as recorded). */
function loopedCall(dir: string, seconds: number): string {
  const file = path.join(dir, `call-${seconds}s.wav`);
  const demoSec = Number(execFileSync('soxi', ['-D', DEMO], { encoding: 'utf8' }));
  execFileSync('sox', [DEMO, file, 'repeat', String(Math.ceil(seconds / demoSec)), 'trim', '0', String(seconds)]);
  return file;
}

/** Runs the installed CLI as a box would (its own shebang flags) and reads its peak RSS as it exits. */
function analyze(file: string, seconds: number, dir: string): Promise<Run> {
  const probe = path.join(dir, 'peak-rss.mjs');
  writeFileSync(probe, "process.on('exit', () => process.stderr.write(`\\npeak-rss-kb ${process.resourceUsage().maxRSS}\\n`));\n");
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, ['analyze', file, '--models', path.join(dir, 'no-models'), '--json'], {
      env: { ...process.env, NODE_OPTIONS: `--import=${pathToFileURL(probe).href}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const kb = /peak-rss-kb (\d+)/.exec(stderr)?.[1];
      if (code !== 0 || !kb) return reject(new Error(`earshot analyze ${file}: exit ${code}\n${stderr.slice(-2000)}`));
      resolve({ audioSec: seconds, peakRssMB: r(Number(kb) / 1024, 1), wallSec: r((performance.now() - started) / 1000, 1) });
    });
  });
}

export async function memoryBench(): Promise<Record<string, unknown>> {
  execFileSync('npm', ['run', '-s', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'earshot-bench-memory-'));
  try {
    const oneMinute = await analyze(loopedCall(dir, 60), 60, dir);
    const twoHours = await analyze(loopedCall(dir, 7200), 7200, dir);
    const growthMB = r(twoHours.peakRssMB - oneMinute.peakRssMB, 1);
    return {
      what: '`earshot analyze --json` from dist/ (recognition off: no models), on the demo call looped with sox to 1 min and to 2 h; peak RSS of the process',
      oneMinute,
      twoHours,
      growthMB,
      goalMB: 50,
      withinGoal: growthMB <= 50,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
