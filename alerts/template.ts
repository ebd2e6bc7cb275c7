import { ExpressionError } from './errors.js';
import {
  formatE,
  formatF,
  formatG,
  humanize,
  humanize1024,
  humanizeDuration,
  humanizePercentage,
} from './humanize.js';
import { lexString } from './lexer.js';

/**
 * The Go-template subset of rule labels and annotations (alerts/README.md lists it): text with
 * `{{ pipeline }}` actions, `{{-`/`-}}` trimming and `{{/* comments *\/}}`. A pipeline is an
 * operand (`$labels.x`, `$labels`, `$value`, `.Labels.x`, `.Labels`, `.Value`, a string or a
 * number) or a function call, followed by `| function args…` stages; functions: humanize,
 * humanize1024, humanizePercentage, humanizeDuration, toUpper, toLower, title, printf.
 */
export interface Template {
  source: string;
  parts: Part[];
}

/** What a template sees: the alert's expression labels and its value. */
export interface TemplateData {
  labels: Record<string, string>;
  value: number;
}

type Operand =
  | { kind: 'labels' }
  | { kind: 'label'; name: string }
  | { kind: 'value' }
  | { kind: 'literal'; value: string | number };

type Command = { kind: 'operand'; operand: Operand } | { kind: 'call'; fn: FunctionName; args: Operand[] };

type Part = { kind: 'text'; text: string } | { kind: 'action'; pipeline: Command[] };

type Value = string | number | Record<string, string>;

const FUNCTIONS = {
  humanize: { arity: 1, call: (a: Value[]) => humanize(toNumber('humanize', a[0])) },
  humanize1024: { arity: 1, call: (a: Value[]) => humanize1024(toNumber('humanize1024', a[0])) },
  humanizePercentage: {
    arity: 1,
    call: (a: Value[]) => humanizePercentage(toNumber('humanizePercentage', a[0])),
  },
  humanizeDuration: { arity: 1, call: (a: Value[]) => humanizeDuration(toNumber('humanizeDuration', a[0])) },
  toUpper: { arity: 1, call: (a: Value[]) => toText('toUpper', a[0]).toUpperCase() },
  toLower: { arity: 1, call: (a: Value[]) => toText('toLower', a[0]).toLowerCase() },
  title: {
    arity: 1,
    call: (a: Value[]) =>
      toText('title', a[0]).replace(
        /(^|[^\p{L}\p{N}_'])(\p{L})/gu,
        (_, b: string, c: string) => b + c.toUpperCase(),
      ),
  },
  printf: { arity: -1, call: (a: Value[]) => printf(toText('printf', a[0]), a.slice(1)) },
} satisfies Record<string, { arity: number; call: (args: Value[]) => string }>;
type FunctionName = keyof typeof FUNCTIONS;

const KEYWORDS = new Set([
  'if',
  'else',
  'end',
  'range',
  'with',
  'define',
  'template',
  'block',
  'break',
  'continue',
]);

/** Parses a template; throws an ExpressionError at the offending offset. */
export function parseTemplate(source: string): Template {
  const parts: Part[] = [];
  let at = 0;
  let trimNext = false;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    let text = source.slice(at, open < 0 ? source.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) parts.push({ kind: 'text', text });
      break;
    }
    let start = open + 2;
    if (/^-\s/.test(source.slice(start, start + 2))) {
      text = text.replace(/\s+$/, '');
      start += 2;
    }
    if (text) parts.push({ kind: 'text', text });
    const { tokens, end, trim } = lexAction(source, start, open);
    trimNext = trim;
    at = end;
    const pipeline = parsePipeline(tokens, open);
    if (pipeline.length > 0) parts.push({ kind: 'action', pipeline });
  }
  return { source, parts };
}

/** Renders a parsed template; a failing action renders as `<error expanding template: …>`, as in Prometheus. */
export function renderTemplate(template: Template, data: TemplateData): string {
  let out = '';
  try {
    for (const part of template.parts)
      out += part.kind === 'text' ? part.text : print(runPipeline(part.pipeline, data));
  } catch (error) {
    return `<error expanding template: ${(error as Error).message}>`;
  }
  return out;
}

interface ActionToken {
  text: string;
  pos: number;
  kind: 'word' | 'string' | 'number' | 'pipe';
  value?: string | number;
}

function lexAction(
  source: string,
  start: number,
  open: number,
): { tokens: ActionToken[]; end: number; trim: boolean } {
  const tokens: ActionToken[] = [];
  let at = start;
  for (;;) {
    while (at < source.length && /\s/.test(source[at] as string)) at++;
    if (at >= source.length) throw new ExpressionError('unclosed action: missing "}}"', open);
    if (source.startsWith('}}', at)) return { tokens, end: at + 2, trim: false };
    if (source.startsWith('-}}', at) && /\s/.test(source[at - 1] as string))
      return { tokens, end: at + 3, trim: true };
    if (source.startsWith('/*', at)) {
      const close = source.indexOf('*/', at + 2);
      if (close < 0) throw new ExpressionError('unclosed comment', at);
      at = close + 2;
      continue;
    }
    const c = source[at] as string;
    if (c === '"' || c === '`') {
      const { value, next } = lexString(source, at);
      tokens.push({ text: source.slice(at, next), pos: at, kind: 'string', value });
      at = next;
      continue;
    }
    if (c === '|') {
      tokens.push({ text: '|', pos: at, kind: 'pipe' });
      at++;
      continue;
    }
    const number = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(at));
    if (number) {
      tokens.push({ text: number[0], pos: at, kind: 'number', value: Number(number[0]) });
      at += number[0].length;
      continue;
    }
    const word = /^[$.]?[a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)*/.exec(source.slice(at));
    if (!word || word[0] === '') {
      const what =
        c === '(' || c === ')'
          ? 'parentheses are'
          : c === ':' || c === '='
            ? 'variables are'
            : `${JSON.stringify(c)} is`;
      throw new ExpressionError(`${what} not supported in templates`, at);
    }
    tokens.push({ text: word[0], pos: at, kind: 'word' });
    at += word[0].length;
  }
}

function parsePipeline(tokens: ActionToken[], open: number): Command[] {
  if (tokens.length === 0) return [];
  const stages: ActionToken[][] = [[]];
  for (const token of tokens) {
    if (token.kind === 'pipe') stages.push([]);
    else (stages[stages.length - 1] as ActionToken[]).push(token);
  }
  return stages.map((stage, i) => {
    const head = stage[0];
    if (head === undefined) throw new ExpressionError('missing command in pipeline', open);
    if (head.kind === 'word' && KEYWORDS.has(head.text)) {
      throw new ExpressionError(`the template action "${head.text}" is not supported`, head.pos);
    }
    const isFunction = head.kind === 'word' && !head.text.startsWith('$') && !head.text.startsWith('.');
    if (!isFunction) {
      if (i > 0) throw new ExpressionError(`expected a function after "|", got ${head.text}`, head.pos);
      if (stage.length > 1)
        throw new ExpressionError(
          `unexpected ${(stage[1] as ActionToken).text}`,
          (stage[1] as ActionToken).pos,
        );
      return { kind: 'operand', operand: operand(head) };
    }
    if (!(head.text in FUNCTIONS)) {
      throw new ExpressionError(
        `function "${head.text}" is not supported (supported: ${Object.keys(FUNCTIONS).join(', ')})`,
        head.pos,
      );
    }
    const fn = head.text as FunctionName;
    const args = stage.slice(1).map(operand);
    const given = args.length + (i > 0 ? 1 : 0);
    const arity = FUNCTIONS[fn].arity;
    if ((arity >= 0 && given !== arity) || (arity < 0 && given < 1)) {
      throw new ExpressionError(
        `${fn} takes ${arity < 0 ? 'a format and values' : `${arity} argument`}, got ${given}`,
        head.pos,
      );
    }
    return { kind: 'call', fn, args };
  });
}

function operand(token: ActionToken): Operand {
  if (token.kind === 'string' || token.kind === 'number')
    return { kind: 'literal', value: token.value as string | number };
  const path = token.text.startsWith('$')
    ? token.text.slice(1).split('.')
    : ['', ...token.text.slice(1).split('.')];
  const [root, field, ...rest] = path;
  const labels = root === 'labels' || (root === '' && field === 'Labels');
  const name = root === 'labels' ? field : rest[0];
  const extra = root === 'labels' ? rest : rest.slice(1);
  if (labels && extra.length === 0) return name === undefined ? { kind: 'labels' } : { kind: 'label', name };
  if ((root === 'value' && field === undefined) || (root === '' && field === 'Value' && rest.length === 0)) {
    return { kind: 'value' };
  }
  if (
    root === 'externalLabels' ||
    root === 'externalURL' ||
    field === 'ExternalLabels' ||
    field === 'ExternalURL'
  ) {
    throw new ExpressionError(`${token.text} is not supported (no external labels)`, token.pos);
  }
  if (token.kind === 'word' && token.text.startsWith('$')) {
    throw new ExpressionError(`undefined variable ${token.text} (use $labels.<name> or $value)`, token.pos);
  }
  throw new ExpressionError(`unknown field ${token.text} (use .Labels.<name> or .Value)`, token.pos);
}

function runPipeline(pipeline: Command[], data: TemplateData): Value {
  let piped: Value | undefined;
  for (const command of pipeline) {
    if (command.kind === 'operand') {
      piped = resolve(command.operand, data);
      continue;
    }
    const args = command.args.map((a) => resolve(a, data));
    if (piped !== undefined) args.push(piped);
    piped = FUNCTIONS[command.fn].call(args);
  }
  return piped as Value;
}

function resolve(operand: Operand, data: TemplateData): Value {
  switch (operand.kind) {
    case 'labels':
      return data.labels;
    case 'label':
      // Prometheus runs templates with missingkey=zero: a missing label is empty.
      return data.labels[operand.name] ?? '';
    case 'value':
      return data.value;
    case 'literal':
      return operand.value;
  }
}

/** A value as Go's text/template prints it. */
function print(value: Value): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return formatG(value);
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `map[${entries.map(([k, v]) => `${k}:${v}`).join(' ')}]`;
}

function toNumber(fn: string, value: Value | undefined): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^[+-]?(?:inf(?:inity)?|nan)$/i.test(text))
      return /nan/i.test(text) ? NaN : text.startsWith('-') ? -Infinity : Infinity;
    if (text !== '' && Number.isFinite(Number(text))) return Number(text);
  }
  throw new Error(`${fn}: ${JSON.stringify(print(value ?? ''))} is not a number`);
}

function toText(fn: string, value: Value | undefined): string {
  if (typeof value === 'string') return value;
  throw new Error(`${fn}: expected a string, got ${print(value ?? '')}`);
}

/** Go's fmt verbs %v %s %d %f %e %g %q and %% with an optional precision (`%.2f`). */
function printf(format: string, args: Value[]): string {
  let next = 0;
  const out = format.replace(
    /%(?:\.(\d+))?([a-zA-Z%])/g,
    (_whole, precision: string | undefined, verb: string) => {
      if (verb === '%') return '%';
      if (next >= args.length) return `%!${verb}(MISSING)`;
      const arg = args[next++] as Value;
      const p = precision === undefined ? undefined : Number(precision);
      const bad = () =>
        `%!${verb}(${typeof arg === 'number' ? 'float64' : typeof arg === 'string' ? 'string' : 'map[string]string'}=${print(arg)})`;
      switch (verb) {
        case 'v':
          return print(arg);
        case 's':
          return typeof arg === 'string' ? (p === undefined ? arg : arg.slice(0, p)) : bad();
        case 'q':
          return typeof arg === 'string' ? JSON.stringify(arg) : bad();
        case 'd':
          return typeof arg === 'number' && Number.isInteger(arg) ? String(arg) : bad();
        case 'f':
          return typeof arg === 'number' ? formatF(arg, p) : bad();
        case 'e':
          return typeof arg === 'number' ? formatE(arg, p) : bad();
        case 'g':
          return typeof arg === 'number' ? formatG(arg, p ?? -1) : bad();
        default:
          return `%!${verb}(${print(arg)})`;
      }
    },
  );
  return next < args.length ? `${out}%!(EXTRA ${args.slice(next).map(print).join(', ')})` : out;
}
