/**
 * Accounts in a real headless Chromium, against a centre with accounts on: a page asked for without a
 * session goes to the sign-in page and comes back after; a wrong password shows a message; the header
 * shows the links of the role signed in; a supervisor of another site sees nothing of this site's floor;
 * the admin page adds a user (its password shown once) and shows records held apart and the audit log;
 * signing out returns to the sign-in page and the API then answers 401.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { addUser } from '../central/auth/users.js';
import { repoRoot } from '../test/support/cli.js';
import { NORTH, SOUTH, seedSite, startAccountsCentral, TEST_SCRYPT } from '../test/support/centre.js';
import { launchChromium } from '../test/support/chromium.js';

const PW = { root: 'root password here', ann: 'ann password here', sam: 'sam password here' };

t.test('sign in, the header by role, a floor of another site, the admin page, sign out', async (t) => {
  execFileSync(process.execPath, ['--import=tsx', join(repoRoot, 'scripts/build-web.ts')], { cwd: repoRoot });
  const c = await startAccountsCentral(join(t.testdir(), 'central.sqlite'));
  t.teardown(() => c.close());
  const cli = { name: null, via: 'cli' as const };
  await addUser(c.store.db, { name: 'root', role: 'admin', password: PW.root }, cli, TEST_SCRYPT);
  await addUser(c.store.db, { name: 'ann', role: 'supervisor', sites: [NORTH.site], password: PW.ann }, cli, TEST_SCRYPT);
  await addUser(c.store.db, { name: 'sam', role: 'supervisor', sites: [SOUTH.site], password: PW.sam }, cli, TEST_SCRYPT);
  await seedSite(c, c.store, NORTH);
  await seedSite(c, c.store, SOUTH);
  await c.store.storeBatch([{ site: NORTH.site, box: 'stray-box', seq: 1, kind: 'index', at: new Date().toISOString(), data: { callId: 'stray-1', durationSec: 3 } }], 'closed');

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page: Page = await browser.context.newPage();
  const signIn = async (name: string, password: string) => {
    await page.locator('#name').fill(name);
    await page.locator('#password').fill(password);
    await page.locator('#submit').click();
  };
  const links = () => page.locator('nav#pages a').evaluateAll((as) => as.map((a) => a.textContent));

  await page.goto(`${c.url}/floor/${NORTH.site}`);
  t.equal(new URL(page.url()).pathname + new URL(page.url()).search, `/login?next=${encodeURIComponent(`/floor/${NORTH.site}`)}`, 'a page without a session goes to sign in');

  await signIn('ann', 'not the password');
  await page.locator('#message:not(:empty)').waitFor({ timeout: 5000 });
  t.equal(await page.locator('#message').textContent(), 'Wrong user name or password.', 'a wrong password says so');
  t.equal(new URL(page.url()).pathname, '/login', 'and stays on the sign-in page');

  await signIn('ann', PW.ann);
  await page.waitForURL(`${c.url}/floor/${NORTH.site}`, { timeout: 10_000 });
  t.pass('signed in, back on the page asked for');
  await page.locator(`li.alert[data-box="${NORTH.box}"] .evidence`).waitFor({ timeout: 10_000 });
  t.equal(await page.locator(`li.alert[data-box="${NORTH.box}"] .evidence`).textContent(), NORTH.evidence, 'her floor shows its alert');
  t.same(await links(), ['Floor', 'Calls', 'Figures'], "a supervisor's header: floor, calls, figures");
  t.match(await page.locator('#who').textContent(), /^ann \(supervisor\)/);

  await page.locator('#logout').click();
  await page.waitForURL(/\/login$/, { timeout: 10_000 });
  t.pass('signing out returns to the sign-in page');
  const after = await page.evaluate(async () => (await fetch('/api/session', { headers: { accept: 'application/json' } })).status);
  t.equal(after, 401, 'and the API then answers 401');

  // A supervisor of the other site, sent to this site's floor.
  await page.goto(`${c.url}/login?next=${encodeURIComponent(`/floor/${NORTH.site}`)}`);
  const floorPage = page.waitForResponse((r) => r.url() === `${c.url}/floor/${NORTH.site}`, { timeout: 15_000 });
  await signIn('sam', PW.sam);
  t.equal((await floorPage).status(), 404, 'the floor of a site not his answers as if it did not exist');
  // The response is in before the page that shows it is: read the page once it has loaded.
  await page.waitForURL(`${c.url}/floor/${NORTH.site}`);
  const seen = await page.evaluate(() => document.body.innerText);
  for (const s of [NORTH.box, NORTH.agent, NORTH.line, NORTH.calls[0], NORTH.evidence]) t.notOk(seen.includes(s), `nothing of it on the page: no ${s}`);
  const stream = await page.evaluate(async (site) => (await fetch(`/api/live/${site}`)).status, NORTH.site);
  t.equal(stream, 404, 'nor its live stream');
  await page.goto(`${c.url}/`);
  await page.locator('nav#sites a').first().waitFor({ timeout: 10_000 });
  t.same(await page.locator('nav#sites a').evaluateAll((as) => as.map((a) => a.textContent)), [SOUTH.site], 'the floors he may open: his own only');
  await page.locator('#logout').click();
  await page.waitForURL(/\/login$/, { timeout: 10_000 });

  // An admin: every link, and the admin page.
  await page.goto(`${c.url}/login?next=%2Fadmin`);
  await signIn('root', PW.root);
  await page.waitForURL(`${c.url}/admin`, { timeout: 10_000 });
  await page.locator('tr[data-user="sam"]').waitFor({ timeout: 10_000 });
  t.same(await links(), ['Floor', 'Calls', 'Search', 'Review', 'Figures', 'Admin'], "an admin's header: every page");
  t.same(await page.locator('#users tr').evaluateAll((rs) => rs.map((r) => (r as HTMLElement).dataset.user)), ['ann', 'root', 'sam']);
  t.match(await page.locator(`#sites tr[data-site="${NORTH.site}"] .boxtag`).allTextContents(), [new RegExp(`^${NORTH.box}`)], 'sites with their boxes');
  t.match(await page.locator('#held tr[data-box="stray-box"] .reason').textContent(), `box stray-box is not registered at site ${NORTH.site}`, 'a record held apart, with why');
  await page.locator('#new-name').fill('quinn');
  await page.locator('#new-role').selectOption('qa');
  await page.locator('#new-sites').fill(`${NORTH.site}, ${SOUTH.site}`);
  await page.locator('#add-user button[type="submit"]').click();
  await page.locator('tr[data-user="quinn"]').waitFor({ timeout: 10_000 });
  const shown = await page.locator('#notice code').textContent();
  t.match(shown, /^[A-Za-z0-9]{21}$/, 'the new user\'s password, shown once');
  t.equal(await page.locator('tr[data-user="quinn"] select.role').inputValue(), 'qa');
  await page.locator('#audit tr[data-action="user.add"]').first().waitFor({ timeout: 10_000 });
  t.match(await page.locator('#audit tr').first().locator('.action').textContent(), 'user.add', 'the audit log shows the change at once');
  t.notOk((await page.evaluate(() => document.body.innerText)).includes('$scrypt$'), 'no hash on the page');

  // The new user signs in with it, in a browser of their own: a QA reviewer has no floor, and starts at the calls.
  const second = await launchChromium();
  t.teardown(() => second.close());
  const other = await second.context.newPage();
  await other.goto(`${c.url}/login`);
  await other.locator('#name').fill('quinn');
  await other.locator('#password').fill(shown!);
  await other.locator('#submit').click();
  await other.waitForURL(`${c.url}/calls`, { timeout: 10_000 });
  t.pass('the generated password signs the new user in; a QA reviewer lands on the calls');
});
