import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { uncompressSnappyBlock } from '../collector/formats/snappy.js';
import { HttpError } from '../collector/errors.js';
import type { LabelMatcher, MatchType } from './promql/storage.js';
import { badData } from './errors.js';

/** Prometheus' remote-read messages (prompb/remote.proto, types.proto): what a SAMPLES exchange uses. */
const root = protobuf.Root.fromJSON({
  nested: {
    ReadRequest: {
      fields: {
        queries: { rule: 'repeated', type: 'Query', id: 1 },
        acceptedResponseTypes: { rule: 'repeated', type: 'int32', id: 2 },
      },
    },
    Query: {
      fields: {
        startTimestampMs: { type: 'int64', id: 1 },
        endTimestampMs: { type: 'int64', id: 2 },
        matchers: { rule: 'repeated', type: 'LabelMatcher', id: 3 },
        hints: { type: 'ReadHints', id: 4 },
      },
    },
    LabelMatcher: {
      fields: {
        type: { type: 'int32', id: 1 },
        name: { type: 'string', id: 2 },
        value: { type: 'string', id: 3 },
      },
    },
    ReadHints: {
      fields: {
        stepMs: { type: 'int64', id: 1 },
        func: { type: 'string', id: 2 },
        startMs: { type: 'int64', id: 3 },
        endMs: { type: 'int64', id: 4 },
        rangeMs: { type: 'int64', id: 7 },
      },
    },
    ReadResponse: { fields: { results: { rule: 'repeated', type: 'QueryResult', id: 1 } } },
    QueryResult: { fields: { timeseries: { rule: 'repeated', type: 'TimeSeries', id: 1 } } },
    TimeSeries: {
      fields: {
        labels: { rule: 'repeated', type: 'Label', id: 1 },
        samples: { rule: 'repeated', type: 'Sample', id: 2 },
      },
    },
    Label: { fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
    Sample: { fields: { value: { type: 'double', id: 1 }, timestamp: { type: 'int64', id: 2 } } },
  },
});
const ReadRequest = root.lookupType('ReadRequest');
const ReadResponse = root.lookupType('ReadResponse');

const MATCH_TYPES: MatchType[] = ['=', '!=', '=~', '!~'];

/** One query of a remote-read request: a selector over a time range. */
export interface RemoteQuery {
  startMs: number;
  endMs: number;
  matchers: LabelMatcher[];
}

/** One series of an answer: labels (with `__name__`) and samples. */
export interface RemoteSeries {
  labels: Record<string, string>;
  timestamps: ArrayLike<number>;
  values: ArrayLike<number>;
}

/** Decodes a snappy-compressed ReadRequest; 400 `bad_data` for anything malformed. */
export function decodeReadRequest(body: Buffer, maxBytes: number): RemoteQuery[] {
  let raw: Buffer;
  try {
    raw = uncompressSnappyBlock(body, maxBytes);
  } catch (error) {
    throw badData(`remote read: ${(error as HttpError).message}`);
  }
  let message: {
    queries?: Array<{
      startTimestampMs?: unknown;
      endTimestampMs?: unknown;
      matchers?: Array<{ type?: number; name?: string; value?: string }>;
    }>;
  };
  try {
    message = ReadRequest.toObject(ReadRequest.decode(raw), {
      longs: Number,
      defaults: true,
    }) as typeof message;
  } catch (error) {
    throw badData(`remote read: not a ReadRequest: ${(error as Error).message}`);
  }
  return (message.queries ?? []).map((q) => ({
    startMs: Number(q.startTimestampMs ?? 0),
    endMs: Number(q.endTimestampMs ?? 0),
    matchers: (q.matchers ?? []).map((m) => {
      const type = MATCH_TYPES[m.type ?? 0];
      if (!type) throw badData(`remote read: unknown matcher type ${m.type}`);
      return { name: m.name ?? '', type, value: m.value ?? '' };
    }),
  }));
}

/** A ReadResponse of SAMPLES results, one per query, snappy-compressed. */
export function encodeReadResponse(results: RemoteSeries[][]): Buffer {
  const message = ReadResponse.fromObject({
    results: results.map((series) => ({
      timeseries: series.map((s) => ({
        labels: Object.entries(s.labels)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([name, value]) => ({ name, value })),
        samples: Array.from({ length: s.timestamps.length }, (_, i) => ({
          value: s.values[i],
          timestamp: s.timestamps[i],
        })),
      })),
    })),
  });
  return Buffer.from(snappy.compress(ReadResponse.encode(message).finish()));
}

/** Decodes a ReadResponse (tests and clients of ours). */
export function decodeReadResponse(body: Buffer): RemoteSeries[][] {
  const raw = Buffer.from(snappy.uncompress(body));
  const message = ReadResponse.toObject(ReadResponse.decode(raw), { longs: Number, defaults: true }) as {
    results: Array<{
      timeseries: Array<{
        labels: Array<{ name: string; value: string }>;
        samples: Array<{ value: number; timestamp: number }>;
      }>;
    }>;
  };
  return message.results.map((r) =>
    r.timeseries.map((t) => ({
      labels: Object.fromEntries(t.labels.map((l) => [l.name, l.value])),
      timestamps: t.samples.map((s) => s.timestamp),
      values: t.samples.map((s) => s.value),
    })),
  );
}

/** Encodes a ReadRequest (tests and clients of ours). */
export function encodeReadRequest(queries: RemoteQuery[]): Buffer {
  const message = ReadRequest.fromObject({
    queries: queries.map((q) => ({
      startTimestampMs: q.startMs,
      endTimestampMs: q.endMs,
      matchers: q.matchers.map((m) => ({ type: MATCH_TYPES.indexOf(m.type), name: m.name, value: m.value })),
    })),
    acceptedResponseTypes: [0],
  });
  return Buffer.from(snappy.compress(ReadRequest.encode(message).finish()));
}
