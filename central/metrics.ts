/**
 * The centre's GET /metrics (Prometheus' text format): what ingest stored, dropped as duplicates and
 * refused, the alerts and acknowledgements its floor pages saw, and how many pages are listening (SSE).
 * Read from the counters ingest and the web app already keep; see edge/run/metrics.ts for the box's.
 */
import type { Registry } from 'prom-client';
import { byTopicLeaf, counterOf, gaugeOf, processRegistry } from '../lib/metrics.js';
import type { Ingest } from './ingest.js';
import type { CentralWeb } from './web/server.js';

export interface CentreMetrics {
  registry: Registry;
  /** Counts the floor's alerts and acknowledgements from now on. */
  watch(web: CentralWeb): void;
}

export function centreMetrics(ingest: Ingest, web: () => CentralWeb | undefined): CentreMetrics {
  const r = processRegistry('earshot_central_process_');
  const c = ingest.counters;
  counterOf(r, 'earshot_central_messages_received_total', 'Messages ingest received from boxes (records and state)', () => c.received);
  counterOf(r, 'earshot_central_records_stored_total', 'Records (indexes, alerts) stored for the first time', () => c.stored);
  counterOf(r, 'earshot_central_records_duplicate_total', 'Records received again (a resend) and acknowledged again, not stored twice', () => c.duplicates);
  counterOf(r, 'earshot_central_records_held_apart_total', 'Records from unregistered boxes or sites, held apart (registration closed)', () => c.heldApart);
  counterOf(r, 'earshot_central_messages_refused_total', 'Messages refused by the inbound checks (bad schema, topic disagrees), per topic leaf', () =>
    byTopicLeaf(ingest.inboundStats().rejectedByTopic), ['topic']);
  counterOf(r, 'earshot_central_acks_sent_total', 'Ack messages sent to boxes (each covers a batch of records)', () => c.acksSent);
  counterOf(r, 'earshot_central_store_failures_total', 'Commits that failed (disk full, database down); those records are not acked and come again', () => c.storeFailures);
  gaugeOf(r, 'earshot_central_sse_clients', 'Live floor pages connected (Server-Sent Events streams)', () => web()?.sseClients() ?? 0);

  const alerts = new Map<string, number>();
  let floorAcks = 0;
  counterOf(r, 'earshot_central_alerts_total', 'Alerts shown on the floor pages for the first time (not resends or revisions), by severity', () =>
    [...alerts].map(([severity, value]) => ({ labels: { severity }, value })), ['severity']);
  counterOf(r, 'earshot_central_alert_acks_total', 'Alerts acknowledged by a supervisor', () => floorAcks);
  return {
    registry: r,
    watch(w) {
      w.floor.on('event', (e) => {
        // A withdrawal first heard by this process (it started after the raise) is shown struck through, not as a new alert.
        if (e.type === 'alert' && e.replaces === null && e.alert.withdrawn === null) alerts.set(e.alert.severity, (alerts.get(e.alert.severity) ?? 0) + 1);
        if (e.type === 'ack') floorAcks++;
      });
    },
  };
}
