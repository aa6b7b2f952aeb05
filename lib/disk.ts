/**
 * The box's own disk: recognising a full one, and writing files so that a failure (a full disk, a crash, a
 * power cut) leaves the old file or none, never a torn one. Every product write of an index, config or
 * state file goes through writeFileAtomic (or writeFileAtomicSync); SQLite stores (outbox, ingest) get their atomicity from SQLite.
 *
 * Not write-file-atomic (npm): it fsyncs the temporary file but not the directory after the rename (so a
 * power cut can undo a write it reported done), its current major needs Node 22, and a full disk would
 * still surface as a bare ENOSPC; the job is small enough to do here.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Nothing was written because the file system holding `path` is full. What was stored before is intact
 * (SQLite rolled the transaction back; an atomic write left the old file in place).
 */
export class DiskFullError extends Error {
  constructor(readonly path: string, readonly freeBytes: number | null, options?: { cause?: unknown }) {
    super(`disk full: cannot write ${path} (${freeBytes === null ? 'free space unknown' : `${freeBytes} bytes free`})`, options);
    this.name = 'DiskFullError';
  }
}

/** Bytes an unprivileged process may still write on the file system holding `path` (null: cannot tell). */
export function freeBytes(path: string): number | null {
  for (const p of [path, dirname(path)]) {
    try {
      const s = statfsSync(p);
      return s.bavail * s.bsize;
    } catch {
      // `path` may not exist yet (a file about to be created): its directory answers for it.
    }
  }
  return null;
}

/**
 * SQLite reports a write that found no space as an I/O error (SQLITE_IOERR_WRITE, _FSYNC, _SHMSIZE, ...)
 * when the short write did not come back as ENOSPC, so an I/O error on a file system this close to empty
 * is taken for a full disk; on a disk with room it stays an I/O error.
 */
const IOERR_FULL_BELOW_BYTES = 1 << 20;

/** Whether `err` (a Node fs error or better-sqlite3's SqliteError) means the disk holding `path` is full. */
export function isDiskFull(err: unknown, path: string): boolean {
  if (err instanceof DiskFullError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return true;
  if (code.startsWith('SQLITE_IOERR')) {
    const free = freeBytes(path);
    return free !== null && free < IOERR_FULL_BELOW_BYTES;
  }
  return false;
}

/** `err` as a DiskFullError when it means a full disk, else unchanged. */
export function asDiskFull(err: unknown, path: string): unknown {
  return isDiskFull(err, path) && !(err instanceof DiskFullError) ? new DiskFullError(path, freeBytes(path), { cause: err }) : err;
}

/**
 * Writes `data` to `path` atomically and durably: a temporary file beside it (same file system, so the
 * rename is atomic), fsynced, renamed over `path`, then the directory fsynced so the rename itself survives
 * a power cut. On any failure the temporary file is removed and `path` is as it was. Keeps the mode of a
 * file it replaces (a config holding secrets stays private). Throws DiskFullError for a full disk, else
 * an Error naming the path. `mode`: the file's mode whatever it replaces (a private key: 0600 from its first byte).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const tmp = tempBeside(path);
  const mode = options.mode ?? (await stat(path).then(
    (s) => s.mode & 0o7777,
    () => NEW_FILE_MODE,
  ));
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw writeFailure(err, path);
  }
  await open(dirname(path), 'r').then(
    (fh) => fh.sync().finally(() => fh.close()).catch(ignoreDirSyncFailure),
    ignoreDirSyncFailure,
  );
}

/**
 * writeFileAtomic for the few writes that cannot wait for the event loop: the note a process leaves as it
 * exits on an error it could not contain (edge/last-resort.ts).
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const tmp = tempBeside(path);
  let mode = NEW_FILE_MODE;
  try {
    mode = statSync(path).mode & 0o7777;
  } catch {
    // a new file
  }
  try {
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw writeFailure(err, path);
  }
  try {
    const fd = openSync(dirname(path), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    ignoreDirSyncFailure(err);
  }
}

const NEW_FILE_MODE = 0o666; // less the umask, as writeFile would create it

/** Hidden, unique, in the same directory (so on the same file system as `path`). */
function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

function writeFailure(err: unknown, path: string): Error {
  const full = asDiskFull(err, path);
  return full instanceof DiskFullError ? full : new Error(`cannot write ${path}: ${(err as Error).message}`, { cause: err });
}

/**
 * Some file systems refuse fsync on a directory (EINVAL); the new file is complete and in place by then, and
 * only the durability of the rename across a power cut is at stake there.
 */
function ignoreDirSyncFailure(_err: unknown): void {}
