/**
 * Child processes a hw-test starts (socat, mosquitto wrappers, earshot itself) die with the test process,
 * whether it exits or is killed by a signal, so no run leaves a daemon or a pty pair behind.
 */
import type { ChildProcess } from 'node:child_process';
import { onExit } from 'signal-exit';

const live = new Set<ChildProcess>();
onExit(() => {
  for (const p of live) p.kill('SIGKILL');
});

/** Runs `fn` (synchronous work only) when the test process ends, by exit or by a signal. */
export function atExit(fn: () => void): void {
  onExit(() => {
    try {
      fn();
    } catch {
      /* at exit, nothing more can be done */
    }
  });
}

export function track(p: ChildProcess): void {
  live.add(p);
  p.once('exit', () => live.delete(p));
}

