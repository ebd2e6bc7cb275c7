/** A range query's evaluation instants: start, start+step, … ≤ end (Unix ms). */
export interface RangeSpec {
  startMs: number;
  endMs: number;
  stepMs: number;
}

/** One step-aligned chunk of a range query: its index on the step grid and its instants. */
export interface Chunk extends RangeSpec {
  index: number;
}

/** A chunk covers 60 steps, at least an hour and at most a day, in whole steps. */
const CHUNK_MIN_MS = 3_600_000;
const CHUNK_MAX_MS = 86_400_000;
const CHUNK_STEPS = 60;

/**
 * The chunk length for `stepMs`: whole steps, 60 of them but at least an hour and at most a day
 * (a chunk is computed whole: a longer one would read far before the request, e.g. past raw
 * retention).
 */
export function chunkLength(stepMs: number): number {
  const target = Math.max(CHUNK_MIN_MS, Math.min(CHUNK_STEPS * stepMs, CHUNK_MAX_MS));
  return Math.ceil(target / stepMs) * stepMs;
}

/**
 * Splits a range query into chunks on a fixed grid, as Thanos' and Cortex's query frontends
 * do: the grid depends only on the step and the start's offset within a step, so the same
 * chunk of an earlier request (a dashboard's previous refresh) has the same bounds and key.
 * Every chunk is a whole grid cell, the first and last ones too: the caller computes a cached
 * chunk whole and cuts it to the request.
 */
export function splitRange(range: RangeSpec): Chunk[] {
  const { startMs, endMs, stepMs } = range;
  const length = chunkLength(stepMs);
  const offset = mod(startMs, stepMs);
  const chunks: Chunk[] = [];
  for (let index = Math.floor((startMs - offset) / length); ; index++) {
    const chunkStart = offset + index * length;
    if (chunkStart > endMs) break;
    chunks.push({ index, startMs: chunkStart, endMs: chunkStart + length - stepMs, stepMs });
  }
  return chunks;
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}
