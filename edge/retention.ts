/**
 * Retention and erasure on the box (docs/privacy.md). What the box keeps of a call: its records in the
 * outbox until the centre acknowledges them (then deleted, and zeroed on disk by secure_delete), and the
 * index files `earshot analyze --out` wrote, wherever the operator keeps them (the directories given here).
 * `forgetOnBox` removes one call id from both; `pruneBox` deletes index files older than the site's age
 * and vacuums the outbox (run on a schedule: deploy/earshot-prune.timer).
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Outbox } from './outbox/outbox.js';

export interface BoxStores {
  /** the outbox file (config outbox.path); skipped when it does not exist (nothing was ever queued) */
  outboxPath: string;
  /** directories holding call index files (`*.json`) */
  indexDirs: string[];
}

export interface Forgotten {
  outboxRecords: number;
  indexFiles: string[];
  /** the outbox was rewritten without the freed pages (false: busy, or no outbox) */
  vacuumed: boolean;
}

/** The index files (`*.json`, top level) of the directories; a missing directory is an error naming it. */
async function indexFiles(dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`index directory ${dir}: ${err.code === 'ENOENT' ? 'no such directory' : err.message}`);
    });
    for (const n of names.sort()) if (n.endsWith('.json')) out.push(join(dir, n));
  }
  return out;
}

/** The callId of an index file, or null when it is not one (another JSON file is left alone). */
async function callIdOf(file: string): Promise<string | null> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as { callId?: unknown };
    return typeof v?.callId === 'string' ? v.callId : null;
  } catch {
    return null;
  }
}

function withOutbox<T>(path: string, fn: (o: Outbox) => T): T | null {
  if (path !== ':memory:' && !existsSync(path)) return null;
  const o = new Outbox(path);
  try {
    return fn(o);
  } finally {
    o.close();
  }
}

export async function forgetOnBox(stores: BoxStores, callId: string): Promise<Forgotten> {
  const files: string[] = [];
  for (const f of await indexFiles(stores.indexDirs)) {
    if ((await callIdOf(f)) !== callId) continue;
    await rm(f);
    files.push(f);
  }
  const done = withOutbox(stores.outboxPath, (o) => ({ n: o.forget(callId), vacuumed: o.vacuum() }));
  return { outboxRecords: done?.n ?? 0, indexFiles: files, vacuumed: done?.vacuumed ?? false };
}

export interface Pruned {
  indexFiles: string[];
  vacuumed: boolean;
}

/** Deletes index files last written more than `maxAgeDays` ago, then vacuums the outbox. */
export async function pruneBox(stores: BoxStores, maxAgeDays: number, now = Date.now()): Promise<Pruned> {
  if (!(maxAgeDays > 0)) throw new RangeError(`--older-than: a number of days above 0, not ${maxAgeDays}`);
  const cutoff = now - maxAgeDays * 86_400_000;
  const removed: string[] = [];
  for (const f of await indexFiles(stores.indexDirs)) {
    if ((await stat(f)).mtimeMs >= cutoff || (await callIdOf(f)) === null) continue;
    await rm(f);
    removed.push(f);
  }
  return { indexFiles: removed, vacuumed: withOutbox(stores.outboxPath, (o) => o.vacuum()) ?? false };
}
