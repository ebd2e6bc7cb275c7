import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import type { Rollup } from '../../schemas/index.js';
import { openClickHouse, queryRows, type ClickHouse } from '../../sinks/clickhouse.js';
import { httpInsert } from '../../sinks/insertNative.js';
import { NativeBlock } from '../../sinks/nativeBlock.js';
import { insertRollups, rollupBlock } from '../../sinks/rollupSink.js';
import { columnsOf } from '../../core/sampleColumns.js';
import { SAMPLE_COLUMNS, samplesBlock } from '../../sinks/samplesSink.js';
import { ensureTables, KIND_CODES, TIER_AGGREGATES } from '../../sinks/tables.js';
import { onesResult, tempDir, unique } from '../integration/helpers.js';

/** Native blocks through the embedded engine's insert path into the real tables, and read back. */
describe('Native inserts', () => {
  const dir = tempDir('native');
  const config = loadConfig(undefined, {}, { clickhouse: { path: dir, database: unique('native') } });
  let ch: ClickHouse;

  beforeAll(async () => {
    ch = await openClickHouse(config.clickhouse);
    await ensureTables(ch, config);
  });

  afterAll(async () => {
    await ch?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const db = () => `\`${ch.database}\``;

  it('stores raw rows bit for bit: -0 keeps its sign, NaN and infinities, 64-bit ids', async () => {
    const now = Date.now();
    const values = [-0, 0, Number.NaN, Infinity, -Infinity, 5e-324, -1.7976931348623157e308, 0.1 + 0.2];
    const rows = values.map((value, i) => ({
      name: i % 2 ? 'cpu_seconds_total' : 'mémoire_utilisée',
      seriesId: i === 0 ? 2n ** 64n - 1n : BigInt(i),
      timestamp: now - i * 1001, // inside the raw TTL
      value,
      kind: i % 2 ? ('counter' as const) : ('gauge' as const),
    }));
    await ch.insertNative({
      table: `${db()}.samples`,
      columns: SAMPLE_COLUMNS,
      block: samplesBlock(columnsOf(rows)),
    });
    const stored = await queryRows<{ metric: string; id: string; ms: string; bits: string; kind: string }>(
      ch,
      `SELECT metric, toString(series_id) AS id, toString(toUnixTimestamp64Milli(ts)) AS ms,
              toString(reinterpretAsUInt64(value)) AS bits, toString(kind) AS kind
       FROM ${db()}.samples ORDER BY series_id`,
    );
    const bits = (v: number) => new BigUint64Array(new Float64Array([v]).buffer)[0]?.toString();
    const expected = rows
      .map((r) => ({
        metric: r.name,
        id: String(r.seriesId),
        ms: String(r.timestamp),
        bits: bits(r.value),
        kind: r.kind,
      }))
      .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    expect(stored).toEqual(expected);
    // The sign of zero, as an analyst's query sees it.
    const [zero] = await queryRows<{ s: string }>(
      ch,
      `SELECT toString(value) AS s FROM ${db()}.samples WHERE series_id = ${2n ** 64n - 1n}`,
    );
    expect(zero?.s).toBe('-0');
  });

  it('stores series labels as a Map, long and non-ASCII strings included, and times before 1970', async () => {
    const long = 'é'.repeat(300); // 600 bytes: a two-byte length prefix
    const series = [
      {
        name: 'up',
        id: 7n,
        labels: [
          ['host', 'a'],
          ['zone', long],
        ] as Array<[string, string]>,
        kind: 'gauge' as const,
      },
      { name: 'up', id: 8n, labels: [] as Array<[string, string]>, kind: 'counter' as const },
      {
        name: 'up',
        id: 9n,
        labels: [['tab', "a\tb\nc\\d'e"]] as Array<[string, string]>,
        kind: 'gauge' as const,
      },
    ];
    const block = new NativeBlock(series.length, 6);
    block.strings('metric', series, (s) => s.name);
    block.uint64s('series_id', series, (s) => s.id);
    block.stringMaps('labels', series, (s) => s.labels);
    block.enum8s('kind', series, KIND_CODES, (s) => s.kind);
    block.times('first_seen', series, () => -1_001);
    block.times('last_seen', series, () => 2_000);
    await ch.insertNative({
      table: `${db()}.series`,
      columns: ['metric', 'series_id', 'labels', 'kind', 'first_seen', 'last_seen'],
      block: block.finish(),
    });
    const stored = await queryRows<{
      id: string;
      labels: Record<string, string>;
      kind: string;
      first: string;
    }>(
      ch,
      `SELECT toString(series_id) AS id, labels, toString(kind) AS kind,
              toString(toUnixTimestamp64Milli(first_seen)) AS first
       FROM ${db()}.series ORDER BY series_id`,
    );
    expect(stored).toEqual(
      series.map((s) => ({
        id: String(s.id),
        labels: Object.fromEntries(s.labels),
        kind: s.kind,
        first: '-1001',
      })),
    );
  });

  it('stores window results in every column of a tier table', async () => {
    const rollup: Rollup = {
      tier: '1m',
      seriesId: '18446744073709551615',
      name: 'cpu',
      labels: {},
      kind: 'gauge',
      // Inside the tier's TTL: an expired row would not be kept.
      windowStart: Math.floor(Date.now() / 60_000) * 60_000,
      windowEnd: Math.floor(Date.now() / 60_000) * 60_000 + 60_000,
      count: 4_000_000_000,
      sum: 1,
      min: -0,
      max: 3,
      avg: 4,
      first: 5,
      last: 6,
      p50: 7,
      p90: 8,
      p99: 9,
      increase: 10,
      rate: 11,
      stddev: 13.5,
      revision: 12,
      sketch: Buffer.alloc(0),
    };
    await ch.insertNative({
      table: `${db()}.samples_1m`,
      columns: [
        'metric',
        'series_id',
        'ts',
        'count',
        'sum',
        'min',
        'max',
        'avg',
        'first',
        'last',
        'p50',
        'p90',
        'p99',
        'increase',
        'rate',
        'stddev',
        'revision',
      ],
      block: rollupBlock([rollup]),
    });
    const [row] = await queryRows<Record<string, unknown>>(
      ch,
      `SELECT metric, toString(series_id) AS id, toUnixTimestamp64Milli(ts) AS ms, count, sum, toString(min) AS min,
              max, avg, first, last, p50, p90, p99, increase, rate, stddev, revision FROM ${db()}.samples_1m`,
    );
    expect(row).toEqual({
      metric: 'cpu',
      id: rollup.seriesId,
      ms: String(rollup.windowStart),
      count: 4_000_000_000,
      sum: 1,
      min: '-0',
      max: 3,
      avg: 4,
      first: 5,
      last: 6,
      p50: 7,
      p90: 8,
      p99: 9,
      increase: 10,
      rate: 11,
      stddev: 13.5,
      revision: 12,
    });
  });

  it("stores each window result's metric and 64-bit series id, several series and names in one block", async () => {
    await ch.client.command({ query: `CREATE TABLE ${db()}.ids AS ${db()}.samples_1m` });
    const start = Math.floor(Date.now() / 60_000) * 60_000;
    const series = [
      { seriesId: '8589934593', name: 'cpu' }, // halves 1 and 2
      { seriesId: '12345', name: 'mem' },
      { seriesId: '9223372036854775808', name: 'cpu' }, // 2^63
    ];
    const rollups: Rollup[] = [0, 1, 2, 0, 2, 1].map((s, i) => ({
      ...(series[s] as (typeof series)[number]),
      tier: '1m',
      labels: {},
      kind: 'gauge',
      windowStart: start - i * 60_000,
      windowEnd: start - i * 60_000 + 60_000,
      count: i + 1,
      sum: i,
      min: 0,
      max: i,
      avg: 0,
      first: 0,
      last: i,
      p50: 0,
      p90: 0,
      p99: 0,
      increase: 0,
      rate: 0,
      stddev: 0,
      revision: 1,
      sketch: Buffer.alloc(0),
    }));
    await ch.insertNative({
      table: `${db()}.ids`,
      columns: ['metric', 'series_id', 'ts', ...TIER_AGGREGATES, 'revision'],
      block: rollupBlock(rollups),
    });
    const stored = await queryRows<{ metric: string; id: string; count: number }>(
      ch,
      `SELECT metric, toString(series_id) AS id, count FROM ${db()}.ids ORDER BY count`,
    );
    expect(stored).toEqual(rollups.map((r) => ({ metric: r.name, id: r.seriesId, count: r.count })));
  });

  it('leaves a result and its correction in one write for the merges and FINAL, which keep the correction', async () => {
    const database = unique('native_replace');
    const other = { ...ch, database };
    await ensureTables(other, config);
    const start = Math.floor(Date.now() / 60_000) * 60_000;
    const result = (count: number, revision: number) =>
      onesResult({ seriesId: '7', name: 'cpu', windowStart: start, count, revision });
    await insertRollups(other, '1m', [result(5, 1), result(6, 2)]);
    const read = (final: string) =>
      queryRows<{ count: number; revision: number }>(
        ch,
        `SELECT count, revision FROM ${database}.samples_1m ${final} ORDER BY revision`,
      );
    // Both rows as written (not collapsed as they were inserted), the correction as read with FINAL.
    expect(await read('')).toEqual([
      { count: 5, revision: 1 },
      { count: 6, revision: 2 },
    ]);
    expect(await read('FINAL')).toEqual([{ count: 6, revision: 2 }]);
  });

  it('adds the column of a new registry aggregate to a tier table made before it, keeping its rows', async () => {
    const database = unique('native_upgrade');
    const old = { ...ch, database };
    // samples_1m as the release before stddev made it.
    await ch.client.command({ query: `CREATE DATABASE ${database}` });
    await ch.client.command({
      query: `CREATE TABLE ${database}.samples_1m (metric LowCardinality(String), series_id UInt64,
        ts DateTime64(3, 'UTC'), count UInt32, sum Float64, min Float64, max Float64, avg Float64,
        first Float64, last Float64, p50 Float64, p90 Float64, p99 Float64, increase Float64,
        rate Float64, revision UInt32) ENGINE = ReplacingMergeTree(count) ORDER BY (metric, series_id, ts)`,
    });
    await ch.client.command({
      query: `INSERT INTO ${database}.samples_1m (metric, series_id, ts, count, sum, revision)
              VALUES ('cpu', 1, now64(3), 2, 3, 1)`,
    });
    await ensureTables(old, config);
    await ensureTables(old, config);
    const columns = await queryRows<{ name: string }>(
      ch,
      `SELECT name FROM system.columns WHERE database = '${database}' AND table = 'samples_1m' ORDER BY position`,
    );
    expect(columns.map((c) => c.name)).toEqual(['metric', 'series_id', 'ts', ...TIER_AGGREGATES, 'revision']);
    const rows = await queryRows<{ count: number; stddev: number }>(
      ch,
      `SELECT count, stddev FROM ${database}.samples_1m`,
    );
    expect(rows).toEqual([{ count: 2, stddev: 0 }]);
  });

  it('drops a block repeated with the same deduplication token, whatever its rows', async () => {
    await ch.client.command({ query: `CREATE TABLE ${db()}.dedup AS ${db()}.samples` });
    const rows = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({
        name: 'd',
        seriesId: 1n,
        timestamp: Date.now() - (from + i), // 1 ms apart, well inside the raw TTL
        value: i,
        kind: 'gauge' as const,
      }));
    const insert = (token: string, block: Buffer) =>
      ch.insertNative({
        table: `${db()}.dedup`,
        columns: SAMPLE_COLUMNS,
        block,
        settings: { insert_deduplication_token: token, insert_deduplicate: 1 },
      });
    const big = samplesBlock(columnsOf(rows(0, 300_000)));
    await insert("t:0:0-9 'quoted' \\", big);
    await insert("t:0:0-9 'quoted' \\", big);
    await insert("t:0:0-9 'quoted' \\", samplesBlock(columnsOf(rows(1_000_000, 10))));
    await insert('t:0:10-19', samplesBlock(columnsOf(rows(2_000_000, 10))));
    const [count] = await queryRows<{ n: string }>(ch, `SELECT count() AS n FROM ${db()}.dedup`);
    expect(count?.n).toBe(String(300_000 + 10));
  });

  it('stores metric names through dictionaries one, two and four bytes wide, from a block cut out of a batch', async () => {
    await ch.client.command({ query: `CREATE TABLE ${db()}.names AS ${db()}.samples` });
    const now = Date.now();
    for (const distinct of [3, 300, 70_000]) {
      const rows = Array.from({ length: distinct * 2 + 10 }, (_, i) => ({
        name: `metric_${i % distinct}_${distinct}`,
        seriesId: BigInt(i % distinct) + 2n ** 40n * BigInt(distinct),
        timestamp: now - i,
        value: i,
        kind: i % 3 === 0 ? ('counter' as const) : ('gauge' as const),
      }));
      // Rows 5 … n - 5 only, as the sink cuts a block out of held batches; and a block of none.
      const [from, to] = [5, rows.length - 5];
      await ch.insertNative({
        table: `${db()}.names`,
        columns: SAMPLE_COLUMNS,
        block: samplesBlock(columnsOf(rows), from, from),
      });
      await ch.insertNative({
        table: `${db()}.names`,
        columns: SAMPLE_COLUMNS,
        block: samplesBlock(columnsOf(rows), from, to),
      });
      const stored = await queryRows<{ metric: string; id: string; value: number; kind: string }>(
        ch,
        `SELECT metric, toString(series_id) AS id, value, toString(kind) AS kind FROM ${db()}.names
         WHERE endsWith(metric, '_${distinct}') ORDER BY value`,
      );
      expect(stored).toEqual(
        rows.slice(from, to).map((r) => ({
          metric: r.name,
          id: String(r.seriesId),
          value: r.value,
          kind: r.kind,
        })),
      );
    }
  });

  it('refuses a block whose columns do not match what it declared', () => {
    const rows = [{ v: 1 }];
    const block = new NativeBlock(1, 2);
    block.float64s('a', rows, (r) => r.v);
    expect(() => block.finish()).toThrow('a Native block of 2 columns got 1');
    expect(() => block.float64s('b', [], () => 0)).toThrow('column b has 0 rows, the block 1');
    expect(() => new NativeBlock(1, 1).enum8s('k', rows, KIND_CODES, () => 'other' as 'gauge')).toThrow(
      "k: other is not one of 'gauge' = 1, 'counter' = 2",
    );
  });
});

/**
 * The server path. No ClickHouse server runs on this machine, so a local HTTP server stands in for
 * one and keeps the request; what it received is then inserted into the embedded engine.
 */
describe('Native inserts over HTTP', () => {
  it('sends INSERT … FORMAT Native with the block as the body and the settings as query parameters', async () => {
    const received: Array<{ url: URL; body: Buffer }> = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ url: new URL(req.url ?? '/', 'http://x'), body: Buffer.concat(chunks) });
        res.writeHead(200, { 'X-ClickHouse-Summary': '{}' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = createClient({ url: `http://127.0.0.1:${port}` });
    const block = samplesBlock(
      columnsOf([{ name: 'up', seriesId: 3n, timestamp: Date.now(), value: -0, kind: 'gauge' }]),
    );
    try {
      await httpInsert(client)({
        table: '`db`.samples',
        columns: SAMPLE_COLUMNS,
        block,
        settings: { insert_deduplication_token: "p:0:1-2 'x'", insert_deduplicate: 1 },
      });
    } finally {
      await client.close();
      server.close();
    }
    expect(received).toHaveLength(1);
    const [request] = received as [{ url: URL; body: Buffer }];
    expect(request.url.searchParams.get('query')).toBe(
      'INSERT INTO `db`.samples (metric, series_id, ts, value, kind) FORMAT Native',
    );
    expect(request.url.searchParams.get('insert_deduplication_token')).toBe("p:0:1-2 'x'");
    expect(request.url.searchParams.get('insert_deduplicate')).toBe('1');
    expect(request.body.equals(block)).toBe(true);
  });
});
