import { messageOf } from '../core/errors.js';
import { runRuleTestFile } from './promtoolTest.js';

/**
 * `metrics-pipeline rules test <file>...`: runs each rule test file and prints the outcome as
 * promtool does (`Unit Testing:  <file>`, then `  SUCCESS` or `  FAILED:` and the failures).
 * Returns the exit code: 0 when every test of every file passed, 1 otherwise (a file that cannot
 * be loaded counts as failed).
 */
export function rulesTestCommand(
  files: readonly string[],
  out: (line: string) => void = console.log,
): number {
  let failed = 0;
  for (const file of files) {
    out(`Unit Testing:  ${file}`);
    let failures: string[];
    try {
      failures = runRuleTestFile(file).groups.flatMap((g) => g.failures);
    } catch (error) {
      failures = [messageOf(error)];
    }
    if (failures.length === 0) {
      out('  SUCCESS\n');
      continue;
    }
    failed++;
    out('  FAILED:');
    for (const failure of failures) out(`${failure}\n`);
    out('');
  }
  return failed === 0 ? 0 : 1;
}
