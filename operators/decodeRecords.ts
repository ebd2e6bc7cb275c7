import type avro from 'avsc';
import { concatMap, type OperatorFunction } from 'rxjs';
import { RejectError, messageOf } from '../core/errors.js';
import type { DecodedBatch, DecodedRecord, PartitionBatch, SourceRecord } from '../core/records.js';
import { decodeSampleBatch } from '../schemas/decodeBatch.js';
import { DecodedColumns } from '../schemas/decodedSamples.js';
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
      concatMap(async (batch) => {
        const records: DecodedRecord[] = [];
        // The samples of every record of the batch, one after the other.
        const columns = new DecodedColumns();
        for (const record of batch.records) {
          const decoded = decodeOne(record, readerFor, columns);
          records.push(decoded instanceof Promise ? await decoded : decoded);
        }
        return {
          topic: batch.topic,
          partition: batch.partition,
          lastOffset: batch.lastOffset,
          generation: batch.generation,
          firstOffset: batch.records[0]?.offset ?? batch.lastOffset,
          records,
        };
      }),
    );
}

/** Reads the samples of the Avro body from `start` in `value`, appending them to the batch's columns. */
type Reader = (value: Buffer, start: number, out: DecodedColumns) => void;

function decodeOne(
  record: SourceRecord,
  readerFor: (id: number) => Reader | string | Promise<Reader | string>,
  columns: DecodedColumns,
): DecodedRecord | Promise<DecodedRecord> {
  const { value, offset } = record;
  if (value === null || value.length === 0) return { offset, record, error: 'empty record value' };
  if (value.length < WIRE_HEADER_BYTES)
    return { offset, record, error: `record of ${value.length} bytes has no wire header` };
  if (value[0] !== 0)
    return { offset, record, error: `wrong magic byte ${value[0]} (expected 0, Confluent wire format)` };
  const reader = readerFor(value.readUInt32BE(1));
  return reader instanceof Promise
    ? reader.then((r) => read(record, r, columns))
    : read(record, reader, columns);
}

function read(record: SourceRecord, reader: Reader | string, columns: DecodedColumns): DecodedRecord {
  const { value, offset } = record;
  if (typeof reader === 'string') return { offset, record, error: reader };
  const from = columns.length;
  try {
    reader(value as Buffer, WIRE_HEADER_BYTES, columns);
    return { offset, record, samples: { columns, from, to: columns.length } };
  } catch (error) {
    columns.truncate(from);
    return { offset, record, error: `cannot decode Avro body: ${messageOf(error)}` };
  }
}

/** A reader from one writer schema: a batch record, a single sample, or a bare array of samples. */
function compileReader(writer: avro.Type, schemaId: number): Reader {
  // Our own batch schema, as produce, the SDK and the collector write it: the fast reader.
  if (writer.fingerprint().equals(batchType.fingerprint())) return decodeSampleBatch;
  const failures: string[] = [];
  try {
    const resolver = batchType.createResolver(writer);
    return (value, start, out) =>
      out.pushSamples(
        (batchType.fromBuffer(value.subarray(start), resolver) as { samples: Sample[] }).samples,
      );
  } catch (error) {
    failures.push(messageOf(error));
  }
  try {
    const resolver = sampleType.createResolver(writer);
    return (value, start, out) =>
      out.pushSamples([sampleType.fromBuffer(value.subarray(start), resolver) as Sample]);
  } catch (error) {
    failures.push(messageOf(error));
  }
  try {
    const resolver = sampleArrayType.createResolver(writer);
    return (value, start, out) =>
      out.pushSamples(sampleArrayType.fromBuffer(value.subarray(start), resolver) as Sample[]);
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
