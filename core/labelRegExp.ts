/**
 * A label matcher's regular expression as Prometheus and Alertmanager apply it: anchored at
 * both ends, `.` matching newlines, and RE2's leading `(?i)` (common in rules and routes)
 * turned into JavaScript's case-insensitive flag. Throws a SyntaxError for an invalid pattern.
 */
export function labelRegExp(pattern: string): RegExp {
  const insensitive = pattern.startsWith('(?i)');
  return new RegExp(`^(?:${insensitive ? pattern.slice(4) : pattern})$`, insensitive ? 'si' : 's');
}
