import { mkdirSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, configFile, repoRoot, tempDir, unique } from './helpers.js';

describe('metrics-pipeline sql on a data folder without the tables', () => {
  it('says so plainly, names the folder and the --config that reaches the data', async () => {
    const dir = tempDir('sql-empty');
    for (const sub of ['h', 'e', 'r']) mkdirSync(join(dir, sub));
    const database = unique('db');

    // A folder that does not exist: the message names it, and `sql` does not create it.
    const missing = join(dir, 'nothing-here');
    const { file: missingConfig } = configFile(dir, { clickhouse: { path: missing, database } });
    const none = cli(['--config', missingConfig, 'sql', 'SELECT count() FROM samples']);
    expect(await none.exit).toBe(2);
    expect(none.stderr()).toContain(
      `metrics-pipeline: no tables in database ${database} of the embedded ClickHouse at ${missing} (clickhouse.path, from --config ${missingConfig})`,
    );
    expect(none.stderr()).toMatch(/hint: store data first/);
    expect(none.stderr()).not.toMatch(/does not exist|\n\s+at /);
    expect(existsSync(missing)).toBe(false);

    // The data lies in a sibling folder (as the demo's .data/demo is to .data/clickhouse): the hint names it.
    const holder = join(dir, 'demo');
    const { file: holderConfig } = configFile(join(dir, 'h'), {
      clickhouse: { path: holder, database: 'default' },
    });
    for (const statement of [
      `CREATE DATABASE ${database}`,
      `CREATE TABLE ${database}.samples (ts DateTime64(3)) ENGINE = MergeTree ORDER BY ts`,
    ]) {
      const create = cli(['--config', holderConfig, 'sql', statement]);
      expect(await create.exit, create.stderr()).toBe(0);
    }
    const empty = join(dir, 'clickhouse');
    mkdirSync(empty);
    const { file: emptyConfig } = configFile(join(dir, 'e'), { clickhouse: { path: empty, database } });
    const wrong = cli(['--config', emptyConfig, 'sql', 'SELECT count() FROM samples']);
    expect(await wrong.exit).toBe(2);
    expect(wrong.stderr()).toContain(
      `no tables in database ${database} of the embedded ClickHouse at ${empty}`,
    );
    const shown = relative(repoRoot, holder).startsWith('..') ? holder : relative(repoRoot, holder);
    expect(wrong.stderr()).toContain(`hint: database ${database} is in ${shown}:`);
    expect(wrong.stderr()).toContain(`"clickhouse: { path: ${shown} }"`);

    // With the holder's folder, the query answers.
    const { file: rightConfig } = configFile(join(dir, 'r'), { clickhouse: { path: holder, database } });
    const right = cli(['--config', rightConfig, 'sql', 'SELECT count() FROM samples']);
    expect(await right.exit, right.stderr()).toBe(0);
    expect(right.stdout()).toBe('count()\n0\n');

    // A query that fails for another reason keeps ClickHouse's own message.
    const typo = cli(['--config', rightConfig, 'sql', 'SELECT count() FROM sample']);
    expect(await typo.exit).toBe(1);
    expect(typo.stderr()).toMatch(/^metrics-pipeline: query failed: .*sample/);
  });
});
