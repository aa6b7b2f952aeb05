/**
 * Debian's Chromium, headless, driven by playwright-core (no browser download): a fresh profile each time,
 * nothing fetched from the network by the browser itself, `--no-sandbox` only when running as root.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';

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

/**
 * What went wrong in a page, kept as it happens: its script errors, requests that failed, API answers of 400
 * and over, console errors. A wait that times out says only "timeout"; `shown` adds this record, so a
 * rare failure under CI's load explains itself the one time it happens.
 */
export function watchPage(page: Page): { errors: string[]; shown: (target: Locator, what: string, timeoutMs?: number) => Promise<void> } {
  const errors: string[] = [];
  const troubles: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => troubles.push(`${r.method()} ${r.url()} failed: ${r.failure()?.errorText ?? '?'}`));
  page.on('response', (r) => void (r.status() >= 400 && troubles.push(`${r.request().method()} ${r.url()}: ${r.status()}`)));
  page.on('console', (m) => void (m.type() === 'error' && troubles.push(`console: ${m.text()}`)));
  return {
    errors,
    shown: async (target, what, timeoutMs = 30_000) => {
      try {
        await target.first().waitFor({ timeout: timeoutMs });
      } catch (err) {
        const box = await page.locator('#error:not([hidden])').textContent({ timeout: 1000 }).catch(() => null);
        throw new Error(`${what} not shown at ${page.url()} in ${timeoutMs} ms (${(err as Error).message.split('\n')[0]}); the page's error box: ${JSON.stringify(box)}; script errors: ${JSON.stringify(errors)}; troubles: ${JSON.stringify(troubles)}`);
      }
    },
  };
}
