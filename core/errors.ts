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

/** True when the error (or a kafkajs / network error it wraps) is worth retrying. */
export function isRetriable(error: unknown): boolean {
  if (error instanceof PipelineError) return error.retriable;
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { retriable?: unknown; code?: unknown; name?: unknown };
  if (e.retriable === true) return true;
  const code = typeof e.code === 'string' ? e.code : '';
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET'].includes(code);
}

/** The message of anything thrown, for logs and DLQ reasons. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
