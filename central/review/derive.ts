/**
 * What the review loop and the floor figures need of a call index, projected when the index is stored (in
 * ingest's transaction, sql-store.ts): each alert's score (score.ts) and the call's talk and silence time.
 * Read at query time instead, a day's figures or a queue order would parse thousands of indexes.
 */
import type { Sql } from '../store/sql-store.js';
import { alertScore, type ScoredAlert } from './score.js';

type Obj = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Time anyone was speaking (over-talk counted once) and silence, from the index's metrics. */
export function talkAndSilence(index: Obj): { talkSec: number | null; silenceSec: number | null } {
  const m = index.metrics !== null && typeof index.metrics === 'object' ? (index.metrics as Obj) : {};
  const agent = num(m.agentTalkSec);
  const customer = num(m.customerTalkSec);
  return {
    talkSec: agent === null || customer === null ? null : agent + customer - (num(m.overtalkTotalSec) ?? 0),
    silenceSec: num(m.silenceTotalSec),
  };
}

/**
 * Called after the call row and its alerts were upserted from index record `seq`. Does nothing when that
 * index did not become the call's (an older one arriving late): the figures stay those of the newer index.
 */
export async function deriveFromIndex(sql: Sql, box: string, callId: string, seq: number, index: Obj): Promise<void> {
  const { talkSec, silenceSec } = talkAndSilence(index);
  const current = await sql.run('UPDATE calls SET talk_sec = ?, silence_sec = ? WHERE box = ? AND call_id = ? AND seq = ?', [talkSec, silenceSec, box, callId, seq]);
  if (current === 0) return;
  for (const alert of Array.isArray(index.alerts) ? index.alerts : []) {
    const id = (alert as Obj | null)?.id;
    if (typeof id !== 'string') continue;
    let scored: ScoredAlert | null;
    try {
      scored = alertScore(alert, index);
    } catch {
      // A shape no guard foresaw must not roll back the batch (ingest would never ack it): no score.
      scored = null;
    }
    await sql.run('UPDATE alerts SET score = ?, score_kind = ? WHERE box = ? AND call_id = ? AND alert_id = ?', [scored?.score ?? null, scored?.kind ?? null, box, callId, id]);
  }
}
