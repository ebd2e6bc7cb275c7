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
  source = caseInsensitiveGroups(source)
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

/** Both cases of an ASCII letter as a class body (`aA`), or the character itself. */
function bothCases(c: string): string {
  const lower = c.toLowerCase();
  const upper = c.toUpperCase();
  return lower !== upper && /[a-zA-Z]/.test(c) ? lower + upper : '';
}

/**
 * RE2's scoped flags `(?i:…)` and `(?i)` inside a group, which JavaScript (before modifiers)
 * lacks: letters in scope become `[aA]`, and classes in scope gain the other case.
 */
function caseInsensitiveGroups(pattern: string): string {
  if (!/\(\?i/.test(pattern)) return pattern;
  let out = '';
  // One entry per open group: whether `i` is on inside it.
  const scopes: boolean[] = [false];
  const on = () => scopes[scopes.length - 1] === true;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') {
      out += pattern.slice(i, i + 2);
      i++;
    } else if (pattern.startsWith('(?i:', i)) {
      scopes.push(true);
      out += '(?:';
      i += 3;
    } else if (pattern.startsWith('(?i)', i)) {
      scopes[scopes.length - 1] = true;
      i += 3;
    } else if (c === '(') {
      scopes.push(on());
      out += c;
    } else if (c === ')') {
      if (scopes.length > 1) scopes.pop();
      out += c;
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      const body = end < 0 ? pattern.slice(i + 1) : pattern.slice(i + 1, end);
      let extra = '';
      if (on()) {
        for (const [, a, b] of body.matchAll(/([a-zA-Z])-([a-zA-Z])/g)) {
          extra += `${bothCases(a as string).slice(1) || a}-${bothCases(b as string).slice(1) || b}`;
          extra += `${(a as string).toLowerCase()}-${(b as string).toLowerCase()}`;
        }
        for (const ch of body.replace(/[a-zA-Z]-[a-zA-Z]/g, '')) extra += bothCases(ch);
      }
      out += `[${body}${extra}]`;
      i = end < 0 ? pattern.length : end;
    } else {
      const cases = on() ? bothCases(c) : '';
      out += cases ? `[${cases}]` : c;
    }
  }
  return out;
}
