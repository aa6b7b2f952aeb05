/**
 * Sessions, kept in the store so every web process behind a load balancer knows them. The cookie holds a
 * random 32-byte token; the store holds only its SHA-256 (a copy of the table signs no one in). A session
 * ends at its absolute expiry, after `idle` without a request, at sign-out, or when its user is disabled,
 * removed or given a new password. Role and sites are read from the user at each request, so a change an
 * admin makes holds from the next request on.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Sql } from '../store/sql-store.js';
import type { Role } from '../web/access.js';
import { parseSites } from './users.js';

export interface SessionTimes {
  /** a session with no request for this long ends */
  idleMs: number;
  /** and any session this long after sign-in */
  maxMs: number;
  now: () => number;
}

export interface Session {
  userId: number;
  name: string;
  role: Role;
  sites: string[] | '*';
  csrf: string;
  createdAt: string;
  expiresAt: string;
}

/** Last-seen is written at most this often: a page's burst of requests is one write, not one each. */
const TOUCH_EVERY_MS = 60_000;

const idOf = (token: string) => createHash('sha256').update(token).digest('hex');
const iso = (ms: number) => new Date(ms).toISOString();

export async function createSession(sql: Sql, userId: number, times: SessionTimes): Promise<{ token: string; csrf: string; expiresAt: string }> {
  const token = randomBytes(32).toString('base64url');
  const csrf = randomBytes(32).toString('base64url');
  const now = times.now();
  const expiresAt = iso(now + times.maxMs);
  // Ended sessions go as new ones start: the table holds about as many rows as there are people signed in.
  await sql.run('DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?', [iso(now), iso(now - times.idleMs)]);
  await sql.run('INSERT INTO sessions (id, user_id, csrf, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)', [idOf(token), userId, csrf, iso(now), iso(now), expiresAt]);
  return { token, csrf, expiresAt };
}

/** The live session of a cookie's token, or null (none, expired, idle too long, its user disabled). */
export async function findSession(sql: Sql, token: string, times: SessionTimes): Promise<Session | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const id = idOf(token);
  const [row] = await sql.all<{
    user_id: number; csrf: string; created_at: string; last_seen_at: string; expires_at: string; name: string; role: string; sites: string; disabled: number;
  }>(
    'SELECT s.user_id, s.csrf, s.created_at, s.last_seen_at, s.expires_at, u.name, u.role, u.sites, u.disabled FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?',
    [id],
  );
  if (!row) return null;
  const now = times.now();
  const lastSeen = Date.parse(row.last_seen_at);
  if (Date.parse(row.expires_at) <= now || lastSeen + times.idleMs <= now || Number(row.disabled) === 1) {
    await sql.run('DELETE FROM sessions WHERE id = ?', [id]);
    return null;
  }
  if (now - lastSeen >= TOUCH_EVERY_MS) await sql.run('UPDATE sessions SET last_seen_at = ? WHERE id = ?', [iso(now), id]);
  return { userId: Number(row.user_id), name: row.name, role: row.role as Role, sites: parseSites(row.sites), csrf: row.csrf, createdAt: row.created_at, expiresAt: row.expires_at };
}

export async function endSession(sql: Sql, token: string): Promise<void> {
  await sql.run('DELETE FROM sessions WHERE id = ?', [idOf(token)]);
}

/** Whether a request's CSRF header is the session's token, compared in constant time. */
export function csrfMatches(sent: unknown, csrf: string): boolean {
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
