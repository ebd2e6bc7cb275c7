import type { Sample, SampleKind } from './index.js';

/** The identity part of a sample: its metric name and labels, shared by every sample of the series. */
export interface SeriesPart {
  name: string;
  labels: Readonly<Record<string, string>>;
  /**
   * What a validation made of the series, with the validation that made it: kept on the parts the
   * decoder shares per series (`validateSamples`), so that a one-sample record costs no lookup.
   */
  checked?: { by: object; series: unknown } | undefined;
}

/**
 * The samples of a fetched batch's records as decoded, in columns: per sample its series part
 * (one object per series where the decoder shares them, `decodeSampleBatch`), event time, value
 * and kind. Filled record after record; each record's samples are a range of them.
 */
export class DecodedColumns {
  length = 0;
  part: SeriesPart[] = [];
  timestamp: Float64Array;
  value: Float64Array;
  /** 1 for a counter, 0 for a gauge. */
  counter: Uint8Array;

  constructor(capacity = 256) {
    // Doubling must grow it: never zero.
    capacity = Math.max(1, capacity);
    this.timestamp = new Float64Array(capacity);
    this.value = new Float64Array(capacity);
    this.counter = new Uint8Array(capacity);
  }

  push(part: SeriesPart, timestamp: number, value: number, counter: boolean): void {
    const i = this.length;
    if (i === this.timestamp.length) this.grow();
    this.part.push(part);
    this.timestamp[i] = timestamp;
    this.value[i] = value;
    this.counter[i] = counter ? 1 : 0;
    this.length = i + 1;
  }

  /** Appends samples decoded as objects (avsc's readers); each is its own series part. */
  pushSamples(samples: ReadonlyArray<Sample>): void {
    for (const s of samples) this.push(s, s.timestamp, s.value, s.kind === 'counter');
  }

  /** Forgets the samples from `length` on (a record that failed halfway through). */
  truncate(length: number): void {
    this.length = length;
    this.part.length = length;
  }

  private grow(): void {
    const capacity = this.timestamp.length * 2;
    const timestamp = new Float64Array(capacity);
    timestamp.set(this.timestamp);
    const value = new Float64Array(capacity);
    value.set(this.value);
    const counter = new Uint8Array(capacity);
    counter.set(this.counter);
    this.timestamp = timestamp;
    this.value = value;
    this.counter = counter;
  }
}

/** One record's samples: [from, to) of its batch's columns. */
export interface DecodedSamples {
  columns: DecodedColumns;
  from: number;
  to: number;
}

/** A record's samples as objects (tests, and what is not on the hot path). */
export function samplesOf({ columns, from, to }: DecodedSamples): Sample[] {
  const out: Sample[] = [];
  for (let i = from; i < to; i++) {
    const part = columns.part[i] as SeriesPart;
    const kind: SampleKind = columns.counter[i] === 1 ? 'counter' : 'gauge';
    out.push({
      name: part.name,
      labels: part.labels as Record<string, string>,
      timestamp: columns.timestamp[i] as number,
      value: columns.value[i] as number,
      kind,
    });
  }
  return out;
}

/** Samples as a record's decoded samples, in columns of their own (tests, single samples). */
export function decodedOf(samples: ReadonlyArray<Sample>): DecodedSamples {
  const columns = new DecodedColumns(Math.max(1, samples.length));
  columns.pushSamples(samples);
  return { columns, from: 0, to: columns.length };
}
