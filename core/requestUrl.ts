/**
 * A request's target as a URL, or undefined when it is malformed (`GET //[ HTTP/1.1`): Node's
 * parser lets such targets through and `new URL` throws on them, which in a `createServer`
 * callback would end the process.
 */
export function parseRequestUrl(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}
