import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../collector/errors.js';
import { decodeRemoteWrite } from '../../collector/formats/remoteWrite.js';
import { uncompressSnappyBlock } from '../../collector/formats/snappy.js';
import type { Sample } from '../../schemas/index.js';

// prompb/remote.proto and prompb/types.proto, the parts remote_write 1.0 sends.
const { root } = protobuf.parse(`
  syntax = "proto3";
  package prometheus;
  message WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
  message TimeSeries {
    repeated Label labels = 1;
    repeated Sample samples = 2;
    repeated Exemplar exemplars = 3;
    repeated Histogram histograms = 4;
  }
  message Label { string name = 1; string value = 2; }
  message Sample { double value = 1; int64 timestamp = 2; }
  message Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
  message Histogram { uint64 count_int = 1; double sum = 3; int64 timestamp = 15; }
  message MetricMetadata { int32 type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
`);
const WriteRequest = root.lookupType('prometheus.WriteRequest');

const T = Date.UTC(2024, 0, 15, 12, 0, 0);
const MAX = 8 << 20;

interface SeriesSpec {
  labels: Record<string, string>;
  samples?: Array<[value: number, timestamp: number]>;
  exemplars?: number;
  histograms?: number;
}

function series({ labels, samples = [], exemplars = 0, histograms = 0 }: SeriesSpec) {
  return {
    labels: Object.entries(labels).map(([name, value]) => ({ name, value })),
    samples: samples.map(([value, timestamp]) => ({ value, timestamp })),
    exemplars: Array.from({ length: exemplars }, () => ({
      labels: [{ name: 'trace_id', value: 'abc' }],
      value: 1,
    })),
    histograms: Array.from({ length: histograms }, () => ({ countInt: 3, sum: 1.5, timestamp: T })),
  };
}

function encode(request: object): Buffer {
  return Buffer.from(WriteRequest.encode(WriteRequest.fromObject(request)).finish());
}

const compress = (message: Uint8Array) => Buffer.from(snappy.compress(Buffer.from(message)));

/** The decoded samples as objects, and the rejections. */
function decodeSamples(body: Buffer): { samples: Sample[]; rejected: Map<string, number> } {
  const { series, timestamps, values, counters, rejected } = decodeRemoteWrite(body, {
    maxDecodedBytes: MAX,
  });
  const samples = series.map((s, i): Sample => ({
    name: s.name,
    labels: { ...s.labels },
    timestamp: timestamps[i] as number,
    value: values[i] as number,
    kind: counters[i] ? 'counter' : 'gauge',
  }));
  return { samples, rejected };
}

function httpError(run: () => unknown): HttpError {
  try {
    run();
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error('expected an HttpError');
}

describe('decodeRemoteWrite', () => {
  it('makes one sample per sample of each series, named by __name__ and labelled by the rest', () => {
    const body = compress(
      encode({
        timeseries: [
          series({
            labels: { __name__: 'http_requests_total', job: 'api', method: 'GET' },
            samples: [
              [10, T],
              [12.5, T + 15_000],
            ],
          }),
          series({ labels: { __name__: 'node_load1', instance: 'h1:9100' }, samples: [[0.25, T]] }),
          series({ labels: { job: 'api', __name__: 'rpc_seconds_bucket', le: '0.5' }, samples: [[7, T]] }),
          series({ labels: { __name__: 'rpc_seconds_count' }, samples: [[9, T]] }),
          series({ labels: { __name__: 'rpc_seconds_sum' }, samples: [[3.5, T]] }),
        ],
      }),
    );
    const { samples, rejected } = decodeSamples(body);
    expect(samples).toEqual([
      {
        name: 'http_requests_total',
        labels: { job: 'api', method: 'GET' },
        timestamp: T,
        value: 10,
        kind: 'counter',
      },
      {
        name: 'http_requests_total',
        labels: { job: 'api', method: 'GET' },
        timestamp: T + 15_000,
        value: 12.5,
        kind: 'counter',
      },
      { name: 'node_load1', labels: { instance: 'h1:9100' }, timestamp: T, value: 0.25, kind: 'gauge' },
      {
        name: 'rpc_seconds_bucket',
        labels: { job: 'api', le: '0.5' },
        timestamp: T,
        value: 7,
        kind: 'counter',
      },
      { name: 'rpc_seconds_count', labels: {}, timestamp: T, value: 9, kind: 'counter' },
      { name: 'rpc_seconds_sum', labels: {}, timestamp: T, value: 3.5, kind: 'counter' },
    ]);
    expect(rejected.size).toBe(0);
  });

  it('keeps timestamps exact, including negative ones and those far beyond 2^32', () => {
    const stamps = [0, 1, -1, -T, 2 ** 31, 2 ** 32 + 5, T, 2 ** 53 - 1];
    const body = compress(
      encode({ timeseries: [series({ labels: { __name__: 'x' }, samples: stamps.map((t) => [1, t]) })] }),
    );
    expect(decodeSamples(body).samples.map((s) => s.timestamp)).toEqual(stamps);
  });

  it('makes a series a counter when the metadata says its family is a COUNTER, even when it comes after it', () => {
    const body = compress(
      encode({
        timeseries: [
          series({ labels: { __name__: 'process_cpu_seconds' }, samples: [[1.5, T]] }),
          series({ labels: { __name__: 'temperature_celsius' }, samples: [[21, T]] }),
        ],
        metadata: [
          { type: 1, metricFamilyName: 'process_cpu_seconds', help: 'CPU time', unit: 'seconds' },
          { type: 2, metricFamilyName: 'temperature_celsius' },
        ],
      }),
    );
    const { samples } = decodeSamples(body);
    expect(samples.map((s) => [s.name, s.kind])).toEqual([
      ['process_cpu_seconds', 'counter'],
      ['temperature_celsius', 'gauge'],
    ]);
  });

  it('skips staleness markers and counts them, but passes other NaNs on for validation', () => {
    // The marker's exact bits, written by hand: protobufjs would canonicalize a NaN.
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2).fork();
    w.uint32((1 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 2)
      .string('__name__')
      .uint32((2 << 3) | 2)
      .string('up')
      .ldelim();
    w.uint32((2 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 1)
      .double(1)
      .uint32((2 << 3) | 0)
      .int64(T)
      .ldelim();
    w.uint32((2 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 1)
      .fixed32(0x00000002)
      .fixed32(0x7ff00000);
    w.uint32((2 << 3) | 0)
      .int64(T + 15_000)
      .ldelim();
    w.uint32((2 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 1)
      .double(NaN)
      .uint32((2 << 3) | 0)
      .int64(T + 30_000)
      .ldelim();
    w.ldelim();
    const { samples, rejected } = decodeSamples(compress(w.finish()));
    expect(samples.map((s) => [s.timestamp, s.value])).toEqual([
      [T, 1],
      [T + 30_000, NaN],
    ]);
    expect(rejected).toEqual(new Map([['staleness marker', 1]]));
  });

  it('counts series without __name__ and native histograms as rejected, and ignores exemplars', () => {
    const body = compress(
      encode({
        timeseries: [
          series({
            labels: { job: 'api' },
            samples: [
              [1, T],
              [2, T + 1],
            ],
          }),
          series({ labels: { __name__: 'rpc_duration_seconds' }, histograms: 2 }),
          series({ labels: { __name__: 'requests_total' }, samples: [[5, T]], exemplars: 1 }),
        ],
      }),
    );
    const { samples, rejected } = decodeSamples(body);
    expect(samples).toEqual([
      { name: 'requests_total', labels: {}, timestamp: T, value: 5, kind: 'counter' },
    ]);
    expect(rejected).toEqual(
      new Map([
        ['series without __name__', 2],
        ['native histograms are not supported', 2],
      ]),
    );
  });

  it('skips fields it does not know, at every level', () => {
    const w = protobuf.Writer.create();
    w.uint32((15 << 3) | 0).uint32(300); // an unknown varint field in WriteRequest
    w.uint32((1 << 3) | 2).fork();
    w.uint32((9 << 3) | 5).fixed32(7); // an unknown fixed32 field in TimeSeries
    w.uint32((1 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 2)
      .string('__name__')
      .uint32((2 << 3) | 2)
      .string('up');
    w.uint32((3 << 3) | 1)
      .double(0)
      .ldelim(); // an unknown fixed64 field in Label
    w.uint32((2 << 3) | 2)
      .fork()
      .uint32((3 << 3) | 2)
      .string('?')
      .uint32((1 << 3) | 1)
      .double(1);
    w.uint32((2 << 3) | 0)
      .int64(T)
      .ldelim();
    w.ldelim();
    const { samples } = decodeSamples(compress(w.finish()));
    expect(samples).toEqual([{ name: 'up', labels: {}, timestamp: T, value: 1, kind: 'gauge' }]);
  });

  it('reads labels however they are encoded: long, non-ASCII, value before name', () => {
    const long = 'x'.repeat(70) + 'é'.repeat(40);
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2).fork();
    w.uint32((1 << 3) | 2)
      .fork()
      .uint32((2 << 3) | 2)
      .string('cpu_seconds_total')
      .uint32((1 << 3) | 2)
      .string('__name__');
    w.ldelim();
    w.uint32((1 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 2)
      .string('path')
      .uint32((2 << 3) | 2)
      .string(long)
      .ldelim();
    w.uint32((1 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 2)
      .string('zone')
      .uint32((2 << 3) | 2)
      .string('zürich-1 🌍');
    w.ldelim();
    w.uint32((1 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 2)
      .string('empty')
      .ldelim();
    w.uint32((2 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 1)
      .double(4)
      .uint32((2 << 3) | 0)
      .int64(T)
      .ldelim();
    w.ldelim();
    const { samples } = decodeSamples(compress(w.finish()));
    expect(samples).toEqual([
      {
        name: 'cpu_seconds_total',
        labels: { path: long, zone: 'zürich-1 🌍', empty: '' },
        timestamp: T,
        value: 4,
        kind: 'counter',
      },
    ]);
  });

  it('gives the samples of a series one series object, again for the same label bytes in a later request', () => {
    const long = 'v'.repeat(300);
    const request = () =>
      compress(
        encode({
          timeseries: [
            series({
              labels: { __name__: 'up', job: 'a' },
              samples: [
                [1, T],
                [2, T + 1],
              ],
            }),
            series({ labels: { __name__: 'up', job: 'b' }, samples: [[3, T]] }),
            series({ labels: { __name__: 'info', path: long }, samples: [[4, T]] }),
          ],
        }),
      );
    const first = decodeRemoteWrite(request(), { maxDecodedBytes: MAX }).series;
    const second = decodeRemoteWrite(request(), { maxDecodedBytes: MAX }).series;
    expect(first[0]).toBe(first[1]);
    expect(first[0]).not.toBe(first[2]);
    second.forEach((s, i) => expect(s).toBe(first[i]));
    expect(second.map((s) => [s.name, s.labels])).toEqual([
      ['up', { job: 'a' }],
      ['up', { job: 'a' }],
      ['up', { job: 'b' }],
      ['info', { path: long }],
    ]);
  });

  it('reads labels that come after the samples as part of the series', () => {
    const label = (w: protobuf.Writer, name: string, value: string) =>
      w
        .uint32((1 << 3) | 2)
        .fork()
        .uint32((1 << 3) | 2)
        .string(name)
        .uint32((2 << 3) | 2)
        .string(value)
        .ldelim();
    const sample = (w: protobuf.Writer, value: number) =>
      w
        .uint32((2 << 3) | 2)
        .fork()
        .uint32((1 << 3) | 1)
        .double(value)
        .uint32((2 << 3) | 0)
        .int64(T)
        .ldelim();
    const w = protobuf.Writer.create();
    // The same leading labels three times: alone, followed by another label, followed by the name.
    label(sample(label(w.uint32((1 << 3) | 2).fork(), 'job', 'a'), 1), '__name__', 'up').ldelim();
    label(
      sample(label(label(w.uint32((1 << 3) | 2).fork(), 'job', 'a'), '__name__', 'up'), 2),
      'zone',
      'z1',
    ).ldelim();
    sample(label(label(w.uint32((1 << 3) | 2).fork(), 'job', 'a'), '__name__', 'up'), 3).ldelim();
    const { samples, rejected } = decodeSamples(compress(w.finish()));
    expect(samples.map((s) => [s.name, s.labels, s.value])).toEqual([
      ['up', { job: 'a' }, 1],
      ['up', { job: 'a', zone: 'z1' }, 2],
      ['up', { job: 'a' }, 3],
    ]);
    expect(rejected.size).toBe(0);
  });

  it('gives back the right strings when there are more distinct ones than its string cache holds', () => {
    const values = Array.from({ length: 12_000 }, (_, i) => `pod-${(i * 7919).toString(36)}`);
    const decode = () =>
      decodeSamples(
        compress(
          encode({
            timeseries: values.map((pod, i) =>
              series({ labels: { __name__: `m${i % 300}`, pod }, samples: [[i, T]] }),
            ),
          }),
        ),
      ).samples;
    for (let round = 0; round < 2; round++) {
      const samples = decode();
      expect(samples.map((s) => s.labels.pod)).toEqual(values);
      expect(samples.map((s) => s.name)).toEqual(values.map((_, i) => `m${i % 300}`));
    }
  });

  it('decodes an empty WriteRequest to no samples, and refuses a zero-byte body', () => {
    expect(decodeSamples(compress(new Uint8Array(0)))).toEqual({
      samples: [],
      rejected: new Map(),
    });
    expect(httpError(() => decodeRemoteWrite(Buffer.alloc(0), { maxDecodedBytes: MAX }))).toMatchObject({
      status: 400,
      message: 'snappy: empty body',
    });
  });

  it('refuses with 413 a block that declares more than maxDecodedBytes, before decompressing it', () => {
    // 9999999 as a varint, then no data at all: only the preamble is read.
    const body = Buffer.from([0xff, 0xac, 0xe2, 0x04]);
    expect(httpError(() => decodeRemoteWrite(body, { maxDecodedBytes: MAX }))).toMatchObject({
      status: 413,
      message: 'snappy: uncompressed length 9999999 exceeds 8388608 bytes',
    });
  });

  it('refuses with 400 a body that is not a snappy block, saying where it breaks', () => {
    const message = encode({ timeseries: [series({ labels: { __name__: 'up' }, samples: [[1, T]] })] });
    const block = compress(message);
    const cases: Array<[string, Buffer, string]> = [
      [
        'the framed (stream) format',
        Buffer.concat([Buffer.from([0xff, 6, 0, 0]), Buffer.from('sNaPpY'), Buffer.from([1, 8, 0, 0])]),
        'snappy: body is in the framed (stream) format; remote write takes the block format',
      ],
      [
        'a cut-off block',
        block.subarray(0, block.length - 3),
        `snappy: literal of ${message.length} bytes at byte 1`,
      ],
      [
        'a copy from before the start',
        Buffer.from([5, 0x00, 0x61, 0x01, 0x05]),
        'snappy: copy at byte 3 refers 5 bytes back, with 1 bytes written',
      ],
      [
        'a short block',
        Buffer.from([5, 0x00, 0x61]),
        'snappy: block decompresses to 1 bytes, its preamble declares 5',
      ],
      [
        'a broken preamble',
        Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        'snappy: invalid uncompressed length',
      ],
    ];
    for (const [, body, message] of cases) {
      const error = httpError(() => decodeRemoteWrite(body, { maxDecodedBytes: MAX }));
      expect(error.status).toBe(400);
      expect(error.message).toContain(message);
    }
  });

  it('refuses with 400 a broken WriteRequest, with the field path and the byte', () => {
    const request = encode({
      timeseries: [
        series({ labels: { __name__: 'a' }, samples: [[1, T]] }),
        series({ labels: { __name__: 'b' }, samples: [[2, T]] }),
      ],
    });
    // The last 16 bytes are the second series' sample: tag 0x09 (value, fixed64), 8 bytes, tag
    // 0x10 (timestamp, varint), 6 bytes. The first tag is made 0x0f: field 1, wire type 7.
    const at = request.length - 16;
    expect([request[at], request[at + 9]]).toEqual([0x09, 0x10]);
    const corrupt = Buffer.from(request);
    corrupt[at] = 0x0f;
    expect(httpError(() => decodeRemoteWrite(compress(corrupt), { maxDecodedBytes: MAX })).message).toBe(
      `protobuf: WriteRequest.timeseries[1].samples[0]: invalid wire type 7 at byte ${at + 1}`,
    );

    const truncated = request.subarray(0, request.length - 4);
    const error = httpError(() => decodeRemoteWrite(compress(truncated), { maxDecodedBytes: MAX }));
    expect(error.status).toBe(400);
    expect(error.message).toMatch(
      /^protobuf: WriteRequest.timeseries\[1\]: length \d+ at byte \d+ runs past/,
    );

    // A label whose name (field 1) comes as a varint.
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 0)
      .uint32(1)
      .ldelim()
      .ldelim();
    const wrongType = Buffer.from(w.finish());
    expect(httpError(() => decodeRemoteWrite(compress(wrongType), { maxDecodedBytes: MAX })).message).toBe(
      'protobuf: WriteRequest.timeseries[0].labels[0]: name (field 1) has wire type 0 instead of 2 ' +
        '(length-delimited) at byte 5',
    );

    const garbage = Buffer.from('this is not a protobuf message at all');
    expect(httpError(() => decodeRemoteWrite(compress(garbage), { maxDecodedBytes: MAX }))).toMatchObject({
      status: 400,
      message: expect.stringMatching(/^protobuf: WriteRequest/),
    });
  });
});

describe('uncompressSnappyBlock', () => {
  it('gives back what snappyjs compressed: long literals, long copies, overlapping copies', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const inputs = [
      Buffer.alloc(0),
      Buffer.alloc(100_000, 'a'),
      Buffer.from(Array.from({ length: 70_000 }, () => Math.floor(random() * 256))),
      Buffer.from('abcabcabcabcabcabcabcabcabcabcabcabcabc'.repeat(500) + 'x'.repeat(300)),
      Buffer.from(Array.from({ length: 5000 }, (_, i) => `series_${i % 37}{job="api"}`).join('')),
    ];
    for (const input of inputs) {
      expect(uncompressSnappyBlock(compress(input), 1 << 20).equals(input)).toBe(true);
    }
  });
});
