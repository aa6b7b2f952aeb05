import pino from 'pino';

/** Structured logs on stderr, so stdout stays clean for summaries and JSON a caller may pipe. */
export const log = pino(
  { name: 'earshot', level: process.env.EARSHOT_LOG_LEVEL ?? 'warn' },
  pino.destination({ dest: 2, sync: true }),
);
