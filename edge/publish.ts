import { basename } from 'node:path';
import type { EarshotConfig } from '../provisioning/config.js';
import type { CallIndex, CallLine } from './index/call-index.js';
import type { Alert } from './rules/types.js';
import { startUplink } from './uplink/start-uplink.js';
import type { Uplink } from './uplink/uplink.js';
import type { Outbox } from './outbox/outbox.js';
import { log } from '../lib/log.js';
import type { PreviousExit } from './last-resort.js';

/** Which live call an alert belongs to: the line and agent a supervisor walks to. */
export type LiveCallRef = Pick<CallLine, 'name' | 'agentId' | 'extension' | 'startedAt' | 'callRef' | 'customerKey' | 'rulesBundle'>;

/**
 * Publishing a call's results: each alert the moment it is raised, the index when the call ends. Both go
 * through the outbox (redacted, durable) before they count as accepted, whatever the broker is doing.
 */
export class CallPublisher {
  private constructor(private readonly uplink: Uplink, private readonly outbox: Outbox) {}

  /** extraStats: what the box adds to every stats message (the daemon's lines); restartedAfter: why the last process exited. */
  static start(config: EarshotConfig, extraStats?: () => Record<string, unknown>, connect = true, restartedAfter?: PreviousExit | null): CallPublisher {
    const { uplink, outbox } = startUplink(config, { log, extraStats, connect, restartedAfter });
    return new CallPublisher(uplink, outbox);
  }

  /** A live call's alert names its line and agent, so a supervisor knows whose desk to walk to. */
  alert(callId: string, alert: Alert, line?: LiveCallRef): void {
    this.accept(this.uplink.submit('alert', { callId, ...(line ? { line } : {}), ...alert }), `alert ${alert.id} of ${callId}`);
  }

  /** The floor as it is now: straight to the broker, QoS 0, not through the outbox (Uplink.publishLive). */
  live(state: Parameters<Uplink['publishLive']>[0]): void {
    void this.uplink.publishLive(state);
  }

  get outboxDepth(): number {
    return this.outbox.depth();
  }

  get connection(): Uplink {
    return this.uplink;
  }

  index(index: CallIndex): void {
    // Where the recording sits on this box is nobody's business upstream.
    const published = index.source ? { ...index, source: { ...index.source, files: index.source.files.map((f) => basename(f)) } } : index;
    this.accept(this.uplink.submit('index', published), `index of ${index.callId}`);
  }

  /** Waits until everything accepted is acknowledged, or the time is up; returns how many records still wait. */
  async drain(timeoutSec: number): Promise<number> {
    const until = Date.now() + timeoutSec * 1000;
    while (this.outbox.depth() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    return this.outbox.depth();
  }

  async stop(): Promise<void> {
    await this.uplink.stop();
  }

  private accept(result: { seq: number } | { refused: true; reason: string }, what: string): void {
    // A full outbox never stops the analysis; the status topic and stats already say so.
    if ('refused' in result) log.error({ what, reason: result.reason }, 'outbox refused a record');
  }
}
