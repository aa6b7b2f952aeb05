/**
 * The last line of defence for the long-running processes (`earshot run`, `earshot ingest`). Everything that
 * can fail alone is contained where it happens: a message by the inbound guard (edge/uplink/wire.ts), a line
 * by its own retry loop (edge/run/line.ts), a call's index by its line. What still reaches the top of the
 * event loop is a bug whose damage nobody can bound, so the process logs it, leaves a note saying why, and
 * exits with EXIT_UNCONTAINED: systemd (Restart=on-failure) starts a clean process, which reports the note
 * on its status topic, so the centre sees that the box restarted and why. Nothing accepted is lost: the
 * outbox and ingest's store are on disk, and whatever was not acknowledged is sent again.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomicSync } from '../lib/disk.js';

/** EX_SOFTWARE (sysexits.h): an internal error, as opposed to bad input (2). */
export const EXIT_UNCONTAINED = 70;

export interface PreviousExit {
  reason: string;
  /** when the previous process exited (ISO 8601) */
  at: string;
  exitCode: number;
}

/** Where a process whose state lives in `stateDir` leaves its exit note. */
export function exitNoteFile(stateDir: string): string {
  return join(stateDir, 'last-exit.json');
}

let installed = false;

/** From now on an uncaught exception or unhandled rejection ends the process, with a note in `noteFile`. */
export function installLastResort(log: Logger, noteFile: string): void {
  if (installed) return;
  installed = true;
  const exit = (what: string, err: unknown) => {
    const reason = `${what}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`.slice(0, 500);
    log.fatal({ err, exitCode: EXIT_UNCONTAINED, note: noteFile }, `${reason}; exiting so that a clean process is started`);
    try {
      writeFileAtomicSync(noteFile, JSON.stringify({ reason, at: new Date().toISOString(), exitCode: EXIT_UNCONTAINED } satisfies PreviousExit));
    } catch (noteErr) {
      log.error({ err: noteErr }, 'could not leave the exit note');
    }
    process.exit(EXIT_UNCONTAINED);
  };
  process.on('uncaughtException', (err) => exit('uncaught exception', err));
  process.on('unhandledRejection', (err) => exit('unhandled promise rejection', err));
}

/** The note the previous process left, if it exited on an uncontained error; the note is consumed. */
export function takePreviousExit(noteFile: string): PreviousExit | null {
  let text: string;
  try {
    text = readFileSync(noteFile, 'utf8');
  } catch {
    return null;
  }
  rmSync(noteFile, { force: true });
  try {
    const note = JSON.parse(text) as Partial<PreviousExit>;
    if (typeof note.reason === 'string' && typeof note.at === 'string' && typeof note.exitCode === 'number') {
      return { reason: note.reason.slice(0, 500), at: note.at.slice(0, 40), exitCode: note.exitCode };
    }
  } catch {
    // A note that does not parse says only that something went wrong.
  }
  return { reason: 'unknown (the exit note could not be read)', at: '', exitCode: EXIT_UNCONTAINED };
}
