import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runScript, type ScriptCase } from '../promql/promqlTestScript.js';

const TESTDATA = new URL('../promql/testdata/', import.meta.url).pathname;

/** Functions this engine leaves out (experimental in Prometheus 3, or native-histogram oriented). */
const UNSUPPORTED_FUNCTIONS =
  /\b(sort_by_label(_desc)?|mad_over_time|ts_of_\w+|first_over_time|double_exponential_smoothing|histogram_fraction|histogram_quantiles|min_of|max_of|step|range|start|end)\(/;

/**
 * Prometheus' test engine runs with delayed `__name__` removal, a feature flag that is off by
 * default; this engine does what default Prometheus 3 does (drops the name where it evaluates).
 */
const DELAYED_NAME_REMOVAL = new Set([
  'name_label_dropping.test:59',
  'name_label_dropping.test:64',
  'name_label_dropping.test:69',
  'name_label_dropping.test:74',
  'name_label_dropping.test:89',
  'name_label_dropping.test:115',
  'name_label_dropping.test:119',
  'name_label_dropping.test:123',
  'operators.test:502',
  'operators.test:1006',
]);

function knownFailure(c: ScriptCase): string | undefined {
  if (UNSUPPORTED_FUNCTIONS.test(c.query)) return 'unsupported function';
  if (DELAYED_NAME_REMOVAL.has(`${c.file}:${c.line}`)) return 'delayed name removal';
  return undefined;
}

describe("Prometheus' own PromQL test scripts", () => {
  it('pass except for unsupported functions and the delayed-name-removal flag', async () => {
    const cases: ScriptCase[] = [];
    for (const file of readdirSync(TESTDATA)
      .filter((f) => f.endsWith('.test'))
      .sort()) {
      cases.push(...(await runScript(`${TESTDATA}${file}`, file)));
    }
    const run = cases.filter((c) => c.outcome !== 'skip');
    const passed = run.filter((c) => c.outcome === 'pass');
    const failed = run.filter((c) => c.outcome === 'fail');
    const unknown = failed.filter((c) => knownFailure(c) === undefined);
    const byReason = new Map<string, number>();
    for (const c of failed)
      byReason.set(knownFailure(c) ?? 'NEW', (byReason.get(knownFailure(c) ?? 'NEW') ?? 0) + 1);
    const supported = run.filter((c) => !UNSUPPORTED_FUNCTIONS.test(c.query));
    const supportedPassed = supported.filter((c) => c.outcome === 'pass').length;
    console.log(
      `Prometheus testdata: ${supportedPassed}/${supported.length} evaluations of supported functions pass ` +
        `(${((supportedPassed / supported.length) * 100).toFixed(1)} %); ${passed.length}/${run.length} of all ` +
        `(${((passed.length / run.length) * 100).toFixed(1)} %), ${cases.length - run.length} skipped (native histograms); ` +
        `failing: ${[...byReason].map(([r, n]) => `${n} ${r}`).join(', ')}`,
    );
    expect(unknown.map((c) => `${c.file}:${c.line} ${c.query} -- ${c.reason}`)).toEqual([]);
    expect(passed.length).toBeGreaterThanOrEqual(814);
  });
});
