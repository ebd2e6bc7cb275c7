import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError } from '../core/errors.js';
import { produceSynthetic } from '../producer/produce.js';
import { openClickHouse, queryRows } from '../sinks/clickhouse.js';
import { readOwner } from '../sql/owner.js';
import { recordingSends, type Send } from './sendLog.js';
import { mb, type BenchContext } from './throughput.js';
import { startTopologyProcess, type TopologyProcess } from './topologyProcess.js';
import { runWorkspace, type RunWorkspace } from './workspace.js';

/** Samples per Kafka record in the latency run. */
const BATCH = 100;
/** Time between two `count()` polls (start to start). */
export const POLL_MS = 250;
/** How long the stored count may lag behind the end of production before the run fails. */
const DRAIN_TIMEOUT_MS = 120_000;

export interface LatencyOptions {
  /** Samples per second asked for. */
  rate: number;
  seconds: number;
  series: number;
  seed: number;
}

/** One `SELECT count() FROM samples`: when it was sent, when it answered, what it found. */
interface Poll {
  sentAt: number;
  answeredAt: number;
  stored: number;
}

export interface LatencyResult {
  requestedRate: number;
  /** The rate produced at: series × 1000 / intervalMs, so that event time tracks wall time. */
  rate: number;
  /** What the producer achieved: samples / (last send − first send). */
  achievedRate: number;
  seconds: number;
  samples: number;
  batch: number;
  /** Event time between two samples of a series. */
  intervalMs: number;
  /** Latency of the rows, upper bound: first poll that saw them stored, answer time − send time. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The same, lower bound: the previous poll's send time − send time. */
  p50LowerMs: number;
  p99LowerMs: number;
  polls: number;
  pollMs: number;
  pollRoundTripP50Ms: number;
  peakRssMB: number | null;
  logFile: string;
}

/**
 * The latency run: the topology runs as its own process while the workload is produced at a
 * steady rate with event time ≈ wall time, and `SELECT count() FROM samples` is polled every
 * POLL_MS. Knowing when each record was handed to `producer.send` and when each count was first
 * seen stored, the k-th row's latency is (first poll with count ≥ k) − (send of row k).
 */
export async function latencyRun(ctx: BenchContext, options: LatencyOptions): Promise<LatencyResult> {
  // One tick (every series once) per series/rate seconds; batches of BATCH ticks then span as
  // much event time as they take to produce, so event time tracks wall time within one batch.
  const intervalMs = Math.max(1, Math.round((options.series * 1000) / options.rate));
  const rate = Math.round((options.series * 1000) / intervalMs);
  const run = runWorkspace(ctx.base, ctx.benchId, 'latency', BATCH * intervalMs);
  const samples = rate * options.seconds;
  const child = startTopologyProcess(run, []);
  ctx.children.add(child);
  let counter: StoredCounter | undefined;
  try {
    ctx.say(`latency: starting the topology on ${run.config.topics.metrics}`);
    await child.untilAssigned(120_000);
    counter = await storedCounter(run, child);
    const count = counter.count;
    ctx.say(
      `latency: producing ${samples} samples at ${rate}/s for ${options.seconds}s (${options.series} series, ` +
        `${BATCH} per record, ${intervalMs} ms apart in event time), polling count() every ${POLL_MS} ms`,
    );
    const sends: Send[] = [];
    const polls: Poll[] = [];
    let produced: number | undefined;
    const production = produceSynthetic({
      kafka: recordingSends(ctx.kafka, (send) => sends.push(send)),
      registry: ctx.registry,
      topic: run.config.topics.metrics,
      partitions: run.config.topics.partitions,
      series: options.series,
      samples,
      rate,
      batch: BATCH,
      seed: options.seed,
      intervalMs,
      start: Date.now(),
      onProgress: (sent) => ctx.say(`latency: produced ${sent.samples}/${samples} · stored ${last(polls)}`),
    }).then((result) => (produced = result.samples));
    production.catch(() => undefined);

    let doneAt: number | undefined;
    for (;;) {
      const sentAt = Date.now();
      const stored = await count();
      polls.push({ sentAt, answeredAt: Date.now(), stored });
      if (produced !== undefined) {
        doneAt ??= Date.now();
        if (stored >= produced) break;
        if (Date.now() - doneAt > DRAIN_TIMEOUT_MS) {
          throw new PipelineError(
            `latency: only ${stored} of ${produced} samples stored ${DRAIN_TIMEOUT_MS / 1000} s after production ended`,
          );
        }
      }
      await Promise.race([sleep(Math.max(0, sentAt + POLL_MS - Date.now())), production]);
    }
    await production;
    if (last(polls) !== samples) {
      throw new PipelineError(
        `latency: ClickHouse holds ${last(polls)} samples, but ${samples} were produced`,
      );
    }
    const exit = await child.stop();
    if (exit.code !== 0) {
      throw new PipelineError(
        `latency: the topology exited with ${exit.signal ?? `code ${exit.code}`}:\n${child.tail()}`,
      );
    }
    const rows = rowLatencies(sends, polls, BATCH, samples);
    const firstSend = sends[0]?.at ?? 0;
    const lastSend = sends.at(-1)?.at ?? firstSend;
    return {
      requestedRate: options.rate,
      rate,
      achievedRate: Math.round(samples / Math.max(0.001, (lastSend - firstSend) / 1000)),
      seconds: options.seconds,
      samples,
      batch: BATCH,
      intervalMs,
      p50Ms: percentile(rows, 0.5, 'upper'),
      p99Ms: percentile(rows, 0.99, 'upper'),
      maxMs: percentile(rows, 1, 'upper'),
      p50LowerMs: percentile(rows, 0.5, 'lower'),
      p99LowerMs: percentile(rows, 0.99, 'lower'),
      polls: polls.length,
      pollMs: POLL_MS,
      pollRoundTripP50Ms: median(polls.map((p) => p.answeredAt - p.sentAt)),
      peakRssMB: child.peakRssBytes === undefined ? null : mb(child.peakRssBytes),
      logFile: run.logFile,
    };
  } finally {
    await counter?.close();
    await child.stop();
    ctx.children.delete(child);
  }
}

const last = (polls: Poll[]) => polls.at(-1)?.stored ?? 0;

/**
 * `SELECT count() FROM samples` of the running topology: through its admin server while it
 * holds the embedded data folder (found in the folder's owner file), or on the ClickHouse server.
 */
interface StoredCounter {
  count(): Promise<number>;
  close(): Promise<void>;
}

async function storedCounter(run: RunWorkspace, child: TopologyProcess): Promise<StoredCounter> {
  const query = 'SELECT count() AS n FROM samples';
  if (run.config.clickhouse.url) {
    const ch = await openClickHouse(run.config.clickhouse);
    return {
      count: async () => {
        const [row] = await queryRows<{ n: string }>(
          ch,
          `SELECT count() AS n FROM \`${ch.database}\`.samples`,
        );
        return Number(row?.n ?? 0);
      },
      close: () => ch.close(),
    };
  }
  const path = resolve(run.config.clickhouse.path);
  let owner = readOwner(path);
  for (let waited = 0; owner?.pid !== child.pid; waited += 100) {
    if (waited > 60_000)
      throw new PipelineError(`latency: the topology never opened its admin server:\n${child.tail()}`);
    await sleep(100);
    owner = readOwner(path);
  }
  const url = `${owner.url}/sql?format=JSONEachRow`;
  return {
    count: async () => {
      const response = await fetch(url, { method: 'POST', body: query });
      const text = await response.text();
      if (!response.ok) throw new PipelineError(`latency: count() failed: ${text.trim()}`);
      return Number((JSON.parse(text) as { n: string }).n);
    },
    close: async () => {},
  };
}

/** A run of consecutive rows that share their send and their first poll. */
interface Segment {
  rows: number;
  upper: number;
  lower: number;
}

/**
 * Per-row latencies as segments, by walking the two step functions together: rows sent by each
 * send (records × batch; only the very last record of the workload may be shorter) and rows
 * stored at each poll. Rows are matched in order (the k-th row sent with the k-th row stored),
 * which is exact for a FIFO pipeline; with reordering between partitions it keeps the mean
 * (Little's law) but may narrow the spread.
 */
export function rowLatencies(sends: Send[], polls: Poll[], batch: number, total: number): Segment[] {
  const sentBy: number[] = [];
  let records = 0;
  for (const send of sends) {
    records += send.records;
    sentBy.push(Math.min(total, records * batch));
  }
  const segments: Segment[] = [];
  let k = 0;
  let i = 0;
  let j = 0;
  while (k < total) {
    while ((sentBy[i] ?? total) <= k) i++;
    while ((polls[j]?.stored ?? total) <= k) j++;
    const send = sends[i];
    const poll = polls[j];
    if (!send || !poll) throw new PipelineError(`latency: row ${k + 1} was never sent or never seen stored`);
    const next = Math.min(sentBy[i] ?? total, poll.stored, total);
    const seenAfter = polls[j - 1]?.sentAt ?? send.at;
    segments.push({
      rows: next - k,
      upper: poll.answeredAt - send.at,
      lower: Math.max(0, seenAfter - send.at),
    });
    k = next;
  }
  return segments;
}

/** The latency at or below which `q` of the rows fall. */
function percentile(segments: Segment[], q: number, bound: 'upper' | 'lower'): number {
  const sorted = [...segments].sort((a, b) => a[bound] - b[bound]);
  const total = sorted.reduce((n, s) => n + s.rows, 0);
  let seen = 0;
  for (const s of sorted) {
    seen += s.rows;
    if (seen >= q * total) return s[bound];
  }
  return sorted.at(-1)?.[bound] ?? 0;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
