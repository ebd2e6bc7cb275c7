import { describe, expect, it } from 'vitest';
import { encodeAcc } from '../../core/accCodec.js';
import { finalize, sampleAggregator, type SampleAcc } from '../../core/aggregate.js';
import type { SampleRow } from '../../core/records.js';
import type { WindowState } from '../../streams/windowStore.js';
import { WindowChangelogStore, type ChangelogEntry } from '../../streams/stateStore.js';
import { sampleWindowsCodec } from '../../topology/storeCodecs.js';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

function window(key: string, minute: number, values: number[], revision = 0): WindowState<SampleAcc> {
  let acc = sampleAggregator.create();
  values.forEach((value, i) => {
    const row = { value, kind: 'gauge' } as SampleRow;
    acc = sampleAggregator.add(acc, row, T0 + minute * MINUTE + i);
  });
  return { key, start: T0 + minute * MINUTE, acc, revision };
}

const store = () => new WindowChangelogStore('window-1m', sampleWindowsCodec);
const id = (w: WindowState<SampleAcc>) => `${w.key}@${w.start}`;

/** What a store restored from `entries` holds, comparable with toEqual. */
function contents(entries: ChangelogEntry[]) {
  const restored = store();
  restored.restore(entries);
  return [...restored.entries()]
    .map(([k, w]) => [k, w.revision, finalize(w.acc)] as const)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, revision, a]) => ({
      k,
      revision,
      count: a.count,
      sum: a.sum,
      p50: a.sketch.getValueAtQuantile(0.5),
    }));
}

describe('WindowChangelogStore', () => {
  it('writes one record per series with all its windows, and a tombstone once none is left', () => {
    const s = store();
    const a0 = window('a', 0, [1, 2]);
    const a1 = window('a', 1, [3]);
    const b0 = window('b', 0, [4]);
    for (const w of [a0, a1, b0]) s.put(id(w), w);
    const first = s.changes();
    expect(first.map((e) => e.key)).toEqual(['a', 'b']);
    expect(contents(first).map((w) => w.k)).toEqual([id(a0), id(a1), id(b0)]);
    expect(s.changes()).toEqual([]); // nothing changed since

    s.put(id(a0), { ...a0, revision: 1 });
    s.delete(id(a1));
    s.delete(id(b0));
    const second = s.changes();
    expect(second.map((e) => [e.key, e.value === null])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    expect(contents([...first, ...second])).toEqual([
      { k: id(a0), revision: 1, count: 2, sum: 3, p50: a0.acc.sketch.getValueAtQuantile(0.5) },
    ]);
    expect(s.size).toBe(1);
  });

  it('restores the last record of each series and counts its bytes', () => {
    const s = store();
    const a0 = window('a', 0, [1, 2, 3]);
    s.put(id(a0), a0);
    const entries = s.changes();
    const restored = store();
    restored.restore(entries);
    expect(restored.size).toBe(1);
    expect(restored.approximateBytes).toBe(s.approximateBytes);
    expect(encodeAcc((restored.get(id(a0)) as WindowState<SampleAcc>).acc)).toEqual(encodeAcc(a0.acc));
    expect(restored.changes()).toEqual([]); // restoring is not a change
  });

  it('reads records with fixed-width window headers (layout 1) as the same windows', () => {
    const a0 = window('a', 0, [1, 2]);
    const a1 = window('a', 1, [3], 2);
    const layout1 = Buffer.concat([
      Buffer.from([1, 2, 0, 0, 0]),
      ...[a0, a1].map((w) => {
        const acc = encodeAcc(w.acc);
        const header = Buffer.alloc(16);
        header.writeDoubleLE(w.start, 0);
        header.writeUInt32LE(w.revision, 8);
        header.writeUInt32LE(acc.length, 12);
        return Buffer.concat([header, acc]);
      }),
    ]);
    const now = store();
    now.put(id(a0), a0);
    now.put(id(a1), a1);
    const written = now.changes();
    expect(written.map((e) => e.value?.[0])).toEqual([2]);
    expect(contents([{ key: 'a', value: layout1 }])).toEqual(contents(written));
    // Each window header takes 9 bytes here instead of 16.
    expect(layout1.length).toBeGreaterThanOrEqual((written[0]?.value?.length ?? 0) + 14);
  });

  it('reads records of the former layout (one window per record) and replaces them', () => {
    const former = (w: WindowState<SampleAcc>): ChangelogEntry => {
      const header = Buffer.from(JSON.stringify([w.key, w.start, w.revision]));
      const size = Buffer.alloc(4);
      size.writeUInt32BE(header.length);
      return { key: id(w), value: Buffer.concat([size, header, encodeAcc(w.acc)]) };
    };
    const a0 = window('a', 0, [1]);
    const a1 = window('a', 1, [2], 1);
    const b0 = window('b', 0, [3]);
    const s = store();
    s.restore([former(a0), former(a1), former(b0), { key: id(b0), value: null }]);
    expect(s.size).toBe(2);
    const rewritten = s.changes();
    // The old records are deleted, their windows written again under their series.
    expect(rewritten.map((e) => [e.key, e.value === null]).sort()).toEqual(
      [
        ['a', false],
        [id(a0), true],
        [id(a1), true],
        [id(b0), true],
        [id(b0), true],
        ['b', true],
      ].sort(),
    );
    expect(contents(rewritten).map((w) => [w.k, w.revision])).toEqual([
      [id(a0), 0],
      [id(a1), 1],
    ]);
  });
});
