// Go's quoted strings: one reader for PromQL, Go templates and Alertmanager matchers.

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

/**
 * Reads a Go-style quoted string at `start` (double or single quotes with Go's escapes,
 * backquotes raw), as PromQL, Go templates and Alertmanager matchers write them; `fail` reports
 * a problem at an offset and does not return.
 */
export function readGoString(
  query: string,
  start: number,
  fail: (message: string, at: number) => never,
): { value: string; end: number } {
  const quote = query[start] as string;
  let i = start + 1;
  let value = '';
  for (;;) {
    if (i >= query.length) fail('unterminated quoted string', start);
    const c = query[i] as string;
    if (c === quote) return { value, end: i + 1 };
    if (quote !== '`' && c === '\n') fail('unterminated quoted string', start);
    if (c !== '\\' || quote === '`') {
      value += c;
      i++;
      continue;
    }
    const e = query[i + 1] ?? '';
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined && (e !== '"' || quote === '"') && (e !== "'" || quote === "'")) {
      value += simple;
      i += 2;
      continue;
    }
    const hexLength = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const hex = query.slice(i + 2, i + 2 + hexLength);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) fail('invalid escape sequence in string', i);
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) fail('escape sequence is an invalid Unicode code point', i);
      value += String.fromCodePoint(code);
      i += 2 + hexLength;
      continue;
    }
    if (/[0-7]/.test(e)) {
      const oct = query.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) fail('invalid escape sequence in string', i);
      value += String.fromCharCode(parseInt(oct, 8));
      i += 4;
      continue;
    }
    fail('unknown escape sequence in string', i);
  }
}
