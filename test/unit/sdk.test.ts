import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  createMetricsClient,
  DEFAULT_BUCKETS,
  defaultHostLabels,
  PushError,
  type DropReason,
  type MetricsClient,
  type MetricsClientOptions,
  type Sample,
} from '../../sdk/index.js';

/** What the fake collector does with a request: answer it, reset the connection, or never answer. */
type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | 'reset' | 'hang';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  samples: Sample[];
  /** The status answered, or the connection's fate. */
  answer: number | 'reset' | 'hang';
}

/**
 * A local stand-in for the collector's JSON endpoint: records every request and answers as
 * scripted, then 202 with every sample accepted.
 */
class FakeCollector {
  readonly requests: Received[] = [];
  url = '';
  script: Answer[] | ((samples: Sample[]) => Answer) = [];
  private readonly server: Server;
  private readonly waiters: Array<{ count: number; resolve: () => void }> = [];

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const { samples } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { samples: Sample[] };
        const answer =
          typeof this.script === 'function'
            ? this.script(samples)
            : (this.script[this.requests.length] ?? accept(samples));
        this.requests.push({
          path: req.url ?? '',
          headers: req.headers,
          samples,
          answer: typeof answer === 'string' ? answer : answer.status,
        });
        respond(res, answer);
        for (const waiter of this.waiters.filter((w) => this.requests.length >= w.count)) waiter.resolve();
      });
    });
  }

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Resolves once `count` requests have arrived in all. */
  received(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /** Sizes of the requests, in order. */
  sizes(): number[] {
    return this.requests.map((r) => r.samples.length);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

function accept(samples: Sample[]): Answer {
  return { status: 202, body: { accepted: samples.length, rejected: 0, reasons: {} } };
}

function respond(res: ServerResponse, answer: Answer): void {
  if (answer === 'hang') return;
  if (answer === 'reset') {
    res.socket?.destroy();
    return;
  }
  res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
  res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
}

const T0 = Date.UTC(2024, 10, 25, 12, 0, 0);

let collector: FakeCollector;
let clock: number;
/** Every wait the clients asked for, in ms. */
let delays: number[];
let errors: PushError[];
let drops: Array<[number, DropReason]>;
let clients: MetricsClient[];

/** A client of the fake collector, on the test clock, that never waits for real and pushes only on flush. */
function client(options: Partial<MetricsClientOptions> = {}): MetricsClient {
  const created = createMetricsClient({
    url: collector.url,
    pushIntervalMs: 0,
    now: () => clock,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    onError: (error) => errors.push(error),
    onDrop: (count, reason) => drops.push([count, reason]),
    ...options,
  });
  clients.push(created);
  return created;
}

/** `count` samples of one gauge `g{i="0"}`, `g{i="1"}`, … at the test clock. */
function gauges(c: MetricsClient, count: number): Sample[] {
  const g = c.gauge('g', { labelNames: ['i'] });
  for (let i = 0; i < count; i++) g.set({ i }, i * 10);
  return Array.from({ length: count }, (_, i) => ({
    name: 'g',
    labels: { i: String(i) },
    timestamp: clock,
    value: i * 10,
    kind: 'gauge' as const,
  }));
}

/** The class and message of what `run` throws, for exact matches. */
function thrown(run: () => unknown): [string, string] {
  try {
    run();
  } catch (error) {
    return [(error as Error).constructor.name, (error as Error).message];
  }
  return ['nothing', ''];
}

beforeEach(async () => {
  collector = await new FakeCollector().start();
  clock = T0;
  delays = [];
  errors = [];
  drops = [];
  clients = [];
});

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await Promise.all(clients.map((c) => c.shutdown({ timeoutMs: 0 })));
  await collector.close();
});

describe('instruments', () => {
  it('sends counters, gauges and histograms with default labels, kinds and cumulative buckets', async () => {
    const c = client({ defaultLabels: { host: 'a', service: 'checkout' } });
    const requests = c.counter('http_requests_total', { help: 'Requests', labelNames: ['method', 'status'] });
    requests.inc({ status: 200, method: 'GET' });
    requests.inc({ method: 'GET', status: '200' }, 2);
    requests.inc({ method: 'POST', status: 500 });
    const inflight = c.gauge('inflight_requests');
    inflight.set(3);
    inflight.dec();
    inflight.inc(0.5);
    const latency = c.histogram('request_seconds', { buckets: [0.5, 1] });
    for (const v of [0.25, 0.5, 4]) latency.observe({ route: '/pay' }, v);

    expect(await c.flush()).toEqual({ sent: 8, dropped: 0, rejected: 0, pending: 0, failedRequests: 0 });
    const at = (name: string, labels: Record<string, string>, value: number, kind: 'gauge' | 'counter') => ({
      name,
      labels,
      timestamp: T0,
      value,
      kind,
    });
    const base = { host: 'a', service: 'checkout' };
    expect(collector.requests).toHaveLength(1);
    expect(collector.requests[0]?.samples).toEqual([
      at('http_requests_total', { ...base, method: 'GET', status: '200' }, 3, 'counter'),
      at('http_requests_total', { ...base, method: 'POST', status: '500' }, 1, 'counter'),
      at('inflight_requests', base, 2.5, 'gauge'),
      at('request_seconds_bucket', { ...base, route: '/pay', le: '0.5' }, 2, 'counter'),
      at('request_seconds_bucket', { ...base, route: '/pay', le: '1' }, 2, 'counter'),
      at('request_seconds_bucket', { ...base, route: '/pay', le: '+Inf' }, 3, 'counter'),
      at('request_seconds_sum', { ...base, route: '/pay' }, 4.75, 'counter'),
      at('request_seconds_count', { ...base, route: '/pay' }, 3, 'counter'),
    ]);
    // Defaults first, then the series' own labels by name.
    expect(Object.keys(collector.requests[0]?.samples[0]?.labels ?? {})).toEqual([
      'host',
      'service',
      'method',
      'status',
    ]);
  });

  it('sends the current value of every series at each push: counters cumulative, gauges as set', async () => {
    const c = client();
    const total = c.counter('jobs_total');
    const queue = c.gauge('queue_depth');
    total.inc(0);
    queue.set(7);
    await c.flush();
    total.inc();
    total.inc(4);
    clock = T0 + 10_000;
    await c.flush();
    expect(collector.requests.map((r) => r.samples)).toEqual([
      [
        { name: 'jobs_total', labels: {}, timestamp: T0, value: 0, kind: 'counter' },
        { name: 'queue_depth', labels: {}, timestamp: T0, value: 7, kind: 'gauge' },
      ],
      [
        { name: 'jobs_total', labels: {}, timestamp: T0 + 10_000, value: 5, kind: 'counter' },
        { name: 'queue_depth', labels: {}, timestamp: T0 + 10_000, value: 7, kind: 'gauge' },
      ],
    ]);
  });

  it('lets a series label override a default label, and treats {} as no labels', async () => {
    const c = client({ defaultLabels: { service: 'checkout', zone: 'a' } });
    const g = c.gauge('up');
    g.set({}, 1);
    g.set(2);
    g.set({ zone: 'b' }, 3);
    await c.flush();
    expect(collector.requests[0]?.samples.map((s) => [s.labels, s.value])).toEqual([
      [{ service: 'checkout', zone: 'a' }, 2],
      [{ service: 'checkout', zone: 'b' }, 3],
    ]);
  });

  it("uses prom-client's default buckets", async () => {
    expect(DEFAULT_BUCKETS).toEqual([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    const c = client();
    c.histogram('h').observe(0.07);
    await c.flush();
    const buckets = collector.requests[0]?.samples.filter((s) => s.name === 'h_bucket') ?? [];
    expect(buckets.map((s) => [s.labels.le, s.value])).toEqual([
      ['0.005', 0],
      ['0.01', 0],
      ['0.025', 0],
      ['0.05', 0],
      ['0.1', 1],
      ['0.25', 1],
      ['0.5', 1],
      ['1', 1],
      ['2.5', 1],
      ['5', 1],
      ['10', 1],
      ['+Inf', 1],
    ]);
  });

  it('refuses invalid names, labels and values with a precise error', () => {
    const c = client();
    const config = (message: string) => ['ConfigError', message];
    const range = (message: string) => ['RangeError', message];
    expect(thrown(() => c.counter('http-requests'))).toEqual(config('invalid metric name "http-requests"'));
    expect(thrown(() => c.gauge('9lives'))).toEqual(config('invalid metric name "9lives"'));
    expect(() => c.gauge('9lives')).toThrow(ConfigError);
    expect(thrown(() => c.counter('c', { labelNames: ['bad-label'] }))).toEqual(
      config('invalid label name "bad-label" on c'),
    );
    expect(thrown(() => c.counter('c2', { labelNames: ['__name'] }))).toEqual(
      config('label name __name on c2 is reserved (starts with __)'),
    );
    expect(thrown(() => c.histogram('h', { labelNames: ['le'] }))).toEqual(
      config('label name le is reserved on h'),
    );
    expect(thrown(() => c.histogram('h2', { buckets: [1, 1] }))).toEqual(
      config('buckets of h2 are not strictly increasing at 1'),
    );
    expect(thrown(() => c.histogram('h3', { buckets: [1, Infinity] }))).toEqual(
      config('bucket Infinity of h3 is not finite'),
    );

    const counter = c.counter('ok_total', { labelNames: ['method'] });
    // @ts-expect-error route is not a declared label name
    expect(thrown(() => counter.inc({ route: '/' }))).toEqual(
      config('label route is not among the labelNames of ok_total'),
    );
    expect(thrown(() => counter.inc(-1))).toEqual(range('counter ok_total cannot decrease (inc by -1)'));
    expect(thrown(() => counter.inc(Number.NaN))).toEqual(range('value NaN of ok_total is not finite'));
    const free = c.gauge('free');
    expect(thrown(() => free.set({ 'a.b': 'x' }, 1))).toEqual(config('invalid label name "a.b" on free'));
    expect(thrown(() => free.set(Infinity))).toEqual(range('value Infinity of free is not finite'));
    expect(thrown(() => c.histogram('lat').observe(-Infinity))).toEqual(
      range('value -Infinity of lat is not finite'),
    );

    expect(thrown(() => c.gauge('ok_total'))).toEqual(
      config('metric ok_total is already registered on this client'),
    );
    c.histogram('rpc');
    expect(thrown(() => c.counter('rpc_count'))).toEqual(
      config('metric rpc_count is already registered on this client'),
    );
  });

  it('checks its options once, when it is created', () => {
    const config = (message: string) => ['ConfigError', message];
    expect(thrown(() => client({ url: 'collector:8080' }))).toEqual(
      config('collector url collector:8080 is not http(s)'),
    );
    expect(thrown(() => client({ url: 'not a url' }))).toEqual(config('invalid collector url "not a url"'));
    expect(thrown(() => client({ maxBatchSamples: 0 }))).toEqual(
      config('maxBatchSamples must be an integer >= 1, got 0'),
    );
    expect(thrown(() => client({ retry: { maxAttempts: 1.5 } }))).toEqual(
      config('retry.maxAttempts must be an integer >= 1, got 1.5'),
    );
    expect(thrown(() => client({ defaultLabels: { 'host-name': 'a' } }))).toEqual(
      config('invalid label name "host-name" on defaultLabels'),
    );
  });

  it('builds host labels from the machine name', () => {
    expect(defaultHostLabels('checkout')).toEqual({ host: hostname(), service: 'checkout' });
  });
});

describe('delivery', () => {
  it('posts JSON to <url>/api/v1/metrics with the bearer token', async () => {
    const c = client({ url: `${collector.url}/`, token: 's3cret' });
    c.gauge('up').set(1);
    await c.flush();
    const plain = client();
    plain.gauge('up').set(1);
    await plain.flush();
    expect(
      collector.requests.map((r) => [r.path, r.headers['content-type'], r.headers.authorization]),
    ).toEqual([
      ['/api/v1/metrics', 'application/json', 'Bearer s3cret'],
      ['/api/v1/metrics', 'application/json', undefined],
    ]);
  });

  it('sends in batches of maxBatchSamples, in order', async () => {
    const c = client({ maxBatchSamples: 2 });
    const samples = gauges(c, 5);
    expect(await c.flush()).toMatchObject({ sent: 5, pending: 0 });
    expect(collector.sizes()).toEqual([2, 2, 1]);
    expect(collector.requests.flatMap((r) => r.samples)).toEqual(samples);
  });

  it('sends one request at a time, whoever asks', async () => {
    const open: Array<() => void> = [];
    let calls = 0;
    const c = client({
      maxBatchSamples: 1,
      fetch: (_url, init) => {
        calls++;
        return new Promise<Response>((resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
          open.push(() => resolve(new Response(null, { status: 202 })));
        });
      },
    });
    gauges(c, 3);
    const flushes = [c.flush(), c.flush(), c.flush()];
    for (let answered = 0; answered < 9; answered++) {
      await vi.waitFor(() => expect(open).toHaveLength(1));
      // The loop had every chance to start another request before this one is answered.
      await new Promise((resolve) => setImmediate(resolve));
      expect(open).toHaveLength(1);
      open.pop()?.();
    }
    await Promise.all(flushes);
    expect(calls).toBe(9);
    expect(c.stats()).toEqual({ sent: 9, dropped: 0, rejected: 0, pending: 0, failedRequests: 0 });
  });

  it('retries 5xx and connection resets with exponential backoff and full jitter', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    collector.script = [{ status: 500 }, 'reset', { status: 503 }];
    const c = client({ retry: { initialDelayMs: 100, maxDelayMs: 300 } });
    const samples = gauges(c, 2);
    expect(await c.flush()).toEqual({ sent: 2, dropped: 0, rejected: 0, pending: 0, failedRequests: 3 });
    expect(collector.requests.map((r) => r.answer)).toEqual([500, 'reset', 503, 202]);
    expect(collector.requests.map((r) => r.samples)).toEqual([samples, samples, samples, samples]);
    // half of 100, 200, then 300 (the cap, not 400)
    expect(delays).toEqual([50, 100, 150]);
    expect(errors).toEqual([]);
  });

  it('waits what Retry-After says on 429 and 503, in seconds or as a date', async () => {
    collector.script = [
      { status: 429, headers: { 'retry-after': '2' } },
      { status: 503, headers: { 'retry-after': '1' } },
      { status: 503, headers: { 'retry-after': new Date(T0 + 3000).toUTCString() } },
    ];
    const c = client();
    gauges(c, 1);
    expect(await c.flush()).toMatchObject({ sent: 1, failedRequests: 3 });
    expect(delays).toEqual([2000, 1000, 3000]);
  });

  it('splits a batch in halves on 413, down to one sample, keeping the order', async () => {
    collector.script = (samples) => (samples.length > 2 ? { status: 413 } : accept(samples));
    const c = client();
    const samples = gauges(c, 5);
    expect(await c.flush()).toEqual({ sent: 5, dropped: 0, rejected: 0, pending: 0, failedRequests: 2 });
    expect(collector.sizes()).toEqual([5, 3, 2, 1, 2]);
    expect(collector.requests.filter((r) => r.answer === 202).flatMap((r) => r.samples)).toEqual(samples);
    expect(delays).toEqual([]);
  });

  it('drops a single sample the collector finds too large', async () => {
    collector.script = () => ({ status: 413, body: { error: 'body too large' } });
    const c = client();
    gauges(c, 2);
    expect(await c.flush()).toEqual({ sent: 0, dropped: 2, rejected: 0, pending: 0, failedRequests: 3 });
    expect(collector.sizes()).toEqual([2, 1, 1]);
    expect(drops).toEqual([
      [1, 'too_large'],
      [1, 'too_large'],
    ]);
    expect(errors.map((e) => [e.status, e.retriable, e.message])).toEqual([
      [413, false, 'collector answered 413: {"error":"body too large"}'],
      [413, false, 'collector answered 413: {"error":"body too large"}'],
    ]);
  });

  it.each([
    [400, 'bad_request'],
    [401, 'unauthorized'],
    [404, 'client_error'],
  ] as const)('does not retry %i, reports it and drops the batch as %s', async (status, reason) => {
    collector.script = [{ status, body: { error: 'no' } }];
    const c = client({ token: 'wrong' });
    gauges(c, 3);
    expect(await c.flush()).toEqual({ sent: 0, dropped: 3, rejected: 0, pending: 0, failedRequests: 1 });
    expect(collector.requests).toHaveLength(1);
    expect(drops).toEqual([[3, reason]]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(PushError);
    expect([errors[0]?.status, errors[0]?.retriable, errors[0]?.message]).toEqual([
      status,
      false,
      `collector answered ${status}: {"error":"no"}`,
    ]);
  });

  it('reports the samples the collector rejected and does not send them again', async () => {
    collector.script = [{ status: 202, body: { accepted: 1, rejected: 2, reasons: { 'out of window': 2 } } }];
    const rejected: Array<[number, Record<string, number>]> = [];
    const c = client({ onRejected: (count, reasons) => rejected.push([count, { ...reasons }]) });
    gauges(c, 3);
    expect(await c.flush()).toEqual({ sent: 1, dropped: 0, rejected: 2, pending: 0, failedRequests: 0 });
    expect(rejected).toEqual([[2, { 'out of window': 2 }]]);
    expect(collector.requests).toHaveLength(1);
  });

  it('keeps a batch whose retries ran out and sends it first at the next push', async () => {
    collector.script = [{ status: 503 }, { status: 503 }];
    const c = client({ retry: { maxAttempts: 2 } });
    const total = c.counter('jobs_total');
    total.inc();
    expect(await c.flush()).toEqual({ sent: 0, dropped: 0, rejected: 0, pending: 1, failedRequests: 2 });
    expect(errors.map((e) => [e.status, e.retriable, e.message])).toEqual([
      [503, true, 'gave up on 1 samples after 2 attempts: collector answered 503'],
    ]);
    total.inc();
    clock = T0 + 10_000;
    expect(await c.flush()).toMatchObject({ sent: 2, pending: 0 });
    expect(collector.requests[2]?.samples).toEqual([
      { name: 'jobs_total', labels: {}, timestamp: T0, value: 1, kind: 'counter' },
      { name: 'jobs_total', labels: {}, timestamp: T0 + 10_000, value: 2, kind: 'counter' },
    ]);
  });

  it('reports a collector it cannot reach, with the cause', async () => {
    const gone = await new FakeCollector().start();
    await gone.close();
    const c = client({ url: gone.url, retry: { maxAttempts: 2 } });
    gauges(c, 1);
    expect(await c.flush()).toMatchObject({ sent: 0, pending: 1, failedRequests: 2 });
    expect(errors.map((e) => [e.status, e.message])).toEqual([
      [
        undefined,
        `gave up on 1 samples after 2 attempts: could not reach the collector at ${gone.url}/api/v1/metrics: fetch failed (ECONNREFUSED)`,
      ],
    ]);
  });

  it('gives up on a request after timeoutMs and retries it', async () => {
    collector.script = ['hang'];
    const c = client({ timeoutMs: 50 });
    gauges(c, 1);
    expect(await c.flush()).toEqual({ sent: 1, dropped: 0, rejected: 0, pending: 0, failedRequests: 1 });
    expect(collector.requests.map((r) => r.answer)).toEqual(['hang', 202]);
    expect(delays).toHaveLength(1);
  });

  it('drops the oldest samples when the buffer is full and says so', async () => {
    collector.script = [{ status: 500 }];
    const c = client({ maxBufferSamples: 3, retry: { maxAttempts: 1 } });
    const g = c.gauge('g', { labelNames: ['i'] });
    g.set({ i: 1 }, 1);
    g.set({ i: 2 }, 2);
    expect(await c.flush()).toMatchObject({ pending: 2, dropped: 0 });
    expect(drops).toEqual([]);
    clock = T0 + 10_000;
    g.set({ i: 1 }, 10);
    expect(await c.flush()).toEqual({ sent: 3, dropped: 1, rejected: 0, pending: 0, failedRequests: 1 });
    expect(drops).toEqual([[1, 'buffer_full']]);
    expect(collector.requests[1]?.samples.map((s) => [s.timestamp, s.labels.i, s.value])).toEqual([
      [T0, '2', 2],
      [T0 + 10_000, '1', 10],
      [T0 + 10_000, '2', 2],
    ]);
  });

  it('pushes every pushIntervalMs on a timer', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const c = client({ pushIntervalMs: 10_000 });
    const total = c.counter('ticks_total');
    total.inc();
    vi.advanceTimersByTime(9_999);
    expect(c.stats().pending).toBe(0);
    vi.advanceTimersByTime(1);
    await collector.received(1);
    total.inc(2);
    clock = T0 + 20_000;
    vi.advanceTimersByTime(10_000);
    await collector.received(2);
    expect(collector.requests.map((r) => r.samples.map((s) => [s.timestamp, s.value]))).toEqual([
      [[T0, 1]],
      [[T0 + 20_000, 3]],
    ]);
  });
});

describe('shutdown', () => {
  it('sends the final values, then stops', async () => {
    const c = client({ pushIntervalMs: 60_000 });
    const total = c.counter('jobs_total');
    total.inc(3);
    expect(await c.shutdown()).toEqual({ sent: 1, dropped: 0, rejected: 0, pending: 0, failedRequests: 0 });
    expect(collector.requests.map((r) => r.samples)).toEqual([
      [{ name: 'jobs_total', labels: {}, timestamp: T0, value: 3, kind: 'counter' }],
    ]);
    total.inc();
    await c.flush();
    await c.shutdown();
    expect(collector.requests).toHaveLength(1);
  });

  it('drops what it could not send within its timeout, a request in flight included', async () => {
    collector.script = ['hang'];
    const c = client();
    gauges(c, 4);
    expect(await c.shutdown({ timeoutMs: 50 })).toEqual({
      sent: 0,
      dropped: 4,
      rejected: 0,
      pending: 0,
      failedRequests: 1,
    });
    expect(drops).toEqual([[4, 'shutdown']]);
    expect(collector.requests).toHaveLength(1);
  });

  it('cuts a Retry-After wait short at its timeout', async () => {
    collector.script = [{ status: 503, headers: { 'retry-after': '3600' } }];
    const c = client({ sleep: undefined, maxBatchSamples: 2 });
    gauges(c, 3);
    expect(await c.shutdown({ timeoutMs: 50 })).toEqual({
      sent: 0,
      dropped: 3,
      rejected: 0,
      pending: 0,
      failedRequests: 1,
    });
    expect(drops).toEqual([[3, 'shutdown']]);
  });
});
