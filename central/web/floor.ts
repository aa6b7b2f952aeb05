/**
 * What the centre knows of every floor right now, in memory: each box's availability, health and lines,
 * and each floor's recent alerts with their acknowledgements. Fed only with payloads that passed wire.ts;
 * what a page needs is derived here once, so every page (and every central process) shows the same thing.
 */
import { EventEmitter } from 'node:events';
import type { RecordEnvelope } from '../../edge/uplink/topics.js';
import type { Availability, LiveLine, LiveMessage, StatsMessage, StatusMessage } from '../../edge/uplink/wire.js';
import type { AlertAck } from './acks.js';
import { sanitizeForUplink } from '../../lib/privacy.js';

export type Severity = 'info' | 'warning' | 'critical';
const SEVERITIES = new Set<string>(['info', 'warning', 'critical']);

/** One alert as a page shows it. `key` names the alert across its revisions; `box`/`seq` the record shown. */
export interface AlertView {
  key: string;
  box: string;
  site: string;
  seq: number;
  /** when the box accepted the record */
  at: string;
  callId: string;
  id: string;
  rule: string;
  severity: Severity;
  title: string;
  evidence: string;
  line: string | null;
  agentId: string | null;
  revision: number;
  /**
   * Why the box withdrew it (a false alarm), or null while it stands. A withdrawn alert stays on the floor,
   * struck through with this reason, rather than vanishing: a supervisor who saw it raised may already be on
   * their way to the desk, and an alert that silently disappears reads as a glitch, not as "stand down".
   * It no longer needs attention (nor an acknowledgement).
   */
  withdrawn: string | null;
  ack: AlertAck | null;
}

export interface BoxView {
  box: string;
  site: string;
  availability: Availability | 'unknown';
  availabilitySince: string | null;
  health: { state: 'ok' | 'degraded' | 'unknown'; problems: { code: string; message: string }[] };
  outboxDepth: number | null;
  linesShedding: number;
  lines: LiveLine[];
  /** when the last live state arrived (central's clock), and how often the box sends one */
  liveAt: string | null;
  liveIntervalSec: number | null;
}

export interface FloorSnapshot {
  site: string;
  boxes: BoxView[];
  /** newest first */
  alerts: AlertView[];
}

export type FloorEvent =
  | { type: 'alert'; site: string; alert: AlertView; replaces: number | null }
  | { type: 'ack'; site: string; key: string; ack: AlertAck }
  | { type: 'box'; site: string; box: BoxView };

const str = (v: unknown, max: number): string | null => (typeof v === 'string' ? v.slice(0, max) : null);

export class FloorState extends EventEmitter<{ event: [FloorEvent] }> {
  private readonly boxes = new Map<string, BoxView>();
  /** per site: alert key -> view, oldest first (a Map keeps insertion order), bounded */
  private readonly alerts = new Map<string, Map<string, AlertView>>();
  private readonly bySeq = new Map<string, string>();

  constructor(private readonly maxAlertsPerSite = 500) {
    super();
  }

  sites(): string[] {
    return [...new Set([...[...this.boxes.values()].map((b) => b.site), ...this.alerts.keys()])].sort();
  }

  snapshot(site: string): FloorSnapshot {
    const boxes = [...this.boxes.values()].filter((b) => b.site === site).sort((a, b) => a.box.localeCompare(b.box));
    return { site, boxes, alerts: [...(this.alerts.get(site)?.values() ?? [])].reverse() };
  }

  alertByKey(site: string, key: string): AlertView | undefined {
    return this.alerts.get(site)?.get(key);
  }

  /** The alert a box's record seq belongs to (any of its revisions). */
  findAlert(box: string, seq: number): AlertView | undefined {
    const key = this.bySeq.get(`${box}/${seq}`);
    if (!key) return undefined;
    for (const site of this.alerts.values()) {
      const a = site.get(key);
      if (a) return a;
    }
    return undefined;
  }

  alertRecord(rec: RecordEnvelope): void {
    // An old box may send its alert's evidence as heard: the floor shows only the redacted view, as ingest stores.
    const d = sanitizeForUplink(rec.data) as Record<string, unknown>;
    const line = (d.line ?? {}) as Record<string, unknown>;
    const callId = str(d.callId, 256) ?? '';
    const id = str(d.id, 128) ?? `seq-${rec.seq}`;
    const key = `${rec.box}/${callId}/${id}`;
    const revision = typeof d.revision === 'number' ? d.revision : 1;
    const site = this.alerts.get(rec.site) ?? new Map<string, AlertView>();
    this.alerts.set(rec.site, site);
    const earlier = site.get(key);
    // A resend or a late lower revision must not undo what the page already shows.
    if (earlier && (earlier.revision > revision || earlier.seq === rec.seq)) return;
    const severity = typeof d.severity === 'string' && SEVERITIES.has(d.severity) ? (d.severity as Severity) : 'info';
    const view: AlertView = {
      key,
      box: rec.box,
      site: rec.site,
      seq: rec.seq,
      at: rec.at,
      callId,
      id,
      rule: str(d.rule, 128) ?? '',
      severity,
      title: str(d.title, 512) ?? str(d.text, 512) ?? str(d.rule, 128) ?? 'alert',
      evidence: str(d.evidence, 2048) ?? '',
      line: str(line.name, 128),
      agentId: str(line.agentId, 128),
      revision,
      withdrawn: str(d.withdrawn, 2048),
      ack: earlier?.ack ?? null,
    };
    // A revision takes the earlier one's place in the list's order by being re-inserted as the newest.
    site.delete(key);
    site.set(key, view);
    this.bySeq.set(`${rec.box}/${rec.seq}`, key);
    while (site.size > this.maxAlertsPerSite) {
      const [oldKey, old] = site.entries().next().value as [string, AlertView];
      site.delete(oldKey);
      for (const [s, k] of this.bySeq) if (k === oldKey && s.startsWith(`${old.box}/`)) this.bySeq.delete(s);
    }
    this.emit('event', { type: 'alert', site: rec.site, alert: view, replaces: earlier?.seq ?? null });
  }

  acknowledged(alert: AlertView, ack: AlertAck): void {
    alert.ack = ack;
    this.emit('event', { type: 'ack', site: alert.site, key: alert.key, ack });
  }

  availability(site: string, box: string, value: Availability): void {
    const b = this.box(site, box);
    b.availability = value;
    b.availabilitySince = new Date().toISOString();
    this.changed(b);
  }

  status(msg: StatusMessage): void {
    const b = this.box(msg.site, msg.box);
    b.health = { state: msg.state, problems: msg.problems.map((p) => ({ code: String(p.code), message: String(p.message) })) };
    this.changed(b);
  }

  stats(msg: StatsMessage): void {
    const b = this.box(msg.site, msg.box);
    const depth = (msg.outbox as { depth?: unknown } | undefined)?.depth;
    if (typeof depth === 'number') b.outboxDepth = depth;
    if (typeof msg.linesShedding === 'number') b.linesShedding = msg.linesShedding;
    this.changed(b);
  }

  live(msg: LiveMessage): void {
    const b = this.box(msg.site, msg.box);
    b.lines = msg.lines;
    b.outboxDepth = msg.outboxDepth ?? b.outboxDepth;
    b.linesShedding = msg.lines.filter((l) => l.shedding).length;
    b.liveAt = new Date().toISOString();
    b.liveIntervalSec = msg.intervalSec ?? null;
    this.changed(b);
  }

  private box(site: string, box: string): BoxView {
    const id = `${site}/${box}`;
    let b = this.boxes.get(id);
    if (!b) {
      b = { box, site, availability: 'unknown', availabilitySince: null, health: { state: 'unknown', problems: [] }, outboxDepth: null, linesShedding: 0, lines: [], liveAt: null, liveIntervalSec: null };
      this.boxes.set(id, b);
    }
    return b;
  }

  private changed(b: BoxView): void {
    this.emit('event', { type: 'box', site: b.site, box: b });
  }
}
