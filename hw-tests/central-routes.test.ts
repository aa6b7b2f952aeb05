/**
 * Every route, every role, on SQLite and on a real PostgreSQL. The routes are the ones the running centre
 * registered (startCentral with centralExtras, as `earshot central` runs), not a list kept here: a route
 * added by any feature is covered once it exists.
 *
 * For each route and each of: an admin; a supervisor, a QA reviewer and a read-only user of site A; a
 * supervisor of site B; no session:
 * - the status is what the route's `config.need` and the role's grants imply: 401 without a session, 403
 *   for a role not granted it, else neither (and never a 5xx);
 * - a change (any method but GET/HEAD) without the session's CSRF token is refused;
 * and, with sites A and B each holding a box, calls and alerts (in the store and on the live floor):
 * - every GET route asked by B's supervisor with A's identifiers in its path and query answers nothing of
 *   A: no site name, box, call id, agent, line, words or evidence of A in any body (an error may repeat
 *   what was asked, nothing more).
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { addUser, getUser } from '../central/auth/users.js';
import { createSession } from '../central/auth/sessions.js';
import { roleMay, type Capability, type Role } from '../central/web/access.js';
import { callIndexProblems } from '../edge/index/validate.js';
import { fixtureIndex, NORTH as A, SOUTH as B, seedSite, startAccountsCentral, TEST_SCRYPT } from '../test/support/centre.js';
import { Postgres, postgresMissing } from '../test/support/postgres.js';

interface Who {
  label: string;
  user: string | null;
  role?: Role;
  sites?: string[];
}

const WHO: Who[] = [
  { label: 'admin', user: 'root', role: 'admin' },
  { label: 'supervisor of A', user: 'sup-a', role: 'supervisor', sites: [A.site] },
  { label: 'qa of A', user: 'qa-a', role: 'qa', sites: [A.site] },
  { label: 'readonly of A', user: 'ro-a', role: 'readonly', sites: [A.site] },
  { label: 'supervisor of B', user: 'sup-b', role: 'supervisor', sites: [B.site] },
  { label: 'no session', user: null },
];

/**
 * What each route parameter stands for, filled with A's identifiers. A route with a parameter not named
 * here fails the test: add what it stands for, so the isolation check puts A's value in it.
 */
const PARAMS: Record<string, string> = {
  site: A.site,
  box: A.box,
  callId: A.calls[0],
  call: A.calls[0],
  alertId: A.alertId,
  alert: A.alertId,
  seq: '1',
  agent: A.agent,
  agentId: A.agent,
  line: A.line,
  rule: 'card-data',
  name: 'nobody-such',
  user: 'nobody-such',
  list: 'queue.csv',
};

/** The same in the query string of every GET, for routes that take them there. */
const QUERY = new URLSearchParams({ site: A.site, box: A.box, callId: A.calls[0], alertId: A.alertId, agent: A.agent, line: A.line, q: A.words.split(' ')[0], rule: 'card-data' }).toString();

/** What of A must never reach B's supervisor. */
const SECRETS = [A.site, A.box, ...A.calls, A.agent, A.line, A.words.split(' ')[0], A.evidence.split(' ')[1]];

const SAFE = new Set(['GET', 'HEAD']);
const STREAM_READ_MS = 600;

/** One request; a streamed answer (Server-Sent Events) is read for a moment and then cut off. */
async function call(base: string, method: string, path: string, o: { cookie?: string; csrf?: string }): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (o.cookie) headers.cookie = o.cookie;
  if (o.csrf) headers['x-csrf-token'] = o.csrf;
  const hasBody = !SAFE.has(method);
  if (hasBody) headers['content-type'] = 'application/json';
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    const res = await fetch(base + path, { method, headers, body: hasBody ? '{}' : undefined, redirect: 'manual', signal: ac.signal });
    // Counted from the answer's start, not the request's: a loaded machine may take its time to answer.
    timer = setTimeout(() => ac.abort(), STREAM_READ_MS);
    let text = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body ?? []) text += decoder.decode(chunk as Uint8Array, { stream: true });
    } catch {
      /* cut off: a stream */
    }
    return { status: res.status, text };
  } finally {
    clearTimeout(timer);
  }
}

function fill(url: string): { path: string; supplied: string[]; unknown: string[] } {
  const supplied: string[] = [];
  const unknown: string[] = [];
  const path = url.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    const v = PARAMS[name];
    if (v === undefined) {
      unknown.push(name);
      return 'x';
    }
    supplied.push(v);
    return encodeURIComponent(v);
  });
  return { path, supplied, unknown };
}

/** Which of A's identifiers a body holds; an error's own message may repeat what the request named. */
function leaked(status: number, text: string, supplied: string[]): string[] {
  let checked = text;
  if (status >= 400) {
    try {
      const body = JSON.parse(text) as Record<string, unknown>;
      if (typeof body.error === 'string') {
        body.error = supplied.reduce((e, s) => e.split(s).join('<asked>'), body.error);
        checked = JSON.stringify(body);
      }
    } catch {
      /* not JSON: checked whole */
    }
  }
  return SECRETS.filter((s) => checked.includes(s));
}

function expected(need: string, who: Who): 'ok' | 401 | 403 {
  if (need === 'public') return 'ok';
  if (!who.role) return 401;
  return roleMay(who.role, need as Capability | 'signed-in') ? 'ok' : 403;
}

function suite(t: Test, newDb: () => Promise<string>) {
  t.test('every route, every role; nothing of site A reaches the supervisor of site B', async (t) => {
    const c = await startAccountsCentral(await newDb());
    t.teardown(() => c.close());
    const db = c.store.db;
    for (const w of WHO) if (w.user) await addUser(db, { name: w.user, role: w.role, sites: w.sites, password: `${w.user} password long` }, { name: null, via: 'cli' }, TEST_SCRYPT);
    t.same(callIndexProblems(fixtureIndex(A, A.calls[0], new Date().toISOString())), [], 'the seeded calls are real call indexes');
    await seedSite(c, c.store, A);
    await seedSite(c, c.store, B);

    const times = { idleMs: 240 * 60_000, maxMs: 12 * 3_600_000, now: Date.now };
    /** A new session of `who`, as signing in gives: its cookie and CSRF token. */
    const sessionOf = async (who: Who): Promise<{ cookie?: string; csrf?: string }> => {
      if (!who.user) return {};
      const s = await createSession(db, (await getUser(db, who.user))!.id, times);
      return { cookie: `earshot_session=${s.token}`, csrf: s.csrf };
    };

    const routes = c.web.routes.filter((r) => r.method !== 'HEAD');
    t.ok(routes.length >= 20, `${routes.length} routes registered`);
    for (const r of routes) t.same(fill(r.url).unknown, [], `${r.method} ${r.url}: every parameter is one the test knows`);

    // Isolation first (only GETs: nothing changes), then the matrix, whose changes are real.
    const supB = await sessionOf(WHO[4]);
    const admin = await sessionOf(WHO[0]);
    const seenByAdmin: string[] = [];
    let asked = 0;
    for (const r of routes.filter((x) => x.method === 'GET')) {
      const { path, supplied } = fill(r.url);
      for (const p of [path, `${path}?${QUERY}`]) {
        const got = await call(c.url, 'GET', p, supB);
        asked++;
        const querySupplied = p.includes('?') ? [...supplied, ...new URLSearchParams(QUERY).values()] : supplied;
        const leaks = leaked(got.status, got.text, querySupplied);
        t.same(leaks, [], `GET ${p} as B's supervisor (${got.status}) holds nothing of A`);
        // A route a supervisor may use answers as if A had nothing: a 403 would confirm it exists.
        if (expected(r.need, WHO[4]) === 'ok') t.ok(got.status !== 403 && got.status < 500, `GET ${p} as B's supervisor: ${got.status}, not a 403`);
        seenByAdmin.push((await call(c.url, 'GET', p, admin)).text);
      }
    }
    const all = seenByAdmin.join('\n');
    for (const s of [A.site, A.box, A.calls[0], A.agent, A.line, A.evidence.split(' ')[1]]) t.ok(all.includes(s), `the same requests show an admin A's ${s}: the check above can fail`);
    t.comment(`${asked} GET requests as B's supervisor with A's identifiers`);

    let checked = 0;
    for (const r of routes) {
      const { path } = fill(r.url);
      for (const who of WHO) {
        const want = expected(r.need, who);
        const session = await sessionOf(who);
        const got = await call(c.url, r.method, path, session);
        checked++;
        const what = `${r.method} ${r.url} (${r.need}) as ${who.label}: ${got.status}`;
        if (want === 'ok') t.ok(got.status !== 401 && got.status !== 403 && got.status < 500, `${what}, allowed`);
        else t.equal(got.status, want, `${what}, ${want}`);
        if (!SAFE.has(r.method) && r.need !== 'public') {
          const bare = await call(c.url, r.method, path, { cookie: (await sessionOf(who)).cookie });
          t.equal(bare.status, who.role ? 403 : 401, `${r.method} ${r.url} as ${who.label} without the CSRF token: ${bare.status}`);
        }
      }
    }
    t.comment(`${checked} route × role requests`);
  });
}

let pgCluster: Postgres | null = null;

t.test('SQLite', async (t) => {
  const dir = t.testdir();
  let n = 0;
  suite(t, async () => join(dir, `routes-${++n}.sqlite`));
});

t.test('PostgreSQL', { skip: postgresMissing() ?? false }, async (t) => {
  pgCluster = await Postgres.start();
  t.teardown(() => pgCluster?.dispose());
  suite(t, () => pgCluster!.createDatabase('routes'));
});
