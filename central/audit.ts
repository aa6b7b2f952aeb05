/**
 * The audit log: who did what at the centre, when. Every review, export, acknowledgement, sign-in and change
 * to users, sites or boxes writes one row, in the same transaction as the change where there is one, so the
 * log never claims what did not happen nor misses what did. Rows are only ever added.
 */
import type { Sql } from './store/sql-store.js';

export interface AuditEntry {
  at: string;
  /** who (null: the system, or a sign-in attempt with no such user) */
  username: string | null;
  /** what, as a dotted verb: `review.confirm`, `export.calls`, `user.add`, `login.fail`, … */
  action: string;
  /** of what: a JSON object (the call and alert, the filter exported, the user changed), never a secret */
  detail: Record<string, unknown>;
}

export async function audit(sql: Sql, username: string | null, action: string, detail: Record<string, unknown> = {}): Promise<void> {
  await sql.run('INSERT INTO audit (at, username, action, detail) VALUES (?, ?, ?, ?)', [new Date().toISOString(), username, action, JSON.stringify(detail)]);
}

/** Newest first; `beforeId` continues the list. */
export async function listAudit(sql: Sql, opts: { limit?: number; beforeId?: number; action?: string } = {}): Promise<(AuditEntry & { id: number })[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.beforeId !== undefined) (where.push('id < ?'), params.push(opts.beforeId));
  if (opts.action !== undefined) (where.push('action LIKE ?'), params.push(`${opts.action}%`));
  params.push(Math.max(1, Math.min(opts.limit ?? 100, 1000)));
  const rows = await sql.all<{ id: number; at: string; username: string | null; action: string; detail: string | null }>(
    `SELECT id, at, username, action, detail FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
    params,
  );
  return rows.map((r) => ({ id: Number(r.id), at: r.at, username: r.username, action: r.action, detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : {} }));
}
