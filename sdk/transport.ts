import { PipelineError } from '../core/errors.js';
import type { Sample } from './sample.js';

/** A push the collector refused or that did not reach it. `status` is unset for network errors. */
export class PushError extends PipelineError {
  readonly status: number | undefined;
  /** What the collector asked for with `Retry-After`, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    options: { status?: number; retryAfterMs?: number; retriable: boolean; cause?: unknown; hint?: string },
  ) {
    super(message, options);
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The collector's answer to an accepted request (202). */
export interface PushReceipt {
  accepted: number;
  rejected: number;
  /** Rejected samples by reason. */
  reasons: Record<string, number>;
}

export interface PushRequest {
  /** The full endpoint URL, `.../api/v1/metrics`. */
  endpoint: string;
  token: string | undefined;
  timeoutMs: number;
  fetch: typeof globalThis.fetch;
  now: () => number;
  /** Aborts the request when the client shuts down. */
  signal: AbortSignal;
}

const HINTS: Partial<Record<number, string>> = {
  400: 'the collector could not read the body; this is a bug of the SDK or of the collector',
  401: 'check the token the client is created with',
  403: 'check the token the client is created with',
  404: 'check the url: the client appends /api/v1/metrics to it',
};

/**
 * Sends one batch in one request. Resolves with the collector's receipt on 2xx; throws a
 * PushError otherwise, retriable for network errors, timeouts, 408, 429 and 5xx.
 */
export async function postSamples(request: PushRequest, samples: readonly Sample[]): Promise<PushReceipt> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
  let response: Response;
  let text: string;
  try {
    response = await request.fetch(request.endpoint, {
      method: 'POST',
      headers,
      body: JSON.stringify({ samples }),
      signal: AbortSignal.any([request.signal, AbortSignal.timeout(request.timeoutMs)]),
    });
    text = await response.text();
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    const message = timedOut
      ? `no answer from the collector within ${request.timeoutMs} ms`
      : `could not reach the collector at ${request.endpoint}: ${detail(error)}`;
    throw new PushError(message, { retriable: true, cause: error });
  }
  if (response.ok) return receipt(text, samples.length);
  const status = response.status;
  const body = text.length > 300 ? `${text.slice(0, 300)}…` : text;
  throw new PushError(`collector answered ${status}${body === '' ? '' : `: ${body}`}`, {
    status,
    retriable: status === 408 || status === 429 || status >= 500,
    retryAfterMs: retryAfter(response.headers.get('retry-after'), request.now()),
    hint: HINTS[status],
  });
}

/** The receipt in a 2xx body; a body without one means that every sample was accepted. */
function receipt(text: string, sent: number): PushReceipt {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { accepted: sent, rejected: 0, reasons: {} };
  }
  const { accepted, rejected, reasons } = (typeof body === 'object' && body !== null ? body : {}) as {
    accepted?: unknown;
    rejected?: unknown;
    reasons?: unknown;
  };
  const count = (n: unknown): number | undefined =>
    Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : undefined;
  const rejectedCount = count(rejected) ?? 0;
  const byReason: Record<string, number> = {};
  if (typeof reasons === 'object' && reasons !== null) {
    for (const [reason, n] of Object.entries(reasons)) {
      const c = count(n);
      if (c !== undefined) byReason[reason] = c;
    }
  }
  return { accepted: count(accepted) ?? sent - rejectedCount, rejected: rejectedCount, reasons: byReason };
}

/** `Retry-After` in ms: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The message of a fetch failure, with the code of its cause (ECONNRESET, …) when there is one. */
function detail(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code === undefined ? error.message : `${error.message} (${code})`;
}
