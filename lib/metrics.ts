/**
 * GET /metrics in Prometheus' text format (prom-client), on the box's health endpoint and on the centre.
 *
 * Nothing on the hot path counts twice: the lines, the outbox and the uplink already keep their counters
 * (for /health and the stats topic), and each metric reads them when scraped. Each process builds its own
 * Registry (never prom-client's global one), so a demo or a test with a box and a centre in one process
 * keeps their numbers apart. Labels are line names and topic leaves only: no call ids, no agents, no words.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

type Labels = Record<string, string>;
/** A value, or one value per label set. */
type Reading = number | { labels: Labels; value: number }[];

function apply(metric: Counter | Gauge, reading: Reading): void {
  metric.reset();
  if (typeof reading === 'number') {
    if (metric instanceof Counter) metric.inc(reading);
    else metric.set(reading);
    return;
  }
  for (const { labels, value } of reading) {
    if (metric instanceof Counter) metric.inc(labels, value);
    else metric.set(labels, value);
  }
}

/**
 * A counter whose total lives elsewhere (a component's own counters object): read at each scrape. The
 * source's total only grows within a process, which is all Prometheus asks of a counter.
 */
export function counterOf(registry: Registry, name: string, help: string, read: () => Reading, labelNames: string[] = []): Counter {
  return new Counter({ name, help, labelNames, registers: [registry], collect() { apply(this, read()); } });
}

export function gaugeOf(registry: Registry, name: string, help: string, read: () => Reading, labelNames: string[] = []): Gauge {
  return new Gauge({ name, help, labelNames, registers: [registry], collect() { apply(this, read()); } });
}

/** The topic leaves the wire uses; anything else a stranger publishes counts as "other", so labels stay few. */
const KNOWN_LEAVES = new Set(['index', 'alerts', 'events', 'ack', 'command', 'status', 'stats', 'availability', 'live']);
export function byTopicLeaf(counts: Record<string, number>): { labels: Labels; value: number }[] {
  const out = new Map<string, number>();
  for (const [leaf, n] of Object.entries(counts)) {
    const topic = KNOWN_LEAVES.has(leaf) ? leaf : 'other';
    out.set(topic, (out.get(topic) ?? 0) + n);
  }
  return [...out].map(([topic, value]) => ({ labels: { topic }, value }));
}

/** A registry with the process's own metrics (CPU, memory, event-loop lag, GC) under `prefix`. */
export function processRegistry(prefix: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return registry;
}

