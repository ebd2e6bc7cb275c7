import { PipelineError } from '../../core/errors.js';

/** A notification that did not get through; `retriable` when another attempt may succeed. */
export class DeliveryError extends PipelineError {}

/**
 * POSTs `body` as JSON; resolves on a 2xx answer. Network failures, timeouts, 429 and 5xx are
 * retriable, other answers are not (the request itself is wrong).
 */
export async function postJson(url: string, body: unknown, signal: AbortSignal): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'metrics-pipeline-notifier' },
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    const detail =
      error instanceof Error && error.name === 'TimeoutError' ? 'timed out' : describe(cause ?? error);
    throw new DeliveryError(`POST ${redact(url)}: ${detail}`, { cause: error, retriable: true });
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    throw new DeliveryError(`POST ${redact(url)} answered ${response.status}: ${text.slice(0, 200)}`, {
      retriable: response.status >= 500 || response.status === 429,
    });
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} ${error.message}` : error.message;
  }
  return String(error);
}

/** A URL fit for logs: webhook URLs often carry their secret in the path or query. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? '/…' : '/'}`;
  } catch {
    return '(invalid URL)';
  }
}
