import type avro from 'avsc';
import { concatMap, type OperatorFunction } from 'rxjs';
import { RejectError, messageOf } from '../core/errors.js';
import {
  partitionBatchOf,
  sourceRecord,
  type DecodedBatch,
  type DecodedRecord,
  type PartitionBatch,
  type RecordData,
  valueBytes,
} from '../core/records.js';
import { decodeSampleBatch } from '../schemas/decodeBatch.js';
import { DecodedColumns, samplesOf } from '../schemas/decodedSamples.js';
import { WIRE_HEADER_BYTES, batchType, sampleArrayType, sampleType, type Sample } from '../schemas/index.js';

/** Finds the writer type of a schema id; rejects with a RejectError for an id nobody knows. */
export type WriterLookup = (schemaId: number) => Promise<avro.Type>;

/**
 * Decodes Confluent-framed Avro records into samples: each record becomes its samples (a batch,
 * or a single sample, in any schema version compatible with ours) or the reason it cannot be read.
 *
 * ```ts
 * source$.pipe(decodeRecords((id) => registry.writerType(id)))
 * ```
 */
export function decodeRecords(lookup: WriterLookup): OperatorFunction<PartitionBatch, DecodedBatch> {
  // Readers per schema id, built once: resolving writer → reader schemas is the costly part.
  const readers = new Map<number, Reader>();
  // Ids that failed for good, with the reason, so later records are rejected without a lookup.
  const unknown = new Map<number, string>();

  // Known ids are answered synchronously: no promise per record.
  function readerFor(schemaId: number): Reader | string | Promise<Reader | string> {
    return readers.get(schemaId) ?? unknown.get(schemaId) ?? lookUp(schemaId);
  }

  async function lookUp(schemaId: number): Promise<Reader | string> {
    try {
      const reader = compileReader(await lookup(schemaId), schemaId);
      readers.set(schemaId, reader);
      return reader;
    } catch (error) {
      if (!(error instanceof RejectError)) throw error; // registry down: fail the stage, do not dead-letter
      unknown.set(schemaId, error.message);
      return error.message;
    }
  }

  return (source) =>
    source.pipe(
      concatMap(async (batch): Promise<DecodedBatch> => {
        const { records } = batch;
        // The samples of every record of the batch, one after the other (room for one each at least).
        const columns = new DecodedColumns(Math.max(256, records.length));
        const ends = new Int32Array(records.length);
        let errors: Map<number, string> | undefined;
        for (let i = 0; i < records.length; i++) {
          const outcome = decodeOne(records[i] as RecordData, readerFor, columns);
          const error = outcome instanceof Promise ? await outcome : outcome;
          if (error !== undefined) (errors ??= new Map()).set(i, error);
          ends[i] = columns.length;
        }
        return {
          topic: batch.topic,
          partition: batch.partition,
          lastOffset: batch.lastOffset,
          generation: batch.generation,
          firstOffset: batch.offsets[0] ?? batch.lastOffset,
          records,
          offsets: batch.offsets,
          columns,
          ends,
          errors,
        };
      }),
    );
}

/** The records of a decoded batch one by one: its samples, or why it could not be read. */
export function decodedRecords(batch: DecodedBatch): DecodedRecord[] {
  return batch.records.map((_, i) => {
    const record = sourceRecord(batch, i);
    const error = batch.errors?.get(i);
    if (error !== undefined) return { offset: record.offset, record, error };
    const from = i === 0 ? 0 : (batch.ends[i - 1] as number);
    return {
      offset: record.offset,
      record,
      samples: { columns: batch.columns, from, to: batch.ends[i] as number },
    };
  });
}

/** A decoded batch of records decoded already, each with columns of its own or an error (tests). */
export function decodedBatchOf(
  position: Omit<DecodedBatch, 'records' | 'offsets' | 'columns' | 'ends' | 'errors'>,
  decoded: ReadonlyArray<DecodedRecord>,
): DecodedBatch {
  const columns = new DecodedColumns();
  const ends = new Int32Array(decoded.length);
  let errors: Map<number, string> | undefined;
  decoded.forEach((d, i) => {
    if ('error' in d) (errors ??= new Map()).set(i, d.error);
    else columns.pushSamples(samplesOf(d.samples));
    ends[i] = columns.length;
  });
  return {
    ...partitionBatchOf(
      position,
      decoded.map((d) => d.record),
    ),
    firstOffset: position.firstOffset,
    columns,
    ends,
    errors,
  };
}

/**
 * Reads the samples of the Avro body `[start, end)` of `bytes` (nothing past `end`), appending
 * them to the batch's columns.
 */
type Reader = (bytes: Buffer, start: number, out: DecodedColumns, end: number) => void;

/** Where the record being decoded has its value (`valueBytes`), reused; holds no buffer between records. */
const NO_BYTES = Buffer.alloc(0);
const at = { bytes: NO_BYTES, start: 0, end: 0 };

/**
 * Decodes a record's samples into the batch's columns, reading its value in place where the
 * client's record says where it lies; gives why it cannot, if it cannot.
 */
function decodeOne(
  record: RecordData,
  readerFor: (id: number) => Reader | string | Promise<Reader | string>,
  columns: DecodedColumns,
): string | undefined | Promise<string | undefined> {
  const found = valueBytes(record, at);
  const { bytes, start, end } = at;
  at.bytes = NO_BYTES;
  if (!found || end === start) return 'empty record value';
  if (end - start < WIRE_HEADER_BYTES) return `record of ${end - start} bytes has no wire header`;
  if (bytes[start] !== 0) return `wrong magic byte ${bytes[start]} (expected 0, Confluent wire format)`;
  const reader = readerFor(bytes.readUInt32BE(start + 1));
  return reader instanceof Promise
    ? reader.then((r) => read(bytes, start, end, r, columns))
    : read(bytes, start, end, reader, columns);
}

function read(
  bytes: Buffer,
  start: number,
  end: number,
  reader: Reader | string,
  columns: DecodedColumns,
): string | undefined {
  if (typeof reader === 'string') return reader;
  const from = columns.length;
  try {
    reader(bytes, start + WIRE_HEADER_BYTES, columns, end);
    return undefined;
  } catch (error) {
    columns.truncate(from);
    return `cannot decode Avro body: ${messageOf(error)}`;
  }
}

/** A reader from one writer schema: a batch record, a single sample, or a bare array of samples. */
function compileReader(writer: avro.Type, schemaId: number): Reader {
  // Our own batch schema, as produce, the SDK and the collector write it: the fast reader.
  if (writer.fingerprint().equals(batchType.fingerprint())) return decodeSampleBatch;
  const failures: string[] = [];
  try {
    const resolver = batchType.createResolver(writer);
    return (bytes, start, out, end) =>
      out.pushSamples(
        (batchType.fromBuffer(bytes.subarray(start, end), resolver) as { samples: Sample[] }).samples,
      );
  } catch (error) {
    failures.push(messageOf(error));
  }
  try {
    const resolver = sampleType.createResolver(writer);
    return (bytes, start, out, end) =>
      out.pushSamples([sampleType.fromBuffer(bytes.subarray(start, end), resolver) as Sample]);
  } catch (error) {
    failures.push(messageOf(error));
  }
  try {
    const resolver = sampleArrayType.createResolver(writer);
    return (bytes, start, out, end) =>
      out.pushSamples(sampleArrayType.fromBuffer(bytes.subarray(start, end), resolver) as Sample[]);
  } catch (error) {
    failures.push(messageOf(error));
  }
  // Explain with the attempt that matches the writer's shape: a batch, a bare array, or a sample.
  const fields =
    writer.typeName === 'record' ? (writer as avro.types.RecordType).fields.map((f) => f.name) : [];
  const closest =
    writer.typeName === 'array' ? failures[2] : fields.includes('samples') ? failures[0] : failures[1];
  throw new RejectError(`schema id ${schemaId} is neither a metric sample nor a batch of them: ${closest}`);
}
