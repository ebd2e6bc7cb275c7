import { ExpressionError } from './errors.js';

/** One value of an input series: a number, or no sample (`_` or `stale`). */
export type SeriesValue = number | null;

const UNSIGNED = String.raw`(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF]|[nN][aA][nN])`;
const NUMBER = `[+-]?${UNSIGNED}`;
const VALUE = new RegExp(`^${NUMBER}$`);
const EXPANDING = new RegExp(`^(${NUMBER})(?:([+-])(${UNSIGNED}))?x(\\d+)$`);
const BLANKS = /^_(?:x(\d+))?$/;

/**
 * Expands promtool's series notation into one value per step:
 *
 * - `a` is one value; `_` is a missing sample; `stale` a staleness marker (also no sample here:
 *   range functions skip staleness markers);
 * - `a+bxn` is a, a+b, …, a+n·b (n + 1 values), `a-bxn` the same going down, `axn` a repeated
 *   n + 1 times;
 * - `_xn` is n missing samples.
 *
 * `'1+2x3 _ stale 5x2 -1-1x3'` → 1 3 5 7 _ _ 5 5 5 -1 -2 -3 -4. Throws an ExpressionError at the
 * offending item.
 */
export function expandSeriesValues(text: string): SeriesValue[] {
  const out: SeriesValue[] = [];
  const item = /\S+/g;
  for (let match = item.exec(text); match; match = item.exec(text)) {
    const token = match[0];
    const blanks = BLANKS.exec(token);
    if (blanks) {
      const n = blanks[1] === undefined ? 1 : Number(blanks[1]);
      for (let i = 0; i < n; i++) out.push(null);
      continue;
    }
    if (token === 'stale') {
      out.push(null);
      continue;
    }
    if (VALUE.test(token)) {
      out.push(parseValue(token));
      continue;
    }
    const expanding = EXPANDING.exec(token);
    if (!expanding) {
      const reason = token.startsWith('{{')
        ? 'native histogram samples are not supported'
        : `invalid series value ${JSON.stringify(token)} (expected a number, a+bxn, a-bxn, axn, _, _xn or stale)`;
      throw new ExpressionError(reason, match.index);
    }
    let value = parseValue(expanding[1] as string);
    const step = expanding[3] === undefined ? 0 : parseValue(expanding[3]) * (expanding[2] === '-' ? -1 : 1);
    const n = Number(expanding[4]);
    // Repeated addition, as promtool computes it (so float rounding is the same).
    for (let i = 0; i <= n; i++) {
      out.push(value);
      value += step;
    }
  }
  return out;
}

function parseValue(text: string): number {
  const lower = text.toLowerCase().replace(/^\+/, '');
  if (lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan' || lower === '-nan') return NaN;
  return Number(text);
}
