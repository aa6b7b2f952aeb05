/**
 * What the review loop and the floor figures need of a call index, projected when the index is stored (in
 * ingest's transaction, sql-store.ts): each alert's score (score.ts) and the call's talk and silence time.
 * Read at query time instead, a day's figures or a queue order would parse thousands of indexes.
 */
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
 * The score of each alert of `index` (by alert id) in that index, for the alerts rows of a call whose index
 * it became (sql-store.ts writes them after the call row and its alerts were upserted).
 */
export function alertScores(index: Obj): { alertId: string; scored: ScoredAlert | null }[] {
  const out: { alertId: string; scored: ScoredAlert | null }[] = [];
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
    out.push({ alertId: id, scored });
  }
  return out;
}
