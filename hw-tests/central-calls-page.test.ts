/**
 * The call list and the call page in a real headless Chromium, on real indexes: the demo calls analysed by
 * the real pipeline (with the speech models where the machine has them), stored as a box's records. The
 * list filters and sorts through its URL; the call page draws both lanes with one mark per thing in the
 * index; a click on a mark (or `#t=` in the URL) highlights the words said then. An alert its box withdrew
 * is struck through on the call page with the box's reason, counted in no badge of the list, and offered to
 * no reviewer.
 */
import t from 'tap';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallIndex } from '../edge/index/call-index.js';
import { openStore, type IncomingRecord } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { demoIndexes } from '../test/support/demo-indexes.js';
import { launchChromium, watchPage } from '../test/support/chromium.js';
import { buildPages, callerByHeader, startCallsWeb } from './helpers/calls-web.js';
import { callRecord, credential, deadAir } from './helpers/review-fixture.js';
import { callsRoutes } from '../central/calls/routes.js';
import { reviewRoutes } from '../central/review/routes.js';
import { startCentralWeb } from '../central/web/server.js';
import { memoryLog, tempDir } from '../test/support/uplink.js';

t.test('call list and call page', async (t) => {
  const demos = await demoIndexes(['demo-call', 'demo-invest-en']);
  const [call, invest] = demos.map((d) => d.index);
  const live = (ix: CallIndex, callId: string, agentId: string, startedAt: string): CallIndex => ({
    ...ix,
    callId,
    line: { name: 'desk-1', agentId, startedAt, endedAt: new Date(Date.parse(startedAt) + ix.durationSec * 1000).toISOString(), boundaries: 'pbx', endedBy: 'pbx' },
  });
  const records: IncomingRecord[] = [
    { site: 'floor-1', box: 'box-1', seq: 1, kind: 'index', at: '2026-12-04T10:01:00.000Z', data: live(call, 'desk-1-c1', 'A17', '2026-12-04T10:00:00.000Z') },
    { site: 'floor-1', box: 'box-1', seq: 2, kind: 'index', at: '2026-12-04T11:01:00.000Z', data: live(invest, 'desk-1-c2', 'A18', '2026-12-04T11:00:00.000Z') },
    { site: 'floor-2', box: 'box-9', seq: 1, kind: 'index', at: '2026-12-04T12:01:00.000Z', data: live(call, 'elsewhere', 'B1', '2026-12-04T12:00:00.000Z') },
  ];
  const store = (await openStore(join(tempDir('calls-page'), 'central.sqlite'))) as SqlStore;
  await store.storeBatch(records, 'open');
  // A QA reviewer of floor-1: calls and export, nothing of floor-2.
  const web = await startCallsWeb(store, callerByHeader({ default: { name: 'quinn', role: 'qa', sites: ['floor-1'] } }));
  t.teardown(async () => {
    await web.close();
    await store.close();
  });
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.context.newPage();
  const { errors, shown } = watchPage(page);

  await page.goto(`${web.url}/calls`);
  const rows = page.locator('#calls tbody tr[data-call]');
  await shown(rows, 'the call list');
  t.same(await rows.evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset.call)), ['box-1/desk-1-c2', 'box-1/desk-1-c1'], "the reviewer's site only, newest first");
  t.same(await page.locator('select[name="site"] option').allTextContents(), ['all my sites', 'floor-1'], 'the sites offered are theirs');
  const c1 = page.locator('tr[data-call="box-1/desk-1-c1"]');
  t.equal(await c1.locator('.badge.sev-info').textContent(), `${call.alerts.filter((a) => a.severity === 'info').length} info`, 'alerts as severity badges');
  t.equal(await c1.locator('td.agitated').count(), 1, 'the agitated call says so');
  t.match(await page.locator('#csv').getAttribute('href'), /^\/api\/calls\.csv/, 'a reviewer gets the CSV link');
  await page.screenshot({ path: join(tmpdir(), 'earshot-calls.png'), fullPage: true });

  // Filter by agent: the filter goes into the URL, and the list follows it.
  await page.fill('input[name="agent"]', 'A18');
  await Promise.all([page.waitForURL(/agent=A18/), page.click('#filter button[type="submit"]')]);
  await shown(page.locator('#calls tbody tr'), 'the list filtered by agent');
  t.same(await rows.evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset.call)), ['box-1/desk-1-c2'], 'filtered by agent');
  t.equal(await page.inputValue('input[name="agent"]'), 'A18', 'the form shows the filter of the URL');
  t.match(await page.locator('#csv').getAttribute('href'), /agent=A18/, 'and the CSV link exports that list');
  // A bookmark of a sorted list.
  await page.goto(`${web.url}/calls?sort=silence`);
  await shown(rows, 'the list sorted by silence');
  t.equal(await rows.first().getAttribute('data-call'), 'box-1/desk-1-c2', `longest silence first (${invest.metrics.longestSilenceSec} s over ${call.metrics.longestSilenceSec} s)`);
  t.equal(await page.inputValue('select[name="sort"]'), 'silence');
  await page.goto(`${web.url}/calls?silenceOverSec=soon`);
  await page.locator('#error:not([hidden])').waitFor();
  t.match(await page.locator('#error').textContent(), /^silenceOverSec: /, 'a bad filter is named');
  t.equal(await page.getAttribute('input[name="silenceOverSec"]', 'aria-invalid'), 'true', 'and its field marked');

  // The call page, from the list.
  await page.goto(`${web.url}/calls`);
  await Promise.all([page.waitForURL(/\/calls\/box-1\/desk-1-c1$/), c1.locator('a').first().click()]);
  await page.locator('svg.timeline').waitFor({ timeout: 10_000 });
  const count = (sel: string) => page.locator(`svg.timeline rect.mark${sel}`).count();
  for (const lane of ['agent', 'customer'] as const) {
    t.equal(await count(`[data-kind="utterance"][data-lane="${lane}"]`), call.utterances.filter((u) => u.channel === lane).length, `${lane} lane: its utterances`);
    t.equal(await count(`[data-kind="overtalk"][data-lane="${lane}"]`), call.overtalk.filter((o) => o.by === lane).length, `${lane} lane: the over-talk it started`);
    t.equal(await count(`[data-kind="agitation"][data-lane="${lane}"]`), call.emotion.filter((e) => e.channel === lane).length, `${lane} lane: its agitation`);
    t.equal(await count(`[data-kind="keyword"][data-lane="${lane}"]`), call.keywords.filter((k) => k.channel === lane).length, `${lane} lane: its keyword hits`);
    t.equal(await count(`[data-kind="alert"][data-lane="${lane}"]`), call.alerts.filter((a) => a.channel === lane).length, `${lane} lane: its alerts`);
  }
  t.equal(await count('[data-kind="silence"]'), call.silences.length, 'the silences');
  t.ok((await count('[data-lane="agent"]')) > 0 && (await count('[data-lane="customer"]')) > 0, 'both lanes drawn');
  t.equal(await page.locator('svg.timeline rect.mark[data-kind="agitation"] title').first().textContent().then((s) => /customer agitated/.test(s ?? '')), true, 'marks have tooltips');
  t.equal(await page.locator('#transcript li.utt').count(), call.utterances.length, 'the transcript beneath: every utterance');
  t.equal(await page.locator('#call-alerts li.alert-item').count(), call.alerts.length, 'the alerts listed');
  t.equal(await page.locator('#call-alerts .evidence').first().textContent(), call.alerts[0].evidence, 'with their evidence');
  t.match(await page.locator('#metrics').textContent(), new RegExp(`Talk ratio.*agent ${Math.round(call.metrics.talkRatio! * 100)}%`), 'the metrics');
  if (call.recognition) {
    // The demo calls are 8 kHz recordings: the reviewer is told why the transcript may be thin.
    t.equal(call.recognition.agent.band, 'narrow', 'the demo call is telephone-band audio');
    t.match(await page.locator('#metrics').textContent(), /Audioagent telephone band \(8 kHz\), customer telephone band \(8 kHz\)/, 'the page says the line carried telephone audio');
  }
  t.equal(await page.locator('section#reviews').count(), 1, 'the place for the review controls');

  const words = call.utterances.some((u) => u.words?.length);
  // A click on a mark highlights the words said then.
  const target = words && call.keywords.length ? call.keywords[0] : call.utterances[call.utterances.length - 1];
  const kind = 'term' in target ? 'keyword' : 'utterance';
  const lane = 'term' in target ? target.channel : target.channel;
  await page.locator(`svg.timeline rect.mark[data-kind="${kind}"][data-lane="${lane}"][data-start="${target.start}"]`).click();
  const hl = page.locator('#transcript .hl');
  await hl.first().waitFor({ timeout: 5000 });
  const lit = await hl.evaluateAll((es) => es.map((e) => ({ text: e.textContent, start: Number((e as HTMLElement).dataset.start), utt: e.closest('li')?.className })));
  t.ok(lit.length > 0, `clicking the ${kind} mark at ${target.start} highlights ${JSON.stringify(lit.map((l) => l.text))}`);
  for (const l of lit) {
    t.ok(l.utt?.includes(lane), `on the ${lane} side`);
    t.ok(l.start <= target.end + 1e-9, 'said at that time');
  }
  if ('term' in target) t.ok(lit.some((l) => target.term.split(' ').some((w) => (l.text ?? '').includes(w.slice(0, 4)))), `the words of "${target.term}"`);
  t.ok(await hl.first().evaluate((e) => { const r = e.getBoundingClientRect(); const box = e.closest('#transcript')!.getBoundingClientRect(); return r.top >= box.top && r.bottom <= box.bottom; }), 'scrolled into view');
  t.match(page.url(), new RegExp(`#t=${target.start}$`), 'the URL says where');

  // A link from search: #t= highlights the word at that time.
  if (words) {
    const u = call.utterances.find((x) => x.words && x.words.length > 3)!;
    const w = u.words![2];
    await page.goto(`${web.url}/calls/box-1/desk-1-c1#t=${w.start}`);
    await page.locator('#transcript .w.hl').first().waitFor({ timeout: 5000 });
    t.same(await page.locator('#transcript .w.hl').allTextContents(), [w.w], `#t=${w.start} highlights "${w.w}"`);
  } else t.comment('no speech models here: no words to highlight from #t=');

  await page.screenshot({ path: process.env.EARSHOT_SCREENSHOT_CALL ?? join(tmpdir(), 'earshot-call.png'), fullPage: true });
  const res = await page.goto(`${web.url}/calls/box-9/elsewhere`);
  t.equal(res?.status(), 200, 'the page itself loads');
  await page.locator('#error:not([hidden])').waitFor();
  t.equal(await page.locator('#error').textContent(), 'No such call.', "a call of another site is not there for them");
  t.equal(await page.locator('svg.timeline').count(), 0, 'and nothing of it is drawn');
  t.same(errors, [], 'no script errors');
});

t.test('a withdrawn alert: struck through on the call page with its reason, in no badge of the list, without review controls', async (t) => {
  buildPages();
  const store = (await openStore(join(tempDir('calls-page-withdrawn'), 'central.sqlite'))) as SqlStore;
  t.teardown(() => store.close());
  const reason = "withdrawn: the agent side was taken for English until 9.2 s and is Mandarin; the words this alert quoted are no longer the call's";
  // The call's index as the box sends it at the hang-up: the withdrawn alert at its last revision, beside one that stands.
  const index = callRecord({ site: 'floor-1', box: 'box-1', seq: 1, callId: 'w1', startedAt: '2026-12-04T10:00:00.000Z', agent: 'A17', alerts: [credential(12, 0.6), deadAir(30, 12)] });
  const alerts = (index.data as { alerts: Record<string, unknown>[] }).alerts;
  alerts[0] = { ...alerts[0], revision: 2, revisedAt: 24.1, withdrawn: reason };
  await store.storeBatch([index], 'open');
  // A QA reviewer: the call page offers them confirm / reject for every alert that stands.
  const authorize = callerByHeader({ default: { name: 'quinn', role: 'qa', sites: ['floor-1'] } });
  const { log } = memoryLog('fatal');
  const web = await startCentralWeb({
    broker: 'mqtt://127.0.0.1:9', listen: '127.0.0.1:0', log, authorize,
    routes: [(app) => callsRoutes(app, { store, authorize, log }), (app) => reviewRoutes(app, { store, authorize, log })],
  });
  t.teardown(() => web.close());
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.context.newPage();
  const { errors, shown } = watchPage(page);

  await page.goto(`${web.url}/calls`);
  const row = page.locator('tr[data-call="box-1/w1"]');
  await shown(row, 'the call list');
  t.same(await row.locator('.badge').allTextContents(), ['1 warning'], 'the list counts the standing alert only: no critical badge');

  await page.goto(`${web.url}/calls/box-1/w1`);
  const withdrawn = page.locator('#call-alerts li.alert-item[data-alert="credential-request-1"]');
  const standing = page.locator('#call-alerts li.alert-item[data-alert="dead-air-1"]');
  await shown(withdrawn, 'the call page');
  const struck = (li: typeof withdrawn) => li.locator('.title').evaluate((e) => getComputedStyle(e).textDecorationLine);
  t.ok(await withdrawn.evaluate((e) => e.classList.contains('withdrawn')), 'the withdrawn alert is shown as withdrawn');
  t.equal(await withdrawn.locator('.badge.withdrawn').textContent(), 'withdrawn', 'saying so');
  t.equal(await struck(withdrawn), 'line-through', 'struck through');
  t.equal(await withdrawn.locator('.reason').textContent(), reason, "with the box's reason");
  t.equal(await struck(standing), 'none', 'the standing alert is not');
  t.equal(await standing.locator('.reason').count(), 0);
  const mark = (start: number) => page.locator(`svg.timeline rect.mark[data-kind="alert"][data-start="${start}"]`);
  t.equal(await mark(12).evaluate((e) => getComputedStyle(e).fill), 'rgb(138, 152, 168)', 'its mark on the timeline is greyed, not in the critical red');
  t.match(await mark(12).locator('title').textContent(), /^withdrawn critical: /, 'and says it was withdrawn');
  t.equal(await mark(30).evaluate((e) => getComputedStyle(e).fill), 'rgb(240, 168, 48)', "the standing alert's mark keeps its severity's colour");

  const controls = page.locator('#reviews .review-controls');
  await shown(controls, 'the review controls');
  t.same(await controls.evaluateAll((cs) => cs.map((c) => (c as HTMLElement).dataset.key)), ['box-1/w1/dead-air-1'], 'confirm / reject for the standing alert only');
  t.same(await controls.locator('button').allTextContents(), ['Confirm', 'Reject']);
  await page.screenshot({ path: join(tmpdir(), 'earshot-call-withdrawn.png'), fullPage: true });
  t.same(errors, [], 'no script errors');
});
