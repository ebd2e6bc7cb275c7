import { seriesId } from '../core/series.js';
import type { Sample, SampleKind } from '../schemas/index.js';

/**
 * What the simulated hosts report: metric, kind, how its value moves, and the resolution its
 * source reports it in, as real agents do: memory in kB (/proc/meminfo), free disk in 4 KiB
 * blocks (statfs), counters and connections as integers, CPU percent and load average with two
 * decimals (/proc/loadavg).
 */
const METRICS: ReadonlyArray<{
  name: string;
  kind: SampleKind;
  extra: Record<string, string>;
  base: number;
  step: number;
  resolution: number;
}> = [
  { name: 'cpu_usage_percent', kind: 'gauge', extra: { cpu: 'total' }, base: 35, step: 2, resolution: 0.01 },
  { name: 'memory_used_bytes', kind: 'gauge', extra: {}, base: 4e9, step: 1e7, resolution: 1024 },
  {
    name: 'disk_free_bytes',
    kind: 'gauge',
    extra: { device: 'sda1' },
    base: 2e11,
    step: 1e6,
    resolution: 4096,
  },
  {
    name: 'http_requests_total',
    kind: 'counter',
    extra: { method: 'GET', status: '200' },
    base: 0,
    step: 50,
    resolution: 1,
  },
  {
    name: 'http_request_errors_total',
    kind: 'counter',
    extra: { method: 'GET', status: '500' },
    base: 0,
    step: 1,
    resolution: 1,
  },
  {
    name: 'net_receive_bytes_total',
    kind: 'counter',
    extra: { device: 'eth0' },
    base: 0,
    step: 1e5,
    resolution: 1,
  },
  { name: 'load_average_1m', kind: 'gauge', extra: {}, base: 1, step: 0.1, resolution: 0.01 },
  { name: 'open_connections', kind: 'gauge', extra: { service: 'api' }, base: 100, step: 5, resolution: 1 },
];
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];

export interface SyntheticOptions {
  /** Distinct series, spread over hosts: each host reports every metric once. */
  series: number;
  /** Samples in all. */
  samples: number;
  /** Samples per Kafka record (consecutive samples of one series). */
  batch: number;
  seed: number;
  /** Event time of the first tick, epoch ms. */
  start: number;
  /** Event time between two samples of a series, ms. */
  intervalMs: number;
  /** Something for the alert rules to notice (the demo's incident). */
  incident?: Incident;
}

/** An incident in the synthetic data, in event time (epoch ms, `from` inclusive, `to` exclusive). */
export interface Incident {
  /** This host's `cpu_usage_percent` runs at about 95 %. */
  spike?: { host: number; from: number; to: number };
  /** This host sends nothing at all. */
  silence?: { host: number; from: number; to: number };
}

export interface SyntheticRecord {
  /** The series id as decimal text: records of one series share a partition. */
  key: string;
  samples: Sample[];
}

/** mulberry32: a small, fast, seeded PRNG; the same seed gives the same metrics everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SeriesSpec {
  host: number;
  name: string;
  kind: SampleKind;
  labels: Record<string, string>;
  key: string;
  value: number;
  /** Where a gauge returns to: its first value. */
  level: number;
  step: number;
  resolution: number;
}

export function seriesSpecs(count: number, seed: number): SeriesSpec[] {
  const random = prng(seed);
  const specs: SeriesSpec[] = [];
  for (let i = 0; i < count; i++) {
    const metric = METRICS[i % METRICS.length] as (typeof METRICS)[number];
    const host = Math.floor(i / METRICS.length);
    const labels = {
      host: `host-${String(host).padStart(5, '0')}`,
      region: REGIONS[host % REGIONS.length] as string,
      ...metric.extra,
    };
    const sorted = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
    const value = metric.base * (0.5 + random());
    specs.push({
      host,
      name: metric.name,
      kind: metric.kind,
      labels,
      key: seriesId(metric.name, sorted).toString(),
      value,
      level: value,
      step: metric.step,
      resolution: metric.resolution,
    });
  }
  return specs;
}

/**
 * The synthetic workload, deterministic for a seed and a start time: ticks of `intervalMs`;
 * every series reports once a tick; records carry `batch` consecutive samples of one series.
 * Counters go up by random steps; gauges wander around their level (a mean-reverting random walk,
 * as CPU or memory do rather than drifting off); values are rounded to the resolution real agents
 * report them in (see METRICS).
 */
export function* syntheticRecords(options: SyntheticOptions): Generator<SyntheticRecord> {
  const { samples, intervalMs, start } = options;
  const batch = Math.max(1, Math.floor(options.batch));
  const specs = seriesSpecs(Math.max(1, options.series), options.seed);
  const random = prng(options.seed ^ 0x5eed);
  const { spike, silence } = options.incident ?? {};
  const within = (range: { from: number; to: number }, t: number) => t >= range.from && t < range.to;
  let left = samples;
  for (let tick = 0; left > 0; tick += batch) {
    for (const spec of specs) {
      if (left <= 0) return;
      const n = Math.min(batch, left);
      const out: Sample[] = [];
      for (let j = 0; j < n; j++) {
        // Counters only go up; gauges wander around their level (a mean-reverting walk).
        spec.value =
          spec.kind === 'counter'
            ? spec.value + spec.step * random()
            : Math.max(0, spec.value + spec.step * (random() - 0.5) - (spec.value - spec.level) * 0.3);
        const timestamp = start + (tick + j) * intervalMs;
        if (silence && spec.host === silence.host && within(silence, timestamp)) continue;
        const spiking =
          spike && spec.host === spike.host && spec.name === 'cpu_usage_percent' && within(spike, timestamp);
        out.push({
          name: spec.name,
          labels: spec.labels,
          timestamp,
          // The spike leaves the random walk as it was: the host comes back to where it was.
          value: spiking ? 94 + ((tick + j) % 5) * 0.5 : quantize(spec.value, spec.resolution),
          kind: spec.kind,
        });
      }
      left -= n;
      if (out.length > 0) yield { key: spec.key, samples: out };
    }
  }
}

/** `value` in steps of `resolution`: whole multiples of it, or (below 1) that many decimals, exactly as written. */
function quantize(value: number, resolution: number): number {
  if (resolution >= 1) return Math.round(value / resolution) * resolution;
  const scale = Math.round(1 / resolution);
  return Math.round(value * scale) / scale;
}
