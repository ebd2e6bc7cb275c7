import type { SeriesData } from '../../query/promql/storage.js';

/** A small deterministic PRNG (mulberry32), so every run pushes the same samples. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Sample times never fall on a whole second, `.123` s or `.5` s, the only instants the corpus
 * evaluates at or bounds windows by: Prometheus 2 closes range windows on the left and Prometheus
 * 3 opens them, so a sample exactly on a boundary would compare the versions, not the engines.
 */
function offBoundary(t: number): number {
  const ms = ((t % 1000) + 1000) % 1000;
  return ms === 0 || ms === 123 || ms === 500 ? t + 1 : t;
}

interface Builder {
  labels: Record<string, string>;
  timestamps: number[];
  values: number[];
}

function build(b: Builder): SeriesData {
  return {
    labels: b.labels,
    timestamps: Float64Array.from(b.timestamps),
    values: Float64Array.from(b.values),
  };
}

/** The corpus' data set: ~2 h of gauges, counters with resets, classic histograms, odd label values, gaps and ends. */
export function compatSeries(endMs: number): SeriesData[] {
  const rand = random(42);
  const startMs = endMs - 2 * 3_600_000;
  const times = (intervalMs: number, jitterMs: number, from = startMs, to = endMs): number[] => {
    const out: number[] = [];
    for (let t = from; t <= to; t += intervalMs) {
      out.push(offBoundary(t + 7 + Math.floor(rand() * jitterMs)));
    }
    return out;
  };
  const series: SeriesData[] = [];

  for (const job of ['api', 'db']) {
    for (const [k, instance] of ['i1', 'i2', 'i3'].entries()) {
      const ts = times(15_000, 900);
      const offset = instance === 'i3' ? -60 : 50;
      const values = ts.map((_, i) => offset + 40 * Math.sin(i / 20 + k) + Math.round(rand() * 1000) / 100);
      series.push(build({ labels: { __name__: 'compat_gauge', job, instance }, timestamps: ts, values }));
    }
    for (const instance of ['i1', 'i2']) {
      for (const method of ['GET', 'POST']) {
        const ts = times(15_000, 900);
        let value = Math.floor(rand() * 1000);
        const resetAt = method === 'POST' ? Math.floor(ts.length * (0.3 + 0.4 * rand())) : -1;
        const values = ts.map((_, i) => {
          value =
            i === resetAt
              ? Math.floor(rand() * 5)
              : value + Math.floor(rand() * 20) + (job === 'db' ? 0.5 : 0);
          return value;
        });
        series.push(
          build({
            labels: { __name__: 'compat_requests_total', job, instance, method },
            timestamps: ts,
            values,
          }),
        );
      }
    }
    const bounds = ['0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf'];
    const ts = times(15_000, 500);
    const buckets = bounds.map(() => [] as number[]);
    const counts = bounds.map(() => 0);
    const sums: number[] = [];
    const totals: number[] = [];
    let sum = 0;
    let total = 0;
    const resetAt = job === 'db' ? Math.floor(ts.length / 2) : -1;
    ts.forEach((_, i) => {
      if (i === resetAt) {
        counts.fill(0);
        sum = 0;
        total = 0;
      }
      const observations = Math.floor(rand() * 10);
      for (let o = 0; o < observations; o++) {
        const latency = rand() ** 2 * (job === 'api' ? 1.5 : 4);
        sum += latency;
        total++;
        bounds.forEach((le, b) => {
          if (latency <= Number(le === '+Inf' ? Infinity : le)) counts[b] = (counts[b] as number) + 1;
        });
      }
      bounds.forEach((_, b) => (buckets[b] as number[]).push(counts[b] as number));
      sums.push(sum);
      totals.push(total);
    });
    bounds.forEach((le, b) => {
      series.push(
        build({
          labels: { __name__: 'compat_latency_seconds_bucket', job, le },
          timestamps: ts,
          values: buckets[b] as number[],
        }),
      );
    });
    series.push(
      build({ labels: { __name__: 'compat_latency_seconds_sum', job }, timestamps: ts, values: sums }),
    );
    series.push(
      build({ labels: { __name__: 'compat_latency_seconds_count', job }, timestamps: ts, values: totals }),
    );
    const info = times(15_000, 300);
    series.push(
      build({
        labels: { __name__: 'compat_info', job, version: job === 'api' ? '1.2.0' : '2.0.1' },
        timestamps: info,
        values: info.map(() => 1),
      }),
    );
  }

  const weird = times(15_000, 900);
  series.push(
    build({
      labels: { __name__: 'compat_weird', path: '/a"b', re: 'x.*+?[]()|^$', back: 'c:\\d\\', quote: "it's" },
      timestamps: weird,
      values: weird.map((_, i) => i % 7),
    }),
  );
  series.push(
    build({
      labels: { __name__: 'compat_weird', path: 'ünï/cödé', re: 'a{2}', back: 'tab\there', quote: '`' },
      timestamps: weird,
      values: weird.map((_, i) => -(i % 5) * 1.5),
    }),
  );
  const stopping = times(15_000, 900, startMs, endMs - 50 * 60_000);
  series.push(
    build({
      labels: { __name__: 'compat_stopping', job: 'api' },
      timestamps: stopping,
      values: stopping.map((_, i) => i),
    }),
  );
  const late = times(15_000, 900, endMs - 30 * 60_000);
  series.push(
    build({
      labels: { __name__: 'compat_late_total', job: 'api' },
      timestamps: late,
      values: late.map((_, i) => 3 + i * 2),
    }),
  );
  const irregular = times(30_000, 20_000).filter((t) => t < endMs - 70 * 60_000 || t > endMs - 58 * 60_000);
  series.push(
    build({
      labels: { __name__: 'compat_irregular', job: 'api' },
      timestamps: irregular,
      values: irregular.map((_, i) => Math.round(100 * Math.cos(i / 9)) / 4),
    }),
  );
  const special = times(60_000, 900);
  series.push(
    build({
      labels: { __name__: 'compat_special', job: 'api' },
      timestamps: special,
      values: special.map((_, i) => [1e-9, 1e21, -0.5, 0, 123456.789, 2.5, -3.5][i % 7] as number),
    }),
  );
  return series;
}
