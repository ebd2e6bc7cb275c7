import { PromQLParseError } from './errors.js';
import { readGoString } from '../../core/goString.js';

export type TokenType =
  | 'number'
  | 'duration'
  | 'string'
  | 'identifier'
  | 'metricIdentifier'
  | 'op'
  | '('
  | ')'
  | '{'
  | '}'
  | '['
  | ']'
  | ','
  | ':'
  | '@'
  | '='
  | 'eof';

export interface Token {
  type: TokenType;
  /** Source text; for strings the unescaped value. */
  text: string;
  start: number;
  end: number;
}

const OPERATORS = ['==', '!=', '=~', '!~', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '^'];
const SINGLE: Record<string, TokenType> = {
  '(': '(',
  ')': ')',
  '{': '{',
  '}': '}',
  '[': '[',
  ']': ']',
  ',': ',',
  ':': ':',
  '@': '@',
};
const DURATION = /^(?:[0-9]+(?:ms|[smhdwy]))+/;
const NUMBER = /^(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)/;
const IDENTIFIER = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const IDENTIFIER_CHAR = /[a-zA-Z0-9_]/;

/** Splits a PromQL query into tokens; throws a positioned parse error on a bad character or literal. */
export function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (message: string, at: number): never => {
    throw new PromQLParseError(message, query, at);
  };
  while (i < query.length) {
    const c = query[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < query.length && query[i] !== '\n') i++;
      continue;
    }
    const rest = query.slice(i);
    const single = SINGLE[c];
    if (single !== undefined) {
      tokens.push({ type: single, text: c, start: i, end: i + 1 });
      i++;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const { value, end } = readGoString(query, i, fail);
      tokens.push({ type: 'string', text: value, start: i, end });
      i = end;
      continue;
    }
    if (/[0-9.]/.test(c)) {
      const duration = DURATION.exec(rest);
      const number = NUMBER.exec(rest);
      const match = duration ?? number;
      if (!match || (match === number && match[0] === '.')) fail(`unexpected character: '${c}'`, i);
      const text = (match as RegExpExecArray)[0];
      const next = query[i + text.length];
      if (next !== undefined && (IDENTIFIER_CHAR.test(next) || (next === '.' && match === duration))) {
        fail(`bad number or duration syntax: "${rest.slice(0, text.length + 1)}"`, i);
      }
      tokens.push({ type: match === duration ? 'duration' : 'number', text, start: i, end: i + text.length });
      i += text.length;
      continue;
    }
    const identifier = IDENTIFIER.exec(rest);
    if (identifier) {
      const text = identifier[0];
      tokens.push({
        type: text.includes(':') ? 'metricIdentifier' : 'identifier',
        text,
        start: i,
        end: i + text.length,
      });
      i += text.length;
      continue;
    }
    const op = OPERATORS.find((o) => rest.startsWith(o));
    if (op !== undefined) {
      tokens.push({ type: 'op', text: op, start: i, end: i + op.length });
      i += op.length;
      continue;
    }
    if (c === '=') {
      tokens.push({ type: '=', text: c, start: i, end: i + 1 });
      i++;
      continue;
    }
    if (c === '!') fail(`unexpected character after '!': '${query[i + 1] ?? ''}'`, i);
    fail(`unexpected character: '${c}'`, i);
  }
  tokens.push({ type: 'eof', text: '', start: query.length, end: query.length });
  return tokens;
}

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};
const UNIT_ORDER = ['y', 'w', 'd', 'h', 'm', 's', 'ms'];

/** Milliseconds of a duration such as `1h30m`; units must come largest first, each once. Undefined if not. */
export function parseDurationMs(text: string): number | undefined {
  let ms = 0;
  let last = -1;
  for (const [, digits, unit] of text.matchAll(/([0-9]+)(ms|[smhdwy])/g)) {
    const order = UNIT_ORDER.indexOf(unit as string);
    if (order <= last) return undefined;
    last = order;
    ms += Number(digits) * (UNITS[unit as string] as number);
  }
  return last === -1 ? undefined : ms;
}
