import type { Labels } from './labels.js';

/** One element of an instant vector. */
export interface Sample {
  metric: Labels;
  value: number;
  /** Unix ms of the sample: its own for selectors (for `timestamp()`), else the evaluation time. */
  t: number;
}

/** One element of a range vector: points in time order. */
export interface Series {
  metric: Labels;
  /** Views into storage's arrays where possible: never written to. */
  timestamps: ArrayLike<number>;
  values: ArrayLike<number>;
}

export interface ScalarValue {
  type: 'scalar';
  value: number;
}

export interface StringValue {
  type: 'string';
  value: string;
}

export interface VectorValue {
  type: 'vector';
  samples: Sample[];
}

/** A range vector, with the window it was selected over (the range functions extrapolate to its ends). */
export interface MatrixValue {
  type: 'matrix';
  series: Series[];
  /** Exclusive start and inclusive end, Unix ms, after offset and `@`. */
  windowStartMs: number;
  windowEndMs: number;
}

export type Value = ScalarValue | StringValue | VectorValue | MatrixValue;

/**
 * Prometheus' stale marker (NaN 0x7ff0000000000002) ends a series before the lookback does. It
 * is a signalling NaN, which JavaScript may quiet (0x7ff8…02) when it copies a number, so both
 * forms count.
 */
const STALE_NAN_HIGH_WORDS: ReadonlySet<number> = new Set([0x7ff00000, 0x7ff80000]);
const STALE_NAN_LOW_WORD = 0x00000002;
const view = new DataView(new ArrayBuffer(8));

export function isStaleNaN(value: number): boolean {
  if (!Number.isNaN(value)) return false;
  view.setFloat64(0, value);
  return STALE_NAN_HIGH_WORDS.has(view.getUint32(0)) && view.getUint32(4) === STALE_NAN_LOW_WORD;
}
