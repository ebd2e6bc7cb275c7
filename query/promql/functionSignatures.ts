import type { ValueType } from './ast.js';

/** A function's argument types; `variadic` as Prometheus: 0 fixed, n > 0 up to n optional last arguments, -1 any number. */
export interface FunctionSignature {
  args: ValueType[];
  variadic: number;
  returns: ValueType;
}

const v = (returns: ValueType, args: ValueType[], variadic = 0): FunctionSignature => ({
  args,
  variadic,
  returns,
});

const MATH = [
  'abs',
  'ceil',
  'floor',
  'exp',
  'ln',
  'log2',
  'log10',
  'sqrt',
  'sgn',
  'sin',
  'cos',
  'tan',
  'asin',
  'acos',
  'atan',
  'sinh',
  'cosh',
  'tanh',
  'asinh',
  'acosh',
  'atanh',
  'deg',
  'rad',
];
const DATE = [
  'minute',
  'hour',
  'day_of_week',
  'day_of_month',
  'day_of_year',
  'days_in_month',
  'month',
  'year',
];
const RANGE = [
  'rate',
  'irate',
  'increase',
  'delta',
  'idelta',
  'deriv',
  'changes',
  'resets',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'sum_over_time',
  'count_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'last_over_time',
  'present_over_time',
  'absent_over_time',
];

/** The functions this engine evaluates, with the signatures of Prometheus' parser/functions.go. */
export const FUNCTIONS: ReadonlyMap<string, FunctionSignature> = new Map<string, FunctionSignature>([
  ...MATH.map((name): [string, FunctionSignature] => [name, v('vector', ['vector'])]),
  ...DATE.map((name): [string, FunctionSignature] => [name, v('vector', ['vector'], 1)]),
  ...RANGE.map((name): [string, FunctionSignature] => [name, v('vector', ['matrix'])]),
  ['quantile_over_time', v('vector', ['scalar', 'matrix'])],
  ['predict_linear', v('vector', ['matrix', 'scalar'])],
  ['histogram_quantile', v('vector', ['scalar', 'vector'])],
  ['clamp', v('vector', ['vector', 'scalar', 'scalar'])],
  ['clamp_min', v('vector', ['vector', 'scalar'])],
  ['clamp_max', v('vector', ['vector', 'scalar'])],
  ['round', v('vector', ['vector', 'scalar'], 1)],
  ['label_replace', v('vector', ['vector', 'string', 'string', 'string', 'string'])],
  ['label_join', v('vector', ['vector', 'string', 'string', 'string'], -1)],
  ['sort', v('vector', ['vector'])],
  ['sort_desc', v('vector', ['vector'])],
  ['scalar', v('scalar', ['vector'])],
  ['vector', v('vector', ['scalar'])],
  ['absent', v('vector', ['vector'])],
  ['time', v('scalar', [])],
  ['pi', v('scalar', [])],
  ['timestamp', v('vector', ['vector'])],
]);
