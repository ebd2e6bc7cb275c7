import { ExpressionError } from './errors.js';

// Go's quoted strings, as templates and Alertmanager matchers write them.

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
