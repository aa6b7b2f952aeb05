/**
 * The sign-in rate limit, in the store so it holds across every web process. An attempt is written down
 * before its password is checked (so a burst sent at once is counted as it arrives, not after its slow
 * hashes), and taken back when it succeeds; what stays are failures. A name or an address with `limit` of
 * them in the window is refused until the oldest leaves it. Names that do not exist are counted the same
 * way: the answer never tells whether a user exists.
 */
import type { Db } from '../store/sql-store.js';

export interface LoginLimit {
  /** failures per user name in the window */
  perName: number;
  /** failures per client address: higher, as a floor's supervisors often share one address (NAT) */
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMIT: LoginLimit = { perName: 5, perAddress: 20, windowMs: 15 * 60_000 };

export type Attempt = { ok: true; ids: number[] } | { ok: false; retryAfterSec: number; by: 'name' | 'address' };

const keysOf = (name: string, address: string) => [`name:${name.toLowerCase().slice(0, 200)}`, `addr:${address}`];

/** Counts the attempt in, or refuses it with how long to wait. */
export async function beginAttempt(db: Db, name: string, address: string, limit: LoginLimit, now: number): Promise<Attempt> {
  const [nameKey, addrKey] = keysOf(name, address);
  return db.tx(async (sql) => {
    // Two processes counting at once would each see room for one more: the count and the insert are one
    // step (SQLite's write lock already makes them so).
    if (db.dialect.name === 'postgres') await sql.all('SELECT pg_advisory_xact_lock(7237011006)');
    const since = now - limit.windowMs;
    await sql.run('DELETE FROM login_attempts WHERE at_ms <= ?', [since]);
    for (const [key, max, by] of [[nameKey, limit.perName, 'name'], [addrKey, limit.perAddress, 'address']] as const) {
      const rows = await sql.all<{ at_ms: number }>('SELECT at_ms FROM login_attempts WHERE key = ? AND at_ms > ? ORDER BY at_ms', [key, since]);
      if (rows.length >= max) {
        // When enough of them have left the window that one more attempt fits.
        const freeAt = Number(rows[rows.length - max].at_ms) + limit.windowMs;
        return { ok: false, retryAfterSec: Math.max(1, Math.ceil((freeAt - now) / 1000)), by };
      }
    }
    const ids: number[] = [];
    for (const key of [nameKey, addrKey]) {
      const [row] = await sql.all<{ id: number }>('INSERT INTO login_attempts (key, at_ms) VALUES (?, ?) RETURNING id', [key, now]);
      ids.push(Number(row.id));
    }
    return { ok: true, ids };
  });
}

/** A sign-in that succeeded: its attempt is taken back, and so are the name's earlier failures (typos). */
export async function attemptSucceeded(db: Db, attempt: { ids: number[] }, name: string): Promise<void> {
  const [nameKey] = keysOf(name, '');
  await db.tx(async (sql) => {
    for (const id of attempt.ids) await sql.run('DELETE FROM login_attempts WHERE id = ?', [id]);
    await sql.run('DELETE FROM login_attempts WHERE key = ?', [nameKey]);
  });
}
