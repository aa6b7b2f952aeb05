/**
 * Accounts on the web app: sign-in and sign-out, the admin API and pages, and the `Authorize` every other
 * route asks (central/web/access.ts). A request is who its session cookie says; a change (any method but
 * GET and HEAD) must also carry the session's CSRF token in `x-csrf-token`. The sign-in itself has no
 * session yet: it is refused from another origin (Origin, else Referer) and the cookie is SameSite=Strict.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { audit, listAudit } from '../audit.js';
import type { SqlStore } from '../store/sql-store.js';
import { capabilitiesOf, roleMay, type Authorize, type Caller } from '../web/access.js';
import { servePage } from '../web/server.js';
import { addBox, listSites, removeBox, removeSite } from './boxes.js';
import { attemptSucceeded, beginAttempt, DEFAULT_LOGIN_LIMIT, type LoginLimit } from './limit.js';
import { DEFAULT_SCRYPT, generatePassword, hashPassword, MAX_PASSWORD_CHARS, needsRehash, verifyPassword, type ScryptParams } from './password.js';
import { createSession, csrfMatches, endSession, findSession, type SessionTimes } from './sessions.js';
import { AccountError, addUser, changeUser, listUsers, passwordHashOf, removeUser, setPassword, type Actor } from './users.js';

export interface AccountsOptions {
  log: Logger;
  /** `Secure` on the cookie: 'auto' (default) when the request came over https (behind a proxy: with trustProxy, its X-Forwarded-Proto) */
  secureCookies?: 'auto' | boolean;
  /** minutes without a request after which a session ends (default 240) */
  idleMinutes?: number;
  /** hours after sign-in at which any session ends (default 12) */
  maxHours?: number;
  limit?: LoginLimit;
  /** for new hashes; default DEFAULT_SCRYPT */
  scrypt?: ScryptParams;
  /** the clock (tests of expiry) */
  now?: () => number;
}

export const SESSION_COOKIE = 'earshot_session';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A browser opening a page (rather than a script asking the API): it is sent to sign in, not given JSON. */
function wantsPage(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const accept = String(request.headers.accept ?? '');
  const html = accept.indexOf('text/html');
  const json = accept.indexOf('application/json');
  return html >= 0 && (json < 0 || html < json);
}

/** A page refused to the role signed in, as a page (a browser shows JSON as raw text); names only, nothing a user typed. */
function refusedPage(role: string, need: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Earshot — not for you</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><header><h1>Earshot</h1></header><main><div class="card"><h2>Not for you</h2>
<p>A ${role} may not use this page (${need}).</p>
<p><a href="/calls">Calls</a> · <a href="/login">Sign in as someone else</a></p></div></main></body></html>
`;
}

function tokenOf(request: FastifyRequest): string | null {
  for (const part of String(request.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) return part.slice(i + 1).trim();
  }
  return null;
}

/**
 * Whether a request comes from a page of this centre. A browser sends Origin on every POST (Referer when an
 * old one does not); a request with neither is not a browser's, so not a forged cross-site one.
 */
function sameOrigin(request: FastifyRequest): boolean {
  const from = request.headers.origin ?? request.headers.referer;
  if (from === undefined) return true;
  try {
    return new URL(from).host === request.host;
  } catch {
    return false; // Origin: null (a sandboxed frame, a file), or garbage
  }
}

/** Registers the accounts routes on `app` and returns the Authorize the other routes use. */
export async function setupAccounts(app: FastifyInstance, store: SqlStore, options: AccountsOptions): Promise<Authorize> {
  const { log } = options;
  const db = store.db;
  const now = options.now ?? Date.now;
  const times: SessionTimes = { idleMs: (options.idleMinutes ?? 240) * 60_000, maxMs: (options.maxHours ?? 12) * 3_600_000, now };
  const limit = options.limit ?? DEFAULT_LOGIN_LIMIT;
  const params = options.scrypt ?? DEFAULT_SCRYPT;
  // An unknown name is checked against this, so it takes as long to refuse as a wrong password does.
  const decoy = await hashPassword(randomBytes(16).toString('hex'), params);

  const secure = (request: FastifyRequest) => options.secureCookies === true || (options.secureCookies !== false && request.protocol === 'https');
  const setCookie = (request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSec: number) =>
    reply.header('set-cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSec}${secure(request) ? '; Secure' : ''}`);

  const authorize: Authorize = async (need, request, reply) => {
    const token = tokenOf(request);
    const session = token ? await findSession(db, token, times) : null;
    if (!session) {
      if (token) setCookie(request, reply, '', 0);
      if (wantsPage(request)) await reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 302);
      else await reply.code(401).send({ error: 'not signed in' });
      return null;
    }
    if (!SAFE_METHODS.has(request.method) && !csrfMatches(request.headers['x-csrf-token'], session.csrf)) {
      await reply.code(403).send({ error: 'missing or wrong CSRF token (x-csrf-token): reload the page' });
      return null;
    }
    if (!roleMay(session.role, need)) {
      if (wantsPage(request)) await reply.code(403).type('text/html; charset=utf-8').send(refusedPage(session.role, need));
      else await reply.code(403).send({ error: `a ${session.role} may not use this (${need})` });
      return null;
    }
    return { name: session.name, role: session.role, sites: session.sites, csrf: session.csrf } satisfies Caller;
  };

  /** The handler, with a refused change (AccountError) answered with its status and message. */
  const handled =
    <T>(fn: (request: FastifyRequest, reply: FastifyReply, actor: Actor) => Promise<T>) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      try {
        return await fn(request, reply, { name: request.caller?.name ?? null, via: 'web' });
      } catch (err) {
        if (err instanceof AccountError) return reply.code(err.status).send({ error: err.message });
        throw err;
      }
    };

  const body = (request: FastifyRequest): Record<string, unknown> => {
    const b = request.body;
    if (b === undefined || b === null) return {};
    if (typeof b !== 'object' || Array.isArray(b)) throw new AccountError(400, 'the body must be a JSON object');
    return b as Record<string, unknown>;
  };

  app.get('/login', { config: { need: 'public' } }, servePage('login'));
  app.get('/admin', { config: { need: 'admin' } }, servePage('admin'));

  app.post('/api/login', { config: { need: 'public' } }, handled(async (request, reply) => {
    reply.header('cache-control', 'no-store');
    if (!sameOrigin(request)) return reply.code(403).send({ error: 'a sign-in from another site is refused' });
    const { name, password } = body(request);
    if (typeof name !== 'string' || typeof password !== 'string' || !name.trim() || !password) throw new AccountError(400, 'a user name and a password are required');
    if (name.length > 200 || password.length > MAX_PASSWORD_CHARS) throw new AccountError(400, 'a user name or password that long is not one of ours');
    const tried = name.trim().toLowerCase();
    const address = request.ip;
    const attempt = await beginAttempt(db, tried, address, limit, now());
    if (!attempt.ok) {
      const minutes = Math.ceil(attempt.retryAfterSec / 60);
      await audit(db, null, 'login.limited', { by: attempt.by, address });
      log.warn({ address, by: attempt.by }, 'sign-in rate limit reached');
      return reply
        .code(429)
        .header('retry-after', String(attempt.retryAfterSec))
        .send({ error: `Too many failed sign-ins ${attempt.by === 'name' ? 'for this user name' : 'from this address'}: try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`, retryAfterSec: attempt.retryAfterSec });
    }
    const found = await passwordHashOf(db, tried);
    const matches = await verifyPassword(password, found?.hash ?? decoy);
    if (!found || !matches || found.user.disabled) {
      // An unknown name is not written down: it may be a password typed in the wrong field.
      await audit(db, found?.user.name ?? null, 'login.fail', { address, reason: !found ? 'unknown user name' : !matches ? 'wrong password' : 'user disabled' });
      return reply.code(401).send({ error: 'Wrong user name or password.' });
    }
    await attemptSucceeded(db, attempt, tried);
    const old = tokenOf(request);
    if (old) await endSession(db, old);
    const { user } = found;
    // Parameters raised since this hash was made: it is made again now that the password is at hand (before
    // the transaction: on SQLite a transaction holds the write lock, and ingest waits on it).
    const rehash = needsRehash(found.hash, params) ? await hashPassword(password, params) : null;
    const session = await db.tx(async (sql) => {
      if (rehash) await sql.run('UPDATE users SET password_hash = ? WHERE id = ?', [rehash, user.id]);
      const s = await createSession(sql, user.id, times);
      await audit(sql, user.name, 'login.ok', { address });
      return s;
    });
    setCookie(request, reply, session.token, Math.floor(times.maxMs / 1000));
    return { name: user.name, role: user.role, sites: user.sites, csrf: session.csrf, capabilities: capabilitiesOf(user.role) };
  }));

  app.post('/api/logout', { config: { need: 'signed-in' } }, async (request, reply) => {
    const token = tokenOf(request);
    if (token) await endSession(db, token);
    await audit(db, request.caller!.name, 'logout', {});
    setCookie(request, reply, '', 0);
    return { ok: true };
  });

  // Users.
  app.get('/api/admin/users', { config: { need: 'admin' } }, async () => ({ users: await listUsers(db) }));
  app.post('/api/admin/users', { config: { need: 'admin' } }, handled(async (request, reply, actor) => {
    const b = body(request);
    const password = b.generate === true ? generatePassword() : b.password;
    const user = await addUser(db, { name: b.name, role: b.role, sites: b.sites, password }, actor, params);
    // A generated password is in this answer only: shown once, stored as a hash.
    return reply.code(201).send({ user, ...(b.generate === true ? { password } : {}) });
  }));
  app.patch<{ Params: { name: string } }>('/api/admin/users/:name', { config: { need: 'admin' } }, handled(async (request, _reply, actor) => {
    const b = body(request);
    return { user: await changeUser(db, (request.params as { name: string }).name, { role: b.role, sites: b.sites, disabled: b.disabled }, actor) };
  }));
  app.post<{ Params: { name: string } }>('/api/admin/users/:name/password', { config: { need: 'admin' } }, handled(async (request, _reply, actor) => {
    const b = body(request);
    const password = b.generate === true ? generatePassword() : b.password;
    const user = await setPassword(db, (request.params as { name: string }).name, password, actor, params);
    return { user: user.name, ...(b.generate === true ? { password } : {}) };
  }));
  app.delete<{ Params: { name: string } }>('/api/admin/users/:name', { config: { need: 'admin' } }, handled(async (request, _reply, actor) => {
    await removeUser(db, (request.params as { name: string }).name, actor);
    return { ok: true };
  }));

  // Sites and boxes.
  app.get('/api/admin/sites', { config: { need: 'admin' } }, async () => ({ sites: await listSites(db) }));
  app.post('/api/admin/boxes', { config: { need: 'admin' } }, handled(async (request, reply, actor) => {
    const b = body(request);
    await addBox(db, b.site, b.box, actor);
    return reply.code(201).send({ site: b.site, box: b.box });
  }));
  app.delete<{ Params: { box: string } }>('/api/admin/boxes/:box', { config: { need: 'admin' } }, handled(async (request, _reply, actor) => {
    await removeBox(db, (request.params as { box: string }).box, actor);
    return { ok: true };
  }));
  app.delete<{ Params: { site: string } }>('/api/admin/sites/:site', { config: { need: 'admin' } }, handled(async (request, _reply, actor) => {
    await removeSite(db, (request.params as { site: string }).site, actor);
    return { ok: true };
  }));

  app.get('/api/admin/unregistered', { config: { need: 'admin' } }, handled(async (request) => {
    const q = request.query as Record<string, string | undefined>;
    return { records: await store.listUnregistered(count(q.limit, 'limit', 100, 1000)) };
  }));

  app.get('/api/admin/audit', { config: { need: 'admin' } }, handled(async (request) => {
    const q = request.query as Record<string, string | undefined>;
    const beforeId = q.before === undefined || q.before === '' ? undefined : count(q.before, 'before', 0, Number.MAX_SAFE_INTEGER);
    const action = q.action ? String(q.action).slice(0, 64) : undefined;
    return { entries: await listAudit(db, { limit: count(q.limit, 'limit', 100, 1000), beforeId, action }) };
  }));

  return authorize;
}

/** A whole number from a query string, within bounds, else a 400 saying which. */
function count(v: string | undefined, what: string, fallback: number, max: number): number {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new AccountError(400, `${what}: a whole number from 1 to ${max}`);
  return n;
}
