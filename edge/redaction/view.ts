/**
 * The redacted view: what every sink on the box writes (index files, stdout, event lines, the outbox, search
 * output, logs). A record is redacted once, here, as a whole (a call index as one conversation, so an answer
 * is masked by the question before it), and that view is the only form any writer is handed. The walk itself
 * (strings, keys, words[], audio refused) is the uplink's (lib/privacy.ts): one redaction, not two.
 *
 * A site that must keep clear text for a lawful reason names the sinks in config (`privacy.clearText`);
 * the outbox and the uplink are never among them: nothing leaves the box unredacted.
 */
import { sanitizeForUplink } from '../../lib/privacy.js';
import type { EarshotConfig } from '../../provisioning/config.js';

export type ClearTextSink = EarshotConfig['privacy']['clearText'][number];

/** A redacted deep copy of `record`, safe for any sink. */
export function redactedView<T>(record: T): T {
  return sanitizeForUplink(record);
}

/** What one sink writes: the redacted view, or the record as heard where the site keeps that sink in clear. */
export function viewFor(sink: ClearTextSink, clearText: readonly ClearTextSink[] = []): <T>(record: T) => T {
  return clearText.includes(sink) ? (record) => record : redactedView;
}

/** What the box says at start-up and in its status when a sink keeps clear text; undefined when none does. */
export function clearTextNotice(clearText: readonly ClearTextSink[]): string | undefined {
  return clearText.length === 0 ? undefined : `clear text kept, unredacted, in: ${clearText.join(', ')} (config privacy.clearText)`;
}
