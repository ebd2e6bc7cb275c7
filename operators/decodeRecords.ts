import type avro from 'avsc';
import { concatMap, type OperatorFunction } from 'rxjs';
import { RejectError, messageOf } from '../core/errors.js';
import type { DecodedBatch, DecodedRecord, PartitionBatch, SourceRecord } from '../core/records.js';
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
  const readers = new Map<number, (body: Buffer) => Sample[]>();
  // Ids that failed for good, with the reason, so later records are rejected without a lookup.
  const unknown = new Map<number, string>();

  async function readerFor(schemaId: number): Promise<((body: Buffer) => Sample[]) | string> {
    const known = readers.get(schemaId) ?? unknown.get(schemaId);
    if (known !== undefined) return known;
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
        for (const record of batch.records) records.push(await decodeOne(record, readerFor));
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

async function decodeOne(
  record: SourceRecord,
  readerFor: (id: number) => Promise<((body: Buffer) => Sample[]) | string>,
): Promise<DecodedRecord> {
  const { value, offset } = record;
  if (value === null || value.length === 0) return { offset, record, error: 'empty record value' };
  if (value.length < WIRE_HEADER_BYTES)
    return { offset, record, error: `record of ${value.length} bytes has no wire header` };
  if (value[0] !== 0)
    return { offset, record, error: `wrong magic byte ${value[0]} (expected 0, Confluent wire format)` };
  const reader = await readerFor(value.readUInt32BE(1));
  if (typeof reader === 'string') return { offset, record, error: reader };
  try {
    return { offset, record, samples: reader(value.subarray(WIRE_HEADER_BYTES)) };
  } catch (error) {
    return { offset, record, error: `cannot decode Avro body: ${messageOf(error)}` };
  }
}

/** A reader from one writer schema: a batch record, a single sample, or a bare array of samples. */
function compileReader(writer: avro.Type, schemaId: number): (body: Buffer) => Sample[] {
  const failures: string[] = [];
  try {
    const resolver = batchType.createResolver(writer);
    return (body) => (batchType.fromBuffer(body, resolver) as { samples: Sample[] }).samples;
  } catch (error) {
    failures.push(messageOf(error));
  }
  try {
    const resolver = sampleType.createResolver(writer);
    return (body) => [sampleType.fromBuffer(body, resolver) as Sample];
  } catch (error) {
    failures.push(messageOf(error));
  }
  try {
    const resolver = sampleArrayType.createResolver(writer);
    return (body) => sampleArrayType.fromBuffer(body, resolver) as Sample[];
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
