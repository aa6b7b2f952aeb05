/**
 * Accounts on the centre, through its HTTP API as a browser or a script uses it, against SQLite and against
 * a real PostgreSQL (one throw-away cluster for the file): sign-in and its cookie, sessions shared by two
 * web processes on one store, idle and absolute expiry, CSRF refusal, the Origin check of the sign-in, the
 * rate limit (per name and per address, shared across processes, never telling whether a name exists),
 * role grants, the admin API with every change audited and no password in the audit log, and a hash made
 * with lower scrypt parameters raised at sign-in.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { addUser, createOneTimeAdmin, getUser, passwordHashOf, type Actor } from '../central/auth/users.js';
import { listAudit } from '../central/audit.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { Client, startAccountsCentral, TEST_SCRYPT } from '../test/support/centre.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';

const CLI: Actor = { name: null, via: 'cli' };
const PASSWORDS = { root: 'root password one', ann: 'ann password two', bob: 'bob password three' };

/** A clock the test moves: sessions and the rate limit read it. */
function clock() {
  let ms = Date.parse('2026-12-07T08:00:00.000Z');
  return { now: () => ms, advance: (by: number) => (ms += by) };
}

async function seedUsers(store: SqlStore): Promise<void> {
  await addUser(store.db, { name: 'root', role: 'admin', password: PASSWORDS.root }, CLI, TEST_SCRYPT);
  await addUser(store.db, { name: 'ann', role: 'supervisor', sites: ['north'], password: PASSWORDS.ann }, CLI, TEST_SCRYPT);
  await addUser(store.db, { name: 'bob', role: 'qa', sites: ['north', 'south'], password: PASSWORDS.bob }, CLI, TEST_SCRYPT);
}

async function auditText(store: SqlStore): Promise<string> {
  return JSON.stringify(await store.db.all('SELECT * FROM audit ORDER BY id'));
}

function suite(t: Test, newDb: () => Promise<string>) {
  /** Two web processes on one store with the users seeded, as behind a load balancer. */
  async function twoProcessesOnOneStore(t: Test) {
    const db = await newDb();
    const one = await startAccountsCentral(db);
    t.teardown(() => one.close());
    const two = await startAccountsCentral(db);
    t.teardown(() => two.close());
    await seedUsers(one.store);
    return [one, two] as const;
  }

  t.test('sign in: an HTTP-only SameSite=Strict cookie, the session in the store by its hash, and who is signed in', async (t) => {
    const c = await startAccountsCentral(await newDb());
    t.teardown(() => c.close());
    await seedUsers(c.store);
    const ann = new Client(c.url);
    t.equal((await ann.get('/api/session')).status, 401, 'no session: 401');
    const r = await ann.login('Ann', PASSWORDS.ann);
    t.equal(r.status, 200, 'the name is not case-sensitive');
    t.match(r.body, { name: 'ann', role: 'supervisor', sites: ['north'], capabilities: ['live', 'acknowledge', 'calls'] });
    const cookie = r.headers.getSetCookie().find((x) => x.startsWith('earshot_session='))!;
    t.match(cookie, /; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/, 'HttpOnly, SameSite=Strict, 12 h, not Secure over plain http');
    const token = ann.cookie!.split('=')[1];
    t.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes');
    const rows = await c.store.db.all<{ id: string }>('SELECT id FROM sessions');
    t.equal(rows.length, 1);
    t.not(rows[0].id, token, 'the store keeps its hash, not the token');
    t.match(await ann.get('/api/session'), { status: 200, body: { name: 'ann', role: 'supervisor', csrf: r.body.csrf } });
    t.notOk(r.text.includes('password'), 'the answer holds no password or hash');
  });

  t.test('Secure cookies: when told so, or when the request came over https through a trusted proxy', async (t) => {
    const db = await newDb();
    const told = await startAccountsCentral(db, { secureCookies: true });
    t.teardown(() => told.close());
    await seedUsers(told.store);
    t.match((await new Client(told.url).login('ann', PASSWORDS.ann)).headers.getSetCookie()[0], /; Secure$/, '--secure-cookies');
    const proxied = await startAccountsCentral(db, { trustProxy: '127.0.0.1' });
    t.teardown(() => proxied.close());
    t.match((await new Client(proxied.url).login('ann', PASSWORDS.ann, { 'x-forwarded-proto': 'https' })).headers.getSetCookie()[0], /; Secure$/, 'X-Forwarded-Proto: https from the trusted proxy');
    t.notMatch((await new Client(proxied.url).login('ann', PASSWORDS.ann)).headers.getSetCookie()[0], /Secure/, 'plain http through it: not Secure');
  });

  t.test('a wrong password and an unknown name get the same answer; a disabled user cannot sign in; nothing secret is audited', async (t) => {
    const c = await startAccountsCentral(await newDb());
    t.teardown(() => c.close());
    await seedUsers(c.store);
    const wrong = await new Client(c.url).login('ann', 'not her password');
    const unknown = await new Client(c.url).login('nobody-here', 'whatever it is');
    t.equal(wrong.status, 401);
    t.equal(unknown.status, 401);
    t.same(wrong.body, unknown.body, 'one message for both: a name is not confirmed');
    t.same(wrong.body, { error: 'Wrong user name or password.' });
    t.equal(wrong.headers.get('set-cookie'), null, 'no cookie');
    t.equal((await new Client(c.url).request('POST', '/api/login', { body: { name: 'ann' } })).status, 400, 'no password: 400');
    t.equal((await new Client(c.url).request('POST', '/api/login', { body: 'ann' })).status, 400, 'not an object: 400');
    const admin = new Client(c.url);
    await admin.login('root', PASSWORDS.root);
    t.equal((await admin.request('PATCH', '/api/admin/users/ann', { body: { disabled: true } })).status, 200);
    t.equal((await new Client(c.url).login('ann', PASSWORDS.ann)).status, 401, 'disabled: refused with the same answer');
    const audit = await listAudit(c.store.db, { action: 'login.' });
    t.same(audit.map((a) => [a.action, a.username, a.detail.reason]).reverse(), [
      ['login.fail', 'ann', 'wrong password'],
      ['login.fail', null, 'unknown user name'],
      ['login.ok', 'root', undefined],
      ['login.fail', 'ann', 'user disabled'],
    ]);
    const text = await auditText(c.store);
    for (const secret of [...Object.values(PASSWORDS), 'not her password', 'whatever it is', 'nobody-here']) t.notOk(text.includes(secret), `"${secret}" is not in the audit log`);
  });

  t.test('sessions live in the store: a second web process on it knows them, and sign-out ends them for both', async (t) => {
    const [one, two] = await twoProcessesOnOneStore(t);
    const a = new Client(one.url);
    await a.login('ann', PASSWORDS.ann);
    const b = new Client(two.url);
    b.cookie = a.cookie;
    b.csrf = a.csrf;
    t.match(await b.get('/api/session'), { status: 200, body: { name: 'ann' } }, 'the other process knows the session');
    t.equal((await b.post('/api/logout')).status, 200, 'signed out on the other process');
    t.equal((await a.get('/api/session')).status, 401, 'and the first no longer knows it');
    t.equal(b.cookie, null, 'the cookie is cleared');
  });

  t.test('expiry: idle and absolute', async (t) => {
    const clk = clock();
    const c = await startAccountsCentral(await newDb(), { now: clk.now, idleMinutes: 30, maxHours: 2 });
    t.teardown(() => c.close());
    await seedUsers(c.store);
    const idle = new Client(c.url);
    await idle.login('ann', PASSWORDS.ann);
    clk.advance(29 * 60_000);
    t.equal((await idle.get('/api/session')).status, 200, '29 min idle: still signed in');
    clk.advance(29 * 60_000);
    t.equal((await idle.get('/api/session')).status, 200, 'each request restarts the idle time');
    clk.advance(30 * 60_000 + 1000);
    const gone = await idle.get('/api/session');
    t.equal(gone.status, 401, '30 min without a request: signed out');
    t.match(gone.headers.get('set-cookie'), /^earshot_session=; .*Max-Age=0/, 'and its stale cookie is cleared');
    const busy = new Client(c.url);
    await busy.login('ann', PASSWORDS.ann);
    for (let i = 0; i < 7; i++) {
      clk.advance(15 * 60_000);
      t.equal((await busy.get('/api/session')).status, 200, `active, ${(i + 1) * 15} min after sign-in`);
    }
    clk.advance(15 * 60_000);
    t.equal((await busy.get('/api/session')).status, 401, 'active all along, but 2 h after sign-in: signed out');
    t.same(await c.store.db.all('SELECT id FROM sessions'), [], 'ended sessions are removed from the store');
  });

  t.test('CSRF: a change without the session\'s token is refused', async (t) => {
    const c = await startAccountsCentral(await newDb());
    t.teardown(() => c.close());
    await seedUsers(c.store);
    const admin = new Client(c.url);
    await admin.login('root', PASSWORDS.root);
    const add = { name: 'carl', role: 'readonly', sites: ['north'], generate: true };
    t.match(await admin.post('/api/admin/users', add, { csrf: false }), { status: 403, body: { error: /CSRF/ } }, 'no token: 403');
    t.equal((await admin.post('/api/admin/users', add, { csrf: 'A'.repeat(43) })).status, 403, 'a wrong token: 403');
    const other = new Client(c.url);
    await other.login('ann', PASSWORDS.ann);
    t.equal((await admin.post('/api/admin/users', add, { csrf: other.csrf! })).status, 403, "another session's token: 403");
    t.equal(await getUser(c.store.db, 'carl'), null, 'nothing was changed');
    t.equal((await admin.post('/api/logout', {}, { csrf: false })).status, 403, 'sign-out needs it too');
    t.equal((await admin.post('/api/admin/users', add)).status, 201, 'with the token: done');
    t.equal((await admin.get('/api/admin/users')).status, 200, 'a GET needs none');
  });

  t.test('the sign-in is refused from another origin', async (t) => {
    const c = await startAccountsCentral(await newDb());
    t.teardown(() => c.close());
    await seedUsers(c.store);
    const host = new URL(c.url).host;
    t.match(await new Client(c.url).login('ann', PASSWORDS.ann, { origin: 'https://evil.example' }), { status: 403, body: { error: /another site/ } });
    t.equal((await new Client(c.url).login('ann', PASSWORDS.ann, { origin: 'null' })).status, 403, 'Origin: null');
    t.equal((await new Client(c.url).login('ann', PASSWORDS.ann, { referer: 'https://evil.example/x' })).status, 403, 'no Origin, a foreign Referer');
    t.equal((await new Client(c.url).login('ann', PASSWORDS.ann, { origin: `http://${host}` })).status, 200, 'its own origin');
    t.equal((await new Client(c.url).login('ann', PASSWORDS.ann, { referer: `http://${host}/login?next=/` })).status, 200, 'its own page as Referer');
    t.equal((await new Client(c.url).request('POST', '/api/login', { body: { name: 'ann', password: PASSWORDS.ann }, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 415, 'a form post (what a cross-site form can send) is not read');
  });

  t.test('rate limit: 5 failures per name and 20 per address in 15 min, shared across processes, then 429 with Retry-After', async (t) => {
    const clk = clock();
    const db = await newDb();
    const one = await startAccountsCentral(db, { now: clk.now });
    t.teardown(() => one.close());
    const two = await startAccountsCentral(db, { now: clk.now });
    t.teardown(() => two.close());
    await seedUsers(one.store);
    for (let i = 0; i < 5; i++) {
      const r = await new Client(i % 2 ? one.url : two.url).login('ann', `guess number ${i}`);
      t.equal(r.status, 401, `guess ${i + 1} (process ${i % 2 ? 1 : 2})`);
      clk.advance(60_000);
    }
    const limited = await new Client(one.url).login('ann', PASSWORDS.ann);
    t.equal(limited.status, 429, 'the sixth, even with the right password, is refused');
    t.equal(limited.headers.get('retry-after'), String(10 * 60), 'until the first failure leaves the window (10 min)');
    t.match(limited.body.error, /^Too many failed sign-ins for this user name: try again in 10 minutes\.$/);
    t.equal((await new Client(two.url).login('ann', PASSWORDS.ann)).status, 429, 'the other process refuses it too');
    // An unknown name is limited the same way: the limit tells nothing of who exists.
    for (let i = 0; i < 5; i++) await new Client(one.url).login('ghost', `guess ${i}`);
    const ghost = await new Client(one.url).login('ghost', 'one more');
    t.match(ghost, { status: 429, body: { error: /for this user name/ } }, 'an unknown name: the same 429');
    t.equal((await new Client(one.url).login('bob', PASSWORDS.bob)).status, 200, 'another name from the same address still signs in');
    clk.advance(11 * 60_000);
    t.equal((await new Client(one.url).login('ann', PASSWORDS.ann)).status, 200, 'once the oldest failure has left the window: in');
    t.equal((await new Client(one.url).login('ann', 'wrong again')).status, 401, 'a success forgave the name its failures');
    // Per address: 20 failures over as many names, in a window of their own.
    clk.advance(15 * 60_000);
    for (let i = 0; i < 20; i++) t.equal((await new Client(i % 2 ? one.url : two.url).login(`name-${i}`, 'x-guess-x')).status, 401, `name-${i}`);
    const addr = await new Client(two.url).login('root', PASSWORDS.root);
    t.match(addr, { status: 429, body: { error: /from this address/ } }, 'the address: 20 failures in the window');
    t.ok(Number(addr.headers.get('retry-after')) > 0);
    const limitedAudit = await listAudit(one.store.db, { action: 'login.limited' });
    t.ok(limitedAudit.length >= 4, 'each refusal is audited');
  });

  t.test('a burst of guesses sent at once is counted as it arrives', async (t) => {
    const [one, two] = await twoProcessesOnOneStore(t);
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => new Client(i % 2 ? one.url : two.url).login('ann', `burst guess ${i}`)));
    const statuses = results.map((r) => r.status);
    t.equal(statuses.filter((s) => s === 401).length, 5, `exactly 5 guesses were checked (${statuses.join(' ')})`);
    t.equal(statuses.filter((s) => s === 429).length, 11);
  });

  t.test('roles: each may use what it is granted; a page asks a browser to sign in', async (t) => {
    const c = await startAccountsCentral(await newDb());
    t.teardown(() => c.close());
    await seedUsers(c.store);
    const ann = new Client(c.url);
    await ann.login('ann', PASSWORDS.ann);
    t.match(await ann.get('/api/admin/users'), { status: 403, body: { error: 'a supervisor may not use this (admin)' } });
    t.equal((await ann.get('/api/sites')).status, 200, 'a supervisor sees the floor');
    const bob = new Client(c.url);
    await bob.login('bob', PASSWORDS.bob);
    t.equal((await bob.get('/api/sites')).status, 403, 'a QA reviewer has no live floor');
    const page = await new Client(c.url).request('GET', '/floor/north?x=1', { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    t.equal(page.status, 302, 'a browser opening a page without a session');
    t.equal(page.headers.get('location'), '/login?next=%2Ffloor%2Fnorth%3Fx%3D1', 'goes to sign in, and comes back');
    t.equal((await new Client(c.url).request('GET', '/login', { headers: { accept: 'text/html' } })).status, 200, 'the sign-in page is open');
    t.equal((await ann.request('GET', '/admin', { headers: { accept: 'text/html' } })).status, 403, 'the admin page is not for a supervisor');
  });

  t.test('admin API: users, boxes, records held apart, the audit log; the last admin stays', async (t) => {
    const c = await startAccountsCentral(await newDb());
    t.teardown(() => c.close());
    await seedUsers(c.store);
    const root = new Client(c.url);
    await root.login('root', PASSWORDS.root);
    const added = await root.post('/api/admin/users', { name: 'dora', role: 'readonly', sites: ['south'], generate: true });
    t.match(added, { status: 201, body: { user: { name: 'dora', role: 'readonly', sites: ['south'], disabled: false } } });
    const generated = added.body.password as string;
    t.match(generated, /^[A-Za-z0-9]{21}$/, 'a generated password, in this answer only');
    t.equal((await new Client(c.url).login('dora', generated)).status, 200, 'it works');
    t.match(await root.post('/api/admin/users', { name: 'dora', role: 'qa', sites: ['x'], password: 'long enough pw' }), { status: 409, body: { error: 'user dora already exists' } });
    t.match(await root.post('/api/admin/users', { name: 'eve', role: 'boss', sites: ['x'], password: 'long enough pw' }), { status: 400, body: { error: /no role "boss"/ } });
    t.match(await root.post('/api/admin/users', { name: 'eve', role: 'qa', password: 'long enough pw' }), { status: 400, body: { error: 'a qa needs at least one site' } });
    t.match(await root.post('/api/admin/users', { name: 'eve', role: 'qa', sites: ['x'], password: 'short' }), { status: 400, body: { error: /at least 10 characters/ } });
    t.match(await root.post('/api/admin/users', { name: 'e/ve', role: 'qa', sites: ['x'], password: 'long enough pw' }), { status: 400, body: { error: /not a user name/ } });
    t.match(await root.post('/api/admin/users', { name: 'eve', role: 'qa', sites: ['a/b'], password: 'long enough pw' }), { status: 400, body: { error: /not a site name/ } });

    const dora = new Client(c.url);
    await dora.login('dora', generated);
    t.match(await root.request('PATCH', '/api/admin/users/dora', { body: { role: 'supervisor', sites: ['north', 'south'] } }), { status: 200, body: { user: { role: 'supervisor', sites: ['north', 'south'] } } });
    t.match(await dora.get('/api/session'), { body: { role: 'supervisor', sites: ['north', 'south'] } }, 'a change holds from her next request');
    const reset = await root.post('/api/admin/users/dora/password', { generate: true });
    t.equal(reset.status, 200);
    t.equal((await dora.get('/api/session')).status, 401, 'a new password ends her sessions');
    t.equal((await new Client(c.url).login('dora', generated)).status, 401, 'the old password no longer works');
    await dora.login('dora', reset.body.password as string);
    t.equal((await root.request('PATCH', '/api/admin/users/dora', { body: { disabled: true } })).status, 200);
    t.equal((await dora.get('/api/session')).status, 401, 'disabling ends her sessions at once');
    t.equal((await root.request('PATCH', '/api/admin/users/dora', { body: { disabled: false } })).status, 200, 'enabled again');
    t.equal((await root.request('DELETE', '/api/admin/users/dora')).status, 200);
    t.match(await root.request('DELETE', '/api/admin/users/dora'), { status: 404, body: { error: 'no user dora' } });

    t.match(await root.request('PATCH', '/api/admin/users/root', { body: { disabled: true } }), { status: 409, body: { error: /root is the last admin/ } });
    t.match(await root.request('PATCH', '/api/admin/users/root', { body: { role: 'qa', sites: ['north'] } }), { status: 409 });
    t.match(await root.request('DELETE', '/api/admin/users/root'), { status: 409 });
    t.equal((await root.get('/api/session')).status, 200, 'the last admin is still an admin');

    t.equal((await root.post('/api/admin/boxes', { site: 'north', box: 'n-1' })).status, 201);
    t.match(await root.post('/api/admin/boxes', { site: 'south', box: 'n-1' }), { status: 409, body: { error: 'box n-1 is already registered at site north' } });
    t.match(await root.post('/api/admin/boxes', { site: 'so uth', box: 'x' }), { status: 400, body: { error: /not a site name/ } });
    t.match(await root.get('/api/admin/sites'), { body: { sites: [{ site: 'north', boxes: [{ box: 'n-1' }] }] } });
    t.match(await root.request('DELETE', '/api/admin/sites/north'), { status: 409, body: { error: /still has 1 box/ } });
    t.equal((await root.request('DELETE', '/api/admin/boxes/n-1')).status, 200);
    t.equal((await root.request('DELETE', '/api/admin/sites/north')).status, 200);
    t.same((await root.get('/api/admin/sites')).body, { sites: [] });

    await c.store.registerBox('north', 'n-2');
    await c.store.storeBatch([{ site: 'north', box: 'stray-9', seq: 1, kind: 'index', at: '2026-12-07T08:00:00.000Z', data: { callId: 'x', durationSec: 1 } }], 'closed');
    t.match(await root.get('/api/admin/unregistered'), { body: { records: [{ box: 'stray-9', reason: 'box stray-9 is not registered at site north' }] } });
    t.match(await root.get('/api/admin/unregistered?limit=0'), { status: 400, body: { error: 'limit: a whole number from 1 to 1000' } });

    const audit = await root.get('/api/admin/audit?limit=1000');
    const actions = (audit.body.entries as { action: string; username: string | null }[]).map((e) => e.action).reverse();
    t.same(actions.filter((a) => !a.startsWith('login')), ['user.add', 'user.add', 'user.add', 'user.add', 'user.role', 'user.password', 'user.disable', 'user.enable', 'user.remove', 'box.add', 'box.remove', 'site.remove'], 'every change audited, in order');
    t.match((audit.body.entries as { action: string; username: string }[]).find((e) => e.action === 'user.remove'), { username: 'root', detail: { name: 'dora' } }, 'by whom, of what');
    const page = await root.get('/api/admin/audit?limit=2');
    const older = await root.get(`/api/admin/audit?limit=2&before=${(page.body.entries as { id: number }[])[1].id}`);
    t.ok((older.body.entries as { id: number }[])[0].id < (page.body.entries as { id: number }[])[1].id, 'pages go back in time');
    const text = await auditText(c.store);
    for (const secret of [generated, reset.body.password as string, ...Object.values(PASSWORDS)]) t.notOk(text.includes(secret), 'no password in the audit log');
    t.notOk(text.includes('$scrypt$'), 'nor a hash');
  });

  t.test('a one-time admin for the demo: a new password each time, the earlier one stops working', async (t) => {
    const c = await startAccountsCentral(await newDb());
    t.teardown(() => c.close());
    const first = await createOneTimeAdmin(c.store, TEST_SCRYPT);
    t.match(first, { name: 'demo-admin', password: /^[A-Za-z0-9]{21}$/ });
    t.match(await new Client(c.url).login(first.name, first.password), { status: 200, body: { role: 'admin', sites: '*' } });
    const second = await createOneTimeAdmin(c.store, TEST_SCRYPT);
    t.not(second.password, first.password);
    t.equal((await new Client(c.url).login(first.name, first.password)).status, 401, 'the earlier password no longer signs in');
    t.equal((await new Client(c.url).login(second.name, second.password)).status, 200);
    t.notOk((await auditText(c.store)).includes(second.password), 'not in the audit log');
  });

  t.test('raised scrypt parameters: an older hash still signs in and is made again with the new ones', async (t) => {
    const db = await newDb();
    const c = await startAccountsCentral(db, { scrypt: { ln: 11, r: 8, p: 1 } });
    t.teardown(() => c.close());
    await seedUsers(c.store);
    t.match((await passwordHashOf(c.store.db, 'ann'))!.hash, /^\$scrypt\$ln=10,r=8,p=1\$/);
    t.equal((await new Client(c.url).login('ann', PASSWORDS.ann)).status, 200);
    t.match((await passwordHashOf(c.store.db, 'ann'))!.hash, /^\$scrypt\$ln=11,r=8,p=1\$/, 'rehashed at sign-in');
    t.equal((await new Client(c.url).login('ann', PASSWORDS.ann)).status, 200, 'and signs in with it');
  });
}

let pgCluster: Postgres | null = null;

t.test('accounts on SQLite', async (t) => {
  const dir = t.testdir();
  let n = 0;
  suite(t, async () => join(dir, `central-${++n}.sqlite`));
});

t.test('accounts on PostgreSQL', { skip: postgresMissing() ?? false }, async (t) => {
  pgCluster = await Postgres.start();
  t.teardown(() => pgCluster?.dispose());
  suite(t, () => pgCluster!.createDatabase('accounts'));
});

