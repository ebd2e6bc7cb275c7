import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tierStore, tierTable, tierTopic, type TierConfig } from '../../core/tiers.js';
import { loadConfig, type ConfigInput } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function configFile(text: string, ext = 'yaml'): string {
  const file = join(dir, `config-${files++}.${ext}`);
  writeFileSync(file, text);
  return file;
}

/** The ConfigError that `run` throws (fails the test if it returns or throws something else). */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('fills every default from an empty environment', () => {
    expect(loadConfig(undefined, {})).toEqual({
      appId: 'metrics-pipeline',
      kafka: { clientId: 'metrics-pipeline', sessionTimeoutMs: 30_000 },
      schemaRegistry: {},
      clickhouse: {
        user: 'default',
        password: '',
        database: 'metrics',
        path: '.data/clickhouse',
        compactQuietMs: 600_000,
      },
      topics: {
        metrics: 'metrics',
        dlq: 'metrics-dlq',
        late: 'metrics-late',
        alerts: 'alerts',
        partitions: 4,
      },
      input: { coPartitioned: true },
      streams: { threads: 'auto' },
      windows: {
        outOfOrdernessMs: 5_000,
        idleTimeoutMs: 10_000,
      },
      tiers: [
        {
          name: '1m',
          sizeMs: 60_000,
          graceMs: 10_000,
          allowedLatenessMs: 60_000,
          from: 'raw',
          retentionDays: 30,
        },
        {
          name: '1h',
          sizeMs: 3_600_000,
          graceMs: 60_000,
          allowedLatenessMs: 600_000,
          from: '1m',
          retentionDays: 365,
        },
      ],
      validation: {
        maxLabels: 30,
        maxLabelNameLength: 1024,
        maxLabelValueLength: 2048,
        maxMetricNameLength: 1024,
        maxPastMs: 604_800_000,
        maxFutureMs: 600_000,
      },
      sink: { maxRows: 500_000, maxMs: 400, maxInFlightBytes: 67_108_864, commitIntervalMs: 5000 },
      alerts: { rules: [], tickMs: 1000 },
      collector: {
        host: '127.0.0.1',
        port: 9091,
        maxBodyBytes: 10_485_760,
        maxDecodedBytes: 67_108_864,
        requestTimeoutMs: 30_000,
        workers: 1,
        tenants: [],
        wal: { dir: '.data/collector-wal', maxBytes: 1_073_741_824, segmentBytes: 67_108_864 },
      },
      query: {
        host: '127.0.0.1',
        port: 9090,
        timeoutMs: 120_000,
        maxSeries: 100_000,
        maxSamples: 20_000_000,
        maxPoints: 11_000,
        cache: { maxBytes: 268_435_456, ttlRecentMs: 60_000, ttlDayMs: 300_000, ttlOlderMs: 3_600_000 },
      },
      retention: { rawDays: 7, alertDays: 365 },
    });
  });

  it('takes a 5m tier as one more entry of tiers, and names its table, store and topic after it', () => {
    const tiers = [
      ...loadConfig(undefined, {}).tiers.slice(0, 1),
      {
        name: '5m',
        sizeMs: 300_000,
        graceMs: 10_000,
        allowedLatenessMs: 70_000,
        from: '1m',
        retentionDays: 90,
      },
      { ...(loadConfig(undefined, {}).tiers[1] as TierConfig), from: '5m' },
    ];
    const config = loadConfig(undefined, {}, { tiers });
    expect(config.tiers.map((t) => [t.name, t.from])).toEqual([
      ['1m', 'raw'],
      ['5m', '1m'],
      ['1h', '5m'],
    ]);
    const fiveMinutes = config.tiers[1] as TierConfig;
    expect([tierTable('5m'), tierStore('5m'), tierTopic(config, fiveMinutes)]).toEqual([
      'samples_5m',
      'window-5m',
      'metrics-5m',
    ]);
  });

  it('refuses tiers that cannot run, saying which and why', () => {
    const minute = {
      name: '1m',
      sizeMs: 60_000,
      graceMs: 10_000,
      allowedLatenessMs: 60_000,
      from: 'raw',
      retentionDays: 30,
    };
    const tier = (t: Partial<TierConfig>) => ({
      ...minute,
      name: '5m',
      sizeMs: 300_000,
      allowedLatenessMs: 70_000,
      from: '1m',
      ...t,
    });
    const refused = (tiers: unknown[]) => () => loadConfig(undefined, {}, { tiers } as ConfigInput);
    expect(refused([minute, tier({ name: '1m' })])).toThrow('tiers.1.name: tier 1m is defined twice');
    expect(refused([tier({ from: '1m' })])).toThrow(
      'tiers.0.from: the first tier reads the raw samples: from: raw, not 1m',
    );
    expect(refused([minute, tier({ from: '1h' })])).toThrow(
      'tiers.1.from: 1h is not an earlier tier (earlier: 1m)',
    );
    expect(refused([minute, tier({ from: 'raw' })])).toThrow(
      'tiers.1.from: only the first tier reads the raw samples',
    );
    expect(refused([minute, tier({ sizeMs: 90_000 })])).toThrow(
      'tiers.1.sizeMs: 90000 is not a multiple of the size of tier 1m (60000)',
    );
    expect(refused([minute, tier({ allowedLatenessMs: 69_999 })])).toThrow(
      'tiers.1.allowedLatenessMs: 69999 does not cover the corrections of tier 1m (its graceMs + allowedLatenessMs = 70000)',
    );
    expect(refused([minute, tier({ name: 'five minutes' })])).toThrow(
      'tiers.1.name: lower-case letters and digits only',
    );
    expect(refused([minute, tier({ name: 'raw' })])).toThrow('tiers.1.name: "raw" names the raw samples');
    expect(refused([])).toThrow('tiers:');
  });

  it('refuses collector tenants with short or repeated tokens, saying which', () => {
    const tenants = [
      { name: 'a', token: 'short' },
      { name: 'b', token: 'the-same-token-for-two' },
      { name: 'c', token: 'the-same-token-for-two' },
    ];
    expect(() => loadConfig(undefined, {}, { collector: { tenants } })).toThrow(
      'configuration is invalid: collector.tenants.0.token: at least 16 characters; collector.tenants.2.token: same token as tenants.1 (b)',
    );
    const ok = loadConfig(
      undefined,
      {},
      { collector: { tenants: [{ name: 'team-a', token: 'x'.repeat(16) }] } },
    );
    expect(ok.collector.tenants).toEqual([
      { name: 'team-a', token: 'x'.repeat(16), samplesPerSecond: 1_000_000, maxSeriesPerMetric: 100_000 },
    ]);
  });

  it('reads the environment: brokers split on commas and trimmed, registry URL without trailing slashes', () => {
    const config = loadConfig(undefined, {
      KAFKA_BROKERS: ' kafka-1:9092, kafka-2:9093 ,,kafka-3:9094 ',
      SCHEMA_REGISTRY_URL: 'http://registry:8081/apis/ccompat/v7//',
      CLICKHOUSE_URL: 'http://clickhouse:8123',
      CLICKHOUSE_USER: 'writer',
      CLICKHOUSE_PASSWORD: 's3cret',
      CLICKHOUSE_DATABASE: 'observability',
    });
    expect(config.kafka).toEqual({
      brokers: ['kafka-1:9092', 'kafka-2:9093', 'kafka-3:9094'],
      clientId: 'metrics-pipeline',
      sessionTimeoutMs: 30_000,
    });
    expect(config.schemaRegistry).toEqual({ url: 'http://registry:8081/apis/ccompat/v7' });
    expect(config.clickhouse).toEqual({
      url: 'http://clickhouse:8123',
      user: 'writer',
      password: 's3cret',
      database: 'observability',
      path: '.data/clickhouse',
      compactQuietMs: 600_000,
    });
  });

  it('lets an empty CLICKHOUSE_PASSWORD override a password from the file', () => {
    const file = configFile('clickhouse:\n  password: from-file\n');
    expect(loadConfig(file, {}).clickhouse.password).toBe('from-file');
    expect(loadConfig(file, { CLICKHOUSE_PASSWORD: '' }).clickhouse.password).toBe('');
  });

  it('reads a YAML file, keeping the defaults of the keys it leaves out', () => {
    const file = configFile(
      [
        'appId: billing-metrics',
        'kafka:',
        '  brokers: [broker:9092]',
        'topics:',
        '  partitions: 12',
        'sink:',
        '  maxMs: 250',
        '',
      ].join('\n'),
    );
    const config = loadConfig(file, {});
    expect(config.appId).toBe('billing-metrics');
    expect(config.kafka).toEqual({
      brokers: ['broker:9092'],
      clientId: 'metrics-pipeline',
      sessionTimeoutMs: 30_000,
    });
    expect(config.topics).toMatchObject({
      metrics: 'metrics',
      dlq: 'metrics-dlq',
      late: 'metrics-late',
      partitions: 12,
    });
    expect(config.sink).toEqual({
      maxRows: 500_000,
      maxMs: 250,
      maxInFlightBytes: 67_108_864,
      commitIntervalMs: 5000,
    });
  });

  it('reads a JSON file', () => {
    const file = configFile(JSON.stringify({ retention: { rawDays: 30 } }), 'json');
    expect(loadConfig(file, {}).retention).toEqual({ rawDays: 30, alertDays: 365 });
  });

  it('applies file, then environment, then overrides', () => {
    const file = configFile(
      'kafka:\n  brokers: [file:1]\n  clientId: from-file\nclickhouse:\n  database: file_db\n',
    );
    const env = { KAFKA_BROKERS: 'env:2', CLICKHOUSE_DATABASE: 'env_db' };
    const overrides: ConfigInput = { clickhouse: { database: 'override_db' } };
    const config = loadConfig(file, env, overrides);
    expect(config.kafka).toEqual({ brokers: ['env:2'], clientId: 'from-file', sessionTimeoutMs: 30_000 });
    expect(config.clickhouse.database).toBe('override_db');
  });

  it('treats an empty file as no settings', () => {
    expect(loadConfig(configFile(''), {}).topics.partitions).toBe(4);
  });

  it('rejects an unknown key, naming where it is', () => {
    const nested = configError(() => loadConfig(configFile('kafka:\n  clientid: x\n'), {}));
    expect(nested.message).toMatch(
      /^config file .*config-\d+\.yaml is invalid: kafka\.clientid: unknown setting$/,
    );
    const top = configError(() => loadConfig(undefined, {}, { partitions: 3 } as unknown as ConfigInput));
    expect(top.message).toBe('configuration is invalid: partitions: unknown setting');
    expect(top.retriable).toBe(false);
  });

  it('says where a setting the tier list replaced went', () => {
    const moved = configError(() => loadConfig(configFile('windows:\n  minute:\n    graceMs: 1000\n'), {}));
    expect(moved.message).toContain('windows.minute: now the 1m entry of `tiers`');
  });

  it('rejects a section of the wrong type, and a file that is not a mapping', () => {
    expect(
      configError(() => loadConfig(configFile('kafka: oops\n'), { KAFKA_BROKERS: 'k:1' })).message,
    ).toMatch(/kafka: Invalid input: expected object, received string/);
    expect(configError(() => loadConfig(configFile('- a\n- b\n'), {})).message).toMatch(
      /must be a mapping of settings .*not a list/,
    );
  });

  it('rejects a wrong type, naming the key path', () => {
    const file = configFile('topics:\n  partitions: four\n');
    expect(configError(() => loadConfig(file, {})).message).toBe(
      `config file ${file} is invalid: topics.partitions: Invalid input: expected number, received string`,
    );
    expect(configError(() => loadConfig(undefined, { KAFKA_BROKERS: 'no-port' })).message).toMatch(
      /^configuration is invalid: kafka\.brokers\.0: /,
    );
    expect(configError(() => loadConfig(undefined, { SCHEMA_REGISTRY_URL: 'not a url' })).message).toMatch(
      /^configuration is invalid: schemaRegistry\.url: /,
    );
  });

  it('rejects a file it cannot read, naming the file', () => {
    const missing = join(dir, 'missing.yaml');
    expect(configError(() => loadConfig(missing, {})).message).toMatch(
      new RegExp(`^cannot read config file ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ENOENT`),
    );
  });

  it('rejects a file that is not YAML, naming the file', () => {
    const file = configFile('kafka: [unclosed\n');
    expect(configError(() => loadConfig(file, {})).message).toContain(
      `config file ${file} is not valid YAML/JSON: `,
    );
  });
});
