import { compileRegex } from './promql/regex.js';
import type { LabelMatcher } from './promql/storage.js';
import { badData } from './errors.js';

/** A SQL condition with its ClickHouse query parameters: values never enter the SQL text. */
export interface SqlCondition {
  sql: string;
  params: Record<string, unknown>;
}

/**
 * Label matchers as a condition on the `series` table's `metric` and `labels` columns, for
 * `WHERE`. `__name__` is the metric column; any other label is `labels[name]`, which is '' for
 * a label the series lacks, as Prometheus treats a missing label. Regular expressions are
 * anchored at both ends with `.` matching newlines, as Prometheus compiles them
 * (`^(?s:…)$`); ClickHouse's `match` is RE2, the engine of Go's regexp. `prefix` keeps
 * parameter names apart when several conditions go into one statement.
 */
export function matchersCondition(matchers: readonly LabelMatcher[], prefix = 'm'): SqlCondition {
  const parts: string[] = [];
  const params: Record<string, unknown> = {};
  matchers.forEach((m, i) => {
    const value = `${prefix}${i}v`;
    let column = 'metric';
    if (m.name !== '__name__') {
      const name = `${prefix}${i}n`;
      params[name] = m.name;
      column = `labels[{${name}:String}]`;
    }
    switch (m.type) {
      case '=':
        params[value] = m.value;
        parts.push(`${column} = {${value}:String}`);
        break;
      case '!=':
        params[value] = m.value;
        parts.push(`${column} != {${value}:String}`);
        break;
      case '=~':
        params[value] = anchored(m.value);
        parts.push(`match(${column}, {${value}:String})`);
        break;
      case '!~':
        params[value] = anchored(m.value);
        parts.push(`NOT match(${column}, {${value}:String})`);
        break;
    }
  });
  return { sql: parts.length > 0 ? parts.join(' AND ') : '1', params };
}

/** Prometheus' anchoring of a matcher's regular expression. */
export function anchored(pattern: string): string {
  return `^(?s:${pattern})$`;
}

/**
 * Refuses a selector that would select every series, as Prometheus does: at least one matcher
 * must not match the empty string.
 */
export function requireNonEmptyMatcher(matchers: readonly LabelMatcher[]): void {
  if (matchers.some((m) => !matchesEmpty(m))) return;
  throw badData('vector selector must contain at least one non-empty matcher');
}

function matchesEmpty(m: LabelMatcher): boolean {
  switch (m.type) {
    case '=':
      return m.value === '';
    case '!=':
      return m.value !== '';
    case '=~':
    case '!~': {
      let matches: boolean;
      try {
        matches = compileRegex(m.value).test('');
      } catch {
        throw badData(`invalid regular expression in matcher ${m.name}${m.type}${JSON.stringify(m.value)}`);
      }
      return m.type === '=~' ? matches : !matches;
    }
  }
}
