import { readFileSync } from 'node:fs';
import {
  instantQuery,
  MemoryQuerier,
  parseExpr,
  rangeQuery,
  type EvalResult,
  type SeriesData,
} from '../../query/promql/index.js';
import { parseDurationMs } from '../../query/promql/lexer.js';

/**
 * Runs Prometheus' PromQL test scripts (promql/promqltest: `load`, `clear`, `eval instant|range`
 * with expected series) against our engine. Native histograms are out of scope: evaluations
 * while such series are loaded, or expecting them, are skipped. Annotations (`expect warn`,
 * `expect info`) are not compared; `expect fail`, `expect ordered`, `expect string` and
 * `expect range vector` are.
 */

const STALE_NAN = new Float64Array(new Uint32Array([0x00000002, 0x7ff00000]).buffer)[0] as number;

export interface ScriptCase {
  file: string;
  line: number;
  query: string;
  outcome: 'pass' | 'fail' | 'skip';
  reason?: string;
}

function durationMs(text: string): number {
  if (/^-?[0-9.]+$/.test(text)) return Number(text) * 1000;
  const ms = parseDurationMs(text.replace(/^-/, ''));
  if (ms === undefined) throw new Error(`bad duration ${text}`);
  return text.startsWith('-') ? -ms : ms;
}

function number(text: string): number {
  const lower = text.toLowerCase();
  if (lower === 'inf' || lower === '+inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const v = Number(text);
  if (Number.isNaN(v)) throw new Error(`bad value ${text}`);
  return v;
}

/** promtool's expanding notation: `1 2+3x2 _ _x3 stale 5x2`; undefined marks a missing point. */
export function expandValues(items: string[]): Array<number | undefined> {
  const out: Array<number | undefined> = [];
  for (const item of items) {
    if (item === '_') out.push(undefined);
    else if (item === 'stale') out.push(STALE_NAN);
    else if (/^_x\d+$/.test(item)) for (let i = 0; i < Number(item.slice(2)); i++) out.push(undefined);
    else {
      const m = /^(.+?)(?:([+-])(.+?))?x(\d+)$/.exec(item);
      if (m && !/^-?(inf|nan)$/i.test(item)) {
        const start = number(m[1] as string);
        const step = m[3] === undefined ? 0 : number(m[3]) * (m[2] === '-' ? -1 : 1);
        for (let i = 0; i <= Number(m[4]); i++) out.push(start + i * step);
      } else out.push(number(item));
    }
  }
  return out;
}

function labelsOf(selector: string): Record<string, string> {
  if (selector.trim() === '{}') return {};
  const expr = parseExpr(selector);
  if (expr.kind !== 'VectorSelector') throw new Error(`not a series: ${selector}`);
  return Object.fromEntries(expr.matchers.map((m) => [m.name, m.value]));
}

/** Splits `metric{a="b c"} 1 2` into the selector and the value items (braces may hold spaces). */
function splitSeriesLine(line: string): [string, string[]] {
  const trimmed = line.trim();
  let end = 0;
  let depth = 0;
  let quote = '';
  for (; end < trimmed.length; end++) {
    const c = trimmed[end] as string;
    if (quote) {
      if (c === '\\') end++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (/\s/.test(c) && depth === 0) break;
  }
  return [trimmed.slice(0, end), trimmed.slice(end).trim().split(/\s+/).filter(Boolean)];
}

const key = (labels: Record<string, string>) =>
  JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );

function almostEqual(a: number, b: number): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true;
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b)) || Math.abs(a - b) < 1e-12;
}

interface Eval {
  line: number;
  query: string;
  range?: { start: number; end: number; step: number };
  at: number;
  fail: boolean;
  ordered: boolean;
  expectedString?: string;
  rangeVector?: { start: number; end: number; step: number };
  expected: Array<{ labels: Record<string, string> | undefined; values: Array<number | undefined> }>;
  skip?: string;
}

/** Compares a result with the expectations; returns why they differ, or undefined. */
function check(e: Eval, result: EvalResult): string | undefined {
  const value = result.value;
  if (e.expectedString !== undefined) {
    return value.type === 'string' && value.value === e.expectedString ? undefined : `expected string`;
  }
  if (value.type === 'scalar') {
    const expected = e.expected[0];
    if (e.expected.length !== 1 || !expected || expected.labels !== undefined)
      return `got scalar ${value.value}`;
    return almostEqual(value.value, expected.values[0] as number)
      ? undefined
      : `scalar ${value.value} vs ${expected.values[0]}`;
  }
  if (value.type === 'string') return 'unexpected string';
  const got = new Map<string, Array<[number, number]>>();
  const order: string[] = [];
  if (value.type === 'vector') {
    for (const s of value.samples) {
      got.set(key(s.metric), [[e.at, s.value]]);
      order.push(key(s.metric));
    }
  } else {
    for (const s of value.series) {
      got.set(
        key(s.metric),
        Array.from(s.timestamps, (t, i) => [t, s.values[i] as number]),
      );
      order.push(key(s.metric));
    }
  }
  const times = (r: { start: number; end: number; step: number }) => {
    const out: number[] = [];
    for (let t = r.start; t <= r.end; t += r.step) out.push(t);
    return out;
  };
  const grid = e.range ? times(e.range) : e.rangeVector ? times(e.rangeVector) : [e.at];
  const expectedKeys: string[] = [];
  for (const x of e.expected) {
    if (!x.labels) return 'expected a scalar';
    const k = key(x.labels);
    expectedKeys.push(k);
    const points = got.get(k);
    if (!points) return `missing ${k}`;
    const wanted: Array<[number, number]> = [];
    x.values.forEach((v, i) => {
      if (v !== undefined) wanted.push([grid[i] as number, v]);
    });
    if (value.type === 'vector' || e.rangeVector === undefined) {
      if (points.length !== wanted.length) return `${k}: ${points.length} points vs ${wanted.length}`;
    }
    for (let i = 0; i < wanted.length; i++) {
      const [t, v] = wanted[i] as [number, number];
      const p = points[i];
      if (!p) return `${k}: missing point at ${t}`;
      if (value.type === 'matrix' && e.range && p[0] !== t) return `${k}: time ${p[0]} vs ${t}`;
      if (!almostEqual(p[1], v)) return `${k} at ${t}: ${p[1]} vs ${v}`;
    }
  }
  for (const k of got.keys()) if (!expectedKeys.includes(k)) return `extra ${k}`;
  if (e.ordered && order.join() !== expectedKeys.join()) return 'order differs';
  return undefined;
}

/** Runs one script file; every evaluation becomes a case. */
export async function runScript(path: string, name: string): Promise<ScriptCase[]> {
  const lines = readFileSync(path, 'utf8').split('\n');
  let series: SeriesData[] = [];
  /** Names of series loaded as native histograms (skipped): evaluations touching them are skipped. */
  let histogramNames = new Set<string>();
  const cases: ScriptCase[] = [];
  let i = 0;
  const block = (): string[] => {
    const out: string[] = [];
    while (i < lines.length && /^\s+\S/.test(lines[i] as string)) {
      const l = (lines[i] as string).trim();
      if (!l.startsWith('#')) out.push(l);
      i++;
    }
    return out;
  };
  while (i < lines.length) {
    const line = (lines[i] as string).trim();
    const lineNo = i + 1;
    i++;
    if (line === '' || line.startsWith('#')) continue;
    if (line === 'clear') {
      series = [];
      histogramNames = new Set();
      continue;
    }
    const load = /^load(_with_nhcb)?\s+(\S+)$/.exec(line);
    if (load) {
      const interval = durationMs(load[2] as string);
      for (const l of block()) {
        const [selector, items] = splitSeriesLine(l);
        const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(selector)?.[0] ?? '';
        if (load[1]) histogramNames.add(name.replace(/_bucket$/, ''));
        if (l.includes('{{')) {
          histogramNames.add(name);
          continue;
        }
        const values = expandValues(items);
        const timestamps: number[] = [];
        const vs: number[] = [];
        values.forEach((v, k) => {
          if (v !== undefined) {
            timestamps.push(k * interval);
            vs.push(v);
          }
        });
        const f64 = new Float64Array(vs.length);
        vs.forEach((v, k) => (f64[k] = v));
        series.push({ labels: labelsOf(selector), timestamps: Float64Array.from(timestamps), values: f64 });
      }
      continue;
    }
    const evalMatch =
      /^eval(_fail|_ordered|_warn|_info)?\s+(?:instant\s+at\s+(\S+)|range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+))\s+(.+)$/.exec(
        line,
      );
    if (!evalMatch) {
      block();
      continue;
    }
    const e: Eval = {
      line: lineNo,
      query: evalMatch[6] as string,
      at: evalMatch[2] !== undefined ? durationMs(evalMatch[2]) : durationMs(evalMatch[3] as string),
      fail: evalMatch[1] === '_fail',
      ordered: evalMatch[1] === '_ordered',
      expected: [],
    };
    if (evalMatch[3] !== undefined) {
      e.range = {
        start: durationMs(evalMatch[3]),
        end: durationMs(evalMatch[4] as string),
        step: durationMs(evalMatch[5] as string),
      };
    }
    for (const l of block()) {
      if (l.startsWith('expect fail')) e.fail = true;
      else if (l.startsWith('expect ordered')) e.ordered = true;
      else if (l.startsWith('expect string'))
        e.expectedString = l.replace(/^expect string\s+/, '').slice(1, -1);
      else if (l.startsWith('expect range vector')) {
        const m = /from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)/.exec(l);
        if (m)
          e.rangeVector = {
            start: durationMs(m[1] as string),
            end: durationMs(m[2] as string),
            step: durationMs(m[3] as string),
          };
      } else if (l.startsWith('expect') || l.startsWith('expected_fail')) continue;
      else if (l.includes('{{')) e.skip = 'native histogram expected';
      else if (/^[-+0-9.]|^(inf|nan)/i.test(l))
        e.expected.push({ labels: undefined, values: expandValues(l.split(/\s+/)) });
      else {
        const [selector, items] = splitSeriesLine(l);
        e.expected.push({ labels: labelsOf(selector), values: expandValues(items) });
      }
    }
    const touchesHistograms = [...histogramNames].some(
      (n) => n === '' || new RegExp(`(^|[^a-zA-Z0-9_:])${n}([^a-zA-Z0-9_:]|$)`).test(e.query),
    );
    if (touchesHistograms || (histogramNames.size > 0 && e.query.includes('__name__'))) {
      e.skip ??= 'native histograms';
    }
    const base = { file: name, line: e.line, query: e.query };
    if (e.skip) {
      cases.push({ ...base, outcome: 'skip', reason: e.skip });
      continue;
    }
    const querier = new MemoryQuerier(series);
    let result: EvalResult | undefined;
    let error: unknown;
    try {
      result = e.range
        ? await rangeQuery(querier, e.query, e.range.start, e.range.end, e.range.step)
        : await instantQuery(querier, e.query, e.at);
    } catch (err) {
      error = err;
    }
    if (e.fail) {
      cases.push({
        ...base,
        outcome: error ? 'pass' : 'fail',
        ...(error ? {} : { reason: 'expected an error' }),
      });
      continue;
    }
    if (error || !result) {
      cases.push({ ...base, outcome: 'fail', reason: `error: ${(error as Error).message}` });
      continue;
    }
    const reason = check(e, result);
    cases.push({ ...base, outcome: reason ? 'fail' : 'pass', ...(reason ? { reason } : {}) });
  }
  return cases;
}
