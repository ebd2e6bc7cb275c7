import type { AggregateExpr } from './ast.js';
import { PromQLExecutionError } from './errors.js';
import { formatFloatPlain } from './floats.js';
import { kahanMean, kahanSumInc, kahanVariance, quantile } from './kahan.js';
import { groupingLabels, groupingSpec, withLabel, type Labels } from './labels.js';
import type { Sample } from './values.js';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Group {
  metric: Labels;
  samples: Sample[];
}

function groupSamples(samples: readonly Sample[], without: boolean, names: readonly string[]): Group[] {
  const groups = new Map<string, Group>();
  const spec = groupingSpec(without, names);
  for (const s of samples) {
    const { key, labels } = groupingLabels(s.metric, without, names, spec);
    const group = groups.get(key);
    if (group) group.samples.push(s);
    else groups.set(key, { metric: labels, samples: [s] });
  }
  return [...groups.values()];
}

/** `topk`/`bottomk` order: NaN always loses. */
function better(a: number, b: number, top: boolean): boolean {
  if (Number.isNaN(b)) return !Number.isNaN(a);
  if (Number.isNaN(a)) return false;
  return top ? a > b : a < b;
}

/** Evaluates an aggregation over one instant vector; `param` is the evaluated parameter, if any. */
export function aggregate(
  node: AggregateExpr,
  samples: readonly Sample[],
  param: number | string | undefined,
  t: number,
): Sample[] {
  const { op, without, grouping } = node;
  if (op === 'count_values') {
    const label = String(param);
    if (!LABEL_NAME.test(label)) throw new PromQLExecutionError(`invalid label name "${label}"`);
    const relabelled = samples.map((s) => ({
      ...s,
      metric: withLabel(s.metric, label, formatFloatPlain(s.value)),
    }));
    const names = without ? grouping.filter((n) => n !== label) : [...grouping, label];
    return groupSamples(relabelled, without, names).map((g) => ({
      metric: g.metric,
      value: g.samples.length,
      t,
    }));
  }
  if (op === 'topk' || op === 'bottomk') {
    const k = Number(param);
    if (Number.isNaN(k)) throw new PromQLExecutionError('Parameter value is NaN');
    if (k < 1) return [];
    const top = op === 'topk';
    const out: Sample[] = [];
    for (const g of groupSamples(samples, without, grouping)) {
      const sorted = [...g.samples].sort((a, b) =>
        better(a.value, b.value, top) ? -1 : better(b.value, a.value, top) ? 1 : 0,
      );
      for (const s of sorted.slice(0, Math.min(Math.trunc(k), sorted.length))) out.push({ ...s, t });
    }
    return out;
  }
  return groupSamples(samples, without, grouping).map((g) => {
    const values = g.samples.map((s) => s.value);
    return { metric: g.metric, value: reduce(op, values, Number(param)), t };
  });
}

function reduce(op: AggregateExpr['op'], values: number[], param: number): number {
  switch (op) {
    case 'sum': {
      let sum = 0;
      let c = 0;
      for (const v of values) [sum, c] = kahanSumInc(v, sum, c);
      return sum + c;
    }
    case 'avg':
      return kahanMean(values);
    case 'count':
      return values.length;
    case 'group':
      return 1;
    case 'min':
    case 'max': {
      let best = values[0] as number;
      for (const v of values) {
        if ((op === 'max' ? v > best : v < best) || Number.isNaN(best)) best = v;
      }
      return best;
    }
    case 'stdvar':
      return kahanVariance(values);
    case 'stddev':
      return Math.sqrt(kahanVariance(values));
    case 'quantile':
      return quantile(param, values);
    default:
      throw new PromQLExecutionError(`unsupported aggregation ${op}`);
  }
}
