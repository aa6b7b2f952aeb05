/**
 * The centre end to end, as a site runs it and its people use it: `earshot central` started from the
 * command line on a fresh SQLite file (it says how to make the first admin, and that command works), users
 * added with `earshot central user add`, a real mosquitto on loopback, and a box's real uplink publishing a
 * real analysed demo call (its alert as it is raised, its index at the end; ingest acks them). Then, in a
 * real headless Chromium: a supervisor signs in and sees the alert arrive on the live floor; the call page
 * draws both lanes with one mark per thing in the index; signing out ends the session (pages go to sign in,
 * the API answers 401, an open floor page's live stream ends); a QA reviewer finds a phrase said in the call
 * and sees it highlighted, rejects the alert and the rule's precision on the review page changes; a
 * supervisor of another site sees nothing of any of it.
 */
import t from 'tap';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { CallIndex } from '../edge/index/call-index.js';
import { CallPublisher } from '../edge/publish.js';
import { resolveConfig } from '../provisioning/config.js';
import { demoIndexes } from '../test/support/demo-indexes.js';
import { startCli } from '../test/support/cli.js';
import { buildPages } from './helpers/calls-web.js';
import { launchChromium } from '../test/support/chromium.js';
import { Broker } from '../test/support/mosquitto.js';
import { tempDir, waitFor } from '../test/support/uplink.js';

const SITE = 'floor-e2e';
const BOX = 'box-e2e';
const OTHER = 'floor-other';

async function addUser(db: string, name: string, role: string, site: string): Promise<string> {
  const r = startCli(['central', 'user', 'add', name, '--role', role, '--site', site, '--db', db, '--generate']);
  if ((await r.exit) !== 0) throw new Error(`user add ${name}: ${r.err()}`);
  const m = /^password for \S+ \(shown once, not stored\): (\S+)$/m.exec(r.out());
  if (!m) throw new Error(`user add ${name} printed no password: ${r.out()}`);
  return m[1];
}

t.test('the centre end to end: a box, `earshot central`, and its people in a browser', async (t) => {
  const t0 = Date.now();
  const phases: string[] = [];
  const phase = (name: string) => phases.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  buildPages();
  // The demo's agitated-customer call, analysed by the real pipeline, as the box's daemon would hold it at
  // the call's end; on one core while the centre and the user commands start on the other.
  const analysing = demoIndexes(['demo-call']);
  void analysing.catch(() => undefined); // awaited below; a failure before then must not also be an unhandled rejection
  const broker = await Broker.start();
  t.teardown(() => broker.dispose());
  const dir = tempDir('central-e2e');
  const db = join(dir, 'central.sqlite');

  // The operator starts the centre on a new store: it prints its URL and how to make the first admin.
  const central = startCli(['central', '--broker', broker.url, '--db', db, '--listen', '127.0.0.1:0', '--client-id', 'central-e2e']);
  t.teardown(() => void central.child.kill('SIGKILL'));
  await waitFor('central to print its URL and the first-admin hint', () => /web app on http:\/\/127\.0\.0\.1:\d+/.test(central.err()) && /no users yet/.test(central.err()), 60_000, 50);
  const url = /web app on (http:\/\/127\.0\.0\.1:\d+)/.exec(central.err())![1];
  const hint = /create the first admin with\s+earshot (central user add <name> --role admin --db \S+)/.exec(central.err());
  t.ok(hint, 'the first start says how to create the first admin');
  const adminCmd = hint![1].split(' ').map((w) => (w === '<name>' ? 'root' : w));
  const admin = startCli(adminCmd, { stdin: 'a long root password\n' });
  const [adminExit, annPw, quinnPw, samPw] = await Promise.all([admin.exit, addUser(db, 'ann', 'supervisor', SITE), addUser(db, 'quinn', 'qa', SITE), addUser(db, 'sam', 'supervisor', OTHER)]);
  t.equal(adminExit, 0, `that command makes the admin (${admin.err().trim()})`);
  phase('centre up, users added');

  const [{ index: analysed }] = await analysing;
  phase('demo call analysed');
  const startedAt = new Date(Date.now() - analysed.durationSec * 1000 - 5000).toISOString();
  const line = { name: 'desk-4', agentId: 'A40', startedAt };
  const call: CallIndex = { ...analysed, callId: 'desk-4-c1', line: { ...line, endedAt: new Date(Date.parse(startedAt) + analysed.durationSec * 1000).toISOString(), boundaries: 'pbx', endedBy: 'pbx' } };
  t.ok(call.alerts.length > 0, `the demo call raises alerts (${call.alerts.map((a) => a.rule).join(', ')})`);

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const errors: string[] = [];
  const page: Page = await browser.context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  const signIn = async (name: string, password: string) => {
    await page.locator('#name').fill(name);
    await page.locator('#password').fill(password);
    await page.locator('#submit').click();
  };
  const signOut = async () => {
    await page.locator('#logout').click();
    await page.waitForURL(/\/login$/, { timeout: 15_000 });
  };
  const connected = (p: Page) => p.waitForFunction(() => (window as unknown as { __earshot: { connected: boolean } }).__earshot.connected, undefined, { timeout: 15_000 });

  // ------------------------------------------------------------------------ the supervisor of the floor
  await page.goto(`${url}/floor/${SITE}`);
  await page.waitForURL(/\/login\?next=/, { timeout: 15_000 });
  await signIn('ann', annPw);
  await page.waitForURL(`${url}/floor/${SITE}`, { timeout: 15_000 });
  await connected(page);
  t.pass('a supervisor signs in and lands on the floor she asked for, live');
  phase('signed in');

  // The box: its real outbox and uplink, publishing as the daemon does (each alert when raised, the index at the end).
  const config = resolveConfig({
    outbox: { path: join(dir, 'box-outbox.sqlite') },
    uplink: { enabled: true, broker: broker.url, site: SITE, box: BOX, reconnect: { minSec: 0.1, maxSec: 1, jitter: 0.3 } },
  });
  const box = CallPublisher.start(config);
  t.teardown(() => box.stop());
  for (const a of call.alerts) box.alert(call.callId, a, line);
  for (const a of call.alerts) {
    const li = page.locator(`li.alert[data-key="${BOX}/${call.callId}/${a.id}"]`);
    await li.waitFor({ timeout: 15_000 });
    t.equal(await li.getAttribute('data-severity'), a.severity, `the ${a.rule} alert is on her floor, ${a.severity}`);
  }
  phase('alert on the floor');
  box.index(call);
  t.equal(await box.drain(30), 0, "ingest stored and acked the box's records");

  // The call page, from the call list.
  await page.goto(`${url}/calls`);
  const row = page.locator(`#calls tr[data-call="${BOX}/${call.callId}"]`);
  await row.waitFor({ timeout: 15_000 });
  await Promise.all([page.waitForURL(new RegExp(`/calls/${BOX}/${call.callId}$`)), row.locator('a').first().click()]);
  await page.locator('svg.timeline').waitFor({ timeout: 15_000 });
  const marks = (sel: string) => page.locator(`svg.timeline rect.mark${sel}`).count();
  for (const lane of ['agent', 'customer'] as const) {
    const want = {
      utterance: call.utterances.filter((u) => u.channel === lane).length,
      overtalk: call.overtalk.filter((o) => o.by === lane).length,
      agitation: call.emotion.filter((e) => e.channel === lane).length,
      keyword: call.keywords.filter((k) => k.channel === lane).length,
      alert: call.alerts.filter((a) => a.channel === lane).length,
    };
    const got = Object.fromEntries(await Promise.all(Object.keys(want).map(async (k) => [k, await marks(`[data-kind="${k}"][data-lane="${lane}"]`)] as const)));
    t.same(got, want, `the ${lane} lane: one mark per thing in the index ${JSON.stringify(want)}`);
  }
  t.equal(await marks('[data-kind="silence"]'), call.silences.length, 'and the silences');
  t.ok((await marks('[data-lane="agent"]')) > 0 && (await marks('[data-lane="customer"]')) > 0, 'both lanes drawn');

  phase('call page checked');
  // Signing out ends the session everywhere: a floor page open in another tab stops being live.
  const other = await browser.context.newPage();
  await other.goto(`${url}/floor/${SITE}`);
  await connected(other);
  await signOut();
  await other.waitForURL(/\/login\?next=/, { timeout: 30_000 });
  t.pass("the other tab's live stream ended with the session, and it went to sign in");
  await page.goto(`${url}/calls`);
  t.equal(new URL(page.url()).pathname + new URL(page.url()).search, `/login?next=${encodeURIComponent('/calls')}`, 'after signing out a page goes to sign in');
  t.equal(await page.evaluate(async () => (await fetch('/api/calls', { headers: { accept: 'application/json' } })).status), 401, 'and the API answers 401');
  await other.close();
  phase('signed out, live stream ended');

  // ------------------------------------------------------------------------ the QA reviewer of the floor
  await signIn('quinn', quinnPw);
  await page.waitForURL(`${url}/calls`, { timeout: 15_000 });
  // A phrase said in the call, as the recogniser heard it: three words of one utterance.
  const utt = call.utterances.find((u) => (u.words ?? []).length >= 4 && u.words!.every((w) => /^[a-z]+$/.test(w.w)));
  t.ok(utt, 'the call has words (speech models from ../shared/models)');
  if (utt) {
    const phrase = utt.words!.slice(1, 4).map((w) => w.w).join(' ');
    await page.goto(`${url}/search`);
    await page.locator('#q').fill(`${utt.channel}:"${phrase}"`);
    await page.locator('#search button[type=submit]').click();
    await page.locator('#status').filter({ hasText: 'examined' }).waitFor({ timeout: 15_000 });
    t.equal(await page.locator(`#results > li.result[data-call="${BOX}/${call.callId}"]`).count(), 1, `a search for "${phrase}" finds the call`);
    t.same(await page.locator('#results mark').allTextContents(), [phrase], 'with the phrase highlighted, and only it');
  }

  const rule = call.alerts[0].rule;
  await page.goto(`${url}/review?site=${SITE}`);
  const precision = page.locator(`#precision-rules tr[data-key="${rule}"] td.precision`);
  const queued = page.locator(`#queue tr[data-key="${BOX}/${call.callId}/${call.alerts[0].id}"]`);
  await queued.waitFor({ timeout: 15_000 });
  t.equal(await precision.textContent(), '–', `${rule}: no precision before a review`);
  await queued.locator('input.note').fill('the customer was right to be upset');
  await queued.locator('button.reject').click();
  await page.waitForFunction((r) => document.querySelector(`#precision-rules tr[data-key="${r}"] td.precision`)?.textContent === '0%', rule, { timeout: 15_000 });
  t.pass(`a rejection: ${rule} precision 0% on the review page`);
  t.equal(await queued.count(), 0, 'and the alert leaves the queue');
  phase('searched and reviewed');

  // A QA reviewer has no live floor: the page says so as a page.
  const refused = await page.goto(`${url}/floor/${SITE}`);
  t.equal(refused?.status(), 403, 'the floor page is refused to a QA reviewer');
  t.match(refused?.headers()['content-type'], /^text\/html/, 'as a page, not JSON');
  t.match(await page.locator('body').textContent(), /qa may not/i, 'saying why');
  await page.goto(`${url}/calls`);
  await signOut();

  // ------------------------------------------------------------------------ a supervisor of another site
  await signIn('sam', samPw);
  await page.waitForURL(`${url}/`, { timeout: 15_000 });
  await page.goto(`${url}/floor/${SITE}`);
  const seen = await page.evaluate(() => document.body.innerText);
  t.notOk(seen.includes(call.callId) || seen.includes(BOX) || seen.includes(call.alerts[0].evidence), 'the floor of a site not his shows nothing of it');
  await page.goto(`${url}/calls`);
  await page.locator('#calls td.empty').waitFor({ timeout: 15_000 });
  t.equal(await page.locator('#calls tr[data-call]').count(), 0, 'his call list has none of its calls');
  await page.goto(`${url}/calls/${BOX}/${call.callId}`);
  await page.locator('#error:not([hidden])').waitFor({ timeout: 15_000 });
  t.equal(await page.locator('#error').textContent(), 'No such call.', 'its call page is not there for him');
  const api = await page.evaluate(
    async ([site, box, callId]) => {
      const get = async (p: string) => {
        const r = await fetch(p, { headers: { accept: 'application/json' } });
        return { status: r.status, body: await r.text() };
      };
      return { floor: await get(`/api/floor/${site}`), live: await get(`/api/live/${site}`), call: await get(`/api/calls/${box}/${callId}`), calls: await get('/api/calls'), sites: await get('/api/sites') };
    },
    [SITE, BOX, call.callId] as const,
  );
  t.same([api.floor.status, api.live.status, api.call.status], [404, 404, 404], "its floor, live stream and call answer 404 to him");
  for (const [what, r] of Object.entries(api)) t.notOk(r.body.includes(call.callId) || r.body.includes(BOX) || (what !== 'floor' && what !== 'live' && r.body.includes(SITE)), `${what}: nothing of ${SITE}`);
  await signOut();
  t.equal(await page.evaluate(async () => (await fetch('/api/session', { headers: { accept: 'application/json' } })).status), 401, 'signed out');

  t.same(errors, [], 'no script errors on any page');
  central.child.kill('SIGTERM');
  t.equal(await central.exit, 0, 'Ctrl-C stops the centre cleanly');
  phase('done');
  t.comment(`wall time at each step: ${phases.join(', ')}`);
});
