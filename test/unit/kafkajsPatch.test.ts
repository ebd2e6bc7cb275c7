import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// The patch of patches/kafkajs+2.2.4.patch, applied by `npm ci` (postinstall: patch-package).
const require = createRequire(import.meta.url);
const crc32c = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as ((b: Buffer) => number) & {
  native?: boolean;
};
const jsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => {
  writeInt32(v: number): unknown;
  writeBytes(b: Buffer): unknown;
  writeUVarInt(v: number): unknown;
  writeVarInt(v: number): unknown;
  buffer: Buffer;
};
/** kafkajs' Encoder with the patch's additions (`buffers`, `size`, `writeEncoder` by reference). */
interface PatchedEncoder {
  writeInt32(v: number): PatchedEncoder;
  writeBytes(b: Buffer): PatchedEncoder;
  writeEncoder(e: PatchedEncoder): PatchedEncoder;
  writeEncoderArray(e: PatchedEncoder[]): PatchedEncoder;
  buffers(): Buffer[];
  size(): number;
  buffer: Buffer;
}
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (batch: {
    records: Array<{ buffer: Buffer }> | EncodedRecords;
    lastOffsetDelta: number;
    firstTimestamp?: number;
    maxTimestamp?: number;
  }) => Promise<PatchedEncoder>;
};
/** A message as the produce request takes it. */
interface ProduceMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  timestamp?: number;
}
type EncodedRecords = { length: number; encoder: unknown };
const { encodeRecords } = require('kafkajs/src/protocol/requests/produce/v3/request.js') as {
  encodeRecords: (messages: ProduceMessage[], dateNow: number, firstTimestamp: number) => EncodedRecords;
};
const RecordBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (
  decoder: unknown,
) => Promise<{ records: Array<{ offset: string; value: Buffer }> }>;
const FetchDecoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown;
const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (args: {
  topic: string;
  partitionMetadata: unknown[];
  messages: Array<{ partition: number; value: string }>;
  partitioner: (args: { message: { partition: number } }) => number;
}) => Record<number, Array<{ partition: number; value: string }>>;

const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer;
  headers?: Record<string, string>;
}) => { buffer: Buffer };
const RecordDecoder = require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as (
  decoder: unknown,
  context: { firstOffset: string; firstTimestamp: string; magicByte: number },
) => {
  offset: string;
  offsetNumber: number;
  timestamp: string;
  key: Buffer;
  value: Buffer;
  headers: Record<string, Buffer>;
};
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => {
  readVarIntBytes(): Buffer;
};
const Batch = require('kafkajs/src/consumer/batch.js') as new (
  topic: string,
  fetchedOffset: string,
  partitionData: { partition: number; highWatermark: string; messages: Array<{ offset: string }> },
) => { messages: Array<{ offset: string }>; lastOffset(): string };
/** The consumer group's wait while every partition is paused, and the runner's stop (patched). */
interface PausedWaits {
  maxWaitTime: number;
  pausedWaits: Set<() => void>;
  pausedWaitsEnded: boolean;
  waitWhilePaused(): Promise<void>;
  wakePausedFetches(): void;
}
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup.js') as { prototype: PausedWaits };
const Runner = require('kafkajs/src/consumer/runner.js') as { prototype: { stop(): Promise<void> } };
const recordDecoderSource = readFileSync(
  require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js'),
  'utf8',
);

/** Unsigned LEB128, as the Kafka protocol writes varints. */
function leb128(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

describe('kafkajs as patched (patches/kafkajs+2.2.4.patch)', () => {
  it('computes record batch checksums natively, equal to its own CRC-32C', () => {
    expect(crc32c.native).toBe(true);
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    for (const size of [0, 1, 7, 64, 4096, 1_000_003]) {
      const bytes = randomBytes(size);
      expect(crc32c(bytes)).toBe(jsCrc32c(bytes) >>> 0);
    }
  });

  it('encodes what it wrote, and nothing of the unzeroed buffer beyond it', () => {
    const encoder = new Encoder();
    const payload = randomBytes(3000);
    encoder.writeInt32(7);
    encoder.writeBytes(payload);
    const out = encoder.buffer;
    expect(out.length).toBe(4 + 4 + payload.length);
    expect(out.readInt32BE(0)).toBe(7);
    expect(out.readInt32BE(4)).toBe(payload.length);
    expect(out.subarray(8).equals(payload)).toBe(true);
  });

  it('writes varints in place, byte for byte as LEB128, after what came before', () => {
    const values = [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 21, 2 ** 28 - 1, 2 ** 31 - 1, 2 ** 32 - 1];
    const encoder = new Encoder();
    encoder.writeInt32(-1);
    for (const v of values) encoder.writeUVarInt(v);
    encoder.writeVarInt(-3); // zigzag: 5
    expect([...encoder.buffer]).toEqual([0xff, 0xff, 0xff, 0xff, ...values.flatMap(leb128), 5]);
  });

  it("groups a send's messages per partition in their order, in one pass", () => {
    const messages = Array.from({ length: 10_000 }, (_, i) => ({ partition: i % 3, value: String(i) }));
    const grouped = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: [{}, {}, {}],
      messages,
      partitioner: ({ message }) => message.partition,
    });
    expect(String(groupMessagesPerPartition)).toContain('current.push(message)'); // the patch is in effect
    expect(Object.keys(grouped).sort()).toEqual(['0', '1', '2']);
    for (const p of [0, 1, 2]) expect(grouped[p]).toEqual(messages.filter((m) => m.partition === p));
    expect(
      groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: () => 0 }),
    ).toEqual({});
  });

  it('decodes record timestamps and offsets as its Long arithmetic does, numbers or not', () => {
    expect(recordDecoderSource).toContain('readSmallVarLong'); // the patch is in effect
    const cases: Array<[string, number, string, number]> = [
      ['1796373454067', 0, '0', 0],
      ['1796373454067', 123_456, '41', 7],
      ['1796373454067', -5000, '9007199254740000', 990],
      ['-1', 0, '-1', 0],
      ['1796373454067', 2 ** 50 + 3, '9007199254740990', 5], // an 8-byte delta, an offset past 2^53
      ['9223372036854775000', 807, '100', 2 ** 31 - 1],
      ['1000', -(2 ** 52), '5', 1],
    ];
    for (const [firstTimestamp, timestampDelta, firstOffset, offsetDelta] of cases) {
      const bytes = Record({
        offsetDelta,
        timestampDelta,
        key: Buffer.from('k'),
        value: Buffer.from('value'),
        headers: { h: 'x' },
      }).buffer;
      const body = new Decoder(bytes).readVarIntBytes();
      const record = RecordDecoder(new Decoder(body), { firstOffset, firstTimestamp, magicByte: 2 });
      expect(record.timestamp).toBe(String(BigInt(firstTimestamp) + BigInt(timestampDelta)));
      expect(record.offset).toBe(String(BigInt(firstOffset) + BigInt(offsetDelta)));
      const exact = BigInt(firstOffset) + BigInt(offsetDelta);
      if (exact <= BigInt(Number.MAX_SAFE_INTEGER)) expect(record.offsetNumber).toBe(Number(exact));
      expect(JSON.parse(JSON.stringify(record))).toMatchObject({
        offset: record.offset,
        timestamp: record.timestamp,
      });
      expect(String(record.key)).toBe('k');
      expect(String(record.value)).toBe('value');
      expect(String(record.headers.h)).toBe('x');
    }
  });

  it('gives a record without headers one frozen empty object, and keeps a batch whose messages all stay', () => {
    const decodeOne = (headers: Record<string, string> | undefined) => {
      const bytes = Record({
        offsetDelta: 1,
        timestampDelta: 2,
        key: null,
        value: Buffer.from('v'),
        headers,
      }).buffer;
      return RecordDecoder(new Decoder(new Decoder(bytes).readVarIntBytes()), {
        firstOffset: '10',
        firstTimestamp: '1000',
        magicByte: 2,
      });
    };
    const none = decodeOne(undefined);
    expect(none.headers).toEqual({});
    expect(Object.isFrozen(none.headers)).toBe(true);
    expect(decodeOne({}).headers).toBe(none.headers);
    expect(String(decodeOne({ a: '1' }).headers.a)).toBe('1');
    expect([none.offset, none.timestamp, none.offsetNumber]).toEqual(['11', '1002', 11]);
    // A header count below -1 (a corrupt record) still throws, as kafkajs' array reader did.
    // Attributes 0, deltas 0, key null (-1), value 'v', then the count -2 (zig-zag 3).
    const corrupt = Buffer.from([0, 0, 0, 1, 2, 0x76, 3]);
    const context = { firstOffset: '0', firstTimestamp: '0', magicByte: 2 };
    expect(() => RecordDecoder(new Decoder(corrupt), context)).toThrow(RangeError);
    expect(RecordDecoder(new Decoder(Buffer.from([0, 0, 0, 1, 2, 0x76, 1])), context).headers).toBe(
      none.headers,
    );

    const messages = ['3', '4', '5'].map((offset) => ({ offset, isControlRecord: false }));
    const batch = new Batch('t', '3', { partition: 0, highWatermark: '6', messages });
    expect(batch.messages).toBe(messages);
    const withControl = [...messages, { offset: '6', isControlRecord: true }];
    const filtered = new Batch('t', '4', { partition: 0, highWatermark: '7', messages: withControl });
    expect(filtered.messages.map((m) => m.offset)).toEqual(['4', '5']);
    expect(filtered.lastOffset()).toBe('6');
  });

  it("keeps the fetched batch's messages from the fetched offset on, as its Long comparison does", () => {
    expect(String(Batch)).toContain('fetchedSafe'); // the patch is in effect
    const offsets = [
      '0',
      '5',
      '9',
      '10',
      '11',
      '9007199254740991',
      '9007199254740993',
      '9223372036854775807',
    ];
    for (const fetchedOffset of ['0', '10', '9007199254740992', '9223372036854775806']) {
      const batch = new Batch('t', fetchedOffset, {
        partition: 0,
        highWatermark: '0',
        messages: offsets.map((offset) => ({ offset })),
      });
      expect(batch.messages.map((m) => m.offset)).toEqual(
        offsets.filter((o) => BigInt(o) >= BigInt(fetchedOffset)),
      );
    }
  });
  it('appends large encoders by reference: the same bytes as copying them, in order, and writing goes on after', () => {
    const encoder = () => new Encoder() as unknown as PatchedEncoder;
    const big = encoder().writeBytes(randomBytes(20_000));
    const small = encoder().writeBytes(randomBytes(10));
    const e = encoder().writeInt32(7).writeEncoder(big).writeInt32(9).writeEncoder(small);
    e.writeEncoderArray([big, small, big]);
    const int32 = (v: number) => Buffer.from([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
    const expected = Buffer.concat([
      int32(7),
      big.buffer,
      int32(9),
      small.buffer,
      big.buffer,
      small.buffer,
      big.buffer,
    ]);
    // Not joined yet: the large parts are the same memory as the encoders they came from.
    expect(e.buffers().length).toBeGreaterThan(3);
    expect(e.buffers().filter((b) => b.buffer === big.buffers()[0]?.buffer)).toHaveLength(3);
    expect(e.size()).toBe(expected.length);
    expect(Buffer.concat(e.buffers()).equals(expected)).toBe(true);
    // Joined once, then written on.
    expect(e.buffer.equals(expected)).toBe(true);
    expect(e.buffers()).toHaveLength(1);
    e.writeInt32(5);
    expect(e.buffer.equals(Buffer.concat([expected, int32(5)]))).toBe(true);
    expect(e.size()).toBe(expected.length + 4);
  });

  it('encodes a record batch larger than the by-reference threshold that its decoder reads back, checksum included', async () => {
    const values = Array.from({ length: 40 }, (_, i) => randomBytes(1_000 + i));
    const records = values.map((value, i) =>
      Record({ offsetDelta: i, timestampDelta: i, key: Buffer.from(`k${i}`), value }),
    );
    const batch = await RecordBatch({ records, lastOffsetDelta: values.length - 1 });
    expect(batch.size()).toBeGreaterThan(40_000);
    const bytes = batch.buffer;
    // firstOffset (8), length (4), partition leader epoch (4), magic (1), CRC (4), then the body it covers.
    expect(bytes.readInt32BE(8)).toBe(bytes.length - 12);
    expect(bytes.readUInt32BE(17)).toBe(jsCrc32c(bytes.subarray(21)));
    const decoded = await RecordBatchDecoder(new FetchDecoder(bytes));
    expect(decoded.records.map((r) => r.value)).toEqual(values);
    expect(decoded.records.map((r) => r.offset)).toEqual(values.map((_, i) => String(i)));
  });
  it("encodes a produce request's records in one pass, byte for byte as a record at a time", async () => {
    const now = 1_796_400_000_000;
    const messages: ProduceMessage[] = [
      { key: Buffer.from('k0'), value: randomBytes(3_000) },
      { key: 'série', value: 'valeur', timestamp: now - 5 },
      { key: null, value: null },
      { value: Buffer.alloc(0), timestamp: now + 2 ** 31 },
      { key: Buffer.alloc(0), value: randomBytes(20_000), timestamp: now - 2 ** 40 },
      ...Array.from({ length: 200 }, (_, i) => ({ key: String(i), value: randomBytes(i) })),
    ];
    const first = now - 2 ** 40;
    const asBefore = messages.map((m, i) =>
      Record({
        ...(m as { key: Buffer | null; value: Buffer }),
        offsetDelta: i,
        timestampDelta: (m.timestamp ?? now) - first,
      }),
    );
    const batch = async (records: Array<{ buffer: Buffer }> | EncodedRecords) =>
      (
        await RecordBatch({
          records,
          lastOffsetDelta: messages.length - 1,
          firstTimestamp: first,
          maxTimestamp: now + 2 ** 31,
        })
      ).buffer;
    const expected = await batch(asBefore);
    expect((await batch(encodeRecords(messages, now, first))).equals(expected)).toBe(true);
    const decoded = await RecordBatchDecoder(new FetchDecoder(expected));
    expect(decoded.records.map((r) => r.value)).toEqual(
      messages.map((m) => (m.value === null ? null : Buffer.from(m.value))),
    );
  });

  it('reads records in place: keys, values and headers as before, bytes past a record skipped, malformed records as before', async () => {
    const made = [
      { offsetDelta: 0, timestampDelta: 0, key: Buffer.from('a'), value: Buffer.from('one') },
      {
        offsetDelta: 1,
        timestampDelta: 5,
        key: Buffer.alloc(0),
        value: Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) % 256)),
        headers: { h: 'x' },
      },
      { offsetDelta: 2, timestampDelta: 9, key: Buffer.from('c'), value: Buffer.from('three') },
    ];
    const batch = await RecordBatch({ records: made.map((r) => Record(r)), lastOffsetDelta: 2 });
    const valid = batch.buffer;
    // After the batch header (61 bytes: offset, length, epoch, magic, CRC, attributes, …, the
    // record count), each record is its zig-zag varint length and its fields.
    const header = valid.subarray(0, 61);
    const bodies = made.map((r) => {
      const bytes = Record(r).buffer;
      const reader = new Decoder(bytes);
      return reader.readVarIntBytes();
    });
    const zigzag = (n: number) => {
      const out: number[] = [];
      let v = (n << 1) ^ (n >> 31);
      while (v >= 0x80) {
        out.push((v & 0x7f) | 0x80);
        v >>>= 7;
      }
      out.push(v);
      return Buffer.from(out);
    };
    const assemble = (records: Buffer[]) => {
      const bytes = Buffer.concat([header, ...records]);
      bytes.writeInt32BE(bytes.length - 12, 8);
      return bytes;
    };
    const decode = async (bytes: Buffer) =>
      (await RecordBatchDecoder(new FetchDecoder(bytes))) as unknown as {
        records: Array<{
          offset: string;
          timestamp: string;
          key: Buffer;
          value: Buffer;
          headers: Record<string, Buffer>;
        }>;
      };
    const asMade = (await decode(valid)).records;
    expect(asMade.map((r) => r.value)).toEqual(made.map((r) => r.value));
    expect(asMade.map((r) => r.key)).toEqual(made.map((r) => r.key));
    expect(asMade.map((r) => r.offset)).toEqual(['0', '1', '2']);
    expect(asMade[1]?.headers).toEqual({ h: Buffer.from('x') });
    // A record that says it is 4 bytes longer than its fields: the 4 bytes are skipped.
    const padded = await decode(
      assemble(
        bodies.map((body, i) =>
          i === 1
            ? Buffer.concat([zigzag(body.length + 4), body, Buffer.from([9, 9, 9, 9])])
            : Buffer.concat([zigzag(body.length), body]),
        ),
      ),
    );
    expect(padded.records.map((r) => r.value)).toEqual(made.map((r) => r.value));
    // A record that says it is shorter than its fields, or longer than the batch: read as kafkajs
    // read every record before, from a decoder of its own bytes, whatever that gives or throws.
    const context = { firstOffset: '0', firstTimestamp: asMade[0]?.timestamp ?? '0', magicByte: 2 };
    const before = (bytes: Buffer) => {
      const records = new FetchDecoder(bytes.subarray(61)) as unknown as {
        readVarIntBytes(): Buffer;
      };
      return made.map(() => RecordDecoder(new Decoder(records.readVarIntBytes()), context));
    };
    const outcome = async (read: () => unknown) => {
      try {
        const records = (await read()) as Array<{
          offset: string;
          key: Buffer;
          value: Buffer;
          headers: unknown;
        }>;
        return records.map(({ offset, key, value, headers }) => ({ offset, key, value, headers }));
      } catch (error) {
        return { threw: String(error) };
      }
    };
    const short = bodies.map((body, i) =>
      Buffer.concat([zigzag(i === 0 ? body.length - 2 : body.length), body]),
    );
    const long = bodies.map((body, i) =>
      Buffer.concat([zigzag(i === 2 ? body.length + 50 : body.length), body]),
    );
    for (const malformed of [short, long]) {
      const bytes = assemble(malformed);
      expect(await outcome(async () => (await decode(bytes)).records)).toEqual(
        await outcome(() => before(bytes)),
      );
    }
  });

  it('reads a compressed batch in place too', async () => {
    const made = Array.from({ length: 30 }, (_, i) => ({
      offsetDelta: i,
      timestampDelta: i,
      key: Buffer.from(`k${i}`),
      value: Buffer.from(`value ${i} `.repeat(i + 1)),
      headers: i % 3 === 0 ? { n: String(i) } : undefined,
    }));
    const batch = await RecordBatch({
      compression: 1, // GZIP
      records: made.map((r) => Record(r)),
      lastOffsetDelta: made.length - 1,
    } as never);
    const decoded = (await RecordBatchDecoder(new FetchDecoder(batch.buffer))) as unknown as {
      records: Array<{ offset: string; key: Buffer; value: Buffer; headers: Record<string, Buffer> }>;
    };
    expect(decoded.records.map((r) => r.value)).toEqual(made.map((r) => r.value));
    expect(decoded.records.map((r) => r.key)).toEqual(made.map((r) => r.key));
    expect(decoded.records.map((r) => r.offset)).toEqual(made.map((_, i) => String(i)));
    expect(decoded.records[3]?.headers).toEqual({ n: Buffer.from('3') });
  });

  it('ends the wait of a fetch with every partition paused when the consumer stops, not after maxWaitTime', async () => {
    // An hour's wait: if stopping did not end it, the test would time out.
    const group = Object.assign(Object.create(ConsumerGroup.prototype) as PausedWaits, {
      maxWaitTime: 3_600_000,
      pausedWaits: new Set<() => void>(),
      pausedWaitsEnded: false,
      leave: () => {
        events.push('left the group');
        return Promise.resolve();
      },
    });
    const events: string[] = [];
    let fetching = true;
    // Two fetchers, each waiting; each fetcher loops (and would wait again) until told to stop.
    const fetcher = async (name: string) => {
      while (fetching) await group.waitWhilePaused();
      events.push(`${name} ended`);
    };
    const fetchers = [fetcher('a'), fetcher('b')];
    expect(group.pausedWaits.size).toBe(2);
    const runner = {
      running: true,
      logger: { debug: () => undefined },
      consumerGroup: group,
      fetchManager: {
        stop: () => {
          fetching = false;
          return Promise.all(fetchers);
        },
      },
      waitForConsumer: () => Promise.resolve(),
    };
    await Runner.prototype.stop.call(runner);
    expect(events).toEqual(['a ended', 'b ended', 'left the group']);
    expect(group.pausedWaits.size).toBe(0);
    // A fetch that comes to its wait after the stop (it was between requests) does not wait.
    await group.waitWhilePaused();
    // Without a stop, the wait still ends after maxWaitTime, as before.
    const running = Object.assign(Object.create(ConsumerGroup.prototype) as PausedWaits, {
      maxWaitTime: 1,
      pausedWaits: new Set<() => void>(),
      pausedWaitsEnded: false,
    });
    await running.waitWhilePaused();
    expect(running.pausedWaits.size).toBe(0);
  });

  it('gives a record where its key and value lie, and makes them as Buffers only when read', async () => {
    const made = [
      { offsetDelta: 0, timestampDelta: 0, key: Buffer.from('key'), value: Buffer.from('first value') },
      { offsetDelta: 1, timestampDelta: 1, key: null, value: Buffer.from('second') },
    ];
    const batch = await RecordBatch({
      records: made.map((r) => Record(r as Parameters<typeof Record>[0])),
      lastOffsetDelta: 1,
    });
    const { records } = (await RecordBatchDecoder(new FetchDecoder(batch.buffer))) as unknown as {
      records: Array<{
        bytes: Buffer;
        keyStart: number;
        keyLength: number;
        valueStart: number;
        valueLength: number;
        key: Buffer | null;
        value: Buffer | null;
        toJSON(): { key: Buffer | null; value: Buffer | null };
      }>;
    };
    const [first, second] = records;
    expect(first?.bytes.subarray(first.valueStart, first.valueStart + first.valueLength)).toEqual(
      Buffer.from('first value'),
    );
    expect(first?.bytes.subarray(first.keyStart, first.keyStart + first.keyLength)).toEqual(
      Buffer.from('key'),
    );
    expect([first?.key, first?.value]).toEqual([Buffer.from('key'), Buffer.from('first value')]);
    // A null key is length -1, and reads as null; the value lies in the same buffer.
    expect([second?.keyLength, second?.key, second?.value]).toEqual([-1, null, Buffer.from('second')]);
    expect(second?.bytes).toBe(first?.bytes);
    // No Buffer is kept on the record: each read makes one over the same bytes.
    expect(Object.keys(first ?? {})).not.toContain('value');
    expect(first?.value).not.toBe(first?.value);
    expect(first?.toJSON()).toMatchObject({ key: Buffer.from('key'), value: Buffer.from('first value') });
  });
});
