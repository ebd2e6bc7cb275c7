import { unwrapParens, type Call, type Expr } from './ast.js';
import { PromQLExecutionError } from './errors.js';
import { histogramQuantile } from './histogramQuantile.js';
import { dropMetricName, EMPTY_LABELS, withLabel, type Labels } from './labels.js';
import { compileRegex } from './regex.js';
import type { Sample, Value } from './values.js';

/** Arguments of an instant function, evaluated at `t`. */
export interface FunctionArgs {
  call: Call;
  args: Value[];
  t: number;
  warn(message: string): void;
}

export type InstantFunction = (a: FunctionArgs) => Value;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function vectorArg(a: FunctionArgs, i: number): Sample[] {
  const v = a.args[i];
  return v?.type === 'vector' ? v.samples : [];
}

function scalarArg(a: FunctionArgs, i: number): number {
  const v = a.args[i];
  return v?.type === 'scalar' ? v.value : NaN;
}

function stringArg(a: FunctionArgs, i: number): string {
  const v = a.args[i];
  return v?.type === 'string' ? v.value : '';
}

const vector = (samples: Sample[]): Value => ({ type: 'vector', samples });

/** Applies `f` to every value; the result has no metric name (it is no longer that metric). */
function mapValues(f: (v: number) => number): InstantFunction {
  return (a) =>
    vector(vectorArg(a, 0).map((s) => ({ metric: dropMetricName(s.metric), value: f(s.value), t: a.t })));
}

/** Go's int64(f) on amd64: truncation, and the "integer indefinite" minimum when out of range or NaN. */
function goInt64(f: number): bigint {
  if (Number.isNaN(f) || Math.abs(f) >= 2 ** 63) return -(2n ** 63n);
  return BigInt(Math.trunc(f));
}

const MAX_DATE_SECONDS = 8_640_000_000_000n;
const floorMod = (a: bigint, m: bigint) => ((a % m) + m) % m;
const floorDiv = (a: bigint, m: bigint) => (a - floorMod(a, m)) / m;

/**
 * Date functions: of the sample values as Unix seconds, or of the evaluation time without
 * argument. `modular` computes the field from the seconds alone, so it also covers instants
 * beyond JavaScript's Date range, as Go's time does; other fields are NaN there.
 */
function dateFunction(f: (d: Date) => number, modular?: (seconds: bigint) => bigint): InstantFunction {
  return (a) => {
    const of = (value: number) => {
      const seconds = goInt64(value);
      if (modular) return Number(modular(seconds));
      if (seconds > MAX_DATE_SECONDS || seconds < -MAX_DATE_SECONDS) return NaN;
      return f(new Date(Number(seconds) * 1000));
    };
    if (a.args.length === 0) return vector([{ metric: EMPTY_LABELS, value: of(a.t / 1000), t: a.t }]);
    return vector(
      vectorArg(a, 0).map((s) => ({ metric: dropMetricName(s.metric), value: of(s.value), t: a.t })),
    );
  };
}

function clamp(a: FunctionArgs, min: number, max: number): Value {
  if (max < min) return vector([]);
  return vector(
    vectorArg(a, 0).map((s) => ({
      metric: dropMetricName(s.metric),
      value: Math.max(min, Math.min(max, s.value)),
      t: a.t,
    })),
  );
}

/** Expands `$1`, `${1}`, `$name`, `${name}` and `$$` in a replacement, as Go's Regexp.Expand does. */
function expandTemplate(template: string, match: RegExpExecArray): string {
  return template.replace(
    /\$(\$|\{([a-zA-Z0-9_]+)\}|([a-zA-Z0-9_]+))/g,
    (_, whole: string, braced?: string, bare?: string) => {
      if (whole === '$') return '$';
      const name = (braced ?? bare) as string;
      if (/^[0-9]+$/.test(name)) return match[Number(name)] ?? '';
      return match.groups?.[name] ?? '';
    },
  );
}

/** RE2 named groups `(?P<name>…)` as JavaScript writes them. */
function jsGroups(pattern: string): string {
  return pattern.replace(/\(\?P</g, '(?<');
}

const labelReplace: InstantFunction = (a) => {
  const dst = stringArg(a, 1);
  const replacement = stringArg(a, 2);
  const src = stringArg(a, 3);
  const pattern = stringArg(a, 4);
  let regex: RegExp;
  try {
    regex = compileRegex(jsGroups(pattern));
  } catch (error) {
    throw new PromQLExecutionError(
      `invalid regular expression in label_replace(): ${pattern}: ${(error as Error).message}`,
    );
  }
  if (!LABEL_NAME.test(dst))
    throw new PromQLExecutionError(`invalid destination label name in label_replace(): ${dst}`);
  return vector(
    vectorArg(a, 0).map((s) => {
      const match = regex.exec(s.metric[src] ?? '');
      if (!match) return s;
      return { ...s, metric: withLabel(s.metric, dst, expandTemplate(replacement, match)) };
    }),
  );
};

const labelJoin: InstantFunction = (a) => {
  const dst = stringArg(a, 1);
  const separator = stringArg(a, 2);
  const sources = a.args.slice(3).map((_, i) => stringArg(a, i + 3));
  if (!LABEL_NAME.test(dst))
    throw new PromQLExecutionError(`invalid destination label name in label_join(): ${dst}`);
  for (const src of sources) {
    if (!LABEL_NAME.test(src))
      throw new PromQLExecutionError(`invalid source label name in label_join(): ${src}`);
  }
  return vector(
    vectorArg(a, 0).map((s) => ({
      ...s,
      metric: withLabel(s.metric, dst, sources.map((src) => s.metric[src] ?? '').join(separator)),
    })),
  );
};

/** Ascending with NaN last (`sort`), or descending with NaN last (`sort_desc`). */
function sortBy(descending: boolean): InstantFunction {
  return (a) =>
    vector(
      [...vectorArg(a, 0)].sort((x, y) => {
        if (Number.isNaN(x.value)) return Number.isNaN(y.value) ? 0 : 1;
        if (Number.isNaN(y.value)) return -1;
        return descending ? y.value - x.value : x.value - y.value;
      }),
    );
}

/** The labels `absent()` reports: those of the selector's equality matchers, once each. */
export function absentLabels(arg: Expr): Labels {
  const selector =
    arg.kind === 'VectorSelector' ? arg : arg.kind === 'MatrixSelector' ? arg.selector : undefined;
  if (!selector) return EMPTY_LABELS;
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const m of selector.matchers) {
    if (m.name === '__name__') continue;
    if (m.type === '=' && !seen.has(m.name)) {
      seen.add(m.name);
      if (m.value !== '') out[m.name] = m.value;
    } else {
      delete out[m.name];
    }
  }
  return Object.freeze(out);
}

function sgn(v: number): number {
  if (v > 0) return 1;
  if (v < 0) return -1;
  return v === 0 ? 0 : NaN;
}

/** Instant-vector and scalar functions by name (range functions are in rangeFunctions.ts). */
export const INSTANT_FUNCTIONS: ReadonlyMap<string, InstantFunction> = new Map<string, InstantFunction>([
  ['abs', mapValues(Math.abs)],
  ['ceil', mapValues(Math.ceil)],
  ['floor', mapValues(Math.floor)],
  ['exp', mapValues(Math.exp)],
  ['ln', mapValues(Math.log)],
  ['log2', mapValues(Math.log2)],
  ['log10', mapValues(Math.log10)],
  ['sqrt', mapValues(Math.sqrt)],
  ['sgn', mapValues(sgn)],
  ['sin', mapValues(Math.sin)],
  ['cos', mapValues(Math.cos)],
  ['tan', mapValues(Math.tan)],
  ['asin', mapValues(Math.asin)],
  ['acos', mapValues(Math.acos)],
  ['atan', mapValues(Math.atan)],
  ['sinh', mapValues(Math.sinh)],
  ['cosh', mapValues(Math.cosh)],
  ['tanh', mapValues(Math.tanh)],
  ['asinh', mapValues(Math.asinh)],
  ['acosh', mapValues(Math.acosh)],
  ['atanh', mapValues(Math.atanh)],
  ['deg', mapValues((v) => (v * 180) / Math.PI)],
  ['rad', mapValues((v) => (v * Math.PI) / 180)],
  [
    'minute',
    dateFunction(
      (d) => d.getUTCMinutes(),
      (s) => floorMod(s, 3600n) / 60n,
    ),
  ],
  [
    'hour',
    dateFunction(
      (d) => d.getUTCHours(),
      (s) => floorMod(s, 86_400n) / 3600n,
    ),
  ],
  // 1970-01-01 was a Thursday (4).
  [
    'day_of_week',
    dateFunction(
      (d) => d.getUTCDay(),
      (s) => floorMod(floorDiv(s, 86_400n) + 4n, 7n),
    ),
  ],
  ['day_of_month', dateFunction((d) => d.getUTCDate())],
  [
    'day_of_year',
    dateFunction((d) => Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1),
  ],
  [
    'days_in_month',
    dateFunction((d) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate()),
  ],
  ['month', dateFunction((d) => d.getUTCMonth() + 1)],
  ['year', dateFunction((d) => d.getUTCFullYear())],
  ['clamp', (a) => clamp(a, scalarArg(a, 1), scalarArg(a, 2))],
  ['clamp_min', (a) => clamp(a, scalarArg(a, 1), Infinity)],
  ['clamp_max', (a) => clamp(a, -Infinity, scalarArg(a, 1))],
  [
    'round',
    (a) => {
      const inverse = 1 / (a.args.length > 1 ? scalarArg(a, 1) : 1);
      return mapValues((v) => Math.floor(v * inverse + 0.5) / inverse)(a);
    },
  ],
  ['label_replace', labelReplace],
  ['label_join', labelJoin],
  ['sort', sortBy(false)],
  ['sort_desc', sortBy(true)],
  [
    'scalar',
    (a) => {
      const samples = vectorArg(a, 0);
      return { type: 'scalar', value: samples.length === 1 ? (samples[0] as Sample).value : NaN };
    },
  ],
  ['vector', (a) => vector([{ metric: EMPTY_LABELS, value: scalarArg(a, 0), t: a.t }])],
  ['time', (a) => ({ type: 'scalar', value: a.t / 1000 })],
  ['pi', () => ({ type: 'scalar', value: Math.PI })],
  [
    'timestamp',
    (a) => {
      // Only a selector's samples keep their own time; anything computed is at the evaluation time.
      const ofSelector = unwrapParens(a.call.args[0] as Expr).kind === 'VectorSelector';
      return vector(
        vectorArg(a, 0).map((s) => ({
          metric: dropMetricName(s.metric),
          value: (ofSelector ? s.t : a.t) / 1000,
          t: a.t,
        })),
      );
    },
  ],
  [
    'absent',
    (a) =>
      vector(
        vectorArg(a, 0).length > 0
          ? []
          : [{ metric: absentLabels(a.call.args[0] as Expr), value: 1, t: a.t }],
      ),
  ],
  [
    'histogram_quantile',
    (a) => {
      const q = scalarArg(a, 0);
      if (Number.isNaN(q) || q < 0 || q > 1)
        a.warn(`PromQL warning: quantile value should be between 0 and 1, got ${q}`);
      return vector(histogramQuantile(q, vectorArg(a, 1), a.t));
    },
  ],
]);
