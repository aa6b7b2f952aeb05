/**
 * The review and figures pages in a real headless Chromium: a reviewer confirms then rejects alerts and the
 * rule's precision on the page changes with each; the weekly trend and calls-per-hour charts are drawn by
 * uPlot (a canvas with ink on it, and the points the data has); a threshold table appears once alerts are
 * reviewed; the CSV links carry the page's filter; nothing breaks the page's CSP.
 */
import t from 'tap';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { openStore } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { buildPages, FIGURE_CALLS, REVIEW_CALLS, reviewWeb, storeCalls } from './helpers/review-fixture.js';
import { launchChromium } from '../test/support/chromium.js';
import { memoryLog, tempDir } from '../test/support/uplink.js';

/** Pixels of a canvas that are not transparent: a chart drew something. */
const ink = (page: Page, selector: string) =>
  page.locator(selector).first().evaluate((c) => {
    const canvas = c as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    return n;
  });

t.test('review and figures pages', async (t) => {
  buildPages();
  const store = (await openStore(join(tempDir('review-page'), 'central.sqlite'))) as SqlStore;
  t.teardown(() => store.close());
  await storeCalls(store, [...REVIEW_CALLS, ...FIGURE_CALLS]);
  const web = await reviewWeb(store, memoryLog('fatal').log);
  t.teardown(() => web.close());
  const browser = await launchChromium();
  t.teardown(() => browser.close());

  const problems: string[] = [];
  const open = async (as: string, path: string): Promise<Page> => {
    const page = await browser.context.newPage();
    await page.setExtraHTTPHeaders({ 'x-as': as });
    page.on('pageerror', (e) => problems.push(`${path}: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(`${path}: ${m.text()}`));
    // The browser asks for /favicon.ico by itself; anything else the page asks for must be there.
    page.on('response', (r) => r.status() >= 400 && !r.url().endsWith('/favicon.ico') && problems.push(`${path}: ${r.status()} ${r.url()}`));
    await page.goto(`${web.url}${path}`);
    return page;
  };

  const page = await open('qa-a', '/review?site=s1&from=2026-11-30T00:00:00.000Z&to=2026-12-14T00:00:00.000Z');
  const row = (key: string) => page.locator(`#queue tr[data-key="${key}"]`);
  const precision = page.locator('#precision-rules tr[data-key="dead-air"] td.precision');
  await row('b1/c3/credential-request-1').waitFor({ timeout: 10_000 });
  t.same(await page.locator('#queue tbody tr').evaluateAll((trs) => trs.map((r) => (r as HTMLElement).dataset.key)), [
    'b1/c3/credential-request-1', 'b1/c2/dead-air-1', 'b1/c7/dead-air-1', 'b1/c1/dead-air-1', 'b1/c4/dead-air-1', 'b1/c4/hurried-hangup-1', 'b1/c1/customer-agitation-1',
  ], 'the queue in its order');
  t.equal(await row('b1/c2/dead-air-1').locator('td.num').first().textContent(), '15.0 s', 'the score in its unit');
  t.equal(await precision.textContent(), '–', 'no dead-air alert reviewed yet');

  await row('b1/c2/dead-air-1').locator('button.confirm').click();
  await page.waitForFunction(() => document.querySelector('#precision-rules tr[data-key="dead-air"] td.precision')?.textContent === '100%', undefined, { timeout: 5000 });
  t.pass('a confirmation: dead-air precision 100%');
  await row('b1/c1/dead-air-1').locator('input.note').fill('the customer was reading the form aloud');
  await row('b1/c1/dead-air-1').locator('button.reject').click();
  await page.waitForFunction(() => document.querySelector('#precision-rules tr[data-key="dead-air"] td.precision')?.textContent === '50%', undefined, { timeout: 5000 });
  t.pass('a rejection: dead-air precision falls to 50%');
  t.equal(await row('b1/c1/dead-air-1').count(), 0, 'the reviewed alert leaves the queue');
  const [stored] = await store.db.all<{ verdict: string; note: string; reviewer: string }>("SELECT verdict, note, reviewer FROM reviews WHERE call_id = 'c1' AND alert_id = 'dead-air-1'");
  t.same(stored, { verdict: 'rejected', note: 'the customer was reading the form aloud', reviewer: 'quinn' }, 'stored with its note, by the signed-in reviewer');

  const chart = '#trends .chart-card[data-rule="dead-air"] .chart';
  await page.locator(`${chart} .uplot canvas`).waitFor({ timeout: 5000 });
  t.equal(await page.locator(chart).getAttribute('data-points'), '4', 'the dead-air trend: 2 weeks x 2 series');
  t.ok((await ink(page, `${chart} canvas`)) > 500, 'its canvas has the lines drawn on it');
  t.equal(await page.locator('#trends .chart-card').count(), 4, 'a chart per rule');
  const table = page.locator('#thresholds table.threshold[data-rule="dead-air"]');
  await table.waitFor({ timeout: 5000 });
  t.same(await table.locator('tbody tr').evaluateAll((trs) => trs.map((r) => [...r.children].map((c) => c.textContent))), [['12.0 s', '2', '1', '50%'], ['15.0 s', '1', '1', '100%']], 'the threshold table of the reviewed dead-air alerts');
  const csv = await page.locator('a.csv[data-list="precision"]').getAttribute('href');
  t.match(csv, /^\/api\/review\/export\/precision\.csv\?site=s1&from=2026-11-30T00%3A00%3A00\.000Z&to=2026-12-14T00%3A00%3A00\.000Z$/, 'CSV links carry the filter');
  t.equal((await fetch(`${web.url}${csv}`, { headers: { 'x-as': 'qa-a' } })).status, 200, 'and download');
  await page.screenshot({ path: join(tmpdir(), 'earshot-review.png'), fullPage: true });

  const figures = await open('sup-c', '/figures?site=s3&day=2026-12-10');
  await figures.locator('#t-calls[data-value="4"]').waitFor({ timeout: 10_000 });
  t.equal(await figures.locator('#t-aht .value').textContent(), '2:45', 'average handle time');
  t.equal(await figures.locator('#t-alerts .value').textContent(), '100.0', 'alerts per 100 calls');
  t.match(await figures.locator('#t-talk .sub').textContent(), /^talk 71% · silence 14% of handle time$/);
  await figures.locator('#per-hour .uplot canvas').waitFor({ timeout: 5000 });
  t.equal(await figures.locator('#per-hour').getAttribute('data-points'), '24', 'calls per hour: 24 bars');
  t.ok((await ink(figures, '#per-hour canvas')) > 500, 'drawn');
  t.same(await figures.locator('#top-rules tbody tr td:first-child').allTextContents(), ['dead-air', 'credential-request', 'customer-agitation']);
  t.same(await figures.locator('#top-agents tbody tr td:first-child').allTextContents(), ['ann', 'bob', 'cy']);
  await figures.screenshot({ path: join(tmpdir(), 'earshot-figures.png'), fullPage: true });
  t.same(await figures.locator('#pages a').allTextContents(), ['Floor', 'Calls', 'Figures'], "a supervisor's header has no Review link");

  t.same(problems, [], 'no script error or CSP violation on either page');
});
