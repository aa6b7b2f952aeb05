import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit } from './children.js';

/**
 * A fresh folder under the system's temp folder, `earshot-<tag>-XXXXXX`, removed when the test process ends
 * (by exit or by a signal, after its children are killed), however it ends its tests: a test that fails, times
 * out or forgets its teardown would otherwise leave its outboxes, stores and broker folders in /tmp.
 */
export function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `earshot-${tag}-`));
  atExit(() => rmSync(dir, { recursive: true, force: true, maxRetries: 2 }));
  return dir;
}
