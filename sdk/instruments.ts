import { ConfigError } from '../core/errors.js';
import { checkFinite, checkLabelName, checkMetricName, type LabelValues, type Sample } from './sample.js';

export interface MetricOptions<T extends string = string> {
  help?: string;
  /** The only label names the instrument may be used with; when unset, any valid name. */
  labelNames?: readonly T[];
}

export interface HistogramOptions<T extends string = string> extends MetricOptions<T> {
  /** Upper bounds of the buckets, increasing; the `+Inf` bucket is always there. */
  buckets?: readonly number[];
}

/** prom-client's default buckets, for durations in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Labels = Readonly<Record<string, string>>;

/**
 * What every instrument shares: a name, label rules, and one state per label set (a series).
 * Series are created on first use and sent at every push from then on, in creation order.
 */
abstract class Instrument<T extends string, S> {
  readonly name: string;
  readonly help: string | undefined;
  /** The names of the samples the instrument sends, to refuse a second instrument sending them too. */
  abstract readonly sampleNames: readonly string[];
  private readonly labelNames: ReadonlySet<string> | undefined;
  /** Label names the instrument sets itself (a histogram's `le`). */
  private readonly reserved: readonly string[];
  private readonly defaultLabels: Labels;
  /** By canonical label key; the labels of each are the default labels, then its own sorted by name. */
  private readonly series = new Map<string, { labels: Labels; state: S }>();

  constructor(name: string, options: MetricOptions<T>, defaultLabels: Labels, reserved: readonly string[]) {
    checkMetricName(name);
    this.name = name;
    this.help = options.help;
    this.reserved = reserved;
    this.defaultLabels = defaultLabels;
    if (options.labelNames !== undefined) {
      for (const label of options.labelNames) this.checkLabel(label);
      this.labelNames = new Set(options.labelNames);
    }
  }

  /** Appends one sample per series (several for a histogram) at `timestamp` to `out`. */
  collect(timestamp: number, out: Sample[]): void {
    for (const { labels, state } of this.series.values()) this.emit(labels, state, timestamp, out);
  }

  protected abstract initial(labels: Labels): S;

  protected abstract emit(labels: Labels, state: S, timestamp: number, out: Sample[]): void;

  /** The state of the series with these labels, created (and its labels checked) on first use. */
  protected seriesFor(values: LabelValues<T> | undefined): S {
    const own: Array<[string, string]> = [];
    for (const [label, value] of Object.entries(values ?? {})) {
      if (value !== undefined) own.push([label, String(value)]);
    }
    own.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const key = own.length === 0 ? '' : JSON.stringify(own);
    let series = this.series.get(key);
    if (series === undefined) {
      for (const [label] of own) {
        this.checkLabel(label);
        if (this.labelNames !== undefined && !this.labelNames.has(label)) {
          throw new ConfigError(`label ${label} is not among the labelNames of ${this.name}`, {
            hint: `declared: ${[...this.labelNames].join(', ') || '(none)'}`,
          });
        }
      }
      const labels = { ...this.defaultLabels, ...Object.fromEntries(own) };
      series = { labels, state: this.initial(labels) };
      this.series.set(key, series);
    }
    return series.state;
  }

  private checkLabel(label: string): void {
    checkLabelName(label, this.name);
    if (this.reserved.includes(label)) {
      throw new ConfigError(`label name ${label} is reserved on ${this.name}`);
    }
  }
}

/** Splits the `(value)` / `(labels, value)` forms of the instruments' methods. */
function args<T extends string>(
  labelsOrValue: LabelValues<T> | number | undefined,
  value: number | undefined,
  fallback: number,
): [LabelValues<T> | undefined, number] {
  return typeof labelsOrValue === 'number' ? [undefined, labelsOrValue] : [labelsOrValue, value ?? fallback];
}

/** A cumulative count that only goes up; sent as kind `counter`. */
export class Counter<T extends string = string> extends Instrument<T, { value: number }> {
  readonly sampleNames: readonly string[];

  constructor(name: string, options: MetricOptions<T>, defaultLabels: Labels) {
    super(name, options, defaultLabels, []);
    this.sampleNames = [name];
  }

  /** Adds `value` (default 1, may be 0 to start a series at zero); throws on a negative value. */
  inc(value?: number): void;
  inc(labels: LabelValues<T>, value?: number): void;
  inc(labelsOrValue?: LabelValues<T> | number, value?: number): void {
    const [labels, by] = args(labelsOrValue, value, 1);
    checkFinite(by, this.name);
    if (by < 0) throw new RangeError(`counter ${this.name} cannot decrease (inc by ${by})`);
    this.seriesFor(labels).value += by;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  protected emit(labels: Labels, state: { value: number }, timestamp: number, out: Sample[]): void {
    out.push({ name: this.name, labels, timestamp, value: state.value, kind: 'counter' });
  }
}

/** A level that goes up and down; sent as kind `gauge`, its current value at every push. */
export class Gauge<T extends string = string> extends Instrument<T, { value: number }> {
  readonly sampleNames: readonly string[];

  constructor(name: string, options: MetricOptions<T>, defaultLabels: Labels) {
    super(name, options, defaultLabels, []);
    this.sampleNames = [name];
  }

  set(value: number): void;
  set(labels: LabelValues<T>, value: number): void;
  set(labelsOrValue: LabelValues<T> | number, value?: number): void {
    const [labels, to] = args(labelsOrValue, value, Number.NaN);
    checkFinite(to, this.name);
    this.seriesFor(labels).value = to;
  }

  /** Adds `value` (default 1). */
  inc(value?: number): void;
  inc(labels: LabelValues<T>, value?: number): void;
  inc(labelsOrValue?: LabelValues<T> | number, value?: number): void {
    const [labels, by] = args(labelsOrValue, value, 1);
    checkFinite(by, this.name);
    this.seriesFor(labels).value += by;
  }

  /** Subtracts `value` (default 1). */
  dec(value?: number): void;
  dec(labels: LabelValues<T>, value?: number): void;
  dec(labelsOrValue?: LabelValues<T> | number, value?: number): void {
    const [labels, by] = args(labelsOrValue, value, 1);
    checkFinite(by, this.name);
    this.seriesFor(labels).value -= by;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  protected emit(labels: Labels, state: { value: number }, timestamp: number, out: Sample[]): void {
    out.push({ name: this.name, labels, timestamp, value: state.value, kind: 'gauge' });
  }
}

interface HistogramState {
  /** Observations per bucket, not cumulative; the last one is `+Inf`. */
  counts: number[];
  sum: number;
  count: number;
  /** The series' labels with each bucket's `le`, built once. */
  bucketLabels: Labels[];
}

/**
 * Observations counted in buckets; sent as Prometheus sends them, all of kind `counter`:
 * `<name>_bucket{le}` cumulative up to `+Inf`, `<name>_sum` and `<name>_count`.
 */
export class Histogram<T extends string = string> extends Instrument<T, HistogramState> {
  readonly sampleNames: readonly string[];
  readonly buckets: readonly number[];

  constructor(name: string, options: HistogramOptions<T>, defaultLabels: Labels) {
    super(name, options, defaultLabels, ['le']);
    this.sampleNames = [`${name}_bucket`, `${name}_sum`, `${name}_count`];
    const buckets = options.buckets ?? DEFAULT_BUCKETS;
    buckets.forEach((bound, i) => {
      if (!Number.isFinite(bound)) {
        throw new ConfigError(`bucket ${bound} of ${name} is not finite`, {
          hint: 'the +Inf bucket is implicit',
        });
      }
      if (i > 0 && bound <= (buckets[i - 1] as number)) {
        throw new ConfigError(`buckets of ${name} are not strictly increasing at ${bound}`);
      }
    });
    this.buckets = [...buckets];
  }

  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(labelsOrValue: LabelValues<T> | number, value?: number): void {
    const [labels, observed] = args(labelsOrValue, value, Number.NaN);
    checkFinite(observed, this.name);
    const state = this.seriesFor(labels);
    const found = this.buckets.findIndex((bound) => observed <= bound);
    const index = found === -1 ? this.buckets.length : found;
    state.counts[index] = (state.counts[index] as number) + 1;
    state.sum += observed;
    state.count += 1;
  }

  protected initial(labels: Labels): HistogramState {
    const bounds = [...this.buckets.map(String), '+Inf'];
    return {
      counts: bounds.map(() => 0),
      sum: 0,
      count: 0,
      bucketLabels: bounds.map((le) => ({ ...labels, le })),
    };
  }

  protected emit(labels: Labels, state: HistogramState, timestamp: number, out: Sample[]): void {
    let cumulative = 0;
    state.counts.forEach((n, i) => {
      cumulative += n;
      const bucketLabels = state.bucketLabels[i] as Labels;
      out.push({
        name: `${this.name}_bucket`,
        labels: bucketLabels,
        timestamp,
        value: cumulative,
        kind: 'counter',
      });
    });
    out.push({ name: `${this.name}_sum`, labels, timestamp, value: state.sum, kind: 'counter' });
    out.push({ name: `${this.name}_count`, labels, timestamp, value: state.count, kind: 'counter' });
  }
}
