import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { defaultLimits } from './validate.js';

const name = z.string().regex(/^[a-zA-Z0-9._-]{1,200}$/, 'letters, digits, ".", "_" and "-" only');
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/** A window tier: Kafka Streams' TimeWindows.ofSizeAndGrace plus Flink's allowed lateness, and where its input comes from. */
const tier = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9]{1,20}$/, 'lower-case letters and digits only (it names a table and a topic)')
      .refine((n) => n !== 'raw', '"raw" names the raw samples')
      .describe(
        'Names the tier: its table `samples_<name>`, store `window-<name>` and topic `<topics.metrics>-<name>`.',
      ),
    sizeMs: positiveInt.describe('Window length, ms.'),
    graceMs: nonNegativeInt.describe(
      'Out-of-order records still accepted after the window end, before its one result is emitted, ms.',
    ),
    allowedLatenessMs: nonNegativeInt.describe(
      'After the result, records this late (ms) still correct it (a new revision); later ones go to the late topic.',
    ),
    from: z
      .string()
      .describe(
        '`raw` (the samples; only the first tier) or the name of an earlier tier whose results it folds.',
      ),
    retentionDays: positiveInt.describe('TTL of `samples_<name>`, days (applied when the table is created).'),
    topic: name
      .optional()
      .describe('The topic of its results (Avro RollupBatch); default `<topics.metrics>-<name>`.'),
  })
  .strict();

/** Today's two tiers: 1m over the samples, 1h folded from closed minutes. */
export const DEFAULT_TIERS = [
  { name: '1m', sizeMs: 60_000, graceMs: 10_000, allowedLatenessMs: 60_000, from: 'raw', retentionDays: 30 },
  {
    name: '1h',
    sizeMs: 3_600_000,
    graceMs: 60_000,
    allowedLatenessMs: 600_000,
    from: '1m',
    retentionDays: 365,
  },
];

/** Why a list of tiers cannot run, as config issues (empty when it can). */
function tierIssues(
  tiers: ReadonlyArray<z.infer<typeof tier>>,
): Array<{ path: number[]; field: string; message: string }> {
  const issues: Array<{ path: number[]; field: string; message: string }> = [];
  const seen = new Map<string, z.infer<typeof tier>>();
  tiers.forEach((t, i) => {
    const issue = (field: string, message: string) => issues.push({ path: [i], field, message });
    if (seen.has(t.name)) issue('name', `tier ${t.name} is defined twice`);
    if (i === 0 && t.from !== 'raw')
      issue('from', `the first tier reads the raw samples: from: raw, not ${t.from}`);
    if (i > 0) {
      const source = seen.get(t.from);
      if (t.from === 'raw')
        issue(
          'from',
          `only the first tier reads the raw samples (its store holds the input checkpoint); ${t.name} must fold an earlier tier`,
        );
      else if (!source)
        issue('from', `${t.from} is not an earlier tier (earlier: ${[...seen.keys()].join(', ')})`);
      else {
        if (t.sizeMs % source.sizeMs !== 0)
          issue(
            'sizeMs',
            `${t.sizeMs} is not a multiple of the size of tier ${source.name} (${source.sizeMs})`,
          );
        const corrections = source.graceMs + source.allowedLatenessMs;
        if (t.allowedLatenessMs < corrections)
          issue(
            'allowedLatenessMs',
            `${t.allowedLatenessMs} does not cover the corrections of tier ${source.name} (its graceMs + allowedLatenessMs = ${corrections})`,
          );
      }
    }
    if (!seen.has(t.name)) seen.set(t.name, t);
  });
  return issues;
}

const topicDefaults = {
  metrics: 'metrics',
  dlq: 'metrics-dlq',
  late: 'metrics-late',
  alerts: 'alerts',
  partitions: 4,
};
const windowDefaults = {
  outOfOrdernessMs: 5_000,
  idleTimeoutMs: 10_000,
};

/** A tenant of the collector: who pushes with this bearer token, and how much it may push. */
const tenant = z
  .object({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9._-]{1,100}$/, 'letters, digits, ".", "_" and "-" only')
      .describe('Added to every sample of the tenant as the `tenant` label (replacing any sent).'),
    token: z
      .string()
      .min(16, 'at least 16 characters')
      .describe('The bearer token that selects this tenant.'),
    samplesPerSecond: positiveInt
      .default(1_000_000)
      .describe('Samples per second on average (token bucket); beyond it the collector answers 429.'),
    burst: positiveInt
      .optional()
      .describe('Samples at once above the rate (the bucket size); defaults to one second of the rate.'),
    maxSeriesPerMetric: positiveInt
      .default(100_000)
      .describe(
        'Distinct series per metric name; samples of further series are rejected (counted from each collector start).',
      ),
  })
  .strict();

const collectorDefaults = {
  host: '127.0.0.1',
  port: 9091,
  maxBodyBytes: 10 * 1024 * 1024,
  maxDecodedBytes: 64 * 1024 * 1024,
  requestTimeoutMs: 30_000,
  workers: 1,
  tenants: [],
  wal: { dir: '.data/collector-wal', maxBytes: 1024 * 1024 * 1024, segmentBytes: 64 * 1024 * 1024 },
};

const collectorSection = z
  .object({
    host: z.string().min(1).default(collectorDefaults.host).describe('Address the collector listens on.'),
    port: nonNegativeInt
      .max(65535)
      .default(collectorDefaults.port)
      .describe('Port the collector listens on; 0 = a free port.'),
    maxBodyBytes: positiveInt
      .default(collectorDefaults.maxBodyBytes)
      .describe('Largest request body as received (compressed); beyond it: 413.'),
    maxDecodedBytes: positiveInt
      .default(collectorDefaults.maxDecodedBytes)
      .describe('Largest body after decompression (gzip, snappy); beyond it: 413.'),
    requestTimeoutMs: positiveInt
      .min(100)
      .default(collectorDefaults.requestTimeoutMs)
      .describe(
        'A request (headers and body) taking longer is answered 408 and closed: slow clients cannot hold the server.',
      ),
    workers: positiveInt
      .max(64)
      .default(collectorDefaults.workers)
      .describe(
        'Processes that serve the port together (node:cluster), each with its own Kafka producer and write-ahead log (`<wal.dir>/worker-<i>`); 1 = the collector is one process.',
      ),
    tenants: z
      .array(tenant)
      .default([])
      .describe(
        'Bearer tokens and their limits; with none, the collector takes requests without a token (one tenant, no label).',
      ),
    wal: z
      .object({
        dir: z
          .string()
          .min(1)
          .default(collectorDefaults.wal.dir)
          .describe('Folder of the write-ahead log (with workers: one `worker-<i>` folder each).'),
        maxBytes: positiveInt
          .default(collectorDefaults.wal.maxBytes)
          .describe('When the log holds this much, the collector answers 503 until it drains.'),
        segmentBytes: positiveInt
          .default(collectorDefaults.wal.segmentBytes)
          .describe('Size of one segment file of the log.'),
      })
      .strict()
      .default(collectorDefaults.wal)
      .describe("The write-ahead log that keeps accepted samples, fsync'ed, while Kafka is unreachable."),
  })
  .strict()
  .default(collectorDefaults)
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    c.tenants.forEach((t, i) => {
      const first = seen.get(t.token);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          message: `same token as tenants.${first} (${c.tenants[first]?.name})`,
          path: ['tenants', i, 'token'],
        });
      seen.set(t.token, i);
    });
  })
  .describe('The HTTP collector (`metrics-pipeline collector`).');

const queryDefaults = {
  host: '127.0.0.1',
  port: 9090,
  timeoutMs: 120_000,
  maxSeries: 100_000,
  maxSamples: 20_000_000,
  maxPoints: 11_000,
  cache: { maxBytes: 256 * 1024 * 1024, ttlRecentMs: 60_000, ttlDayMs: 300_000, ttlOlderMs: 3_600_000 },
};

/** `metrics-pipeline query`: Prometheus' HTTP API over the ClickHouse tiers (docs/query.md). */
const querySection = z
  .object({
    host: z.string().min(1).default(queryDefaults.host).describe('Address the query service listens on.'),
    port: nonNegativeInt
      .max(65535)
      .default(queryDefaults.port)
      .describe('Port of the query service (0: a free one).'),
    timeoutMs: positiveInt
      .default(queryDefaults.timeoutMs)
      .describe(
        'Longest a query may run (the `timeout` parameter can only shorten it); beyond it: 503 `timeout`.',
      ),
    maxSeries: positiveInt
      .default(queryDefaults.maxSeries)
      .describe('Series one query may select; beyond it: 422 `execution` naming the limit.'),
    maxSamples: positiveInt
      .default(queryDefaults.maxSamples)
      .describe('Samples (or tier windows) one query may read; beyond it: 422 `execution` naming the limit.'),
    maxPoints: positiveInt
      .default(queryDefaults.maxPoints)
      .describe("Points per series of a range query, as Prometheus' 11,000."),
    cache: z
      .object({
        maxBytes: nonNegativeInt
          .default(queryDefaults.cache.maxBytes)
          .describe('Bytes of cached results at most (LRU); 0 disables the cache.'),
        ttlRecentMs: positiveInt
          .default(queryDefaults.cache.ttlRecentMs)
          .describe('TTL of chunks whose data is under 1 h old.'),
        ttlDayMs: positiveInt
          .default(queryDefaults.cache.ttlDayMs)
          .describe('TTL of chunks whose data is 1–24 h old.'),
        ttlOlderMs: positiveInt.default(queryDefaults.cache.ttlOlderMs).describe('TTL of older chunks.'),
      })
      .strict()
      .default(queryDefaults.cache)
      .describe("Results cache of range queries, in step-aligned chunks; TTL by the age of a chunk's data."),
  })
  .strict()
  .default(queryDefaults)
  .describe("`metrics-pipeline query`: Prometheus' HTTP API over the ClickHouse tiers (docs/query.md).");

/** Every setting, with its default and its meaning; docs/configuration.md is generated from it (`npm run docs`). */
export const ConfigSchema = z
  .object({
    appId: name
      .default('metrics-pipeline')
      .describe(
        'Consumer group id and prefix of internal topics and groups (changelogs, repartition, alerts).',
      ),
    kafka: z
      .object({
        brokers: z
          .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port'))
          .min(1)
          .optional()
          .describe(
            'host:port of the brokers; env `KAFKA_BROKERS` (comma-separated). Unset: the local Kafka of `metrics-pipeline services up`.',
          ),
        clientId: name.default('metrics-pipeline').describe('Kafka client id.'),
        sessionTimeoutMs: positiveInt
          .min(6000)
          .default(30_000)
          .describe(
            "A consumer that stops heartbeating this long is replaced and its partitions reassigned. kafkajs heartbeats from the event loop, which a flush closing the windows of every series at once holds for seconds on a busy machine; 30 s leaves room for that (Kafka's own default is 45 s) at the price of a slower takeover from a dead instance.",
          ),
      })
      .strict()
      .default({ clientId: 'metrics-pipeline', sessionTimeoutMs: 30_000 })
      .describe('The Kafka cluster.'),
    schemaRegistry: z
      .object({
        url: z
          .url()
          .optional()
          .describe(
            'Confluent-compatible registry base URL (Apicurio: `…/apis/ccompat/v7`); env `SCHEMA_REGISTRY_URL`. Unset: the local registry of `metrics-pipeline services up`.',
          ),
      })
      .strict()
      .default({})
      .describe('The schema registry (Avro schemas, subjects `<topic>-value`, compatibility BACKWARD).'),
    clickhouse: z
      .object({
        url: z
          .url()
          .optional()
          .describe(
            "A ClickHouse server's HTTP URL; env `CLICKHOUSE_URL`. Unset: the embedded engine (chDB) stores data under `path`.",
          ),
        user: z.string().default('default').describe('Server user; env `CLICKHOUSE_USER`.'),
        password: z.string().default('').describe('Server password; env `CLICKHOUSE_PASSWORD`.'),
        database: name
          .default('metrics')
          .describe("Database of the pipeline's tables, created at start; env `CLICKHOUSE_DATABASE`."),
        path: z
          .string()
          .min(1)
          .default('.data/clickhouse')
          .describe(
            "The embedded engine's data folder. One process holds it; `metrics-pipeline sql` reaches it meanwhile through that process's admin server.",
          ),
        compactQuietMs: z
          .number()
          .int()
          .min(0)
          .default(600_000)
          .describe(
            'A tier partition (a day of 1m rows, a month of 1h rows) that no insert touched for this long is merged into one part (`OPTIMIZE … FINAL`) by the process that writes the tiers, so that queries read it without merging; checked every half of it (at least each minute). 0: never.',
          ),
      })
      .strict()
      .default({
        user: 'default',
        password: '',
        database: 'metrics',
        path: '.data/clickhouse',
        compactQuietMs: 600_000,
      })
      .describe('Where the tables are: a ClickHouse server, or the embedded engine.'),
    topics: z
      .object({
        metrics: name.default('metrics').describe('The input: Avro sample batches (Confluent wire format).'),
        dlq: name
          .default('metrics-dlq')
          .describe('Dead letters: rejected records with their original bytes and the reason in headers.'),
        late: name
          .default('metrics-late')
          .describe(
            'Samples later than the allowed lateness, with the reason (they are stored raw all the same).',
          ),
        alerts: name
          .default('alerts')
          .describe('Alert state changes (Avro AlertEvent, keyed by fingerprint); the notifier reads them.'),
        partitions: positiveInt
          .max(1000)
          .default(4)
          .describe(
            'Partitions of the topics created by the pipeline (the input, if missing, and the output and side topics).',
          ),
      })
      .strict()
      .default(topicDefaults)
      .describe('Topic names (created when missing).'),
    input: z
      .object({
        coPartitioned: z
          .boolean()
          .default(true)
          .describe(
            'Producers key records by series (as `produce`, the SDK and the collector do): each series is in one partition. false: the topology repartitions by series first (`<appId>-repartition`). Changing it needs a new appId.',
          ),
      })
      .strict()
      .default({ coPartitioned: true })
      .describe('How the input is partitioned.'),
    streams: z
      .object({
        threads: z
          .union([z.literal('auto'), positiveInt.max(64)])
          .default('auto')
          .describe(
            "Stream threads of one `run` (Kafka Streams' num.stream.threads): each a worker thread with its own consumer in the group, its share of the partitions' tasks and of `sink.maxInFlightBytes`. auto: one per core available (`os.availableParallelism()`) but one, at least one and at most `topics.partitions`. 1: everything on the main thread.",
          ),
      })
      .strict()
      .default({ threads: 'auto' })
      .describe('How `run` spreads its tasks over the cores (docs/streams.md#threads).'),
    windows: z
      .object({
        outOfOrdernessMs: nonNegativeInt
          .default(5_000)
          .describe(
            'Bounded out-of-orderness of event time per partition, ms (agents batching N samples taken I ms apart need N × I).',
          ),
        idleTimeoutMs: positiveInt
          .default(10_000)
          .describe(
            'A partition without records this long (processing time, ms) does not hold the watermark back.',
          ),
      })
      .strict()
      .default(windowDefaults)
      .describe('Event time: the watermark of the tiers.'),
    tiers: z
      .array(tier)
      .min(1)
      .default(DEFAULT_TIERS)
      .superRefine((tiers, ctx) => {
        for (const { path, field, message } of tierIssues(tiers))
          ctx.addIssue({ code: 'custom', message, path: [...path, field] });
      })
      .describe(
        'The window tiers, finest first (docs/tiers-and-aggregates.md): the first over the raw samples, each other one folding the results of an earlier tier. Adding a tier is adding an entry here.',
      ),
    validation: z
      .object({
        maxLabels: positiveInt.default(defaultLimits.maxLabels).describe('Labels per sample, at most.'),
        maxLabelNameLength: positiveInt
          .default(defaultLimits.maxLabelNameLength)
          .describe('Characters of a label name, at most.'),
        maxLabelValueLength: positiveInt
          .default(defaultLimits.maxLabelValueLength)
          .describe('Characters of a label value, at most.'),
        maxMetricNameLength: positiveInt
          .default(defaultLimits.maxMetricNameLength)
          .describe('Characters of a metric name, at most.'),
        maxPastMs: positiveInt
          .default(defaultLimits.maxPastMs)
          .describe('Event time at most this far behind now, ms.'),
        maxFutureMs: positiveInt
          .default(defaultLimits.maxFutureMs)
          .describe('Event time at most this far ahead of now, ms.'),
      })
      .strict()
      .default(defaultLimits)
      .describe(
        'Limits per sample, in the topology and the collector; a sample beyond them is rejected with its reason.',
      ),
    sink: z
      .object({
        maxRows: positiveInt
          .default(500_000)
          .describe(
            'Rows written together, at most (a flush: its inserts, results and dead letters), divided among the stream threads; a flush also goes once its first row waited `maxMs`. Fewer, larger inserts leave the engine fewer parts to merge.',
          ),
        maxMs: positiveInt.default(400).describe('Longest a row waits before its insert, ms.'),
        maxInFlightBytes: positiveInt
          .default(64 * 1024 * 1024)
          .describe(
            'Bytes of records fetched but not yet written, at most: the consumer pauses above it. A batch weighs its records until it is decoded, then its columns (about 30 bytes a sample).',
          ),
        commitIntervalMs: positiveInt
          .default(5000)
          .describe(
            "How often (ms) the window state goes to its changelogs and the offsets are committed (Kafka Streams' commit.interval.ms); also as soon as the input goes quiet. A crash replays at most this much input, idempotently.",
          ),
      })
      .strict()
      .default({ maxRows: 500_000, maxMs: 400, maxInFlightBytes: 64 * 1024 * 1024, commitIntervalMs: 5000 })
      .describe('Batching of the ClickHouse inserts and of the commits.'),
    alerts: z
      .object({
        rules: z
          .array(z.string().min(1))
          .default([])
          .describe(
            'Prometheus alerting-rule files; all are loaded at start, or nothing starts (file:line:col: reason).',
          ),
        tickMs: positiveInt
          .default(1000)
          .describe(
            'How often (processing time, ms) the alert stage evaluates without new records: absence is still noticed when no sample arrives at all.',
          ),
      })
      .strict()
      .default({ rules: [], tickMs: 1000 })
      .describe('Alert rules evaluated in the topology on event time (alerts/README.md); none by default.'),
    collector: collectorSection,
    query: querySection,
    // The notifier validates its own section (notifier/config.ts, `notifierConfig`): the
    // layers above core own their settings' rules, and every command checks it at start.
    notifier: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        '`metrics-pipeline notifier`: Alertmanager-style routes, receivers, inhibit rules, silences; reference in notifier/README.md.',
      ),
    retention: z
      .object({
        rawDays: positiveInt.default(7).describe('TTL of `samples` (the raw tier), days.'),
        alertDays: positiveInt.default(365).describe('TTL of `alerts` (alert history), days.'),
      })
      .strict()
      .default({ rawDays: 7, alertDays: 365 })
      .describe(
        'How long ClickHouse keeps the raw and alert tables (applied when a table is created); tiers: `tiers[].retentionDays`.',
      ),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

/**
 * The configuration: defaults, then the config file (YAML or JSON) if given, then the
 * environment (`KAFKA_BROKERS`, `SCHEMA_REGISTRY_URL`, `CLICKHOUSE_URL`, `CLICKHOUSE_USER`,
 * `CLICKHOUSE_PASSWORD`, `CLICKHOUSE_DATABASE`), then `overrides`. Validated once, here.
 */
export function loadConfig(
  file?: string,
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigInput = {},
): Config {
  let fromFile: Record<string, unknown> = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid YAML/JSON: ${(error as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined && !isObject(parsed)) {
      throw new ConfigError(
        `config file ${file} must be a mapping of settings (key: value), not ${Array.isArray(parsed) ? 'a list' : typeof parsed}`,
      );
    }
    fromFile = parsed ?? {};
  }
  const merged = merge(merge(fromFile, fromEnv(env)), overrides as Record<string, unknown>);
  const result = ConfigSchema.safeParse(merged);
  if (!result.success)
    throw new ConfigError(
      `${file === undefined ? 'configuration' : `config file ${file}`} is invalid: ${problems(result.error.issues)}`,
    );
  return result.data;
}

/** Settings of earlier releases that the tier list replaced, and where they are now. */
const MOVED_TO_TIERS: Record<string, string> = {
  'windows.minute': 'the 1m entry of `tiers` (sizeMs, graceMs, allowedLatenessMs)',
  'windows.hour': 'the 1h entry of `tiers` (sizeMs, graceMs, allowedLatenessMs)',
  'topics.metrics1m': '`topic` of the 1m entry of `tiers`',
  'topics.metrics1h': '`topic` of the 1h entry of `tiers`',
  'retention.minuteDays': '`retentionDays` of the 1m entry of `tiers`',
  'retention.hourDays': '`retentionDays` of the 1h entry of `tiers`',
};

/** Zod's issues as one line of `path: message`, the paths under `prefix` (a section's name). */
export function problems(
  issues: ReadonlyArray<z.core.$ZodIssue>,
  prefix: ReadonlyArray<PropertyKey> = [],
): string {
  return issues
    .flatMap((i) =>
      i.code === 'unrecognized_keys'
        ? i.keys.map((k) => {
            const path = [...prefix, ...i.path, k].join('.');
            const moved = MOVED_TO_TIERS[path];
            return moved
              ? `${path}: now ${moved} (see docs/tiers-and-aggregates.md)`
              : `${path}: unknown setting`;
          })
        : [`${[...prefix, ...i.path].join('.') || '(root)'}: ${i.message}`],
    )
    .join('; ');
}

function fromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const kafka: Record<string, unknown> = {};
  const schemaRegistry: Record<string, unknown> = {};
  const clickhouse: Record<string, unknown> = {};
  if (env.KAFKA_BROKERS)
    kafka.brokers = env.KAFKA_BROKERS.split(',')
      .map((b) => b.trim())
      .filter(Boolean);
  if (env.SCHEMA_REGISTRY_URL) schemaRegistry.url = env.SCHEMA_REGISTRY_URL.replace(/\/+$/, '');
  if (env.CLICKHOUSE_URL) clickhouse.url = env.CLICKHOUSE_URL;
  if (env.CLICKHOUSE_USER) clickhouse.user = env.CLICKHOUSE_USER;
  if (env.CLICKHOUSE_PASSWORD !== undefined) clickhouse.password = env.CLICKHOUSE_PASSWORD;
  if (env.CLICKHOUSE_DATABASE) clickhouse.database = env.CLICKHOUSE_DATABASE;
  // Only sections the environment sets, so that a wrong-typed section of the file still fails validation.
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries({ kafka, schemaRegistry, clickhouse }))
    if (Object.keys(v).length > 0) out[k] = v;
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges plain objects; `over` wins, undefined leaves the base value. */
export function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    if (isObject(b) && isObject(v)) out[k] = merge(b, v);
    // A section of the wrong type stays, so that validation reports it instead of hiding it.
    else if (b === undefined || !isObject(v)) out[k] = v;
  }
  return out;
}
