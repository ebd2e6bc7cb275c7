import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { PipelineError, RejectError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';

/**
 * The schema registry as the pipeline needs it: register a schema under a subject with
 * BACKWARD compatibility (on first use), and find the writer schema of a schema id.
 * Speaks the Confluent REST API (Apicurio's ccompat, Confluent Schema Registry, Karapace…).
 */
export class Registry {
  private readonly client: SchemaRegistry;
  /** Writer types by schema id; a pending promise is shared by concurrent lookups. */
  private readonly writers = new Map<number, Promise<avro.Type>>();

  constructor(readonly url: string) {
    this.client = new SchemaRegistry({ host: url, retry: { retries: 0 } });
  }

  /** Registers `schema` under `subject` (compatibility BACKWARD when the subject is new) and returns its id. */
  async register(subject: string, schema: avro.Schema): Promise<number> {
    const { id } = await withRetry(
      () =>
        this.client
          .register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject })
          .catch((error: unknown) => {
            throw toRegistryError(error, `cannot register a schema under subject ${subject}`);
          }),
      { attempts: 5 },
    );
    return id;
  }

  /** The writer type of `schemaId`; a RejectError when the registry does not know the id. */
  writerType(schemaId: number): Promise<avro.Type> {
    let pending = this.writers.get(schemaId);
    if (!pending) {
      pending = withRetry(() => this.fetchWriterType(schemaId), { attempts: 10, maxDelayMs: 5_000 });
      // Only successes stay cached: an outage must not poison the id for later records.
      pending.catch(() => this.writers.delete(schemaId));
      this.writers.set(schemaId, pending);
    }
    return pending;
  }

  private async fetchWriterType(schemaId: number): Promise<avro.Type> {
    let response: Response;
    try {
      response = await fetch(`${this.url}/schemas/ids/${schemaId}`);
    } catch (error) {
      throw new PipelineError(`schema registry ${this.url} is unreachable`, {
        cause: error,
        retriable: true,
      });
    }
    if (response.status === 404) throw new RejectError(`unknown schema id ${schemaId}`);
    if (!response.ok) {
      throw new PipelineError(`schema registry answered ${response.status} for schema id ${schemaId}`, {
        retriable: response.status >= 500,
      });
    }
    const body = (await response.json()) as { schema?: string; schemaType?: string };
    if (body.schemaType !== undefined && body.schemaType !== 'AVRO') {
      throw new RejectError(`schema id ${schemaId} is ${body.schemaType}, not Avro`);
    }
    try {
      return avro.Type.forSchema(JSON.parse(body.schema ?? 'null') as avro.Schema);
    } catch (error) {
      throw new RejectError(`schema id ${schemaId} is not a valid Avro schema`, { cause: error });
    }
  }
}

function toRegistryError(error: unknown, what: string): PipelineError {
  const status = (error as { status?: number }).status;
  const detail = error instanceof Error ? error.message : String(error);
  // Two processes registering under a new subject at once both set its compatibility; the
  // registry refuses the second ("A rule named 'COMPATIBILITY' already exists", Apicurio): a new
  // attempt finds the rule set and registers.
  const raced = /already exists/i.test(detail);
  const retriable = status === undefined || status >= 500 || raced;
  return new PipelineError(`${what}: ${detail}`, { cause: error, retriable });
}
