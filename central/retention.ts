/**
 * Retention and erasure at the centre (docs/privacy.md). A site's retention (days, null: no limit) is kept
 * on its `sites` row; the sweep deletes what is older: calls with their alerts, reviews (their notes are
 * call text) and search text, and the records they came from. Erasure removes one call id of a site from
 * every table that holds it. Each is written to the audit log in the transaction that does it, naming
 * only the site, the call id and the counts: the audit row itself holds nothing of the call.
 */
import type { Db, Sql } from './store/sql-store.js';
import type { Dialect } from './store/migrations.js';
import { indexCallText } from './search/text-index.js';
import type { Logger } from 'pino';
import { audit } from './audit.js';

/** The site is not registered: there is nothing to set or forget. */
export class UnknownSiteError extends Error {
  override name = 'UnknownSiteError';
}

/** Rows removed, per table. */
export type Removed = Record<'calls' | 'alerts' | 'reviews' | 'records' | 'unregistered' | 'searchText', number>;

const none = (): Removed => ({ calls: 0, alerts: 0, reviews: 0, records: 0, unregistered: 0, searchText: 0 });

/** The callId of a stored payload (an index's, or an alert's), in the dialect's JSON. */
export const payloadCallId = (d: Dialect): string => (d.name === 'sqlite' ? "json_extract(payload, '$.callId')" : "(payload::jsonb ->> 'callId')");

async function siteExists(sql: Sql, site: string): Promise<boolean> {
  return (await sql.all('SELECT 1 AS x FROM sites WHERE site = ?', [site])).length > 0;
}

/** Everything of one call of a site, in the caller's transaction. */
async function removeCall(sql: Sql, d: Dialect, site: string, callId: string, into: Removed): Promise<void> {
  // The search text first: on SQLite its row is found through the calls row.
  for (const { box } of await sql.all<{ box: string }>('SELECT box FROM calls WHERE site = ? AND call_id = ?', [site, callId])) {
    const before = d.name === 'sqlite' ? await sql.all<{ t: number | null }>('SELECT text_id AS t FROM calls WHERE box = ? AND call_id = ?', [box, callId]) : [{ t: 1 }];
    await indexCallText(sql, d, box, callId, {});
    if (before[0]?.t !== null) into.searchText++;
  }
  into.alerts += await sql.run('DELETE FROM alerts WHERE site = ? AND call_id = ?', [site, callId]);
  into.reviews += await sql.run('DELETE FROM reviews WHERE site = ? AND call_id = ?', [site, callId]);
  into.calls += await sql.run('DELETE FROM calls WHERE site = ? AND call_id = ?', [site, callId]);
  into.records += await sql.run(`DELETE FROM records WHERE site = ? AND kind IN ('index', 'alert') AND ${payloadCallId(d)} = ?`, [site, callId]);
  into.unregistered += await sql.run(`DELETE FROM unregistered WHERE site = ? AND kind IN ('index', 'alert') AND ${payloadCallId(d)} = ?`, [site, callId]);
}

/** Erases one call of a site from the centre's store; audited as `call.forget`. */
export async function forgetCall(db: Db, site: string, callId: string, username: string | null = null): Promise<Removed> {
  return db.tx(async (sql) => {
    if (!(await siteExists(sql, site))) throw new UnknownSiteError(`site ${site} is not registered`);
    const removed = none();
    await removeCall(sql, db.dialect, site, callId, removed);
    await audit(sql, username, 'call.forget', { site, callId, removed });
    return removed;
  });
}

/** The customer key of a stored index (line.customerKey), in the dialect's JSON. */
const payloadCustomerKey = (d: Dialect): string =>
  d.name === 'sqlite' ? "json_extract(payload, '$.line.customerKey')" : "(payload::jsonb -> 'line' ->> 'customerKey')";

/**
 * Erases every call of a site whose index carries this customer key (lib/customer-key.ts: the caller's number
 * hashed with the site's key); audited once as `customer.forget` with the call ids and counts, not the key.
 * A full read of the site's indexes: erasure requests are rare, and the key is kept in no column of its own.
 */
export async function forgetCustomer(db: Db, site: string, key: string, username: string | null = null): Promise<{ callIds: string[]; removed: Removed }> {
  return db.tx(async (sql) => {
    if (!(await siteExists(sql, site))) throw new UnknownSiteError(`site ${site} is not registered`);
    const rows = await sql.all<{ id: string }>(
      `SELECT DISTINCT ${payloadCallId(db.dialect)} AS id FROM records WHERE site = ? AND kind = 'index' AND ${payloadCustomerKey(db.dialect)} = ?`,
      [site, key],
    );
    const callIds = rows.map((r) => r.id).sort();
    const removed = none();
    for (const callId of callIds) await removeCall(sql, db.dialect, site, callId, removed);
    await audit(sql, username, 'customer.forget', { site, callIds, removed });
    return { callIds, removed };
  });
}

/** Sets (days) or lifts (null) a site's retention; audited as `site.retention`. */
export async function setRetention(db: Db, site: string, days: number | null, username: string | null = null): Promise<void> {
  if (days !== null && !(Number.isInteger(days) && days >= 1)) throw new RangeError(`retention: a whole number of days, 1 or more, not ${days}`);
  await db.tx(async (sql) => {
    if ((await sql.run('UPDATE sites SET retention_days = ? WHERE site = ?', [days, site])) === 0) throw new UnknownSiteError(`site ${site} is not registered`);
    await audit(sql, username, 'site.retention', { site, days });
  });
}

export async function retentionOf(db: Db): Promise<{ site: string; days: number | null }[]> {
  const rows = await db.all<{ site: string; days: number | null }>('SELECT site, retention_days AS days FROM sites ORDER BY site');
  return rows.map((r) => ({ site: r.site, days: r.days === null ? null : Number(r.days) }));
}

/**
 * Deletes, for every site with a retention, what is older than it (`now` minus its days): calls that ended
 * before then with all that is theirs, and any record, alert, review or held-apart record from before
 * then. One transaction and one audit row (`retention.sweep`) per site that lost anything.
 */
export async function sweepRetention(db: Db, now = Date.now()): Promise<{ site: string; cutoff: string; removed: Removed }[]> {
  const out: { site: string; cutoff: string; removed: Removed }[] = [];
  for (const { site, days } of await retentionOf(db)) {
    if (days === null) continue;
    const cutoffMs = now - days * 86_400_000;
    const cutoff = new Date(cutoffMs).toISOString();
    const removed = await db.tx(async (sql) => {
      const r = none();
      const old = await sql.all<{ call_id: string }>('SELECT DISTINCT call_id FROM calls WHERE site = ? AND ended_at < ?', [site, cutoff]);
      for (const { call_id } of old) await removeCall(sql, db.dialect, site, call_id, r);
      r.alerts += await sql.run('DELETE FROM alerts WHERE site = ? AND at < ?', [site, cutoff]);
      r.reviews += await sql.run('DELETE FROM reviews WHERE site = ? AND at < ?', [site, cutoff]);
      r.records += await sql.run('DELETE FROM records WHERE site = ? AND at < ?', [site, cutoff]);
      r.unregistered += await sql.run('DELETE FROM unregistered WHERE site = ? AND received_ms < ?', [site, cutoffMs]);
      if (Object.values(r).some((n) => n > 0)) await audit(sql, null, 'retention.sweep', { site, days, cutoff, removed: r });
      return r;
    });
    out.push({ site, cutoff, removed });
  }
  return out;
}

/**
 * The sweep on a schedule, in `earshot central`: once at start, then every `everyMs` (default hourly, so a
 * record leaves within an hour of its last day). A failed sweep is logged and tried again next time.
 */
export function startRetentionSweeps(db: Db, log: Logger, everyMs = 3_600_000): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const run = () => {
    running = sweepRetention(db).then(
      (swept) => {
        for (const s of swept) if (Object.values(s.removed).some((n) => n > 0)) log.info({ site: s.site, cutoff: s.cutoff, removed: s.removed }, 'retention sweep');
      },
      (err: unknown) => log.error({ err }, 'retention sweep failed; tried again at the next'),
    );
  };
  run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
