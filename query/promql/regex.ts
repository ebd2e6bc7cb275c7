/**
 * RE2 patterns (Prometheus' regexps) as JavaScript RegExps, fully anchored as Prometheus anchors
 * them, with `.` matching newlines (Prometheus 3). Covers the RE2 syntax JavaScript lacks and
 * queries use: leading flag groups (`(?i)`, `(?s)`), POSIX classes, `\z` and `\A`.
 */
const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const cache = new Map<string, RegExp>();

/** Compiles a Prometheus regexp; throws a SyntaxError saying what is wrong. */
export function compileRegex(pattern: string): RegExp {
  const cached = cache.get(pattern);
  if (cached) return cached;
  let source = pattern;
  let flags = 's';
  const leading = /^\(\?([imsU]+)\)/.exec(source);
  if (leading) {
    if ((leading[1] as string).includes('i')) flags += 'i';
    if ((leading[1] as string).includes('m')) flags += 'm';
    source = source.slice(leading[0].length);
  }
  source = source
    .replace(/\[:(\^?)([a-z]+):\]/g, (whole, negate: string, name: string) => {
      const cls = POSIX_CLASSES[name];
      if (cls === undefined) return whole;
      return negate ? `^${cls}` : cls;
    })
    .replace(/\\z/g, '$')
    .replace(/\\A/g, '^');
  const regex = new RegExp(`^(?:${source})$`, flags);
  if (cache.size > 1000) cache.clear();
  cache.set(pattern, regex);
  return regex;
}
