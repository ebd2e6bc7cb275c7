import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs: one JSON line per event on stderr, so stdout stays free for command
 * output (tables, the demo's JSON line). `LOG_LEVEL` sets the level (default info).
 */
export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
