import { ExpressionError } from './errors.js';
import {
  parseGoTemplate,
  printGo,
  renderGoTemplate,
  TemplateSyntaxError,
  TEXT_FUNCTIONS,
  type GoTemplate,
  type TemplateDialect,
  type TemplateFunction,
  type TemplateValue,
} from './goTemplate.js';
import {
  formatE,
  formatF,
  formatG,
  humanize,
  humanize1024,
  humanizeDuration,
  humanizePercentage,
} from './humanize.js';

/**
 * The Go-template dialect of rule labels and annotations (alerts/README.md lists it), on the
 * project's one template engine (alerts/goTemplate.ts): `$labels.x`, `$labels`, `$value`,
 * `.Labels.x`, `.Labels`, `.Value`, strings and numbers; functions humanize, humanize1024,
 * humanizePercentage, humanizeDuration, toUpper, toLower, title, printf.
 */
export type Template = GoTemplate<TemplateData>;

/** What a template sees: the alert's expression labels and its value. */
export interface TemplateData {
  labels: Record<string, string>;
  value: number;
}

const numeric = (name: string, f: (v: number) => string): TemplateFunction => ({
  arity: 1,
  returns: 'string',
  call: ([v]) => f(toNumber(name, v)),
});

const FUNCTIONS = {
  humanize: numeric('humanize', humanize),
  humanize1024: numeric('humanize1024', humanize1024),
  humanizePercentage: numeric('humanizePercentage', humanizePercentage),
  humanizeDuration: numeric('humanizeDuration', humanizeDuration),
  ...TEXT_FUNCTIONS,
  printf: {
    arity: -1,
    returns: 'string',
    call: (a) => {
      if (typeof a[0] !== 'string') throw new Error(`printf: expected a string, got ${printGo(a[0] ?? '')}`);
      return printf(a[0], a.slice(1));
    },
  },
} satisfies Record<string, TemplateFunction>;

// Prometheus' template data: values are checked when rendering, as Go's are, so every field is `any`.
const DIALECT: TemplateDialect<TemplateData> = {
  functions: FUNCTIONS,
  resolve(word) {
    const path = word.startsWith('$') ? word.slice(1).split('.') : ['', ...word.slice(1).split('.')];
    const [root, field, ...rest] = path;
    const labels = root === 'labels' || (root === '' && field === 'Labels');
    const name = root === 'labels' ? field : rest[0];
    const extra = root === 'labels' ? rest : rest.slice(1);
    if (labels && extra.length === 0) {
      if (name === undefined) return { kind: 'any', get: (d) => d.labels };
      // Prometheus runs templates with missingkey=zero: a missing label is empty.
      return { kind: 'any', get: (d) => d.labels[name] ?? '' };
    }
    if ((root === 'value' && field === undefined) || (root === '' && field === 'Value' && rest.length === 0))
      return { kind: 'any', get: (d) => d.value };
    if (
      root === 'externalLabels' ||
      root === 'externalURL' ||
      field === 'ExternalLabels' ||
      field === 'ExternalURL'
    )
      return `${word} is not supported (no external labels)`;
    if (word.startsWith('$')) return `undefined variable ${word} (use $labels.<name> or $value)`;
    return `unknown field ${word} (use .Labels.<name> or .Value)`;
  },
};

/** Parses a template; throws an ExpressionError at the offending offset. */
export function parseTemplate(source: string): Template {
  try {
    return parseGoTemplate(source, DIALECT);
  } catch (error) {
    if (error instanceof TemplateSyntaxError) throw new ExpressionError(error.message, error.offset);
    throw error;
  }
}

/** Renders a parsed template; a failing action renders as `<error expanding template: …>`, as in Prometheus. */
export function renderTemplate(template: Template, data: TemplateData): string {
  try {
    return renderGoTemplate(template, data);
  } catch (error) {
    return `<error expanding template: ${(error as Error).message}>`;
  }
}

type Value = TemplateValue;

function toNumber(fn: string, value: Value | undefined): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^[+-]?(?:inf(?:inity)?|nan)$/i.test(text))
      return /nan/i.test(text) ? NaN : text.startsWith('-') ? -Infinity : Infinity;
    if (text !== '' && Number.isFinite(Number(text))) return Number(text);
  }
  throw new Error(`${fn}: ${JSON.stringify(printGo(value ?? ''))} is not a number`);
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
        `%!${verb}(${typeof arg === 'number' ? 'float64' : typeof arg === 'string' ? 'string' : 'map[string]string'}=${printGo(arg)})`;
      switch (verb) {
        case 'v':
          return printGo(arg);
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
          return `%!${verb}(${printGo(arg)})`;
      }
    },
  );
  return next < args.length ? `${out}%!(EXTRA ${args.slice(next).map(printGo).join(', ')})` : out;
}
