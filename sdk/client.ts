import { ConfigError } from '../core/errors.js';
import { SampleBuffer } from './buffer.js';
import { Counter, Gauge, Histogram, type HistogramOptions, type MetricOptions } from './instruments.js';
import { checkLabelName, type Sample } from './sample.js';
import { handleExitSignals, type ExitSignalOptions } from './signals.js';
import { postSamples, PushError, type PushReceipt, type PushRequest } from './transport.js';

export interface RetryOptions {
  /** Attempts per batch, the first included (default 5); then the batch waits for the next push. */
  maxAttempts?: number;
  /** Backoff before the second attempt, doubled for each next one, full jitter (default 100). */
  initialDelayMs?: number;
  /** Upper bound of the backoff; a `Retry-After` from the collector is honoured as is (default 10 000). */
  maxDelayMs?: number;
}

/**
 * Why samples were given up on: `buffer_full` (the oldest, to make room), `bad_request` (400),
 * `unauthorized` (401, 403), `too_large` (413 for a single sample), `client_error` (any other
 * 4xx), `shutdown` (still pending when shutdown's timeout ended).
 */
export type DropReason =
  'buffer_full' | 'bad_request' | 'unauthorized' | 'too_large' | 'client_error' | 'shutdown';

export interface MetricsClientOptions {
  /** The collector's base URL; samples go to `${url}/api/v1/metrics`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Labels added to every sample, e.g. `defaultHostLabels('checkout')`; a series' own labels win. */
  defaultLabels?: Record<string, string>;
  /** How often every series is sampled and pushed (default 10 000); 0: only on flush(). */
  pushIntervalMs?: number;
  /** Samples per request (default 1000). */
  maxBatchSamples?: number;
  /** Samples waiting to be sent; beyond, the oldest are dropped (default 100 000). */
  maxBufferSamples?: number;
  /** Per request (default 10 000). */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** Samples given up on by the client. */
  onDrop?: (count: number, reason: DropReason) => void;
  /** Samples the collector accepted the request of but refused, by reason; they are not retried. */
  onRejected?: (count: number, reasons: Readonly<Record<string, number>>) => void;
  /** A request that failed for good, or a batch whose retries ran out (it is kept and retried at the next push). */
  onError?: (error: PushError) => void;
  /** For tests: the HTTP client (default: global fetch). */
  fetch?: typeof globalThis.fetch;
  /** For tests: the clock that timestamps samples, epoch ms (default Date.now). */
  now?: () => number;
  /** For tests: waits between attempts; must resolve early when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Counts since the client was created, in samples (and requests for `failedRequests`). */
export interface PushStats {
  /** Accepted by the collector. */
  sent: number;
  /** Given up on by the client (see DropReason). */
  dropped: number;
  /** Refused by the collector in an accepted request. */
  rejected: number;
  /** In the buffer or in flight. */
  pending: number;
  /** Requests not answered with 2xx, network errors and timeouts included. */
  failedRequests: number;
}

const DROP_REASONS: Partial<Record<number, DropReason>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'unauthorized',
  413: 'too_large',
};

/**
 * Pushes metrics to the collector. Instruments keep the current value of each series; at
 * every push interval (and on flush) the client samples all of them at one timestamp into a
 * bounded buffer, and sends the buffer in batches, in order, one request at a time, retrying
 * what can be retried. Nothing it does keeps the process alive, except an awaited flush or
 * shutdown.
 */
export class MetricsClient {
  private readonly request: PushRequest;
  private readonly defaultLabels: Readonly<Record<string, string>>;
  private readonly maxBatchSamples: number;
  private readonly retry: Required<RetryOptions>;
  private readonly options: MetricsClientOptions;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly buffer: SampleBuffer;
  /** By name, in registration order (the order samples are sent in). */
  private readonly instruments = new Map<string, Counter | Gauge | Histogram>();
  /** Sample names taken by an instrument, a histogram's `_bucket`, `_sum`, `_count` included. */
  private readonly sampleNames = new Set<string>();
  /** Aborts requests and waits at the end of shutdown's timeout. */
  private readonly abort = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  /** The running send loop; there is never more than one, so requests go one at a time. */
  private draining: Promise<boolean> | undefined;
  private closing: Promise<PushStats> | undefined;
  /** Samples taken out of the buffer for the request being sent. */
  private inFlight = 0;
  private counts = { sent: 0, dropped: 0, rejected: 0, failedRequests: 0 };

  constructor(options: MetricsClientOptions) {
    this.options = options;
    let base: URL;
    try {
      base = new URL(options.url);
    } catch (error) {
      throw new ConfigError(`invalid collector url ${JSON.stringify(options.url)}`, { cause: error });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new ConfigError(`collector url ${options.url} is not http(s)`);
    }
    const pushIntervalMs = count('pushIntervalMs', options.pushIntervalMs, 10_000, 0);
    this.maxBatchSamples = count('maxBatchSamples', options.maxBatchSamples, 1000, 1);
    this.buffer = new SampleBuffer(count('maxBufferSamples', options.maxBufferSamples, 100_000, 1));
    this.retry = {
      maxAttempts: count('retry.maxAttempts', options.retry?.maxAttempts, 5, 1),
      initialDelayMs: count('retry.initialDelayMs', options.retry?.initialDelayMs, 100, 0),
      maxDelayMs: count('retry.maxDelayMs', options.retry?.maxDelayMs, 10_000, 0),
    };
    this.defaultLabels = { ...options.defaultLabels };
    for (const label of Object.keys(this.defaultLabels)) checkLabelName(label, 'defaultLabels');
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? sleep;
    this.request = {
      endpoint: `${base.href.replace(/\/+$/, '')}/api/v1/metrics`,
      token: options.token,
      timeoutMs: count('timeoutMs', options.timeoutMs, 10_000, 1),
      fetch: options.fetch ?? globalThis.fetch,
      now: this.now,
      signal: this.abort.signal,
    };
    if (pushIntervalMs > 0) {
      this.timer = setInterval(() => {
        this.collect();
        void this.drain();
      }, pushIntervalMs).unref();
    }
  }

  /** A counter; throws if the name is invalid or taken. */
  counter<T extends string = string>(name: string, options: MetricOptions<T> = {}): Counter<T> {
    return this.register(new Counter<T>(name, options, this.defaultLabels));
  }

  /** A gauge; throws if the name is invalid or taken. */
  gauge<T extends string = string>(name: string, options: MetricOptions<T> = {}): Gauge<T> {
    return this.register(new Gauge<T>(name, options, this.defaultLabels));
  }

  /** A histogram (default buckets: prom-client's); throws if a name it sends is invalid or taken. */
  histogram<T extends string = string>(name: string, options: HistogramOptions<T> = {}): Histogram<T> {
    return this.register(new Histogram<T>(name, options, this.defaultLabels));
  }

  /**
   * Samples every series now and sends everything pending. Resolves when the buffer is
   * empty or a batch ran out of retries (it is kept for the next push); never rejects.
   */
  async flush(): Promise<PushStats> {
    if (this.closing !== undefined) return this.closing;
    this.collect();
    return keepingAlive(this.sendPending());
  }

  /**
   * Stops pushing: samples every series a last time and sends what is pending within
   * `timeoutMs` (default 5000); what is still pending then is dropped as `shutdown`.
   */
  shutdown(options: { timeoutMs?: number } = {}): Promise<PushStats> {
    this.closing ??= keepingAlive(this.close(count('timeoutMs', options.timeoutMs, 5000, 0)));
    return this.closing;
  }

  /**
   * Shuts the client down on SIGTERM / SIGINT (then lets the signal end the process, unless
   * the application listens to it too) and when the event loop empties (`beforeExit`).
   * Returns a function that removes the handlers.
   */
  handleExitSignals(options: ExitSignalOptions = {}): () => void {
    return handleExitSignals(this, options);
  }

  stats(): PushStats {
    return { ...this.counts, pending: this.buffer.length + this.inFlight };
  }

  private register<I extends Counter | Gauge | Histogram>(instrument: I): I {
    for (const name of [instrument.name, ...instrument.sampleNames]) {
      if (this.instruments.has(name) || this.sampleNames.has(name)) {
        throw new ConfigError(`metric ${name} is already registered on this client`);
      }
    }
    this.instruments.set(instrument.name, instrument);
    for (const name of instrument.sampleNames) this.sampleNames.add(name);
    return instrument;
  }

  /** Samples every series at one timestamp into the buffer. */
  private collect(): void {
    const timestamp = this.now();
    const samples: Sample[] = [];
    for (const instrument of this.instruments.values()) instrument.collect(timestamp, samples);
    this.drop(this.buffer.push(samples), 'buffer_full');
  }

  private async close(timeoutMs: number): Promise<PushStats> {
    clearInterval(this.timer);
    this.collect();
    const deadline = setTimeout(() => this.abort.abort(), timeoutMs);
    try {
      await this.sendPending();
    } finally {
      clearTimeout(deadline);
    }
    this.abort.abort();
    this.drop(this.buffer.clear(), 'shutdown');
    return this.stats();
  }

  /** Drains until the buffer is empty or a batch runs out of retries. */
  private async sendPending(): Promise<PushStats> {
    // A loop that was ending when samples were added returns true without sending them: go on.
    let emptied = true;
    while (emptied && this.buffer.length > 0) emptied = await this.drain();
    return this.stats();
  }

  /** Starts the send loop unless it runs; resolves true when it ended with the buffer empty. */
  private drain(): Promise<boolean> {
    if (this.draining === undefined) {
      const loop = this.drainLoop();
      this.draining = loop;
      void loop.finally(() => {
        if (this.draining === loop) this.draining = undefined;
      });
    }
    return this.draining;
  }

  private async drainLoop(): Promise<boolean> {
    while (this.buffer.length > 0) {
      if (this.abort.signal.aborted) return false;
      const batch = this.buffer.shift(this.maxBatchSamples);
      this.inFlight = batch.length;
      const unsent = await this.send(batch);
      this.inFlight -= unsent.length;
      if (unsent.length > 0) {
        this.drop(this.buffer.unshift(unsent), 'buffer_full');
        return false;
      }
    }
    return true;
  }

  /**
   * Sends one batch with retries; 413 splits it in halves sent one after the other. Returns
   * the samples neither sent nor given up on (retries ran out, or shutdown), in order.
   */
  private async send(batch: Sample[]): Promise<Sample[]> {
    for (let attempt = 1; ; attempt++) {
      let error: PushError;
      try {
        this.accept(await postSamples(this.request, batch), batch.length);
        return [];
      } catch (thrown) {
        error = thrown as PushError;
      }
      this.counts.failedRequests++;
      if (this.abort.signal.aborted) return batch;
      if (error.status === 413 && batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        const first = await this.send(batch.slice(0, half));
        return first.length > 0 ? [...first, ...batch.slice(half)] : this.send(batch.slice(half));
      }
      if (!error.retriable) {
        this.inFlight -= batch.length;
        this.report(error);
        this.drop(batch.length, DROP_REASONS[error.status ?? 0] ?? 'client_error');
        return [];
      }
      if (attempt >= this.retry.maxAttempts) {
        this.report(
          new PushError(`gave up on ${batch.length} samples after ${attempt} attempts: ${error.message}`, {
            status: error.status,
            retriable: true,
            cause: error,
            hint: 'the samples stay in the buffer and are retried at the next push',
          }),
        );
        return batch;
      }
      const ceiling = Math.min(this.retry.maxDelayMs, this.retry.initialDelayMs * 2 ** (attempt - 1));
      await this.sleep(error.retryAfterMs ?? Math.round(Math.random() * ceiling), this.abort.signal);
      if (this.abort.signal.aborted) return batch;
    }
  }

  private accept(receipt: PushReceipt, size: number): void {
    this.inFlight -= size;
    this.counts.sent += receipt.accepted;
    if (receipt.rejected > 0) {
      this.counts.rejected += receipt.rejected;
      const onRejected = this.options.onRejected;
      if (onRejected) callback(() => onRejected(receipt.rejected, receipt.reasons));
    }
  }

  private drop(n: number, reason: DropReason): void {
    if (n === 0) return;
    this.counts.dropped += n;
    const onDrop = this.options.onDrop;
    if (onDrop) callback(() => onDrop(n, reason));
  }

  private report(error: PushError): void {
    const onError = this.options.onError;
    if (onError) callback(() => onError(error));
    else process.emitWarning(error);
  }
}

/** Creates a client; see MetricsClientOptions. */
export function createMetricsClient(options: MetricsClientOptions): MetricsClient {
  return new MetricsClient(options);
}

/** Validates an integer option at least `min`, or returns its default. */
function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** Runs an application's callback; what it throws must not stop the client. */
function callback(run: () => void): void {
  try {
    run();
  } catch {
    // The application's bug, not ours to report through the application's own callbacks.
  }
}

/** Waits `ms` without keeping the process alive; resolves early on abort. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms).unref();
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * Keeps the process alive until `task` settles: the client's own timers are unref'ed so that
 * they never hold an application open, but a caller awaiting flush or shutdown wants the answer.
 */
async function keepingAlive<T>(task: Promise<T>): Promise<T> {
  const hold = setInterval(() => undefined, 2 ** 30);
  try {
    return await task;
  } finally {
    clearInterval(hold);
  }
}
