/**
 * Acknowledgements of live alerts in the store (central/web/acks.ts's AckStore): they outlive a restart and
 * every central process on one database reads the same ones. The first acknowledgement of an alert stands;
 * it is audited (`alert.acknowledge`) in the transaction that records it, a later one is not (it changed
 * nothing).
 */
import { audit } from '../audit.js';
import type { AckStore, AckSubject, AlertAck } from '../web/acks.js';
import { RECORD_SCHEMA, type RecordEnvelope } from '../../edge/uplink/topics.js';
import type { Db } from './sql-store.js';

export class SqlAckStore implements AckStore {
  constructor(private readonly db: Db) {}

  acknowledge(key: string, ack: AlertAck, about?: AckSubject): Promise<AlertAck> {
    return this.db.tx(async (sql) => {
      const n = await sql.run('INSERT INTO alert_acks (alert_key, site, by_user, at) VALUES (?, ?, ?, ?) ON CONFLICT (alert_key) DO NOTHING', [key, about?.site ?? null, ack.by, ack.at]);
      if (n > 0) {
        await audit(sql, ack.by, 'alert.acknowledge', { key, ...about });
        return ack;
      }
      const [first] = await sql.all<{ by_user: string; at: string }>('SELECT by_user, at FROM alert_acks WHERE alert_key = ?', [key]);
      return { by: first.by_user, at: first.at };
    });
  }

  async get(key: string): Promise<AlertAck | undefined> {
    const [row] = await this.db.all<{ by_user: string; at: string }>('SELECT by_user, at FROM alert_acks WHERE alert_key = ?', [key]);
    return row ? { by: row.by_user, at: row.at } : undefined;
  }

  /**
   * The alerts boxes sent since `sinceIso` with their acknowledgements, oldest first, as the records a live
   * floor is fed: what a central process shows when it starts. At most `limit`, the newest kept.
   */
  async recentAlerts(sinceIso: string, limit: number): Promise<{ record: RecordEnvelope; ack: AlertAck | null }[]> {
    const rows = await this.db.all<{ site: string; box: string; call_id: string; seq: number; at: string; alert_json: string; by_user: string | null; acked_at: string | null }>(
      `SELECT a.site, a.box, a.call_id, a.seq, a.at, a.alert_json, k.by_user, k.at AS acked_at FROM alerts a
         LEFT JOIN alert_acks k ON k.alert_key = a.box || '/' || a.call_id || '/' || a.alert_id
       WHERE a.at >= ? ORDER BY a.at DESC LIMIT ?`,
      [sinceIso, limit],
    );
    return rows.reverse().map((r) => ({
      // An alert known only from its call's index was stored as the index has it, without the callId a live
      // alert record carries: the row's call says whose it is.
      record: { schema: RECORD_SCHEMA, site: r.site, box: r.box, seq: Number(r.seq), kind: 'alert', at: r.at, data: { callId: r.call_id, ...(JSON.parse(r.alert_json) as Record<string, unknown>) } },
      ack: r.by_user === null ? null : { by: r.by_user, at: r.acked_at! },
    }));
  }
}
