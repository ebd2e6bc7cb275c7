import { formatG } from './humanize.js';
import { readGoString } from '../core/goString.js';

/**
 * The one Go text/template engine of the project, for rule labels and annotations
 * (alerts/template.ts) and notification texts (notifier/template.ts): text with
 * `{{ pipeline }}` actions, `{{-`/`-}}` trimming, `{{/* comments *\/}}` and
 * `{{ template "name" . }}`. A pipeline is an operand (a field or variable, a string or a
 * number) or a function call, followed by `| function args…` stages. Which fields, variables,
 * functions and named templates exist is the dialect's; everything is checked when parsing.
 *
 * ```ts
 * const t = parseGoTemplate('{{ .Name | toUpper }}', dialect);
 * renderGoTemplate(t, data); // "WEB-1"
 * ```
 */
export type TemplateValue = string | number | Readonly<Record<string, string>> | readonly unknown[];

/** What a value is, as far as parsing can tell; `any` is checked when rendering. */
export type ValueKind = 'string' | 'number' | 'map' | 'list' | 'any';

export class TemplateSyntaxError extends Error {
  constructor(
    message: string,
    /** Offset in the template's source. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'TemplateSyntaxError';
  }
}

export interface TemplateFunction {
  /** Arguments, the piped value included; -1: one or more. */
  arity: number;
  /** The kinds its last argument (the piped value) may have; absent: any, checked by `call`. */
  accepts?: readonly ValueKind[];
  returns: ValueKind;
  /** Throws an Error naming the problem when an argument does not fit. */
  call(args: TemplateValue[]): TemplateValue;
}

export interface TemplateField<D> {
  kind: ValueKind;
  get(data: D): TemplateValue;
}

export interface TemplateDialect<D> {
  /** A field (`.A.b`) or variable (`$a.b`) as written, or the message saying why it does not exist. */
  resolve(word: string): TemplateField<D> | string;
  functions: Readonly<Record<string, TemplateFunction>>;
  /** The texts `{{ template "name" . }}` may name. */
  templates?: Readonly<Record<string, (data: D) => string>>;
  /** Kinds an action may not print (e.g. a list), with what to do instead. */
  unprintable?: Partial<Record<ValueKind, string>>;
}

export interface GoTemplate<D> {
  source: string;
  parts: Array<Part<D>>;
}

type Command<D> =
  { kind: 'operand'; operand: Operand<D> } | { kind: 'call'; fn: TemplateFunction; args: Array<Operand<D>> };
type Operand<D> = { kind: 'field'; field: TemplateField<D> } | { kind: 'literal'; value: string | number };
type Part<D> =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Array<Command<D>> }
  | { kind: 'template'; render: (data: D) => string };

interface Token {
  text: string;
  pos: number;
  kind: 'word' | 'string' | 'number' | 'pipe';
  value?: string | number;
}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'block', 'break', 'continue']);

/** Parses a template; throws a TemplateSyntaxError at the offending offset. */
export function parseGoTemplate<D>(source: string, dialect: TemplateDialect<D>): GoTemplate<D> {
  const parts: Array<Part<D>> = [];
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
    const part = parseAction(tokens, open, dialect);
    if (part) parts.push(part);
  }
  return { source, parts };
}

/** Renders a parsed template; a function that fails throws its Error. */
export function renderGoTemplate<D>(template: GoTemplate<D>, data: D): string {
  let out = '';
  for (const part of template.parts) {
    if (part.kind === 'text') out += part.text;
    else if (part.kind === 'template') out += part.render(data);
    else out += printGo(runPipeline(part.pipeline, data));
  }
  return out;
}

/** A value as Go's text/template prints it. */
export function printGo(value: TemplateValue): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return formatG(value);
  if (Array.isArray(value)) return `[${value.map((v) => printGo(v as TemplateValue)).join(' ')}]`;
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `map[${entries.map(([k, v]) => `${k}:${v}`).join(' ')}]`;
}

/** The text functions every dialect has. */
export const TEXT_FUNCTIONS = {
  toUpper: textFunction('toUpper', (s) => s.toUpperCase()),
  toLower: textFunction('toLower', (s) => s.toLowerCase()),
  title: textFunction('title', (s) =>
    s.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_, b: string, c: string) => b + c.toUpperCase()),
  ),
} satisfies Record<string, TemplateFunction>;

function textFunction(name: string, f: (s: string) => string): TemplateFunction {
  return {
    arity: 1,
    accepts: ['string', 'any'],
    returns: 'string',
    call: ([value]) => {
      if (typeof value !== 'string')
        throw new Error(`${name}: expected a string, got ${printGo(value ?? '')}`);
      return f(value);
    },
  };
}

function lexAction(
  source: string,
  start: number,
  open: number,
): { tokens: Token[]; end: number; trim: boolean } {
  const tokens: Token[] = [];
  let at = start;
  for (;;) {
    while (at < source.length && /\s/.test(source[at] as string)) at++;
    if (at >= source.length) throw new TemplateSyntaxError('unclosed action: missing "}}"', open);
    if (source.startsWith('}}', at)) return { tokens, end: at + 2, trim: false };
    if (source.startsWith('-}}', at) && /\s/.test(source[at - 1] as string))
      return { tokens, end: at + 3, trim: true };
    if (source.startsWith('/*', at)) {
      const close = source.indexOf('*/', at + 2);
      if (close < 0) throw new TemplateSyntaxError('unclosed comment', at);
      at = close + 2;
      continue;
    }
    const c = source[at] as string;
    if (c === '"' || c === '`') {
      const lexed = readGoString(source, at, (message, where) => {
        throw new TemplateSyntaxError(message, where);
      });
      tokens.push({ text: source.slice(at, lexed.end), pos: at, kind: 'string', value: lexed.value });
      at = lexed.end;
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
      throw new TemplateSyntaxError(`${what} not supported in templates`, at);
    }
    tokens.push({ text: word[0], pos: at, kind: 'word' });
    at += word[0].length;
  }
}

function parseAction<D>(tokens: Token[], open: number, dialect: TemplateDialect<D>): Part<D> | undefined {
  if (tokens.length === 0) return undefined;
  const head = tokens[0] as Token;
  if (head.kind === 'word' && head.text === 'template') return parseTemplateCall(tokens, dialect);
  const stages: Token[][] = [[]];
  for (const token of tokens) {
    if (token.kind === 'pipe') stages.push([]);
    else (stages[stages.length - 1] as Token[]).push(token);
  }
  let kind: ValueKind = 'any';
  const pipeline = stages.map((stage, i): Command<D> => {
    const first = stage[0];
    if (first === undefined) throw new TemplateSyntaxError('missing command in pipeline', open);
    if (first.kind === 'word' && KEYWORDS.has(first.text)) {
      throw new TemplateSyntaxError(`the template action "${first.text}" is not supported`, first.pos);
    }
    const isFunction = first.kind === 'word' && !first.text.startsWith('$') && !first.text.startsWith('.');
    if (!isFunction) {
      if (i > 0) throw new TemplateSyntaxError(`expected a function after "|", got ${first.text}`, first.pos);
      const next = stage[1];
      if (next) throw new TemplateSyntaxError(`unexpected ${next.text}`, next.pos);
      const op = operand(first, dialect);
      kind = operandKind(op);
      return { kind: 'operand', operand: op };
    }
    const fn = dialect.functions[first.text];
    if (fn === undefined) {
      throw new TemplateSyntaxError(
        `function "${first.text}" is not supported (supported: ${Object.keys(dialect.functions).join(', ')})`,
        first.pos,
      );
    }
    const args = stage.slice(1).map((t) => operand(t, dialect));
    const given = args.length + (i > 0 ? 1 : 0);
    if ((fn.arity >= 0 && given !== fn.arity) || (fn.arity < 0 && given < 1)) {
      throw new TemplateSyntaxError(
        `${first.text} takes ${fn.arity < 0 ? 'a format and values' : `${fn.arity} argument`}, got ${given}`,
        first.pos,
      );
    }
    const last = i > 0 ? kind : args.length > 0 ? operandKind(args[args.length - 1] as Operand<D>) : 'any';
    if (fn.accepts && last !== 'any' && !fn.accepts.includes(last)) {
      const wanted = fn.accepts.filter((k) => k !== 'any').join(' or ');
      throw new TemplateSyntaxError(`${first.text} takes ${wanted}, not a ${last}`, first.pos);
    }
    kind = fn.returns;
    return { kind: 'call', fn, args };
  });
  const refusal = dialect.unprintable?.[kind];
  if (refusal !== undefined)
    throw new TemplateSyntaxError(`a ${kind} cannot be printed; ${refusal}`, head.pos);
  return { kind: 'action', pipeline };
}

/** `{{ template "name" . }}`: only the dialect's named texts, given the whole data. */
function parseTemplateCall<D>(tokens: Token[], dialect: TemplateDialect<D>): Part<D> {
  const [head, name, dot] = tokens as [Token, Token | undefined, Token | undefined];
  const names = Object.keys(dialect.templates ?? {});
  const render = name?.kind === 'string' ? dialect.templates?.[name.value as string] : undefined;
  if (render === undefined || dot?.text !== '.' || tokens.length !== 3) {
    const known = names.map((n) => `{{ template ${JSON.stringify(n)} . }}`).join(' and ');
    throw new TemplateSyntaxError(
      names.length > 0 ? `only ${known} exist` : 'the template action "template" is not supported',
      head.pos,
    );
  }
  return { kind: 'template', render };
}

function operand<D>(token: Token, dialect: TemplateDialect<D>): Operand<D> {
  if (token.kind === 'string' || token.kind === 'number')
    return { kind: 'literal', value: token.value as string | number };
  const field = dialect.resolve(token.text);
  if (typeof field === 'string') throw new TemplateSyntaxError(field, token.pos);
  return { kind: 'field', field };
}

function operandKind<D>(op: Operand<D>): ValueKind {
  if (op.kind === 'field') return op.field.kind;
  return typeof op.value === 'string' ? 'string' : 'number';
}

function runPipeline<D>(pipeline: Array<Command<D>>, data: D): TemplateValue {
  let piped: TemplateValue | undefined;
  for (const command of pipeline) {
    if (command.kind === 'operand') {
      piped = resolveOperand(command.operand, data);
      continue;
    }
    const args = command.args.map((a) => resolveOperand(a, data));
    if (piped !== undefined) args.push(piped);
    piped = command.fn.call(args);
  }
  return piped as TemplateValue;
}

function resolveOperand<D>(op: Operand<D>, data: D): TemplateValue {
  return op.kind === 'literal' ? op.value : op.field.get(data);
}
