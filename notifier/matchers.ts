import { labelRegExp } from '../core/labelRegExp.js';
import { readGoString } from '../core/goString.js';

/** Alertmanager's label names: letters, digits and `_`, not starting with a digit. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
  /** The anchored regular expression of `=~` and `!~`. */
  re?: RegExp;
}

/** Whether a label value (empty when the label is missing) satisfies the matcher. */
export function matchesValue(m: Matcher, value: string): boolean {
  switch (m.op) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return (m.re as RegExp).test(value);
    case '!~':
      return !(m.re as RegExp).test(value);
  }
}

const HEAD = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*/;

/**
 * Parses Alertmanager matchers: one (`alertname="X"`, `severity=~"crit|page"`, `env!=prod`) or a
 * list in braces (`{alertname="X", env!~"dev|test"}`). Values may be double-quoted (Go escapes)
 * or bare; regular expressions are anchored and may start with `(?i)`. Throws an Error that
 * says what is wrong and where.
 */
export function parseMatchers(text: string): Matcher[] {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return [parseOne(trimmed, text)];
  if (!trimmed.endsWith('}')) throw new Error(`${quote(text)}: missing closing "}"`);
  const out: Matcher[] = [];
  for (const part of splitList(trimmed.slice(1, -1), text)) out.push(parseOne(part, text));
  if (out.length === 0) throw new Error(`${quote(text)}: no matchers in braces`);
  return out;
}

/** One matcher as Alertmanager prints it: `name="value"` (value Go-quoted). */
export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`;
}

/** A list as Alertmanager prints a route's matchers: `{a="b",c=~"d"}`. */
export function formatMatchers(matchers: readonly Matcher[]): string {
  return `{${matchers.map(formatMatcher).join(',')}}`;
}

/** Whether every matcher holds for the labels (a missing label is the empty string). */
export function matchesLabels(
  matchers: readonly Matcher[],
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const m of matchers) if (!matchesValue(m, labels[m.name] ?? '')) return false;
  return true;
}

/** Whether a matcher holds for a label that is missing: such matchers alone would select every alert. */
export function matchesEmpty(m: Matcher): boolean {
  return matchesValue(m, '');
}

/** Alertmanager's order of route matchers: by name, then value, then operator. */
export function compareMatchers(a: Matcher, b: Matcher): number {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.value !== b.value) return a.value < b.value ? -1 : 1;
  return a.op < b.op ? -1 : a.op > b.op ? 1 : 0;
}

function parseOne(part: string, whole: string): Matcher {
  const head = HEAD.exec(part);
  if (!head) {
    throw new Error(
      `${quote(whole)}: expected name, operator (= != =~ !~) and value, as in alertname="HighCPU"`,
    );
  }
  const [, name, op] = head as unknown as [string, string, MatchOp];
  const rest = part.slice(head[0].length).trimEnd();
  let value: string;
  if (rest.startsWith('"')) {
    const lexed = readGoString(rest, 0, (message) => {
      throw new Error(`${quote(whole)}: ${message} in the value of ${name}`);
    });
    if (lexed.end !== rest.length)
      throw new Error(
        `${quote(whole)}: unexpected ${quote(rest.slice(lexed.end))} after the value of ${name}`,
      );
    value = lexed.value;
  } else {
    if (rest.includes('"')) throw new Error(`${quote(whole)}: unbalanced quote in the value of ${name}`);
    value = rest;
  }
  if (op === '=' || op === '!=') return { name, op, value };
  try {
    return { name, op, value, re: labelRegExp(value) };
  } catch (error) {
    throw new Error(`${quote(whole)}: invalid regular expression: ${(error as Error).message}`);
  }
}

/** Splits `a="x,y", b=c` at the commas outside quotes. */
function splitList(body: string, whole: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let inQuote = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inQuote && c === '\\') i++;
    else if (c === '"') inQuote = !inQuote;
    else if (c === ',' && !inQuote) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  if (inQuote) throw new Error(`${quote(whole)}: unterminated string`);
  parts.push(body.slice(start));
  // A trailing comma is allowed, as in Alertmanager.
  return parts.filter((p, i) => p.trim() !== '' || i < parts.length - 1).map((p) => p.trim());
}

function quote(text: string): string {
  return JSON.stringify(text);
}
