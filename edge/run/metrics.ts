// The box's metrics; the helpers every process's /metrics uses are in lib/metrics.ts.
import type { Registry } from 'prom-client';
import type { OutboxStats } from '../outbox/outbox.js';
import type { UplinkCounters } from '../uplink/uplink.js';
import type { InboundCounters } from '../uplink/wire.js';
import type { LineStatus } from './line.js';
import { counterOf, gaugeOf, byTopicLeaf, processRegistry } from '../../lib/metrics.js';

export interface BoxMetricsSource {
  lines(): LineStatus[];
  /** undefined before the uplink has started */
  uplink(): { outbox: OutboxStats; counters: UplinkCounters; connected: boolean; inbound: InboundCounters } | undefined;
}

const perLine = (lines: LineStatus[], value: (l: LineStatus) => number) => lines.map((l) => ({ labels: { line: l.name }, value: value(l) }));

export function boxMetrics(source: BoxMetricsSource): Registry {
  const r = processRegistry('earshot_process_');
  // Read once per scrape, not once per metric: the outbox's figures are SQL queries.
  let cached: { at: number; lines: LineStatus[]; uplink: ReturnType<BoxMetricsSource['uplink']> } | undefined;
  const now = () => {
    if (!cached || Date.now() - cached.at > 200) cached = { at: Date.now(), lines: source.lines(), uplink: source.uplink() };
    return cached;
  };
  const lines = () => now().lines;
  const up = () => now().uplink;

  gaugeOf(r, 'earshot_lines', 'Lines by state (starting, idle, in-call, faulted, stopped)', () => {
    const byState = new Map<string, number>();
    for (const l of lines()) byState.set(l.state, (byState.get(l.state) ?? 0) + 1);
    return [...byState].map(([state, value]) => ({ labels: { state }, value }));
  }, ['state']);
  gaugeOf(r, 'earshot_line_up', '1 while the line runs, 0 while it is faulted', () => perLine(lines(), (l) => (l.state === 'faulted' ? 0 : 1)), ['line']);
  counterOf(r, 'earshot_line_calls_total', 'Calls ended and indexed, per line', () => perLine(lines(), (l) => l.counters.calls), ['line']);
  counterOf(r, 'earshot_line_alerts_total', 'Alerts raised (not counting revisions), per line', () => perLine(lines(), (l) => l.counters.alerts), ['line']);
  counterOf(r, 'earshot_line_alerts_withdrawn_total', "Alerts withdrawn after they were raised (a side's language overturned), per line", () => perLine(lines(), (l) => l.counters.alertsWithdrawn), ['line']);
  counterOf(r, 'earshot_line_heard_seconds_total', 'Audio analysed, seconds, per line', () => perLine(lines(), (l) => l.counters.heardSec), ['line']);
  counterOf(r, 'earshot_line_busy_seconds_total', 'Time spent analysing that audio (VAD, DSP, recognition), seconds, per line', () => perLine(lines(), (l) => l.counters.busySec), ['line']);
  gaugeOf(r, 'earshot_line_rtf', 'Real-time factor since start: analysis time / audio time (below 1: faster than the audio arrives), per line', () =>
    perLine(lines().filter((l) => l.counters.heardSec > 0), (l) => l.counters.busySec / l.counters.heardSec), ['line']);
  gaugeOf(r, 'earshot_line_backlog_seconds', 'Audio waiting to be analysed, seconds, per line', () => perLine(lines(), (l) => l.backlogSec), ['line']);
  gaugeOf(r, 'earshot_line_shedding', '1 while the line is behind real time and recognition is shed', () => perLine(lines(), (l) => (l.shedding ? 1 : 0)), ['line']);
  counterOf(r, 'earshot_line_light_seconds_total', 'Call audio heard without the extras (extra spotter phases, the language revisit) because the line was behind, seconds, per line', () => perLine(lines(), (l) => l.counters.lightSec), ['line']);
  counterOf(r, 'earshot_line_shed_seconds_total', 'Call audio not transcribed because the line was behind, seconds, per line', () => perLine(lines(), (l) => l.counters.shedSec), ['line']);
  counterOf(r, 'earshot_line_faults_total', 'Line faults (capture lost, ...), per line', () => perLine(lines(), (l) => l.counters.faults), ['line']);

  const outbox = (f: (o: OutboxStats) => number) => () => { const u = up(); return u ? f(u.outbox) : 0; };
  const uplink = (f: (c: UplinkCounters) => number) => () => { const u = up(); return u ? f(u.counters) : 0; };
  gaugeOf(r, 'earshot_outbox_depth', 'Records (indexes, alerts) waiting for ingest to acknowledge them', outbox((o) => o.depth));
  gaugeOf(r, 'earshot_outbox_oldest_age_seconds', 'Age of the oldest unacknowledged record, seconds (0: none)', outbox((o) => o.oldestUnackedAgeSec ?? 0));
  gaugeOf(r, 'earshot_outbox_bytes', 'Payload bytes in the outbox', outbox((o) => o.bytes));
  gaugeOf(r, 'earshot_outbox_full', '1 while the outbox refuses new records (quota or disk full)', outbox((o) => (o.full || o.diskFullSinceMs !== null ? 1 : 0)));
  counterOf(r, 'earshot_outbox_refused_total', 'Records refused because the outbox or the disk was full', uplink((c) => c.refusedRecords));
  counterOf(r, 'earshot_uplink_published_total', 'Record publishes (first sends and resends)', uplink((c) => c.published));
  counterOf(r, 'earshot_uplink_acked_total', 'Records acknowledged by ingest and removed from the outbox', uplink((c) => c.acked));
  counterOf(r, 'earshot_uplink_resends_total', 'Resends after an ack did not come in time', uplink((c) => c.resends));
  counterOf(r, 'earshot_uplink_publish_refused_total', 'Publishes the broker refused (ACL, quota)', uplink((c) => c.refusedPublishes));
  counterOf(r, 'earshot_uplink_reconnects_total', 'Reconnections to the broker', uplink((c) => c.reconnects));
  gaugeOf(r, 'earshot_uplink_connected', '1 while connected to the broker', () => (up()?.connected ? 1 : 0));
  counterOf(r, 'earshot_inbound_rejected_total', 'Messages to the box (acks, commands) refused by its checks, per topic leaf', () =>
    byTopicLeaf(up()?.inbound.rejectedByTopic ?? {}), ['topic']);
  return r;
}
