import { ValueType, type Meter } from '@opentelemetry/api';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  AggregationType,
  InstrumentType,
  MeterProvider,
  MetricReader,
  type MetricReaderOptions,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../collector/errors.js';
import { decodeOtlpJson, decodeOtlpProtobuf } from '../../collector/formats/otlp.js';
import type { Decoded } from '../../collector/formats/types.js';
import type { Sample } from '../../schemas/index.js';

/** A reader that only collects when asked: the test's pull exporter. */
class CollectingReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }

  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

const RESOURCE = {
  'service.name': 'checkout',
  'service.namespace': 'shop',
  'service.instance.id': 'pod-1',
  'host.name': 'node-7',
};
const TARGET = { job: 'shop/checkout', instance: 'pod-1' };
const DELTA = 'delta temporality is not supported (configure cumulative temporality)';

/** Records with the real OpenTelemetry SDK and collects once. */
async function collect(
  record: (meter: Meter) => void,
  options?: MetricReaderOptions,
): Promise<ResourceMetrics> {
  const reader = new CollectingReader(options);
  const provider = new MeterProvider({ resource: resourceFromAttributes(RESOURCE), readers: [reader] });
  record(provider.getMeter('checkout', '1.2.0'));
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  await provider.shutdown();
  return resourceMetrics;
}

/** Serializes as the OTLP exporters do and decodes with both decoders, which must agree. */
function decodeBoth(resourceMetrics: ResourceMetrics): Decoded {
  const proto = ProtobufMetricsSerializer.serializeRequest(resourceMetrics);
  const json = JsonMetricsSerializer.serializeRequest(resourceMetrics);
  if (proto === undefined || json === undefined) throw new Error('the serializer gave nothing');
  const fromProto = decodeOtlpProtobuf(Buffer.from(proto));
  const fromJson = decodeOtlpJson(Buffer.from(json));
  expect(fromJson).toEqual(fromProto);
  return fromProto;
}

/** The collection time of a metric, in ms, as the SDK has it. */
function endTime(resourceMetrics: ResourceMetrics, name: string): number {
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      const point = metric.dataPoints[0];
      if (metric.descriptor.name === name && point !== undefined) {
        return point.endTime[0] * 1000 + Math.floor(point.endTime[1] / 1e6);
      }
    }
  }
  throw new Error(`no metric ${name}`);
}

const byNameAndLabels = (a: Sample, b: Sample) => {
  const ka = `${a.name} ${JSON.stringify(a.labels)}`;
  const kb = `${b.name} ${JSON.stringify(b.labels)}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

function httpError(run: () => unknown): HttpError {
  try {
    run();
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error('expected an HttpError');
}

describe('decodeOtlpProtobuf and decodeOtlpJson, on what the OpenTelemetry SDK sends', () => {
  it('maps gauges, counters, up-down counters and histograms to Prometheus samples', async () => {
    const rm = await collect((meter) => {
      meter.createGauge('queue.depth', { unit: '{item}' }).record(7, { queue: 'orders' });
      meter.createObservableGauge('system.cpu.utilization', { unit: '1' }).addCallback((result) => {
        result.observe(0.25, { cpu: '0' });
      });
      const requests = meter.createCounter('http.server.requests', {
        unit: '{request}',
        valueType: ValueType.INT,
      });
      const attributes = {
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        '2xx': true,
        'net.peer.tags': ['a', 'b'],
      };
      requests.add(3, attributes);
      requests.add(2, attributes);
      meter.createCounter('network.io', { unit: 'By' }).add(1024.5);
      const connections = meter.createUpDownCounter('db.client.connections', { unit: '{connection}' });
      connections.add(5);
      connections.add(-2);
      const duration = meter.createHistogram('http.server.duration', {
        unit: 's',
        advice: { explicitBucketBoundaries: [0.1, 0.5, 1] },
      });
      for (const seconds of [0.05, 0.3, 0.3, 2]) duration.record(seconds, { route: '/pay' });
    });
    const { samples, rejected } = decodeBoth(rm);
    const at = (name: string) => endTime(rm, name);
    const histogram = { route: '/pay', ...TARGET };
    const bucket = (le: string, value: number): Sample => ({
      name: 'http_server_duration_seconds_bucket',
      labels: { ...histogram, le },
      timestamp: at('http.server.duration'),
      value,
      kind: 'counter',
    });
    const expected: Sample[] = [
      {
        name: 'queue_depth',
        labels: { queue: 'orders', ...TARGET },
        timestamp: at('queue.depth'),
        value: 7,
        kind: 'gauge',
      },
      {
        name: 'system_cpu_utilization_ratio',
        labels: { cpu: '0', ...TARGET },
        timestamp: at('system.cpu.utilization'),
        value: 0.25,
        kind: 'gauge',
      },
      {
        name: 'http_server_requests_total',
        labels: {
          http_request_method: 'GET',
          http_response_status_code: '200',
          key_2xx: 'true',
          net_peer_tags: '["a","b"]',
          ...TARGET,
        },
        timestamp: at('http.server.requests'),
        value: 5,
        kind: 'counter',
      },
      {
        name: 'network_io_bytes_total',
        labels: TARGET,
        timestamp: at('network.io'),
        value: 1024.5,
        kind: 'counter',
      },
      {
        name: 'db_client_connections',
        labels: TARGET,
        timestamp: at('db.client.connections'),
        value: 3,
        kind: 'gauge',
      },
      bucket('0.1', 1),
      bucket('0.5', 3),
      bucket('1', 3),
      bucket('+Inf', 4),
      {
        name: 'http_server_duration_seconds_sum',
        labels: histogram,
        timestamp: at('http.server.duration'),
        value: 0.05 + 0.3 + 0.3 + 2,
        kind: 'counter',
      },
      {
        name: 'http_server_duration_seconds_count',
        labels: histogram,
        timestamp: at('http.server.duration'),
        value: 4,
        kind: 'counter',
      },
    ];
    expect([...samples].sort(byNameAndLabels)).toEqual([...expected].sort(byNameAndLabels));
    expect(rejected.size).toBe(0);
  });

  it('rejects delta sums and histograms, and still takes gauges', async () => {
    const rm = await collect(
      (meter) => {
        meter.createCounter('jobs.done').add(4);
        meter.createUpDownCounter('jobs.running').add(2);
        meter.createHistogram('job.duration', { unit: 'ms' }).record(12);
        meter.createGauge('queue.depth').record(3);
      },
      { aggregationTemporalitySelector: () => AggregationTemporality.DELTA },
    );
    const { samples, rejected } = decodeBoth(rm);
    expect(samples.map((s) => [s.name, s.value])).toEqual([['queue_depth', 3]]);
    expect(rejected).toEqual(new Map([[DELTA, 3]]));
  });

  it('rejects exponential histograms', async () => {
    const rm = await collect(
      (meter) => {
        const latency = meter.createHistogram('rpc.latency', { unit: 'ms' });
        latency.record(3, { method: 'a' });
        latency.record(4, { method: 'b' });
      },
      {
        aggregationSelector: (type) =>
          type === InstrumentType.HISTOGRAM
            ? { type: AggregationType.EXPONENTIAL_HISTOGRAM }
            : { type: AggregationType.DEFAULT },
      },
    );
    const { samples, rejected } = decodeBoth(rm);
    expect(samples).toEqual([]);
    expect(rejected).toEqual(new Map([['exponential histograms are not supported', 2]]));
  });
});

// The parts of opentelemetry/proto/{collector/metrics,metrics,common,resource}/v1 the
// collector reads, for requests the SDK cannot make (summaries, flags, every attribute type).
const { root } = protobuf.parse(`
  syntax = "proto3";
  message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
  message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
  message Resource { repeated KeyValue attributes = 1; }
  message ScopeMetrics { repeated Metric metrics = 2; }
  message Metric {
    string name = 1; string description = 2; string unit = 3;
    oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; Summary summary = 11; }
  }
  message Gauge { repeated NumberDataPoint data_points = 1; }
  message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
  message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
  message Summary { repeated SummaryDataPoint data_points = 1; }
  message NumberDataPoint {
    repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
    oneof value { double as_double = 4; sfixed64 as_int = 6; }
    uint32 flags = 8;
  }
  message HistogramDataPoint {
    repeated KeyValue attributes = 9; fixed64 time_unix_nano = 3; fixed64 count = 4; optional double sum = 5;
    repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7; uint32 flags = 10;
  }
  message SummaryDataPoint {
    repeated KeyValue attributes = 7; fixed64 time_unix_nano = 3; fixed64 count = 4; double sum = 5;
    repeated ValueAtQuantile quantile_values = 6; uint32 flags = 8;
  }
  message ValueAtQuantile { double quantile = 1; double value = 2; }
  message KeyValue { string key = 1; AnyValue value = 2; }
  message AnyValue {
    oneof value {
      string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
      ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
    }
  }
  message ArrayValue { repeated AnyValue values = 1; }
  message KeyValueList { repeated KeyValue values = 1; }
`);
const ExportMetricsServiceRequest = root.lookupType('ExportMetricsServiceRequest');

/** One request in the OTLP JSON mapping, sent both as JSON and (through protobufjs) as protobuf. */
function decodeRequest(request: object): Decoded {
  const proto = ExportMetricsServiceRequest.encode(ExportMetricsServiceRequest.fromObject(request)).finish();
  const fromProto = decodeOtlpProtobuf(Buffer.from(proto));
  const fromJson = decodeOtlpJson(JSON.stringify(request));
  expect(fromJson).toEqual(fromProto);
  return fromProto;
}

// 2024-01-15T12:00:00.123456789Z: below the millisecond is rounded down.
const NANOS = '1705320000123456789';
const MS = 1705320000123;
const str = (key: string, value: string) => ({ key, value: { stringValue: value } });

describe('decodeOtlpProtobuf and decodeOtlpJson, on hand-written requests', () => {
  it('maps summaries to quantile gauges and _sum and _count counters', () => {
    const { samples } = decodeRequest({
      resourceMetrics: [
        {
          resource: { attributes: [str('service.name', 'api')] },
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'rpc.latency',
                  unit: 'ms',
                  summary: {
                    dataPoints: [
                      {
                        attributes: [str('method', 'get')],
                        timeUnixNano: NANOS,
                        count: '10',
                        sum: 123.5,
                        quantileValues: [
                          { quantile: 0.5, value: 9 },
                          { quantile: 0.99, value: 40 },
                        ],
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    const labels = { method: 'get', job: 'api' };
    expect(samples).toEqual([
      {
        name: 'rpc_latency_milliseconds',
        labels: { ...labels, quantile: '0.5' },
        timestamp: MS,
        value: 9,
        kind: 'gauge',
      },
      {
        name: 'rpc_latency_milliseconds',
        labels: { ...labels, quantile: '0.99' },
        timestamp: MS,
        value: 40,
        kind: 'gauge',
      },
      { name: 'rpc_latency_milliseconds_sum', labels, timestamp: MS, value: 123.5, kind: 'counter' },
      { name: 'rpc_latency_milliseconds_count', labels, timestamp: MS, value: 10, kind: 'counter' },
    ]);
  });

  it('stringifies every attribute type, joins colliding names, and lets job and instance win', () => {
    const { samples } = decodeRequest({
      resourceMetrics: [
        {
          resource: {
            attributes: [str('service.name', 'api'), str('service.instance.id', 'i-1'), str('region', 'eu')],
          },
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'temperature',
                  unit: 'Cel',
                  gauge: {
                    dataPoints: [
                      {
                        timeUnixNano: NANOS,
                        asDouble: 21.5,
                        attributes: [
                          { key: 'int', value: { intValue: '42' } },
                          { key: 'big', value: { intValue: '9007199254740993' } },
                          { key: 'double', value: { doubleValue: 0.5 } },
                          { key: 'bool', value: { boolValue: false } },
                          { key: 'bytes', value: { bytesValue: Buffer.from('hi').toString('base64') } },
                          {
                            key: 'list',
                            value: { arrayValue: { values: [{ stringValue: 'x' }, { intValue: '1' }, {}] } },
                          },
                          {
                            key: 'map',
                            value: {
                              kvlistValue: {
                                values: [str('k', 'v'), { key: 'n', value: { boolValue: true } }],
                              },
                            },
                          },
                          { key: 'empty', value: {} },
                          str('a_b', 'second'),
                          str('a.b', 'first'),
                          str('job', 'overridden'),
                        ],
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(samples).toEqual([
      {
        name: 'temperature_celsius',
        labels: {
          int: '42',
          big: '9007199254740993',
          double: '0.5',
          bool: 'false',
          bytes: 'aGk=',
          list: '["x",1,null]',
          map: '{"k":"v","n":true}',
          empty: '',
          a_b: 'first;second',
          job: 'api',
          instance: 'i-1',
        },
        timestamp: MS,
        value: 21.5,
        kind: 'gauge',
      },
    ]);
  });

  it('skips NO_RECORDED_VALUE points, counts points without a value, and names metrics as the spec says', () => {
    const point = (value: object, flags = 0) => ({ timeUnixNano: NANOS, flags, ...value });
    const metric = (name: string, unit: string, data: object) => ({ name, unit, ...data });
    const cumulative = (monotonic: boolean, ...dataPoints: object[]) => ({
      sum: { aggregationTemporality: 2, isMonotonic: monotonic, dataPoints },
    });
    const { samples, rejected } = decodeRequest({
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                metric(
                  'requests_total',
                  's',
                  cumulative(true, point({ asInt: '7' }), point({ asInt: '8' }, 1)),
                ),
                metric('http.server.request.size', 'By', cumulative(true, point({ asDouble: 10 }))),
                metric('process.runtime.uptime_seconds', 's', {
                  gauge: { dataPoints: [point({ asDouble: 1 })] },
                }),
                metric('net.io', 'By/s', { gauge: { dataPoints: [point({ asDouble: 2 })] } }),
                metric('queue/length', '{message}', cumulative(false, point({ asInt: '-3' }))),
                metric('9lives', 'packets', { gauge: { dataPoints: [point({ asDouble: 4 })] } }),
                metric('no.value', '', { gauge: { dataPoints: [point({})] } }),
                metric('', '', { gauge: { dataPoints: [point({ asDouble: 1 })] } }),
              ],
            },
          ],
        },
      ],
    });
    expect(samples.map((s) => [s.name, s.value, s.kind])).toEqual([
      ['requests_seconds_total', 7, 'counter'],
      ['http_server_request_size_bytes_total', 10, 'counter'],
      ['process_runtime_uptime_seconds', 1, 'gauge'],
      ['net_io_bytes_per_second', 2, 'gauge'],
      ['queue_length', -3, 'gauge'],
      ['_9lives_packets', 4, 'gauge'],
    ]);
    expect(samples.every((s) => s.timestamp === MS && Object.keys(s.labels).length === 0)).toBe(true);
    expect(rejected).toEqual(
      new Map([
        ['no recorded value', 1],
        ['data point without a value', 1],
        ['metric without a name', 1],
      ]),
    );
  });

  it('takes a histogram without buckets as its +Inf bucket, and refuses one whose counts do not fit its bounds', () => {
    const histogram = (dataPoint: object) => ({
      resourceMetrics: [
        {
          scopeMetrics: [
            { metrics: [{ name: 'h', histogram: { aggregationTemporality: 2, dataPoints: [dataPoint] } }] },
          ],
        },
      ],
    });
    expect(decodeRequest(histogram({ timeUnixNano: NANOS, count: '3' })).samples).toEqual([
      { name: 'h_bucket', labels: { le: '+Inf' }, timestamp: MS, value: 3, kind: 'counter' },
      { name: 'h_count', labels: {}, timestamp: MS, value: 3, kind: 'counter' },
    ]);

    const bad = histogram({
      timeUnixNano: NANOS,
      count: '3',
      bucketCounts: ['1', '2'],
      explicitBounds: [1, 2],
    });
    expect(httpError(() => decodeOtlpJson(JSON.stringify(bad))).message).toBe(
      'OTLP JSON: resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0]: ' +
        '2 bucket counts for 2 explicit bounds (expected 3)',
    );
    const proto = Buffer.from(
      ExportMetricsServiceRequest.encode(ExportMetricsServiceRequest.fromObject(bad)).finish(),
    );
    expect(httpError(() => decodeOtlpProtobuf(proto)).message).toBe(
      'protobuf: ExportMetricsServiceRequest.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0]: ' +
        '2 bucket counts for 2 explicit bounds (expected 3)',
    );
  });
});

describe('garbage', () => {
  it('refuses a broken protobuf body with 400, the field path and the byte', () => {
    expect(httpError(() => decodeOtlpProtobuf(Buffer.from([0x0a, 0x05, 0x01])))).toMatchObject({
      status: 400,
      message:
        'protobuf: ExportMetricsServiceRequest.resource_metrics[0]: ' +
        'length 5 at byte 1 runs past the end of the enclosing message (byte 3)',
    });

    // A gauge point whose time_unix_nano (field 3) comes as a varint.
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2).fork(); // resource_metrics
    w.uint32((2 << 3) | 2).fork(); // scope_metrics
    w.uint32((2 << 3) | 2).fork(); // metrics
    w.uint32((1 << 3) | 2).string('up');
    w.uint32((5 << 3) | 2).fork(); // gauge
    w.uint32((1 << 3) | 2).fork(); // data_points
    w.uint32((3 << 3) | 0).uint32(5);
    w.ldelim().ldelim().ldelim().ldelim().ldelim();
    const body = Buffer.from(w.finish());
    expect(httpError(() => decodeOtlpProtobuf(body)).message).toBe(
      'protobuf: ExportMetricsServiceRequest.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0]: ' +
        `time_unix_nano (field 3) has wire type 0 instead of 1 (fixed64) at byte ${body.length - 1}`,
    );

    const text = httpError(() => decodeOtlpProtobuf(Buffer.from('{"resourceMetrics": []}')));
    expect(text.status).toBe(400);
    expect(text.message).toMatch(/^protobuf: ExportMetricsServiceRequest: invalid wire type \d at byte \d+$/);
  });

  it('refuses a JSON body that is not JSON, or not an ExportMetricsServiceRequest, with 400 and the path', () => {
    const cases: Array<[string, string]> = [
      ['{"resourceMetrics": [', 'OTLP JSON: invalid JSON: '],
      ['[]', 'OTLP JSON: the body: expected an object, got an array'],
      ['{"resourceMetrics": {}}', 'OTLP JSON: resourceMetrics: expected an array, got object'],
      [
        JSON.stringify({
          resourceMetrics: [
            {
              scopeMetrics: [
                {},
                {
                  metrics: [
                    {},
                    {},
                    { name: 'up', gauge: { dataPoints: [{ timeUnixNano: true, asDouble: 1 }] } },
                  ],
                },
              ],
            },
          ],
        }),
        'OTLP JSON: resourceMetrics[0].scopeMetrics[1].metrics[2].gauge.dataPoints[0].timeUnixNano: ' +
          'expected nanoseconds since the epoch (a decimal string or a number), got boolean',
      ],
      [
        JSON.stringify({
          resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'x', gauge: {}, sum: {} }] }] }],
        }),
        'OTLP JSON: resourceMetrics[0].scopeMetrics[0].metrics[0]: has gauge and sum, a metric has one kind of data',
      ],
      [
        JSON.stringify({
          resourceMetrics: [
            { scopeMetrics: [{ metrics: [{ name: 'x', sum: { aggregationTemporality: 'SOMETIMES' } }] }] },
          ],
        }),
        'OTLP JSON: resourceMetrics[0].scopeMetrics[0].metrics[0].sum.aggregationTemporality: ' +
          'expected an AggregationTemporality (1 delta, 2 cumulative), got "SOMETIMES"',
      ],
    ];
    for (const [body, message] of cases) {
      const error = httpError(() => decodeOtlpJson(body));
      expect(error.status).toBe(400);
      expect(error.message.startsWith(message)).toBe(true);
    }
  });

  it('decodes an empty request, in either encoding, to no samples', () => {
    expect(decodeOtlpProtobuf(Buffer.alloc(0))).toEqual({ samples: [], rejected: new Map() });
    expect(decodeOtlpJson('{}')).toEqual({ samples: [], rejected: new Map() });
  });
});
