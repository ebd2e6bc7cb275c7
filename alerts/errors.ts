import { ConfigError } from '../core/errors.js';

/** One problem in a rule file or a rule test file, at a 1-based line and column. */
export interface RuleProblem {
  file: string;
  /** 0 when the problem concerns the whole file (e.g. it cannot be read). */
  line: number;
  col: number;
  reason: string;
}

/** `file:line:col: reason`, or `file: reason` for a problem with no position. */
export function formatProblem(problem: RuleProblem): string {
  const at = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.col}` : problem.file;
  return `${at}: ${problem.reason}`;
}

/**
 * Rule files (or rule test files) that cannot be loaded: every problem found in every file,
 * so that one run shows them all and nothing starts half-loaded.
 */
export class RuleError extends ConfigError {
  readonly problems: readonly RuleProblem[];

  constructor(problems: readonly RuleProblem[]) {
    const lines = problems.map(formatProblem);
    super(lines.length === 1 ? (lines[0] as string) : `${lines.length} problems:\n${lines.join('\n')}`, {
      hint: 'fix the rule files; none of them was loaded',
    });
    this.problems = problems;
  }
}

/** An error inside an expression or a template, at a character offset of its text. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    /** 0-based offset into the expression text. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}
