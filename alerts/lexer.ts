import { parseDuration } from './duration.js';
import { ExpressionError } from './errors.js';

// The tokens of PromQL expressions, and the quoted strings that templates share with them.

export type TokenKind = 'ident' | 'string' | 'number' | 'duration' | 'op' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  text: string;
  /** 0-based offset in the expression. */
  pos: number;
  /** The decoded text of a string, the value of a number or the ms of a duration. */
  value?: string | number;
}

const DURATION_TOKEN = /^(?:\d+(?:ms|[smhdwy]))+(?![a-zA-Z0-9_])/;
const NUMBER_TOKEN = /^(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![a-zA-Z0-9_])/;
const IDENT_TOKEN = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const OPERATORS = ['!=', '=~', '!~', '==', '>=', '<=', '=', '>', '<', '+', '-', '*', '/', '%', '^'];
const PUNCTUATION = '{}()[],@';

/** Splits an expression into tokens, durations (`5m`) apart from numbers; throws at a bad character. */
export function lex(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    const c = text[at] as string;
    if (/\s/.test(c)) {
      at++;
      continue;
    }
    if (c === '#') {
      while (at < text.length && text[at] !== '\n') at++;
      continue;
    }
    const rest = text.slice(at);
    const duration = DURATION_TOKEN.exec(rest);
    if (duration) {
      let ms: number;
      try {
        ms = parseDuration(duration[0]);
      } catch (error) {
        throw new ExpressionError((error as Error).message, at);
      }
      tokens.push({ kind: 'duration', text: duration[0], pos: at, value: ms });
      at += duration[0].length;
      continue;
    }
    const number = NUMBER_TOKEN.exec(rest);
    if (number) {
      tokens.push({ kind: 'number', text: number[0], pos: at, value: Number(number[0]) });
      at += number[0].length;
      continue;
    }
    const ident = IDENT_TOKEN.exec(rest);
    if (ident) {
      const word = ident[0];
      if (/^(inf|nan)$/i.test(word))
        tokens.push({ kind: 'number', text: word, pos: at, value: /^inf$/i.test(word) ? Infinity : NaN });
      else tokens.push({ kind: 'ident', text: word, pos: at });
      at += word.length;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const end = lexString(text, at);
      tokens.push({ kind: 'string', text: text.slice(at, end.next), pos: at, value: end.value });
      at = end.next;
      continue;
    }
    const op = OPERATORS.find((o) => rest.startsWith(o));
    if (op) {
      tokens.push({ kind: 'op', text: op, pos: at });
      at += op.length;
      continue;
    }
    if (PUNCTUATION.includes(c)) {
      tokens.push({ kind: 'punct', text: c, pos: at });
      at++;
      continue;
    }
    if (/\d/.test(c))
      throw new ExpressionError(`invalid number or duration ${JSON.stringify(/^\w+/.exec(rest)?.[0])}`, at);
    throw new ExpressionError(`unexpected character ${JSON.stringify(c)}`, at);
  }
  tokens.push({ kind: 'eof', text: '', pos: text.length });
  return tokens;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

/** A quoted string with Go's escapes (backquoted: raw); returns its value and the offset after it. */
export function lexString(text: string, start: number): { value: string; next: number } {
  const quote = text[start] as string;
  let at = start + 1;
  let value = '';
  while (at < text.length) {
    const c = text[at] as string;
    if (c === quote) return { value, next: at + 1 };
    if (c === '\n' && quote !== '`') break;
    if (c !== '\\' || quote === '`') {
      value += c;
      at++;
      continue;
    }
    const e = text[at + 1] ?? '';
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined && (e !== "'" || quote === "'") && (e !== '"' || quote === '"')) {
      value += simple;
      at += 2;
      continue;
    }
    const hex = { x: 2, u: 4, U: 8 }[e];
    const digits = hex ? text.slice(at + 2, at + 2 + hex) : text.slice(at + 1, at + 4);
    const valid = hex ? new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits) : /^[0-7]{3}$/.test(digits);
    if (!valid) throw new ExpressionError(`invalid escape sequence \\${e}`, at);
    value += String.fromCodePoint(parseInt(digits, hex ? 16 : 8));
    at += hex ? 2 + hex : 4;
  }
  throw new ExpressionError('unterminated string', start);
}
