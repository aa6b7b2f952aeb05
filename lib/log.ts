import pino from 'pino';

const destinations = { stderr: pino.destination({ dest: 2, sync: true }), stdout: pino.destination({ dest: 1, sync: true }) };
let destination = destinations.stderr;

/**
 * Structured logs. One-shot commands log on stderr, so stdout stays clean for summaries and JSON a caller
 * may pipe; the daemon logs on stdout, where journald and `docker logs` expect a service's log.
 */
export const log = pino({ name: 'earshot', level: process.env.EARSHOT_LOG_LEVEL ?? 'warn' }, { write: (line: string) => void destination.write(line) });

export function logToStdout(level: string = process.env.EARSHOT_LOG_LEVEL ?? 'info'): void {
  destination = destinations.stdout;
  log.level = level;
}
