import { describe, expect, it } from 'vitest';
import { finalize, sampleAggregator, type SampleAcc } from '../../core/aggregate.js';
import { SampleTable } from '../../core/sampleTable.js';

const T0 = Date.UTC(2026, 0, 1);

type Sample = [timestamp: number, value: number, counter?: boolean];

/** The accumulator `sampleAggregator` makes of the samples: what the table must hold for them. */
function reference(samples: Sample[]): SampleAcc {
  let acc = sampleAggregator.create();
  for (const [timestamp, value, counter] of samples)
    acc = sampleAggregator.add(
      acc,
      {
        name: 'm',
        labels: [],
        timestamp,
        value,
        kind: counter ? 'counter' : 'gauge',
        seriesId: 1n,
        seriesKey: '1',
        offset: 0,
      },
      timestamp,
    );
  return acc;
}

/** A sketch's content (an empty negative store and none are the same). */
function sketchOf({ sketch }: SampleAcc) {
  const { zeroCount, count, sum, min, max, positive, negative } = sketch;
  const bins = ({ keys, counts, total }: typeof positive) => ({
    keys: [...keys],
    counts: [...counts],
    total,
  });
  return { zeroCount, count, sum, min, max, positive: bins(positive), negative: bins(negative) };
}

describe('SampleTable', () => {
  // Negative values, zeros, a counter's points: the view of one window must not keep any of them
  // when the same accumulator then takes a window without them, and the other way round.
  const windows: Sample[][] = [
    [
      [T0, 5, true],
      [T0 + 2, 3, true],
      [T0 + 1, 4, true],
    ],
    [
      [T0 + 60_000, -2.5],
      [T0 + 60_001, 0],
      [T0 + 60_002, -7],
      [T0 + 60_003, 12],
    ],
    [[T0 + 120_000, 1]],
    [
      [T0 + 180_000, -1],
      [T0 + 180_001, 2, true],
    ],
  ];

  it('views each window as the accumulator of its samples, into one reused accumulator in any order', () => {
    const table = new SampleTable(2);
    const slots = windows.map((samples, i) => {
      const slot = table.open(table.series(`s${i}`), samples[0]![0]);
      for (const [timestamp, value, counter] of samples)
        table.addOne(slot, value, timestamp, counter === true);
      return slot;
    });
    const into = sampleAggregator.create();
    for (const order of [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [1, 3, 0, 2, 1],
    ])
      for (const i of order) {
        const view = table.view(slots[i]!, into);
        const expected = reference(windows[i]!);
        expect({ ...view, sketch: sketchOf(view) }).toEqual({ ...expected, sketch: sketchOf(expected) });
        expect(view.sketch.toProto()).toEqual(expected.sketch.toProto());
        expect(finalize(view)).toEqual(finalize(expected));
        expect(table.aggregate(slots[i]!)).toEqual(finalize(expected));
      }
  });
  it("views and aggregates windows of slots past the pools' first handles that never wrote a point or a bin", () => {
    // 300 windows of one gauge sample each, the last 30 all zeros: their slots lie beyond the 256
    // handles the point pool starts with (gauges write no points) and the zeros write no bins.
    const table = new SampleTable(2);
    const samples: Sample[][] = Array.from({ length: 300 }, (_, i) => [
      [T0 + i * 60_000, i >= 270 ? 0 : i + 0.5],
    ]);
    const slots = samples.map((window, i) => {
      const slot = table.open(table.series(`s${i}`), window[0]![0]);
      for (const [timestamp, value] of window) table.addOne(slot, value, timestamp, false);
      return slot;
    });
    const into = sampleAggregator.create();
    for (const i of [299, 280, 260, 0]) {
      const expected = reference(samples[i]!);
      const view = table.view(slots[i]!, into);
      expect({ ...view, sketch: sketchOf(view) }).toEqual({ ...expected, sketch: sketchOf(expected) });
      expect(table.aggregate(slots[i]!)).toEqual(finalize(expected));
    }
  });
});
