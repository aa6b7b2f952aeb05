/**
 * The redacted view: what every sink on the box writes (index files, stdout, event lines, the outbox, search
 * output, logs). A record is redacted once, here, as a whole (a call index as one conversation, so an answer
 * is masked by the question before it), and that view is the only form any writer is handed. The walk itself
 * (strings, keys, words[], audio refused) is the uplink's (edge/uplink/privacy.ts): one redaction, not two.
 */
import { sanitizeForUplink } from '../uplink/privacy.js';

/** A redacted deep copy of `record`, safe for any sink. */
export function redactedView<T>(record: T): T {
  return sanitizeForUplink(record);
}
