import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { track } from './children.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `earshot` entry point from source, as a user would run the built one. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      ['--import=tsx', resolve(repoRoot, 'edge/cli.ts'), ...args],
      { cwd: repoRoot, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

export interface CliProcess {
  child: ChildProcess;
  exit: Promise<number | null>;
  out(): string;
  err(): string;
}

/**
 * `earshot <args>` from source, left running (a daemon, or a command fed `stdin`); what it printed so far is
 * read at any time. Killed with the test process whatever happens (children.ts), and both pipes are drained, so
 * a chatty daemon never stalls on a full pipe.
 */
export function startCli(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): CliProcess {
  const child = spawn(process.execPath, ['--import=tsx', resolve(repoRoot, 'edge/cli.ts'), ...args], {
    cwd: repoRoot,
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  track(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  // 'close', not 'exit': by then both pipes are drained, so out() and err() are whole once exit resolves.
  const exit = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return { child, exit, out: () => out, err: () => err };
}

/**
 * A one-shot `earshot <args>` from source (like runCli, but fed `stdin` and bounded): SIGKILLed after
 * `timeoutMs`, which then rejects, so a command that hangs fails its test instead of stalling the suite.
 */
export function runCliWithin(
  args: string[],
  timeoutMs: number,
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = startCli(args, { stdin });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      p.child.kill('SIGKILL');
      reject(new Error(`earshot ${args.join(' ')}: no exit within ${timeoutMs} ms\n${p.err().slice(-2000)}`));
    }, timeoutMs);
    p.child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void p.exit.then((code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout: p.out(), stderr: p.err() });
    });
  });
}
