import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

// Removed when the test process exits, however it ends its tests: a test that fails, times out or forgets its
// teardown would otherwise leave its outboxes, stores and broker folders in /tmp for every run after it.
process.once('exit', () => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // Still a mount point, or held by a process the test could not stop: leaving it is all that is lost.
    }
  }
});

/** A fresh folder under the system's temp folder, `earshot-<tag>-XXXXXX`, gone when the test process exits. */
export function tempDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `earshot-${tag}-`));
  made.add(dir);
  return dir;
}
