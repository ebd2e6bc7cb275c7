import type { Cached } from './api.js';
import type { EvalOptions, MatrixSeries, PromqlEvaluator } from './evaluator.js';
import type { ClickHouseQuerier } from './querier.js';
import { chunkLength, splitRange, type Chunk, type RangeSpec } from './rangeSplit.js';
import type { ResultsCache } from './resultsCache.js';
import type { SourceResolution } from './tiers.js';

/** A chunk's answer as cached: its series, what answered it, and its warnings. */
export interface ChunkResult {
  series: MatrixSeries[];
  sources: SourceResolution[];
  warnings: string[];
}

export interface RangeAnswer {
  result: MatrixSeries[];
  sources: Set<SourceResolution>;
  warnings: string[];
  /** Chunks answered from the cache, and computed. */
  chunks: { cached: number; computed: number };
}

/** `@ start()` / `@ end()` refer to the request's bounds: such a query is not split. */
const REFERS_TO_BOUNDS = /@\s*(start|end)\s*\(\s*\)/;

/**
 * A range query through the results cache: split into step-aligned chunks (query/rangeSplit.ts);
 * a chunk whose last instant is at or before `settledMs` (every window it reads is final) comes
 * from the cache or is computed whole and cached; the chunk past it (the newest data) is
 * computed for the request's part only and never cached. The chunks' series are joined by
 * label set and cut to the request.
 */
export async function cachedRange(options: {
  evaluator: PromqlEvaluator;
  expr: string;
  range: RangeSpec;
  /** Everything besides the expression and step that changes the answer (tenant, forced tier, lookback). */
  keyPrefix: string;
  cache: ResultsCache<Cached>;
  newQuerier: () => ClickHouseQuerier;
  nowMs: number;
  settledMs: number;
  /** The engine's points per series at most (`query.maxPoints`): a whole chunk must stay within it. */
  maxPoints: number;
  eval: EvalOptions;
}): Promise<RangeAnswer> {
  const { evaluator, expr, range, cache } = options;
  const answer: RangeAnswer = {
    result: [],
    sources: new Set(),
    warnings: [],
    chunks: { cached: 0, computed: 0 },
  };
  const compute = async (part: RangeSpec): Promise<ChunkResult> => {
    const querier = options.newQuerier();
    const { data, warnings } = await evaluator.range(expr, part, querier, options.eval);
    answer.chunks.computed += 1;
    return { series: data.result, sources: [...querier.stats.sources], warnings };
  };
  const parts: ChunkResult[] = [];
  // A cached chunk is computed whole (an hour at least): at a fine step that is more points
  // than the engine takes, though the request itself is within them.
  const chunkPoints = (chunkLength(range.stepMs) - range.stepMs) / range.stepMs;
  if (!cache.enabled || REFERS_TO_BOUNDS.test(expr) || chunkPoints > options.maxPoints) {
    parts.push(await compute(range));
  } else {
    // Missing settled chunks next to each other are computed in one evaluation (one storage read
    // per selector instead of one per chunk), then cut per chunk for the cache.
    let missing: Chunk[] = [];
    const computeMissing = async () => {
      if (missing.length === 0) return;
      const first = missing[0] as Chunk;
      const last = missing[missing.length - 1] as Chunk;
      const whole = await compute({ startMs: first.startMs, endMs: last.endMs, stepMs: range.stepMs });
      answer.chunks.computed += missing.length - 1;
      for (const chunk of missing) {
        const part = cutChunk(whole, chunk);
        const bytes = JSON.stringify(part.series).length * 2 + 256;
        const key = JSON.stringify([options.keyPrefix, expr, range.stepMs, chunk.startMs]);
        // Corrections of windows this chunk's ranges and lookback read reach back before its first instant.
        cache.set(
          key,
          part,
          { startMs: chunk.startMs - 86_400_000, endMs: chunk.endMs },
          bytes,
          options.nowMs,
        );
        parts.push(part);
      }
      missing = [];
    };
    for (const chunk of splitRange(range)) {
      if (chunk.endMs > options.settledMs) {
        await computeMissing();
        parts.push(
          await compute({
            startMs: Math.max(chunk.startMs, range.startMs),
            endMs: Math.min(chunk.endMs, range.endMs),
            stepMs: range.stepMs,
          }),
        );
        continue;
      }
      const key = JSON.stringify([options.keyPrefix, expr, range.stepMs, chunk.startMs]);
      const hit = cache.get(key, options.nowMs);
      const part = hit && 'series' in hit ? hit : undefined;
      if (!part) {
        // One evaluation stays within the engine's points per series.
        const first = missing[0];
        if (first && (chunk.endMs - first.startMs) / range.stepMs + 1 > options.maxPoints)
          await computeMissing();
        missing.push(chunk);
        continue;
      }
      await computeMissing();
      answer.chunks.cached += 1;
      parts.push(part);
    }
    await computeMissing();
  }
  const startS = range.startMs / 1000;
  const endS = range.endMs / 1000;
  const bySeries = new Map<string, MatrixSeries>();
  for (const part of parts) {
    for (const s of part.sources) answer.sources.add(s);
    for (const w of part.warnings) if (!answer.warnings.includes(w)) answer.warnings.push(w);
    for (const series of part.series) {
      const values = within(series.values, startS, endS);
      if (values.length === 0) continue;
      const key = labelsKey(series.metric);
      const joined = bySeries.get(key);
      if (joined) for (const v of values) joined.values.push(v);
      else bySeries.set(key, { metric: series.metric, values: [...values] });
    }
  }
  answer.result = [...bySeries.values()].sort((a, b) => compareLabels(a.metric, b.metric));
  return answer;
}

/** The part of a computed span that falls in one chunk, as the chunk alone would have answered. */
function cutChunk(whole: ChunkResult, chunk: Chunk): ChunkResult {
  const from = chunk.startMs / 1000;
  const to = chunk.endMs / 1000;
  const series: MatrixSeries[] = [];
  for (const s of whole.series) {
    const values = within(s.values, from, to);
    if (values.length > 0) series.push({ metric: s.metric, values });
  }
  return { series, sources: whole.sources, warnings: whole.warnings };
}

/** The points of `values` (in time order) at times in [from, to]: the array itself when all are. */
function within(values: MatrixSeries['values'], from: number, to: number): MatrixSeries['values'] {
  const lo = search(values, (t) => t >= from);
  const hi = search(values, (t) => t > to);
  return lo === 0 && hi === values.length ? values : values.slice(lo, hi);
}

/** The first index whose time passes `test` (false for all before it, true from it on). */
function search(values: MatrixSeries['values'], test: (t: number) => boolean): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (test((values[mid] as MatrixSeries['values'][number])[0])) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function labelsKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Prometheus' order of label sets (labels.Compare): pairwise by name then value, shorter first. */
export function compareLabels(a: Record<string, string>, b: Record<string, string>): number {
  const x = Object.keys(a).sort();
  const y = Object.keys(b).sort();
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const kx = x[i] as string;
    const ky = y[i] as string;
    if (kx !== ky) return kx < ky ? -1 : 1;
    const vx = a[kx] as string;
    const vy = b[ky] as string;
    if (vx !== vy) return vx < vy ? -1 : 1;
  }
  return x.length - y.length;
}
