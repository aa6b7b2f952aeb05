/**
 * The search page in a real headless Chromium: a phrase is found and its words are highlighted (<mark>, and
 * only they), each hit shows its time and links to the call page at it; the filters are read from the URL
 * into the form and narrow the results; a syntax error is shown with the caret put at its position; a
 * transcript holding markup is shown as text.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { searchRoutes } from '../central/search/routes.js';
import { openStore } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { startCentralWeb } from '../central/web/server.js';
import type { Authorize } from '../central/web/access.js';
import { repoRoot } from '../test/support/cli.js';
import { launchChromium } from '../test/support/chromium.js';
import { join } from 'node:path';

const words = (start: number, text: string) => text.split(' ').map((w, i) => ({ w, start: start + i * 0.5, end: start + i * 0.5 + 0.4 }));
const call = (callId: string, agent: string, customer: string) => ({
  callId,
  durationSec: 90,
  line: { name: 'desk-1', agentId: 'A7', startedAt: '2026-03-02T09:00:00.000Z', endedAt: '2026-03-02T09:01:30.000Z' },
  utterances: [
    { channel: 'agent', start: 1, end: 4, text: agent, script: 'latin', words: words(1, agent) },
    { channel: 'customer', start: 72, end: 78, text: customer, script: 'latin', words: words(72, customer) },
  ],
});

t.test('search page: a phrase found and highlighted, linking to the call at its time', async (t) => {
  execFileSync(process.execPath, ['--import=tsx', join(repoRoot, 'scripts/build-web.ts')], { cwd: repoRoot });
  const store = (await openStore(':memory:')) as SqlStore;
  t.teardown(() => store.close());
  const at = '2026-03-02T09:02:00.000Z';
  await store.storeBatch(
    [
      { site: 'north', box: 'box-1', seq: 1, kind: 'index', at, data: call('c-1', 'hello thank you for calling', 'my bank card was charged twice <b>really</b>') },
      { site: 'north', box: 'box-1', seq: 2, kind: 'index', at, data: call('c-2', 'good morning', 'the card of my bank is fine') },
      { site: 'south', box: 'box-9', seq: 1, kind: 'index', at, data: call('c-9', 'hello', 'my bank card is blocked') },
    ],
    'open',
  );
  const log = pino({ level: 'silent' });
  const authorize: Authorize = async () => ({ name: 'quinn', role: 'qa', sites: ['north'], csrf: 'x' });
  const web = await startCentralWeb({ broker: 'mqtt://127.0.0.1:1', log, listen: '127.0.0.1:0', authorize, routes: [(app) => searchRoutes(app, { store, authorize, log })] });
  t.teardown(() => web.close());
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.context.newPage();

  await page.goto(`${web.url}/search`);
  await page.locator('#q').fill('customer:"bank card"');
  await page.locator('#search button[type=submit]').click();
  await page.locator('#status').filter({ hasText: 'examined' }).waitFor({ timeout: 10_000 });
  t.match(page.url(), /\/search\?q=customer%3A%22bank\+card%22/, 'the search is a URL');
  const results = page.locator('#results > li.result');
  t.equal(await results.count(), 1, 'one call: the other has the words apart, the south site is not the caller’s');
  t.equal(await results.first().getAttribute('data-call'), 'box-1/c-1');
  const marks = await page.locator('#results mark').allTextContents();
  t.same(marks, ['bank card'], 'the phrase is highlighted, and only it');
  const snippet = await page.locator('#results .hit .snippet').first().textContent();
  t.equal(snippet, 'my bank card was charged twice <b>really</b>', 'the transcript is shown as text, markup and all');
  t.equal(await page.locator('#results b').count(), 0, 'no markup from a transcript became an element');
  const at73 = page.locator('#results .hit a.at');
  t.equal(await at73.textContent(), '1:12', 'the hit’s time');
  t.equal(await at73.getAttribute('href'), '/calls/box-1/c-1#t=72.5', 'links to the call page at it');
  t.equal(await page.locator('#results .hit .side').textContent(), 'customer');

  // filters come from the URL into the form and narrow the search
  await page.goto(`${web.url}/search?q=${encodeURIComponent('bank OR card')}&agent=A7&minDurationSec=100`);
  await page.locator('#status').filter({ hasText: /examined|No calls/ }).waitFor({ timeout: 10_000 });
  t.equal(await page.locator('input[name=minDurationSec]').inputValue(), '100', 'the form shows the filter');
  t.equal(await page.locator('#results > li').count(), 0, 'no call is that long');
  await page.goto(`${web.url}/search?q=${encodeURIComponent('bank OR card')}&agent=A7&maxDurationSec=100`);
  await page.locator('#status').filter({ hasText: 'examined' }).waitFor({ timeout: 10_000 });
  t.equal(await page.locator('#results > li').count(), 2);

  await page.goto(`${web.url}/search?q=${encodeURIComponent('(refund OR "bank card"')}`);
  await page.locator('#status.error').waitFor({ timeout: 10_000 });
  t.equal(await page.locator('#status').textContent(), 'query: expected ")" at position 22', 'the syntax error, at its position');
  t.equal(await page.locator('#q').evaluate((el) => (el as HTMLInputElement).selectionStart), 22, 'the caret is put there');
});
