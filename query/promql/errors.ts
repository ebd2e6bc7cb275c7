import { PipelineError } from '../../core/errors.js';

/**
 * Errors of the PromQL engine, one class per `errorType` of Prometheus' HTTP API, so the query
 * service maps them without looking at messages.
 */
export abstract class PromQLError extends PipelineError {
  /** The `errorType` of Prometheus' API response. */
  abstract readonly errorType: 'bad_data' | 'execution' | 'timeout';
}

/** Where in the query text an error is: 0-based character offset, and 1-based line and column. */
export interface QueryPosition {
  offset: number;
  line: number;
  column: number;
}

/** Syntax or type error in the query text; the message reads as Prometheus': `1:5: parse error: …`. */
export class PromQLParseError extends PromQLError {
  readonly errorType = 'bad_data' as const;
  readonly position: QueryPosition;
  /** The message without its position prefix. */
  readonly detail: string;

  constructor(detail: string, query: string, offset: number) {
    const position = positionOf(query, offset);
    super(`${position.line}:${position.column}: parse error: ${detail}`);
    this.position = position;
    this.detail = detail;
  }
}

/** A query that parses but cannot be evaluated as asked (bad arguments, many-to-many matching, …). */
export class PromQLExecutionError extends PromQLError {
  readonly errorType = 'execution' as const;
}

/** Bad input that is not query text: bad times, steps, options. Reported as `bad_data`. */
export class PromQLBadDataError extends PromQLError {
  readonly errorType = 'bad_data' as const;
}

/** The deadline passed or the caller aborted during evaluation. */
export class PromQLTimeoutError extends PromQLError {
  readonly errorType = 'timeout' as const;

  constructor(where: string) {
    super(`query timed out in ${where}`, { retriable: true });
  }
}

/** A configured limit was reached; `limit` names the option. */
export class PromQLLimitError extends PromQLError {
  readonly errorType = 'execution' as const;
  readonly limit: string;

  constructor(message: string, limit: string) {
    super(message);
    this.limit = limit;
  }
}

function positionOf(query: string, offset: number): QueryPosition {
  const before = query.slice(0, offset);
  const lastNewline = before.lastIndexOf('\n');
  const line = before.split('\n').length;
  return { offset, line, column: offset - lastNewline };
}
