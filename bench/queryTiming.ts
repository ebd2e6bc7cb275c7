import { Agent, request } from 'node:http';
import type { QueryCase } from './queryCases.js';

/** One HTTP answer to a query, timed from the request to the body's last byte. */
export interface Answer {
  ms: number;
  status: number;
  bytes: number;
  /** Series (or samples of a vector) in `data.result`; null when the answer is no success. */
  series: number | null;
  /** The tier the answer came from, when the server says (response header or `stats`). */
  tier: string | null;
  error: string | null;
}

export interface Timings {
  n: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/** Something that answers Prometheus' HTTP API: ours or a real Prometheus. */
export interface QueryTarget {
  name: string;
  url: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/**
 * Asks `target` the query of `c` once, over one keep-alive connection (node:http, no retries).
 * With `cold`, the query ends in a PromQL comment naming the run: the same query to the engine,
 * new text to a results cache, which has then never seen it. A failure to connect or a dropped
 * connection is an answer with status 0, not an exception: the run goes on.
 */
export function ask(target: QueryTarget, c: QueryCase, timeoutS: number, cold?: number): Promise<Answer> {
  const path = c.kind === 'instant' ? '/api/v1/query' : '/api/v1/query_range';
  const promql = cold === undefined ? c.promql : `${c.promql} # cold run ${cold}`;
  const query = new URLSearchParams({ query: promql, ...c.params, timeout: `${timeoutS}s` }).toString();
  const url = new URL(`${path}?${query}`, target.url);
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const req = request(url, { agent, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('error', reject);
      res.on('end', () => {
        const ms = performance.now() - began;
        const body = Buffer.concat(chunks);
        resolve({ ms, status: res.statusCode ?? 0, bytes: body.length, ...readBody(body, res.headers) });
      });
    });
    // The server's own timeout cannot fire while its event loop is busy: the client gives up too.
    req.setTimeout((timeoutS + 5) * 1000, () => req.destroy(new Error(`no answer within ${timeoutS + 5} s`)));
    req.on('error', (e) =>
      resolve({
        ms: performance.now() - began,
        status: 0,
        bytes: 0,
        series: null,
        tier: null,
        error: `${target.name} did not answer: ${e.message}`,
      }),
    );
    req.end();
  });
}

interface ApiBody {
  status?: string;
  error?: string;
  data?: { result?: unknown[] };
  stats?: { tier?: string };
}

function readBody(
  body: Buffer,
  headers: Record<string, string | string[] | undefined>,
): Pick<Answer, 'series' | 'tier' | 'error'> {
  let parsed: ApiBody;
  try {
    parsed = JSON.parse(body.toString('utf8')) as ApiBody;
  } catch {
    return { series: null, tier: null, error: `not JSON: ${body.toString('utf8', 0, 200)}` };
  }
  // The service names the tier it answered from as Thanos' parameter does.
  const header = headers['x-source-resolution'];
  const tier = (Array.isArray(header) ? header[0] : header) ?? parsed.stats?.tier ?? null;
  if (parsed.status !== 'success') return { series: null, tier, error: parsed.error ?? 'no success' };
  return { series: parsed.data?.result?.length ?? 0, tier, error: null };
}

/** p50 and p99 by the nearest rank: with few runs the p99 is the slowest run. */
export function timings(ms: number[]): Timings {
  if (ms.length === 0) return { n: 0, p50Ms: null, p99Ms: null };
  const sorted = [...ms].sort((a, b) => a - b);
  const rank = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
  const round = (v: number) => Math.round(v * 10) / 10;
  return { n: sorted.length, p50Ms: round(rank(0.5)), p99Ms: round(rank(0.99)) };
}
