/**
 * `npm run bench -- central-live`: an alert from the box's real uplink (outbox, mosquitto on loopback) to the
 * live floor page in headless Chromium: ms from the box accepting it (the record's `at`) to the page putting
 * it in the list, at a steady rate. Needs /usr/sbin/mosquitto and /usr/bin/chromium (CHROMIUM).
 */
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { resolveConfig } from '../provisioning/config.js';
import { startUplink } from '../edge/uplink/start-uplink.js';
import { startCentralWeb } from '../central/web/server.js';
import { Broker } from '../test/support/mosquitto.js';
import { tempDir } from '../test/support/uplink.js';
import { launchChromium } from '../test/support/chromium.js';
import { repoRoot } from '../test/support/cli.js';
import { r } from './stats.js';

export async function centralLiveBench(count = Number(process.env.EARSHOT_BENCH_ALERTS ?? 200), rate = 20): Promise<Record<string, unknown>> {
  execFileSync(process.execPath, ['--import=tsx', join(repoRoot, 'scripts/build-web.ts')], { cwd: repoRoot });
  const broker = await Broker.start();
  const log = pino({ level: 'warn' });
  const web = await startCentralWeb({ broker: broker.url, log });
  const { uplink, outbox } = startUplink(resolveConfig({ outbox: { path: join(tempDir('bench-central'), 'o.sqlite') }, uplink: { enabled: true, broker: broker.url, site: 'bench', box: 'b1', ackMode: 'puback' } }), { log });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${web.url}/floor/bench`);
    await page.waitForFunction(() => (window as unknown as { __earshot: { connected: boolean } }).__earshot.connected);
    for (let i = 0; i < count; i++) {
      uplink.submit('alert', { callId: 'c1', id: `a-${i}`, rule: 'bench', severity: 'warning', title: 'bench', channel: 'customer', start: 0, end: 1, raisedAt: 1, evidence: '' });
      await new Promise((res) => setTimeout(res, 1000 / rate));
    }
    await page.waitForFunction((n) => Object.keys((window as unknown as { __earshot: { seen: object } }).__earshot.seen).length >= n, count, { timeout: 30_000 });
    const seen = await page.evaluate(() => (window as unknown as { __earshot: { seen: Record<string, number> } }).__earshot.seen);
    const alerts = web.floor.snapshot('bench').alerts;
    const ms = alerts.map((a) => seen[a.key] - Date.parse(a.at)).sort((a, b) => a - b);
    const q = (p: number) => r(ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)], 1);
    return { alerts: ms.length, ratePerSec: rate, acceptToPageMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: r(ms[ms.length - 1], 1) } };
  } finally {
    await browser.close();
    await uplink.stop();
    outbox.close();
    await web.close();
    await broker.dispose();
  }
}
