import { cpus } from 'node:os';
import type { CollectorBenchResult } from './collectorRun.js';
import type { FloorResult, Micros } from './floor.js';
import type { LatencyResult } from './latency.js';
import type { QueryBenchResult } from './query.js';
import type { ThroughputResult, Workload } from './throughput.js';

/** What the figures are aimed at; printed next to them, not asserted. */
export const TARGETS = {
  samplesPerSec: 300_000,
  samplesPerSecUnbatched: 150_000,
  bytesPerSample: 1.8,
  peakRssMB: 1024,
  p99LatencyMs: 1000,
  collectorSamplesPerSec: 200_000,
} as const;

export interface Machine {
  cpus: number;
  cpuModel: string;
  totalMemoryMB: number;
  node: string;
  platform: string;
  /** 1-minute load average at the start and at the end of the bench: how busy the machine was. */
  loadAverage: { start: number; end: number };
}

export interface BenchReport {
  /** Batched run (100 samples per record): samples / (exit − partitions assigned). */
  samplesPerSec: number | null;
  samplesPerSecUnbatched: number | null;
  samplesPerSecInclStartup: number;
  samplesPerSecUnbatchedInclStartup: number;
  samplesPerSecMeaning: string;
  p50LatencyMs: number;
  p99LatencyMs: number;
  latencyMeaning: string;
  /** Peak RSS of the topology process in the batched run. */
  peakRssMB: number | null;
  peakRssMBUnbatched: number | null;
  peakRssMBLatency: number | null;
  /** Batched run, after OPTIMIZE FINAL: sum(bytes_on_disk) / sum(rows) of the active parts. */
  bytesPerSample: number;
  bytesPerSampleBeforeMerge: number;
  stateBytesPerSeries: number | null;
  workload: Workload & { partitions: number; intervalMs: number; batches: number[] };
  latency: LatencyResult;
  runs: ThroughputResult[];
  /** The fixed parts alone (bench/floor.ts); null with `--no-floor`. */
  floor: FloorResult | null;
  machine: Machine;
  targets: typeof TARGETS;
  benchSeconds: number;
  /** Collector run: samples/s of JSON batches through the collector into Kafka. */
  collectorSamplesPerSec?: number;
  collectorRequestsPerSec?: number;
  collectorFormat?: string;
  collectorSamplesPerSecJson?: number;
  collectorSamplesPerSecRemoteWrite?: number;
  collector?: CollectorBenchResult[];
  /** The query part (`--query`): the query service against a real Prometheus. */
  query?: QueryBenchResult;
}

/** The collector run as text. */
export function formatCollector(c: CollectorBenchResult): string {
  return (
    `collector (${c.format === 'json' ? 'JSON' : 'remote_write'} over loopback HTTP into Kafka, ${c.workers} worker${c.workers === 1 ? '' : 's'}, ${c.concurrency} clients, ${c.batch} samples per request): ` +
    `${n(c.samplesPerSec)} samples/s, ${n(c.requestsPerSec)} requests/s (target ${n(TARGETS.collectorSamplesPerSec)} samples/s), ` +
    `request p50/p99 ${c.p50RequestMs}/${c.p99RequestMs} ms, ${n(c.samples)} samples in ${s(c.seconds)}, ${c.failed} failed, ` +
    `${c.walBytesAtEnd} bytes left in the write-ahead log; CPU per sample: collector ${n(c.collectorCpuMicrosPerSample, 2)} µs, ` +
    `whole machine ${n(c.machineCpuMicrosPerSample, 2)} µs; load average ${c.loadAverage.toFixed(2)} at start`
  );
}

const n = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined
    ? '–'
    : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const s = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${v.toFixed(1)} s`);
const target = (value: number | null, goal: number, atMost = false) =>
  value === null
    ? ''
    : `${atMost ? '≤' : '≥'} ${n(goal, Number.isInteger(goal) ? 0 : 1)} ${(atMost ? value <= goal : value >= goal) ? 'met' : 'missed'}`;

/** The human-readable report: a table per phase, the method in footnotes. */
export function formatReport(r: BenchReport): string {
  const [batched, unbatched] = r.runs;
  const lines: string[] = [];
  const m = r.machine;
  lines.push(
    `metrics-pipeline bench: ${n(r.workload.series)} series, ${n(r.workload.samples)} samples (seed ${r.workload.seed}, ` +
      `${r.workload.intervalMs / 1000} s apart in event time), ${r.workload.partitions} partitions; took ${s(r.benchSeconds)}`,
    `machine: ${m.cpus} CPUs (${m.cpuModel}), ${n(m.totalMemoryMB)} MB, Node ${m.node}, ${m.platform}; ` +
      `load average ${m.loadAverage.start.toFixed(1)} at start, ${m.loadAverage.end.toFixed(1)} at end (shared machine: figures are noisy)`,
    '',
  );
  if (batched && unbatched) {
    const rows: string[][] = [
      ['throughput', `batched (${batched.batch}/record)`, `unbatched (${unbatched.batch}/record)`, 'target'],
      ['pre-load with produceSynthetic', s(batched.produceSeconds), s(unbatched.produceSeconds), ''],
      ['topology start → partitions assigned', s(batched.startupSeconds), s(unbatched.startupSeconds), ''],
      ['topology start → exit 0 (drained)', s(batched.wallSeconds), s(unbatched.wallSeconds), ''],
      [
        '  partitions assigned → all rows stored ⁶',
        s(batched.phases.toLastRowSeconds),
        s(unbatched.phases.toLastRowSeconds),
        '',
      ],
      [
        '  all rows stored → topology stopped',
        s(batched.phases.stopSeconds),
        s(unbatched.phases.stopSeconds),
        '',
      ],
      [
        '  topology stopped → process exit',
        s(batched.phases.exitSeconds),
        s(unbatched.phases.exitSeconds),
        '',
      ],
      [
        'samples/s, excluding startup ¹',
        n(batched.samplesPerSec),
        n(unbatched.samplesPerSec),
        `${target(batched.samplesPerSec, TARGETS.samplesPerSec)} | ${target(unbatched.samplesPerSec, TARGETS.samplesPerSecUnbatched)}`,
      ],
      ['samples/s, to the last row stored ⁶', n(toLastRow(batched)), n(toLastRow(unbatched)), ''],
      [
        'samples/s, including startup ²',
        n(batched.samplesPerSecInclStartup),
        n(unbatched.samplesPerSecInclStartup),
        '',
      ],
      [
        'peak RSS of the topology process',
        `${n(batched.peakRssMB)} MB`,
        `${n(unbatched.peakRssMB)} MB`,
        `${target(batched.peakRssMB, TARGETS.peakRssMB, true)} | ${target(unbatched.peakRssMB, TARGETS.peakRssMB, true)}`,
      ],
      ['stream threads (streams.threads)', n(batched.streamThreads), n(unbatched.streamThreads), ''],
      ['CPU time of the topology process', s(batched.cpuSeconds), s(unbatched.cpuSeconds), ''],
      ['machine CPU busy, assigned → exit (all processes) ⁸', busy(batched), busy(unbatched), ''],
      ['stored samples = produced', check(batched), check(unbatched), ''],
      ['series', n(batched.storage.series), n(unbatched.storage.series), ''],
      [
        'bytes/sample on disk, before merge',
        `${n(batched.storage.beforeMerge.bytesPerSample, 2)} (${batched.storage.beforeMerge.parts} parts)`,
        `${n(unbatched.storage.beforeMerge.bytesPerSample, 2)} (${unbatched.storage.beforeMerge.parts} parts)`,
        '',
      ],
      [
        'bytes/sample on disk, after OPTIMIZE FINAL ³',
        `${n(batched.storage.afterMerge.bytesPerSample, 2)} (${batched.storage.afterMerge.parts} parts)`,
        `${n(unbatched.storage.afterMerge.bytesPerSample, 2)} (${unbatched.storage.afterMerge.parts} parts)`,
        target(batched.storage.afterMerge.bytesPerSample, TARGETS.bytesPerSample, true),
      ],
      ['  compressed bytes/sample by column', columns(batched), columns(unbatched), ''],
      ['rows in samples_1m / samples_1h', rollups(batched), rollups(unbatched), ''],
      ['late samples (topology stats)', n(late(batched)), n(late(unbatched)), ''],
      [
        'state bytes per active series ⁴',
        n(batched.stateBytesPerSeries),
        n(unbatched.stateBytesPerSeries),
        '',
      ],
    ];
    lines.push(...table(rows), '');
  }
  if (r.floor) lines.push(...formatFloor(r.floor), '');
  const l = r.latency;
  lines.push(
    ...table([
      ['latency (event → ClickHouse, raw rows) ⁵', 'value'],
      [
        'rate asked / produced at / achieved',
        `${n(l.requestedRate)} / ${n(l.rate)} / ${n(l.achievedRate)} samples/s`,
      ],
      [
        'samples, batch, duration',
        `${n(l.samples)}, ${l.batch}/record, ${l.seconds} s (${l.intervalMs} ms apart in event time)`,
      ],
      [
        'p50 / p99 / max (upper bound)',
        `${n(l.p50Ms)} / ${n(l.p99Ms)} / ${n(l.maxMs)} ms (p99 ${target(l.p99Ms, TARGETS.p99LatencyMs, true)})`,
      ],
      ['p50 / p99 (lower bound)', `${n(l.p50LowerMs)} / ${n(l.p99LowerMs)} ms`],
      ['polls, every / round trip p50', `${l.polls}, ${l.pollMs} ms / ${n(l.pollRoundTripP50Ms)} ms`],
      ['peak RSS of the topology process', `${n(l.peakRssMB)} MB`],
    ]),
    '',
    `¹ ${r.samplesPerSecMeaning}`,
    '² samples / (topology exit − topology process start): includes Node/tsx start, ClickHouse open, group join.',
    '³ sum(bytes_on_disk) / sum(rows) of the active parts of samples, after OPTIMIZE TABLE samples FINAL.',
    '⁴ from the topology\'s last log line with "stateBytes"; – when it logs none.',
    `⁵ ${r.latencyMeaning}`,
    '⁶ to the progress line (printed about once a second) that first showed every sample stored.',
    '⁸ /proc/stat: CPU seconds the whole machine was busy from the partition assignment to the exit (broker,',
    "  registry, bench included), and that over the same time: cores busy on average, of the machine's CPUs.",
  );
  if (batched?.profile) {
    const p = batched.profile;
    const spot = (h: { frame: string; ms: number; percent: number }) =>
      `  ${`${h.percent}%`.padStart(6)} ${`${n(h.ms)} ms`.padStart(9)}  ${h.frame}`;
    lines.push(
      '',
      `CPU profile of the batched run's topology process (${p.file}, ${n(p.totalMs)} ms on the main thread)`,
      `self time by area: ${Object.entries(p.byArea)
        .slice(0, 12)
        .map(([area, pct]) => `${area} ${pct}%`)
        .join(', ')}`,
      'self time by function:',
      ...p.self.map(spot),
      "total time of the project's functions (with what they call):",
      ...p.total.map(spot),
    );
  }
  return lines.join('\n');
}

const micros = (m: Micros) => `${n(m.process, 2)} / ${n(m.machine, 2)}`;

/** The floor as a table: each fixed part alone, and the ceiling they leave. */
function formatFloor(f: FloorResult): string[] {
  const part = (p: FloorResult['clickhouseInsert'], unit: string) => [
    `${n(p.items)} ${unit}`,
    s(p.seconds),
    `${n(p.perSec)} ${unit}/s`,
    s(p.cpuSeconds),
    s(p.machineCpuSeconds),
  ];
  return [
    ...table([
      ['floor: each fixed part alone ⁷', 'handled', 'wall', 'rate', 'CPU, this process', 'CPU, machine'],
      ['consume + decode, batched input', ...part(f.consumeBatched, 'records')],
      ['consume + decode, unbatched input', ...part(f.consumeUnbatched, 'records')],
      ['raw rows into ClickHouse (Native)', ...part(f.clickhouseInsert, 'rows')],
      ['window results produced to Kafka (1m, 1h)', ...part(f.windowResults, 'records')],
      ['changelogs produced to Kafka', ...part(f.changelogs, 'records')],
    ]),
    '',
    ...table([
      ['CPU µs per sample of each part (this process / machine)', 'batched', 'unbatched'],
      ...(['consume', 'insert', 'windowResults', 'changelogs', 'total'] as const).map((k) => [
        {
          consume: 'consume + decode',
          insert: 'raw rows into ClickHouse',
          windowResults: 'window results produced',
          changelogs: 'changelogs produced',
          total: 'the four together',
        }[k],
        micros(f.perSample.batched[k]),
        micros(f.perSample.unbatched[k]),
      ]),
    ]),
    '',
    ...table([
      ['ceiling the parts leave', 'batched', 'unbatched'],
      [
        'machine CPU µs per sample of the parts',
        n(f.machineCpuMicrosPerSample.batched, 2),
        n(f.machineCpuMicrosPerSample.unbatched, 2),
      ],
      [
        'samples/s with every core on them, nothing else',
        `${n(f.ceilingSamplesPerSec.batched)} (target ${n(TARGETS.samplesPerSec)})`,
        `${n(f.ceilingSamplesPerSec.unbatched)} (target ${n(TARGETS.samplesPerSecUnbatched)})`,
      ],
    ]),
    '⁷ bench/floor.ts: kafkajs reading the pre-loaded input topic with our decoder, the embedded ClickHouse',
    "  inserting the raw rows, kafkajs producing the batched run's window results and changelogs again; each",
    '  alone, in this process, in steady state (connect, group join and disconnect outside the timing).',
  ];
}

const busy = (run: ThroughputResult) =>
  run.machineCpuSeconds === null || run.machineCoresBusy === null
    ? '–'
    : `${run.machineCpuSeconds.toFixed(1)} s, ${run.machineCoresBusy.toFixed(2)} of ${cpus().length} cores`;

const toLastRow = (run: ThroughputResult) =>
  run.phases.toLastRowSeconds ? Math.round(run.samples / run.phases.toLastRowSeconds) : null;

const late = (run: ThroughputResult) =>
  typeof run.topologyStats.late === 'number' ? run.topologyStats.late : null;

const check = (run: ThroughputResult) => `${n(run.storage.stored)} ✓`;

const columns = (run: ThroughputResult) =>
  Object.entries(run.storage.columnBytesPerSample)
    .map(([name, bytes]) => `${name} ${bytes.toFixed(2)}`)
    .join(', ');

const rollups = (run: ThroughputResult) =>
  `${n(run.storage.rollups.samples_1m)} / ${n(run.storage.rollups.samples_1h)}`;

/** Left-aligned columns, two spaces apart, the first row underlined. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length))) ?? [];
  const line = (row: string[]) =>
    row
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd();
  const [head, ...body] = rows;
  return head ? [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)] : [];
}
