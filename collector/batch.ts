import type { Message } from 'kafkajs';
import { longSize, sampleSize, writeLong, writeSample } from '../schemas/encodeBatch.js';
import { WIRE_HEADER_BYTES } from '../schemas/index.js';

/** Samples per Kafka record at most. */
const MAX_SAMPLES_PER_RECORD = 2_000;
/** Bytes of samples per Kafka record, about: far below the broker's 1 MiB default limit. */
const MAX_RECORD_BYTES = 512 * 1024;

/** Samples of one partition, Avro-encoded back to back (`writeSample`s). */
export interface Chunk {
  partition: number;
  count: number;
  bytes: Buffer;
}

/**
 * Accepted samples, Avro-encoded and grouped by the partition their series maps to among
 * `partitions` partitions, in chunks that fit a Kafka record; within a partition in the order
 * they came. Built by `StagedSamples.encode`.
 */
export interface EncodedBatch {
  partitions: number;
  samples: number;
  chunks: Chunk[];
}

/**
 * The samples of a request (or a drained log chunk) staged for encoding: each with its series'
 * Avro bytes and partition. Reused from request to request (encoding is synchronous), so that
 * staging allocates nothing.
 */
export class StagedSamples {
  private encoded: Buffer[] = [];
  private timestamps: number[] = [];
  private values: number[] = [];
  private counters: boolean[] = [];
  private partitionOf: number[] = [];
  private count = 0;
  /** Bytes per partition. */
  private sizes: number[] = [];
  private partitions = 1;

  /** Starts staging for `partitions` partitions. */
  reset(partitions: number): void {
    this.partitions = partitions;
    this.count = 0;
    this.sizes.length = 0;
    for (let p = 0; p < partitions; p++) this.sizes.push(0);
  }

  add(series: Buffer, partition: number, timestamp: number, value: number, counter: boolean): void {
    const k = this.count++;
    this.encoded[k] = series;
    this.partitionOf[k] = partition;
    this.timestamps[k] = timestamp;
    this.values[k] = value;
    this.counters[k] = counter;
    this.sizes[partition] = (this.sizes[partition] as number) + sampleSize(series.length, timestamp);
  }

  get size(): number {
    return this.count;
  }

  /** The staged samples encoded into one new buffer, partition after partition, cut into chunks. */
  encode(): EncodedBatch {
    const { partitions, count, sizes } = this;
    const cursor: number[] = new Array<number>(partitions);
    let total = 0;
    for (let p = 0; p < partitions; p++) {
      cursor[p] = total;
      total += sizes[p] as number;
    }
    const out = Buffer.allocUnsafe(total);
    const chunkStart = cursor.slice();
    const inChunk: number[] = new Array<number>(partitions).fill(0);
    const chunks: Chunk[] = [];
    for (let k = 0; k < count; k++) {
      const p = this.partitionOf[k] as number;
      const at = writeSample(
        out,
        cursor[p] as number,
        this.encoded[k] as Buffer,
        this.timestamps[k] as number,
        this.values[k] as number,
        this.counters[k] as boolean,
      );
      cursor[p] = at;
      const n = (inChunk[p] as number) + 1;
      if (n === MAX_SAMPLES_PER_RECORD || at - (chunkStart[p] as number) >= MAX_RECORD_BYTES) {
        chunks.push({ partition: p, count: n, bytes: out.subarray(chunkStart[p], at) });
        chunkStart[p] = at;
        inChunk[p] = 0;
      } else inChunk[p] = n;
    }
    for (let p = 0; p < partitions; p++) {
      const n = inChunk[p] as number;
      if (n > 0) chunks.push({ partition: p, count: n, bytes: out.subarray(chunkStart[p], cursor[p]) });
    }
    return { partitions, samples: count, chunks };
  }
}

/**
 * Kafka records of the batches' samples, each a `SampleBatch` in the Confluent wire format
 * with schema id `schemaId`: per partition, consecutive chunks go into one record while it
 * stays within the record limits. The batches must be encoded for the same partition count.
 */
export function toRecords(batches: EncodedBatch[], schemaId: number): Message[] {
  const byPartition = new Map<number, Chunk[]>();
  for (const batch of batches) {
    for (const chunk of batch.chunks) {
      let list = byPartition.get(chunk.partition);
      if (!list) byPartition.set(chunk.partition, (list = []));
      list.push(chunk);
    }
  }
  const messages: Message[] = [];
  for (const [partition, chunks] of byPartition) {
    let from = 0;
    while (from < chunks.length) {
      let to = from;
      let count = 0;
      let bytes = 0;
      do {
        const c = chunks[to++] as Chunk;
        count += c.count;
        bytes += c.bytes.length;
      } while (
        to < chunks.length &&
        count + (chunks[to] as Chunk).count <= MAX_SAMPLES_PER_RECORD &&
        bytes + (chunks[to] as Chunk).bytes.length <= MAX_RECORD_BYTES
      );
      messages.push({ partition, key: null, value: sampleBatch(chunks, from, to, count, bytes, schemaId) });
      from = to;
    }
  }
  return messages;
}

/** The length of `toSampleBatch(batch)`, without building it. */
export function sampleBatchBytes(batch: EncodedBatch): number {
  const bytes = batch.chunks.reduce((n, c) => n + c.bytes.length, 0);
  return (batch.samples > 0 ? longSize(batch.samples) : 0) + bytes + 1;
}

/** The batch's samples as one `SampleBatch` body (no wire header), as the write-ahead log keeps them. */
export function toSampleBatch(batch: EncodedBatch): Buffer {
  const bytes = batch.chunks.reduce((n, c) => n + c.bytes.length, 0);
  return sampleBatch(batch.chunks, 0, batch.chunks.length, batch.samples, bytes);
}

/** A SampleBatch of `chunks[from, to)` (`count` samples in `bytes` bytes), framed when a schema id is given. */
function sampleBatch(
  chunks: Chunk[],
  from: number,
  to: number,
  count: number,
  bytes: number,
  schemaId?: number,
): Buffer {
  const header = schemaId === undefined ? 0 : WIRE_HEADER_BYTES;
  const out = Buffer.allocUnsafe(header + longSize(count) + bytes + 1);
  if (schemaId !== undefined) {
    out[0] = 0;
    out.writeUInt32BE(schemaId, 1);
  }
  let at = count > 0 ? writeLong(out, header, count) : header;
  for (let i = from; i < to; i++) {
    const c = (chunks[i] as Chunk).bytes;
    out.set(c, at);
    at += c.length;
  }
  out[at++] = 0;
  return out.subarray(0, at);
}
