import type { Message, Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkajsPartition } from './kafkajsPartition.js';
import { finalize, sampleAggregator } from '../../core/aggregate.js';
import type { SampleRow } from '../../core/records.js';
import { rollupType, type Rollup } from '../../schemas/index.js';
import { RollupSink, type RollupRow } from '../../sinks/rollupSink.js';
import type { SeriesMeta } from '../../topology/tasks.js';

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
  it("sends each tier's results to its topic in order, each to the partition the default partitioner gives its series", async () => {
    const { producer, sent } = capturingProducer();
    const sink = new RollupSink(
      undefined,
      producer,
      { '1m': 'm1', '1h': 'h1' },
      { '1m': 7, '1h': 8 },
      { '1m': 12, '1h': 3 },
    );
    // More than one encoding chunk (5,000), so that the chunks' order shows too.
    await sink.write([...rows(12_001, '1m'), ...rows(20, '1h')]);
    const minute = sent.get('m1') ?? [];
    const hour = sent.get('h1') ?? [];
    expect(minute).toHaveLength(12_001);
    expect(hour).toHaveLength(20);
    for (const [messages, partitions] of [
      [minute, 12],
      [hour, 3],
    ] as const) {
      messages.forEach((m, i) => {
        const key = String(m.key);
        expect(m.partition, key).toBe(kafkajsPartition(key, partitions));
        const rollup = rollupType.fromBuffer((m.value as Buffer).subarray(5)) as Rollup;
        expect(rollup.windowStart).toBe(i * 60_000);
        expect(rollup.seriesId).toBe(key);
        expect(rollup.labels).toEqual({ host: `h${i % 50}` });
      });
    }
    // Several partitions are used: the partition depends on the key.
    expect(new Set(minute.map((m) => m.partition)).size).toBeGreaterThan(5);
  });
});
