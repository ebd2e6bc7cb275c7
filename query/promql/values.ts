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
  timestamps: number[];
  values: number[];
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

/** Prometheus' stale marker: a NaN with this bit pattern ends a series before the lookback does. */
const STALE_NAN_BITS_HIGH = 0x7ff00000;
const STALE_NAN_BITS_LOW = 0x00000002;
const view = new DataView(new ArrayBuffer(8));

export function isStaleNaN(value: number): boolean {
  if (!Number.isNaN(value)) return false;
  view.setFloat64(0, value);
  return view.getUint32(0) === STALE_NAN_BITS_HIGH && view.getUint32(4) === STALE_NAN_BITS_LOW;
}
