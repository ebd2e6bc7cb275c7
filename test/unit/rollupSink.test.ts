import type { Message, Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkajsPartition } from './kafkajsPartition.js';
import { finalize, sampleAggregator } from '../../core/aggregate.js';
import type { SampleRow } from '../../core/records.js';
import { rollupBatchType, type Rollup, type RollupBatch } from '../../schemas/index.js';
import { RollupSink, type RollupRow } from '../../sinks/rollupSink.js';
import type { SeriesMeta } from '../../core/series.js';

/** A producer that keeps what it is asked to send, by topic. */
function capturingProducer(): { producer: Producer; sent: Map<string, Message[]> } {
  const sent = new Map<string, Message[]>();
  const producer = {
    send: ({ topic, messages }: { topic: string; messages: Message[] }) => {
      sent.set(topic, [...(sent.get(topic) ?? []), ...messages]);
      return Promise.resolve([]);
    },
  } as unknown as Producer;
  return { producer, sent };
}

function rows(count: number, tier: '1m' | '1h'): RollupRow[] {
  return Array.from({ length: count }, (_, i) => {
    const series: SeriesMeta = { name: 'cpu', labels: [['host', `h${i % 50}`]], kind: 'gauge' };
    const acc = sampleAggregator.create();
    sampleAggregator.add(acc, { value: i, kind: 'gauge' } as SampleRow, 1000);
    return {
      tier,
      seriesKey: String(10_000_000_000_000_000_000n + BigInt(i % 50)),
      series,
      start: i * 60_000,
      end: (i + 1) * 60_000,
      aggregate: finalize(acc),
      revision: 1,
    };
  });
}

describe('RollupSink', () => {
  it("sends each tier's results as one record per partition, every series in the partition the default partitioner gives it, in order", async () => {
    const { producer, sent } = capturingProducer();
    const sink = new RollupSink(undefined, producer, [
      { name: '1m', topic: 'm1', schemaId: 7, partitions: 12 },
      { name: '1h', topic: 'h1', schemaId: 8, partitions: 3 },
    ]);
    // More than one encoding chunk (5,000), so that the chunks' order shows too.
    await sink.write([...rows(12_001, '1m'), ...rows(20, '1h')]);
    for (const [topic, partitions, count] of [
      ['m1', 12, 12_001],
      ['h1', 3, 20],
    ] as const) {
      const messages = sent.get(topic) ?? [];
      const results: Rollup[] = [];
      for (const m of messages) {
        expect((m.value as Buffer).readUInt32BE(1)).toBe(topic === 'm1' ? 7 : 8);
        const batch = rollupBatchType.fromBuffer((m.value as Buffer).subarray(5)) as RollupBatch;
        // Keyed by its first series: the default partitioner sends the record where the sink did.
        expect(String(m.key)).toBe(batch.results[0]?.seriesId);
        expect(m.partition).toBe(kafkajsPartition(String(m.key), partitions));
        for (const r of batch.results)
          expect(kafkajsPartition(r.seriesId, partitions), r.seriesId).toBe(m.partition);
        results.push(...batch.results);
      }
      // Far fewer records than results: one per partition used, unless its results pass half a megabyte.
      const used = new Set(messages.map((m) => m.partition)).size;
      if (topic === 'h1') expect(messages).toHaveLength(used);
      else expect(messages.length).toBeLessThan(2 * used);
      expect(results).toHaveLength(count);
      // Each series' results in the order they were computed (window start grows with the index).
      const lastStart = new Map<string, number>();
      for (const r of results) {
        expect(r.windowStart).toBeGreaterThan(lastStart.get(r.seriesId) ?? -1);
        lastStart.set(r.seriesId, r.windowStart);
        expect(r.labels).toEqual({ host: `h${(r.windowStart / 60_000) % 50}` });
      }
    }
    // Several partitions are used: the partition depends on the series.
    expect(new Set((sent.get('m1') ?? []).map((m) => m.partition)).size).toBeGreaterThan(5);
  });

  it('cuts a partition whose results exceed half a megabyte into several records', async () => {
    const { producer, sent } = capturingProducer();
    const sink = new RollupSink(undefined, producer, [
      { name: '1m', topic: 'm1', schemaId: 7, partitions: 1 },
      { name: '1h', topic: 'h1', schemaId: 8, partitions: 1 },
    ]);
    const many = rows(6000, '1m');
    await sink.write(many);
    const messages = sent.get('m1') ?? [];
    expect(messages.length).toBeGreaterThan(1);
    const results = messages.flatMap(
      (m) => (rollupBatchType.fromBuffer((m.value as Buffer).subarray(5)) as RollupBatch).results,
    );
    expect(results.map((r) => r.windowStart)).toEqual(many.map((r) => r.start));
    for (const m of messages) expect((m.value as Buffer).length).toBeLessThanOrEqual(512 * 1024 + 5);
  });
});
