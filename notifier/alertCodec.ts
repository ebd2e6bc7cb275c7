import type avro from 'avsc';
import { RejectError, messageOf } from '../core/errors.js';
import { WIRE_HEADER_BYTES, alertSchema, alertType, frame, type AlertEvent } from '../schemas/index.js';
import type { Registry } from '../schemas/registry.js';

/**
 * Alert events in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body), in any
 * writer schema compatible with ours (schemas/alert.avsc).
 */
export class AlertCodec {
  /** Readers per writer schema id; resolving writer → reader schemas is the costly part. */
  private readonly readers = new Map<number, Promise<(body: Buffer) => AlertEvent>>();
  /** Schema id of our schema, per subject, once registered. */
  private readonly ids = new Map<string, Promise<number>>();

  constructor(private readonly registry: Registry) {}

  /**
   * The event in a record value; a RejectError when the record is not one (it goes to the
   * dead-letter topic), any other error when the registry cannot be asked (retry later).
   */
  async decode(value: Buffer | null): Promise<AlertEvent> {
    if (value === null || value.length === 0) throw new RejectError('empty record value');
    if (value.length < WIRE_HEADER_BYTES)
      throw new RejectError(`record of ${value.length} bytes has no wire header`);
    if (value[0] !== 0)
      throw new RejectError(`wrong magic byte ${value[0]} (expected 0, Confluent wire format)`);
    const read = await this.reader(value.readUInt32BE(1));
    try {
      return read(value.subarray(WIRE_HEADER_BYTES));
    } catch (error) {
      throw new RejectError(`cannot decode Avro body: ${messageOf(error)}`, { cause: error });
    }
  }

  /** The record value of an event for `topic` (our schema registered under `<topic>-value`). */
  async encode(topic: string, event: AlertEvent): Promise<Buffer> {
    const subject = `${topic}-value`;
    let id = this.ids.get(subject);
    if (!id) {
      id = this.registry.register(subject, alertSchema);
      id.catch(() => this.ids.delete(subject));
      this.ids.set(subject, id);
    }
    return frame(await id, alertType.toBuffer(event));
  }

  private reader(schemaId: number): Promise<(body: Buffer) => AlertEvent> {
    let reader = this.readers.get(schemaId);
    if (!reader) {
      reader = this.registry.writerType(schemaId).then((writer: avro.Type) => {
        let resolver: avro.Resolver;
        try {
          resolver = alertType.createResolver(writer);
        } catch (error) {
          throw new RejectError(`schema id ${schemaId} is not an alert event schema: ${messageOf(error)}`);
        }
        return (body: Buffer) => alertType.fromBuffer(body, resolver) as AlertEvent;
      });
      // Only answers stay cached: a registry outage must not poison the id.
      reader.catch((error: unknown) => {
        if (!(error instanceof RejectError)) this.readers.delete(schemaId);
      });
      this.readers.set(schemaId, reader);
    }
    return reader;
  }
}
