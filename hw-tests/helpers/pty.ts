/** An emulated RS-232 line for hw-tests: a socat pty pair (socat must be installed; SOCAT overrides the path). */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { track } from '../../test/support/children.js';

export const SOCAT = process.env.SOCAT ?? 'socat';

/** A socat pty pair. `box` is the end the source reads (optionally at a stable symlink); `pbx` the end the test writes. */
export class PtyPair {
  private writer?: number;

  private constructor(
    private readonly proc: ChildProcess,
    readonly box: string,
    readonly pbx: string,
  ) {}

  static start(boxLink?: string): Promise<PtyPair> {
    const boxAddr = boxLink ? `pty,raw,echo=0,link=${boxLink}` : 'pty,raw,echo=0';
    const proc = spawn(SOCAT, ['-d', '-d', boxAddr, 'pty,raw,echo=0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    track(proc);
    return new Promise((resolve, reject) => {
      let err = '';
      const ptys: string[] = [];
      const timer = setTimeout(() => fail(new Error(`socat printed no pty pair in 5 s: ${err}`)), 5000);
      const fail = (e: Error) => {
        clearTimeout(timer);
        proc.kill('SIGKILL');
        reject(e);
      };
      proc.once('error', fail);
      proc.once('exit', (code) => fail(new Error(`socat exited (${code}) before the pty pair was up: ${err}`)));
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (s: string) => {
        err += s;
        for (const m of s.matchAll(/PTY is (\/dev\/pts\/\d+)/g)) ptys.push(m[1]);
        // Both ptys exist once socat says so; the data loop line means the link is in place too.
        if (ptys.length === 2 && /starting data transfer loop/.test(err)) {
          clearTimeout(timer);
          proc.removeAllListeners('exit');
          resolve(new PtyPair(proc, boxLink ?? ptys[0], ptys[1]));
        }
      });
    });
  }

  write(data: string | Buffer): void {
    this.writer ??= openSync(this.pbx, constants.O_WRONLY | constants.O_NOCTTY);
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length; ) off += writeSync(this.writer, buf, off);
  }

  /** Whatever state the pair is in; never throws. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.writer !== undefined) {
      try {
        closeSync(this.writer);
      } catch {
        /* the pty may already be gone */
      }
      this.writer = undefined;
    }
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill(signal);
    await exited;
  }
}

