import { appendFileSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { leftoverLogs, workerLogDir } from '../../collector/leftovers.js';
import { removeLog, WalFullError, WriteAheadLog } from '../../collector/wal.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'wal-'));
const entry = (i: number, size = 100) => Buffer.alloc(size, i % 256);
const HEADER = 8;

function drainAll(wal: WriteAheadLog, chunk = 1 << 20): Buffer[] {
  const out: Buffer[] = [];
  for (;;) {
    const { entries, next } = wal.read(chunk);
    if (entries.length === 0) return out;
    out.push(...entries);
    wal.advance(next);
  }
}

describe('WriteAheadLog', () => {
  it('gives back the appended entries in order, across segments, and deletes drained segments', () => {
    const dir = fresh();
    const wal = WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1000 });
    for (let i = 0; i < 30; i++) wal.append([entry(i)]);
    expect(wal.pendingBytes).toBe(30 * (100 + HEADER));
    expect(readdirSync(dir).filter((f) => f.endsWith('.wal')).length).toBe(4);
    const first = wal.read(500);
    expect(first.entries.map((e) => e[0])).toEqual([0, 1, 2, 3, 4]);
    wal.advance(first.next);
    expect(wal.pendingBytes).toBe(25 * (100 + HEADER));
    expect(drainAll(wal, 300).map((e) => e[0])).toEqual(Array.from({ length: 25 }, (_, i) => i + 5));
    expect(wal.isEmpty).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.wal')).length).toBe(1);
    wal.close();
  });

  it('keeps undrained entries and the drain position across a restart, and appends after them', () => {
    const dir = fresh();
    let wal = WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    wal.append([entry(1), entry(2)]);
    wal.append([entry(3)]);
    const { entries, next } = wal.read(1);
    expect(entries.map((e) => e[0])).toEqual([1]);
    wal.advance(next);
    wal.close();

    wal = WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    expect(wal.pendingBytes).toBe(2 * (100 + HEADER));
    wal.append([entry(4)]);
    expect(drainAll(wal).map((e) => e[0])).toEqual([2, 3, 4]);
    wal.close();
  });

  it('cuts a torn entry off the end after a crash mid-append', () => {
    const dir = fresh();
    let wal = WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    wal.append([entry(1), entry(2)]);
    wal.close();
    const segment = join(dir, readdirSync(dir).find((f) => f.endsWith('.wal')) as string);
    // Header of a 100-byte entry and 10 bytes of it: the process died there.
    const torn = Buffer.alloc(HEADER + 10);
    torn.writeUInt32BE(100, 0);
    appendFileSync(segment, torn);

    wal = WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    expect(wal.pendingBytes).toBe(2 * (100 + HEADER));
    wal.append([entry(3)]);
    expect(drainAll(wal).map((e) => e[0])).toEqual([1, 2, 3]);
    wal.close();
  });

  it('refuses an append beyond maxBytes without appending any of it', () => {
    const dir = fresh();
    const wal = WriteAheadLog.open({ dir, maxBytes: 3 * (100 + HEADER), segmentBytes: 1 << 20 });
    wal.append([entry(1), entry(2)]);
    expect(() => wal.append([entry(3), entry(4)])).toThrow(WalFullError);
    expect(wal.pendingBytes).toBe(2 * (100 + HEADER));
    wal.append([entry(3)]);
    expect(drainAll(wal).map((e) => e[0])).toEqual([1, 2, 3]);
    // Drained space is free again.
    wal.append([entry(5), entry(6), entry(7)]);
    expect(wal.pendingBytes).toBe(3 * (100 + HEADER));
    wal.close();
  });
});

describe('leftoverLogs and removeLog', () => {
  const log = (dir: string) => {
    const wal = WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1000 });
    wal.append([entry(1)]);
    wal.close();
  };

  it("finds the logs of runs with another worker count, and not the run's own", () => {
    const dir = fresh();
    expect(leftoverLogs(dir, 1)).toEqual([]);
    log(dir);
    log(workerLogDir(dir, 0));
    log(workerLogDir(dir, 2));
    // A worker directory without a log (created, never written) is nothing to drain.
    mkdirSync(workerLogDir(dir, 5));
    expect(leftoverLogs(dir, 1).sort()).toEqual([workerLogDir(dir, 0), workerLogDir(dir, 2)]);
    expect(leftoverLogs(dir, 2).sort()).toEqual([dir, workerLogDir(dir, 2)]);
    expect(leftoverLogs(dir, 3)).toEqual([dir]);
    expect(leftoverLogs(join(dir, 'missing'), 2)).toEqual([]);
  });

  it("removes a log's files, and its directory unless other logs live below it", () => {
    const dir = fresh();
    log(dir);
    log(workerLogDir(dir, 0));
    const own = readdirSync(dir).filter((f) => f !== 'worker-0');
    expect(own).toContain('0000000000000001.wal');
    removeLog(workerLogDir(dir, 0));
    expect(readdirSync(dir).sort()).toEqual(own.sort());
    // The single process's log goes; the directory stays while a worker's lives below it.
    log(workerLogDir(dir, 1));
    removeLog(dir);
    expect(readdirSync(dir)).toEqual(['worker-1']);
    removeLog(workerLogDir(dir, 1));
    removeLog(dir);
    expect(() => readdirSync(dir)).toThrow();
  });
});
