import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { notifierSection } from '../notifier/config.js';
import { ConfigError } from './errors.js';
import { defaultLimits } from './validate.js';

const name = z.string().regex(/^[a-zA-Z0-9._-]{1,200}$/, 'letters, digits, ".", "_" and "-" only');
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/** A window tier: Kafka Streams' TimeWindows.ofSizeAndGrace plus Flink's allowed lateness. */
const tier = z
  .object({
    sizeMs: positiveInt,
    /** Out-of-order records still accepted after the window end, before its one result is emitted. */
    graceMs: nonNegativeInt,
    /** After the result, records this late still correct it (a new revision); later ones go to the late topic. */
    allowedLatenessMs: nonNegativeInt,
  })
  .strict();

const topicDefaults = {
  metrics: 'metrics',
  dlq: 'metrics-dlq',
  late: 'metrics-late',
  metrics1m: 'metrics-1m',
  metrics1h: 'metrics-1h',
  alerts: 'alerts',
  partitions: 4,
};
const windowDefaults = {
  outOfOrdernessMs: 5_000,
  idleTimeoutMs: 10_000,
  minute: { sizeMs: 60_000, graceMs: 10_000, allowedLatenessMs: 60_000 },
  hour: { sizeMs: 3_600_000, graceMs: 60_000, allowedLatenessMs: 600_000 },
};

/** A tenant of the collector: who pushes with this bearer token, and how much it may push. */
const tenant = z
  .object({
    /** Added to every sample of the tenant as the `tenant` label. */
    name: z.string().regex(/^[a-zA-Z0-9._-]{1,100}$/, 'letters, digits, ".", "_" and "-" only'),
    token: z.string().min(16, 'at least 16 characters'),
    /** Samples per second on average (token bucket); beyond it the collector answers 429. */
    samplesPerSecond: positiveInt.default(1_000_000),
    /** Samples at once above the rate (the bucket size); defaults to one second of the rate. */
    burst: positiveInt.optional(),
    /** Distinct series per metric name; samples of further series are rejected. */
    maxSeriesPerMetric: positiveInt.default(100_000),
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

/** The HTTP collector (`metrics-pipeline collector`). */
const collectorSection = z
  .object({
    host: z.string().min(1).default(collectorDefaults.host),
    port: nonNegativeInt.max(65535).default(collectorDefaults.port),
    /** Largest request body as received (compressed); beyond it: 413. */
    maxBodyBytes: positiveInt.default(collectorDefaults.maxBodyBytes),
    /** Largest body after decompression; beyond it: 413. */
    maxDecodedBytes: positiveInt.default(collectorDefaults.maxDecodedBytes),
    /** A request (headers and body) taking longer is answered 408 and closed: slow clients cannot hold the server. */
    requestTimeoutMs: positiveInt.min(100).default(collectorDefaults.requestTimeoutMs),
    /**
     * Processes that serve the port together (node:cluster), each with its own Kafka producer and
     * write-ahead log (`<wal.dir>/worker-<i>`); 1 = the collector is one process.
     */
    workers: positiveInt.max(64).default(collectorDefaults.workers),
    /** Bearer tokens and their limits; with none, the collector takes requests without a token (one tenant, no label). */
    tenants: z.array(tenant).default([]),
    /** The write-ahead log that keeps accepted samples while Kafka is unreachable. */
    wal: z
      .object({
        dir: z.string().min(1).default(collectorDefaults.wal.dir),
        /** When the log holds this much, the collector answers 503 until it drains. */
        maxBytes: positiveInt.default(collectorDefaults.wal.maxBytes),
        segmentBytes: positiveInt.default(collectorDefaults.wal.segmentBytes),
      })
      .strict()
      .default(collectorDefaults.wal),
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
  });

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
    host: z.string().min(1).default(queryDefaults.host),
    port: nonNegativeInt.max(65535).default(queryDefaults.port),
    /** Longest a query may run (the `timeout` parameter can only shorten it); beyond it: 503 `timeout`. */
    timeoutMs: positiveInt.default(queryDefaults.timeoutMs),
    /** Series one query may select; beyond it: 422 `execution`. */
    maxSeries: positiveInt.default(queryDefaults.maxSeries),
    /** Samples (or tier windows) one query may read; beyond it: 422 `execution`. */
    maxSamples: positiveInt.default(queryDefaults.maxSamples),
    /** Points per series of a range query, as Prometheus' 11,000. */
    maxPoints: positiveInt.default(queryDefaults.maxPoints),
    /** Results cache of range queries, in step-aligned chunks; TTL by the age of a chunk's data. */
    cache: z
      .object({
        /** Bytes of cached results at most (LRU); 0 disables the cache. */
        maxBytes: nonNegativeInt.default(queryDefaults.cache.maxBytes),
        /** TTL of chunks whose data is under 1 h old. */
        ttlRecentMs: positiveInt.default(queryDefaults.cache.ttlRecentMs),
        /** TTL of chunks whose data is 1–24 h old. */
        ttlDayMs: positiveInt.default(queryDefaults.cache.ttlDayMs),
        /** TTL of older chunks. */
        ttlOlderMs: positiveInt.default(queryDefaults.cache.ttlOlderMs),
      })
      .strict()
      .default(queryDefaults.cache),
  })
  .strict()
  .default(queryDefaults);

const ConfigSchema = z
  .object({
    /** Consumer group id and prefix of internal topics (changelogs, repartition). */
    appId: name.default('metrics-pipeline'),
    kafka: z
      .object({
        brokers: z
          .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port'))
          .min(1)
          .optional(),
        clientId: name.default('metrics-pipeline'),
        /**
         * A consumer that stops heartbeating this long is replaced (and its partitions
         * reassigned). kafkajs heartbeats from the event loop, which a flush that closes the
         * windows of every series at once holds for seconds on a busy machine; 30 s leaves room
         * for that (Kafka's own default is 45 s) at the price of a slower takeover from a dead
         * instance.
         */
        sessionTimeoutMs: positiveInt.min(6000).default(30_000),
      })
      .strict()
      .default({ clientId: 'metrics-pipeline', sessionTimeoutMs: 30_000 }),
    schemaRegistry: z.object({ url: z.url().optional() }).strict().default({}),
    clickhouse: z
      .object({
        /** A ClickHouse server's HTTP URL; without it the embedded engine (chDB) stores data under `path`. */
        url: z.url().optional(),
        user: z.string().default('default'),
        password: z.string().default(''),
        database: name.default('metrics'),
        path: z.string().min(1).default('.data/clickhouse'),
      })
      .strict()
      .default({ user: 'default', password: '', database: 'metrics', path: '.data/clickhouse' }),
    topics: z
      .object({
        metrics: name.default('metrics'),
        dlq: name.default('metrics-dlq'),
        late: name.default('metrics-late'),
        metrics1m: name.default('metrics-1m'),
        metrics1h: name.default('metrics-1h'),
        /** Alert state changes (Avro AlertEvent, keyed by fingerprint); the notifier reads them. */
        alerts: name.default('alerts'),
        partitions: positiveInt.max(1000).default(4),
      })
      .strict()
      .default(topicDefaults),
    input: z
      .object({
        /** Producers key records by series (as `produce` and the SDK do): no repartition topic needed. */
        coPartitioned: z.boolean().default(true),
      })
      .strict()
      .default({ coPartitioned: true }),
    windows: z
      .object({
        /** Bounded out-of-orderness of event time per partition, ms. */
        outOfOrdernessMs: nonNegativeInt.default(5_000),
        /** A partition without records this long (processing time) does not hold the watermark back. */
        idleTimeoutMs: positiveInt.default(10_000),
        minute: tier.default({ sizeMs: 60_000, graceMs: 10_000, allowedLatenessMs: 60_000 }),
        hour: tier.default({ sizeMs: 3_600_000, graceMs: 60_000, allowedLatenessMs: 600_000 }),
      })
      .strict()
      .default(windowDefaults),
    validation: z
      .object({
        maxLabels: positiveInt.default(defaultLimits.maxLabels),
        maxLabelNameLength: positiveInt.default(defaultLimits.maxLabelNameLength),
        maxLabelValueLength: positiveInt.default(defaultLimits.maxLabelValueLength),
        maxMetricNameLength: positiveInt.default(defaultLimits.maxMetricNameLength),
        maxPastMs: positiveInt.default(defaultLimits.maxPastMs),
        maxFutureMs: positiveInt.default(defaultLimits.maxFutureMs),
      })
      .strict()
      .default(defaultLimits),
    sink: z
      .object({
        /** Rows per ClickHouse insert, at most. */
        maxRows: positiveInt.default(200_000),
        /** Longest a row waits before its insert, in ms. */
        maxMs: positiveInt.default(1000),
        /** Bytes of records fetched but not yet written, at most: the consumer pauses above it. */
        maxInFlightBytes: positiveInt.default(64 * 1024 * 1024),
        /**
         * How often, in ms, the window state goes to its changelogs and the offsets are committed
         * (Kafka Streams' commit.interval.ms); also as soon as the input goes quiet. A crash
         * replays at most this much input, idempotently.
         */
        commitIntervalMs: positiveInt.default(5000),
      })
      .strict()
      .default({ maxRows: 200_000, maxMs: 1000, maxInFlightBytes: 64 * 1024 * 1024, commitIntervalMs: 5000 }),
    /** Alert rules evaluated in the topology (alerts/README.md); none by default. */
    alerts: z
      .object({
        /** Prometheus alerting-rule files; all are loaded at start, or nothing starts. */
        rules: z.array(z.string().min(1)).default([]),
        /**
         * How often (processing time) the alert stage evaluates without new records: absence is
         * still noticed when no sample arrives at all.
         */
        tickMs: positiveInt.default(1000),
      })
      .strict()
      .default({ rules: [], tickMs: 1000 }),
    collector: collectorSection,
    query: querySection,
    /** `metrics-pipeline notifier`: Alertmanager-style routes, receivers, inhibit rules, silences (notifier/README.md). */
    notifier: notifierSection.optional(),
    retention: z
      .object({
        rawDays: positiveInt.default(7),
        minuteDays: positiveInt.default(30),
        hourDays: positiveInt.default(365),
        alertDays: positiveInt.default(365),
      })
      .strict()
      .default({ rawDays: 7, minuteDays: 30, hourDays: 365, alertDays: 365 }),
  })
  .strict()
  .refine((c) => c.windows.hour.sizeMs % c.windows.minute.sizeMs === 0, {
    message: 'windows.hour.sizeMs must be a multiple of windows.minute.sizeMs',
    path: ['windows', 'hour', 'sizeMs'],
  });

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
  if (!result.success) {
    const where = file === undefined ? 'configuration' : `config file ${file}`;
    const problems = result.error.issues
      .flatMap((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((k) => `${[...i.path, k].join('.')}: unknown setting`)
          : [`${i.path.join('.') || '(root)'}: ${i.message}`],
      )
      .join('; ');
    throw new ConfigError(`${where} is invalid: ${problems}`);
  }
  return result.data;
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
