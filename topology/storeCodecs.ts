import { ByteWriter, decodeAcc, Reader, writeAcc } from '../core/accCodec.js';
import type { RollupAcc, SampleAcc } from '../core/aggregate.js';
import { PipelineError } from '../core/errors.js';
import type { WindowState } from '../streams/windowStore.js';
import type { WindowsCodec } from '../streams/stateStore.js';
import { SampleWindowStore } from '../operators/sampleWindow.js';
import type { StoreCodecs } from '../streams/tasks.js';

/** First byte of a record of the windows of one key: 2 now, 1 with fixed-width headers (still read); the former one-window records start with 0. */
const WINDOWS = 2;
const WINDOWS_FIXED = 1;

/** Reused for every record: one copy out per record, no buffer per window. */
const writer = new ByteWriter(64 * 1024);

/**
 * The windows of one key as a changelog value: u8 2, varint count, then per window its start
 * (`num`, core/accCodec.ts), revision and accumulator length (varints) and the accumulator
 * (`encodeAcc`). The key is the record's key. Also read: layout 1 (start f64, revision and
 * length u32, little-endian) and the former one window per record keyed `key@start` (u32
 * big-endian length of a JSON header [key, start, revision], then the accumulator).
 */
function windowsCodec<A extends SampleAcc | RollupAcc>(type: A['type']): WindowsCodec<A> {
  return {
    encode(states) {
      writer.reset();
      writer.u8(WINDOWS);
      writer.varint(states.length);
      for (const state of states) {
        writer.num(state.start);
        writer.varint(state.revision);
        const at = writer.length;
        writeAcc(writer, state.acc);
        writer.prefixLength(at);
      }
      return writer.done();
    },
    decode(key, bytes) {
      if (bytes[0] !== WINDOWS && bytes[0] !== WINDOWS_FIXED) return [decodeFormer(bytes, type)];
      try {
        const fixed = bytes[0] === WINDOWS_FIXED;
        const r = new Reader(bytes);
        r.u8();
        const states: Array<WindowState<A>> = [];
        for (let n = fixed ? r.u32() : r.varint(); n > 0; n--) {
          const start = fixed ? r.f64() : r.num();
          const revision = fixed ? r.u32() : r.varint();
          const length = fixed ? r.u32() : r.varint();
          const acc = decodeAcc(r.take(length), type as never) as A;
          states.push({ key, start, revision, acc });
        }
        r.end();
        return states;
      } catch (error) {
        throw new PipelineError(`cannot decode the windows of ${key}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    },
  };
}

/** A record of the former layout: one window, a JSON header [key, start, revision] and the accumulator. */
function decodeFormer<A extends SampleAcc | RollupAcc>(bytes: Buffer, type: A['type']): WindowState<A> {
  const size = bytes.readUInt32BE(0);
  const [key, start, revision] = JSON.parse(bytes.subarray(4, 4 + size).toString()) as [
    string,
    number,
    number,
  ];
  return { key, start, revision, acc: decodeAcc(bytes.subarray(4 + size), type as never) as A };
}

/** How the first tier's windows travel through its changelog (also read by `SampleWindowStore`). */
export const sampleWindowsCodec = windowsCodec<SampleAcc>('samples');

export const windowStoreCodecs: StoreCodecs<SampleWindowStore, RollupAcc> = {
  samples: (name) => new SampleWindowStore(name, sampleWindowsCodec),
  rollup: windowsCodec<RollupAcc>('rollup'),
};
