/**
 * Debian's Chromium, headless, driven by playwright-core (no browser download): a fresh profile each time,
 * nothing fetched from the network by the browser itself, `--no-sandbox` only when running as root.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'earshot-chromium-'));
  const args = ['--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args, viewport: { width: 1440, height: 900 } });
  // Tests are loaded through tsx, whose esbuild keeps function names by wrapping them in __name(...); a function
  // handed to page.evaluate() takes that call into the page, where the helper does not exist.
  await context.addInitScript('globalThis.__name = globalThis.__name || ((fn) => fn);');
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
