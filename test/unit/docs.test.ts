import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { renderConfigReference } from '../../scripts/configReference.js';
import { DOCS_COMMAND, generatedFiles } from '../../scripts/generatedDocs.js';

const root = new URL('../..', import.meta.url).pathname;
const files = await generatedFiles(root);

describe('generated docs', () => {
  it.each(files)('$file is what the generator writes', ({ file, current, expected }) => {
    expect(current, `${file} is out of date: run \`${DOCS_COMMAND}\` and commit the result`).toBe(expected);
  });

  it('the reference lists every setting of the schema with its type, default and meaning', () => {
    const reference = renderConfigReference();
    expect(reference).toContain('| `sink.commitIntervalMs` | integer ≥ 1 | `5000` |');
    expect(reference).toContain('| `tiers[].graceMs` | integer ≥ 0 | required |');
    expect(reference).toContain('| `collector.tenants[].token` | string of ≥ 16 characters | required |');
    expect(reference).toContain('| `clickhouse.url` | URL | unset |');
    // Every setting has its description: no row ends with an empty meaning.
    expect(reference.split('\n').filter((l) => / \| {2}\|$/.test(l))).toEqual([]);
  });

  it('the example file of docs/configuration.md is a valid configuration', () => {
    const page = readFileSync(join(root, 'docs/configuration.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(page)?.[1];
    expect(example).toBeDefined();
    const file = join(mkdtempSync(join(tmpdir(), 'docs-example-')), 'config.yaml');
    writeFileSync(file, example as string);
    expect(loadConfig(file, {}).collector.tenants[0]?.name).toBe('team-a');
  });
});
