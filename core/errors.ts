/**
 * One error hierarchy for the whole pipeline. Every error says whether retrying can help,
 * carries its cause, and has a message fit to be printed as one line to a user.
 */
export class PipelineError extends Error {
  readonly retriable: boolean;
  /** What the user can do about it, printed after the message by the CLI. */
  readonly hint: string | undefined;

  constructor(message: string, options: { cause?: unknown; retriable?: boolean; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options.retriable ?? false;
    this.hint = options.hint;
  }
}

/** Bad configuration, CLI arguments or environment: never retriable. */
export class ConfigError extends PipelineError {}

/** A local service (Kafka, registry) that cannot be fetched, started or reached. */
export class ServiceError extends PipelineError {}

/** ClickHouse rejected or failed a statement. */
export class SinkError extends PipelineError {}

/** A Kafka record that cannot be turned into samples; it goes to the dead-letter topic. */
export class RejectError extends PipelineError {}

/**
 * A condition of storage that passes by itself (space freed, parts merged, a server back up):
 * a write that fails on one is worth repeating for as long as it lasts.
 */
export const STORAGE_CONDITIONS = [
  'disk_full',
  'too_many_parts',
  'memory',
  'read_only',
  'overloaded',
  'unreachable',
] as const;
export type StorageCondition = (typeof STORAGE_CONDITIONS)[number];

/** ClickHouse error codes (ErrorCodes.cpp) of conditions that pass. */
const CLICKHOUSE_CONDITIONS: ReadonlyMap<number, StorageCondition> = new Map([
  [243, 'disk_full'], // NOT_ENOUGH_SPACE: "Cannot reserve 1.00 MiB, not enough space"
  [252, 'too_many_parts'], // TOO_MANY_PARTS: inserts faster than merges
  [241, 'memory'], // MEMORY_LIMIT_EXCEEDED
  [242, 'read_only'], // TABLE_IS_READ_ONLY: e.g. a replica that lost its keeper session
  [159, 'overloaded'], // TIMEOUT_EXCEEDED
  [202, 'overloaded'], // TOO_MANY_SIMULTANEOUS_QUERIES
  [209, 'unreachable'], // SOCKET_TIMEOUT
  [210, 'unreachable'], // NETWORK_ERROR
  [279, 'unreachable'], // ALL_CONNECTION_TRIES_FAILED
]);

const NETWORK_CODES = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET'];

/** A disk full below the engine, as the OS (ENOSPC) or ClickHouse says it in text. */
const NO_SPACE = /No space left on device|not enough space|\bENOSPC\b/i;

/**
 * The condition that can pass behind a failed ClickHouse statement, if that is what it is: by
 * the ClickHouse error code (`code` of @clickhouse/client's ClickHouseError, `clickhouseCode`
 * of chDB's, or "Code: N." in the text), by a network error code (a server down), or by the
 * text of a full disk; looked for along the `cause` chain. The one classification of storage
 * errors: `isRetriable` and `untilStored` (core/retry.ts) go by it.
 */
export function storageCondition(error: unknown): StorageCondition | undefined {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    const { code, clickhouseCode, message, cause } = e as {
      code?: unknown;
      clickhouseCode?: unknown;
      message?: unknown;
      cause?: unknown;
    };
    const text = typeof message === 'string' ? message : '';
    const numeric =
      typeof clickhouseCode === 'number'
        ? clickhouseCode
        : typeof code === 'string' && /^\d+$/.test(code)
          ? Number(code)
          : Number(/\bCode: (\d+)\./.exec(text)?.[1]);
    const known = CLICKHOUSE_CONDITIONS.get(numeric);
    if (known) return known;
    if (typeof code === 'string' && NETWORK_CODES.includes(code)) return 'unreachable';
    if (NO_SPACE.test(text)) return 'disk_full';
    e = cause;
  }
  return undefined;
}

/** True when the error (or a kafkajs / network / ClickHouse error it wraps) is worth retrying. */
export function isRetriable(error: unknown): boolean {
  if (storageCondition(error) !== undefined) return true;
  if (error instanceof PipelineError) return error.retriable;
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { retriable?: unknown; code?: unknown; name?: unknown };
  if (e.retriable === true) return true;
  const code = typeof e.code === 'string' ? e.code : '';
  return NETWORK_CODES.includes(code);
}

/** The message of anything thrown, for logs and DLQ reasons. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
