import pino from 'pino';
import { sanitizeForUplink } from './privacy.js';

const destinations = { stderr: pino.destination({ dest: 2, sync: true }), stdout: pino.destination({ dest: 1, sync: true }) };
let destination = destinations.stderr;

/**
 * Structured logs. One-shot commands log on stderr, so stdout stays clean for summaries and JSON a caller
 * may pipe; the daemon logs on stdout, where journald and `docker logs` expect a service's log.
 */
/**
 * Structured fields that can carry what was said or dialled (a transcript, alert evidence, a PBX line, a
 * record, an error quoting one) go through the same redaction as every other sink: pino's own redaction,
 * with the redacted view as its censor, so readable context stays and only the secrets are masked.
 */
const SPEECH_FIELDS = ['text', 'evidence', 'preview', 'reason', 'transcript', 'term', 'query', 'alert', 'alerts', 'index', 'record', 'payload', 'event', 'utterances', 'words', 'line', 'err.message', '*.text', '*.evidence'];
let clearLogs = false;
const censor = (value: unknown): unknown => {
  if (clearLogs) return value;
  try {
    return sanitizeForUplink(value);
  } catch {
    return '[redacted]';
  }
};

export const log = pino(
  { name: 'earshot', level: process.env.EARSHOT_LOG_LEVEL ?? 'warn', redact: { paths: SPEECH_FIELDS, censor } },
  { write: (line: string) => void destination.write(line) },
);

export function logToStdout(level: string = process.env.EARSHOT_LOG_LEVEL ?? 'info'): void {
  destination = destinations.stdout;
  log.level = level;
}

/** A site that keeps its logs in clear for a lawful reason (config privacy.clearText: [logs]). */
export function keepClearTextInLogs(on: boolean): void {
  clearLogs = on;
}
