/**
 * The box's command topic: anyone on the broker can publish there, so nothing they send may cost the box more
 * than the message itself. A command is schema-checked (wire.ts), a command id is obeyed once, stats and status
 * are answered at most every few seconds, and one resend runs at a time.
 */
import type { Logger } from 'pino';
import { readWire, type CommandMessage, type InboundGuard } from './wire.js';

/** stats and status on request at most this often: each answer is a publish, and anyone may ask */
const REPORT_COMMAND_INTERVAL_MS = 5000;
/** command ids remembered so that a command delivered twice is obeyed once */
const COMMAND_IDS_KEPT = 1024;

export interface CommandHandlers {
  stats(): void;
  status(): void;
  /** Starts a resend of every unacknowledged record; false when one is already in progress. */
  resend(): boolean;
  /** Checks and applies a signed bundle (edge/bundles/bundle.ts); what comes of it is said on the status topic. */
  bundle(text: string): void;
}

export class CommandDesk {
  readonly counters = { obeyed: 0, throttled: 0, repeated: 0 };
  private readonly ids = new Set<string>();
  private readonly lastReportAt = { stats: 0, status: 0 };

  constructor(
    private readonly handlers: CommandHandlers,
    private readonly inbound: InboundGuard,
    private readonly log: Logger,
    /** why a schema-checked command may not be obeyed (its signature: signed-wire.ts), or null */
    private readonly refuse: (payload: Buffer, command: CommandMessage) => string | null = () => null,
  ) {}

  /** A message on the command topic (retained ones were already set aside by the caller). */
  onCommand(topic: string, payload: Buffer): void {
    const read = readWire('command', payload);
    if (!read.ok) return this.inbound.reject(topic, read.reason);
    const refused = this.refuse(payload, read.value);
    if (refused) return this.inbound.reject(topic, refused);
    const { cmd: name, id } = read.value;
    if (id !== undefined) {
      if (this.ids.has(id)) {
        this.counters.repeated++;
        this.log.info({ cmd: name, id }, 'command id already obeyed; ignored');
        return;
      }
      this.ids.add(id);
      // Bounded memory: the oldest ids are forgotten first (a Set iterates in insertion order).
      if (this.ids.size > COMMAND_IDS_KEPT) this.ids.delete(this.ids.values().next().value as string);
    }
    switch (name) {
      case 'stats':
      case 'status': {
        const last = this.lastReportAt[name];
        if (Date.now() - last < REPORT_COMMAND_INTERVAL_MS) {
          this.counters.throttled++;
          this.log.debug({ cmd: name }, `${name} asked for again within ${REPORT_COMMAND_INTERVAL_MS / 1000} s; ignored`);
          return;
        }
        this.lastReportAt[name] = Date.now();
        this.counters.obeyed++;
        this.handlers[name]();
        return;
      }
      case 'bundle':
        if (read.value.bundle === undefined) return this.inbound.reject(topic, 'command bundle has no "bundle" member (a signed bundle\'s text)');
        this.counters.obeyed++;
        this.handlers.bundle(read.value.bundle);
        return;
      case 'resend':
        if (!this.handlers.resend()) {
          this.counters.throttled++;
          return;
        }
        this.counters.obeyed++;
        return;
      default:
        if (/audio|wav|pcm|record/i.test(name)) this.inbound.reject(topic, `command ${name} refused: raw audio is never published`);
        else this.inbound.reject(topic, `unknown command ${name}`);
    }
  }
}
