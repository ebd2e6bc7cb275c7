import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { isRetriable, storageCondition } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import type { ProcessedBatch, SampleRow } from '../../core/records.js';
import { seriesId } from '../../core/series.js';
import { freePort } from '../../services/ports.js';
import { openClickHouse, queryRows, type ClickHouse } from '../../sinks/clickhouse.js';
import { SamplesSink } from '../../sinks/samplesSink.js';
import { StorageHealth } from '../../sinks/storageHealth.js';
import { ensureTables } from '../../sinks/tables.js';
import { startAdminServer } from '../../streams/adminServer.js';
import { createTopologyMetrics } from '../../topology/metrics.js';
import { watchStorage } from '../../topology/storageWatch.js';
import { clickhouseEndpoints } from '../../sql/adminSql.js';
import { columnsOf } from '../../core/sampleColumns.js';

/**
 * Storage that cannot take writes for a while, without root: the embedded ClickHouse answers
 * inserts with the very error a full disk gives (NOT_ENOUGH_SPACE, code 243, raised by the
 * engine itself through `throwIf`, so the error objects are chDB's own) until space "returns".
 * test/integration/diskFull.test.ts fills a real tmpfs where mounting one is allowed.
 */

const log = createLogger('test', process.env.LOG_LEVEL ?? 'silent');
const config = loadConfig(undefined, {}, { clickhouse: { path: mkdtempSync(join(tmpdir(), 'storage-')) } });
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000; // inside the raw TTL

let ch: ClickHouse;

beforeAll(async () => {
  ch = await openClickHouse(config.clickhouse);
  await ensureTables(ch, config);
});

afterAll(async () => {
  await ch?.close();
});

/** The error ClickHouse raises for `code`, with `message`, as its client hands it over. */
async function engineError(code: number, message: string): Promise<unknown> {
  try {
    await ch.client.command({
      query: `SELECT throwIf(1, {message:String}, toInt16(${code}))`,
      query_params: { message },
      clickhouse_settings: { allow_custom_error_code_in_throwif: 1 },
    });
  } catch (error) {
    return error;
  }
  throw new Error('throwIf did not throw');
}

function batch(first: number, count: number): ProcessedBatch {
  const labels: Array<[string, string]> = [['host', 'a']];
  const id = seriesId('disk_test', labels);
  const rows: SampleRow[] = Array.from({ length: count }, (_, i) => ({
    name: 'disk_test',
    labels,
    timestamp: T0 + (first + i) * 1000,
    value: first + i,
    kind: 'gauge',
    seriesId: id,
    seriesKey: id.toString(),
    offset: first + i,
  }));
  return {
    recordCount: count,
    generation: 1,
    topic: 'disk-in',
    partition: 0,
    firstOffset: first,
    lastOffset: first + count - 1,
    samples: columnsOf(rows),
    rejects: [],
  };
}

/**
 * Makes `ch` refuse every insert with a full disk's error while `full` is true; resolves
 * `refusedThrice` once three inserts were refused.
 */
function fillDisk(): { refusedThrice: Promise<void>; free: () => void; refused: () => number } {
  let full = true;
  let refused = 0;
  let thrice: () => void = () => undefined;
  const refusedThrice = new Promise<void>((resolve) => (thrice = resolve));
  const insert = ch.insertNative;
  ch.insertNative = async (params) => {
    if (full) {
      refused += 1;
      if (refused === 3) thrice();
      throw await engineError(243, 'Cannot reserve 1.00 MiB, not enough space');
    }
    return insert(params);
  };
  return {
    refusedThrice,
    free: () => {
      full = false;
      ch.insertNative = insert;
    },
    refused: () => refused,
  };
}

async function stored(): Promise<number> {
  const [row] = await queryRows<{ n: string }>(ch, `SELECT count() AS n FROM \`${ch.database}\`.samples`);
  return Number(row?.n);
}

describe('writes while the disk under ClickHouse is full', () => {
  it('pause with backoff instead of failing, and go through by themselves once space returns: nothing lost', async () => {
    const disk = fillDisk();
    const sink = new SamplesSink(ch, log);
    let settled: string | undefined;
    const written = sink.write([batch(0, 500)]).then(
      () => (settled = 'written'),
      (error: unknown) => (settled = `failed: ${(error as Error).message}`),
    );
    await Promise.race([disk.refusedThrice, written]);
    expect(settled).toBeUndefined();
    expect(disk.refused()).toBe(3);
    disk.free();
    await written;
    expect(settled).toBe('written');
    expect(await stored()).toBe(500);
  });

  it('show in /readyz (503, with the reason) and /metrics while paused, and are logged', async () => {
    const metrics = createTopologyMetrics();
    const events: string[] = [];
    const unwatch = watchStorage(ch.health, metrics, log);
    const unlisten = ch.health.listen((e) => events.push(e.kind === 'paused' ? e.condition : e.kind));
    const admin = await startAdminServer({
      port: 0,
      ready: () => true,
      log,
      metrics,
      extensions: [clickhouseEndpoints(ch)],
    });
    const readyz = async () => {
      const response = await fetch(`${admin.url}/readyz`);
      return [response.status, await response.text()];
    };
    const scrape = async () => (await fetch(`${admin.url}/metrics`)).text();
    try {
      expect(await readyz()).toEqual([200, 'ready\n']);
      const disk = fillDisk();
      const written = new SamplesSink(ch, log).write([batch(1000, 100)]);
      await disk.refusedThrice;
      const [status, text] = await readyz();
      expect(status).toBe(503);
      expect(text).toMatch(
        /^not ready: ClickHouse writes paused for \d+ s \(disk_full: insert into sink_blocks: /,
      );
      const paused = await scrape();
      expect(paused).toContain('metrics_pipeline_storage_paused{condition="disk_full"} 1');
      expect(paused).toMatch(/metrics_pipeline_storage_retries_total\{condition="disk_full"\} [2-9]/);
      disk.free();
      await written;
      expect(await readyz()).toEqual([200, 'ready\n']);
      expect(await scrape()).toContain('metrics_pipeline_storage_paused{condition="disk_full"} 0');
      expect(events.at(-1)).toBe('resumed');
      expect(events.slice(0, -1).every((e) => e === 'disk_full')).toBe(true);
      expect(await stored()).toBe(600);
    } finally {
      unlisten();
      unwatch();
      await admin.close();
    }
  });
});

describe('a stop while writes wait for storage', () => {
  it('ends the wait at once: the write fails with the error it met, and is not committed', async () => {
    const health = new StorageHealth();
    let attempts = 0;
    let waiting: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => (waiting = resolve));
    health.listen(() => waiting());
    const full = await engineError(243, 'Cannot reserve 1.00 MiB, not enough space');
    const write = health.run(
      'insert into samples',
      () => {
        attempts += 1;
        return Promise.reject(full);
      },
      // A pause far longer than the test: only the stop can end it.
      { initialDelayMs: 600_000, maxDelayMs: 600_000 },
    );
    write.catch(() => undefined);
    await paused;
    health.abandon();
    await expect(write).rejects.toBe(full);
    expect(attempts).toBe(1);
    expect(health.available).toBe(true);
  });
});

describe('storage errors that pass, told apart from the others', () => {
  it('by the error code ClickHouse gives, along the cause chain', async () => {
    const full = await engineError(243, 'Cannot reserve 1.00 MiB, not enough space');
    const parts = await engineError(252, 'Too many parts (3001) in all partitions in total');
    const syntax = await ch.client.query({ query: 'SELEC 1' }).catch((error: unknown) => error);
    expect(storageCondition(full)).toBe('disk_full');
    expect(storageCondition(new Error('cannot insert', { cause: full }))).toBe('disk_full');
    expect(storageCondition(parts)).toBe('too_many_parts');
    expect(isRetriable(full)).toBe(true);
    expect(storageCondition(syntax)).toBeUndefined();
    expect(isRetriable(syntax)).toBe(false);
  });

  it('a ClickHouse server that is down', async () => {
    const down = createClient({
      url: `http://127.0.0.1:${await freePort()}`,
      request_timeout: 2000,
      log: { level: ClickHouseLogLevel.OFF },
    });
    const error = await down
      .insert({ table: 't', values: [{ x: 1 }], format: 'JSONEachRow' })
      .catch((e: unknown) => e);
    await down.close();
    expect(storageCondition(error)).toBe('unreachable');
  });
});
