import { PipelineError } from '../core/errors.js';

/** Prometheus' API error types, with the HTTP status Prometheus answers each with. */
export const ERROR_STATUS = {
  bad_data: 400,
  execution: 422,
  timeout: 503,
  canceled: 503,
  internal: 500,
  not_found: 404,
  unavailable: 503,
  /** Not one of Prometheus' (it has no authentication): a missing or unknown bearer token with tenants configured. */
  unauthorized: 401,
} as const;

export type ApiErrorType = keyof typeof ERROR_STATUS;

/**
 * An answer of the query API other than success: `{"status":"error","errorType":…,"error":…}`
 * with the status code Prometheus uses for that type.
 */
export class ApiError extends PipelineError {
  readonly status: number;

  constructor(
    readonly type: ApiErrorType,
    message: string,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(message, options);
    this.status = options.status ?? ERROR_STATUS[type];
  }
}

export const badData = (message: string) => new ApiError('bad_data', message);

/** A query over one of the limits: 422 `execution`, naming the limit and how to stay under it. */
export function limitExceeded(limit: string, value: number, what: string): ApiError {
  return new ApiError(
    'execution',
    `query exceeded the limit ${limit} = ${value} (${what}); narrow the selectors or the time range`,
  );
}
