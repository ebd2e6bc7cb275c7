import { ByteWriter, decodeAcc, writeAcc, type RollupAcc, type SampleAcc } from '../core/aggregate.js';
import { PipelineError } from '../core/errors.js';
import type { WindowState } from '../streams/windowStore.js';
import type { WindowsCodec } from '../streams/stateStore.js';
import type { StoreCodecs } from '../streams/tasks.js';

/** First byte of a record of the windows of one key (the former one-window records start with 0). */
const WINDOWS = 1;

/** Reused for every record: one copy out per record, no buffer per window. */
const writer = new ByteWriter(64 * 1024);

/**
 * The windows of one key as a changelog value, little-endian: u8 1, u32 count, then per window
 * start f64, revision u32, accumulator length u32 and the accumulator (`encodeAcc`). The key is
 * the record's key. Records of the former layout, one window per record keyed `key@start`
 * (u32 big-endian length of a JSON header [key, start, revision], then the accumulator), decode too.
 */
function windowsCodec<A extends SampleAcc | RollupAcc>(type: A['type']): WindowsCodec<A> {
  return {
    encode(states) {
      writer.reset();
      writer.u8(WINDOWS);
      writer.u32(states.length);
      for (const state of states) {
        writer.f64(state.start);
        writer.u32(state.revision);
        const at = writer.length;
        writer.u32(0);
        writeAcc(writer, state.acc);
        writer.setU32(at, writer.length - at - 4);
      }
      return writer.done();
    },
    decode(key, bytes) {
      if (bytes[0] !== WINDOWS) return [decodeFormer(bytes, type)];
      try {
        const states: Array<WindowState<A>> = [];
        let at = 5;
        for (let n = bytes.readUInt32LE(1); n > 0; n--) {
          const start = bytes.readDoubleLE(at);
          const revision = bytes.readUInt32LE(at + 8);
          const length = bytes.readUInt32LE(at + 12);
          at += 16;
          const acc = decodeAcc(bytes.subarray(at, at + length), type as never) as A;
          at += length;
          states.push({ key, start, revision, acc });
        }
        if (at !== bytes.length) throw new Error(`${bytes.length - at} bytes left over`);
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

export const windowStoreCodecs: StoreCodecs<SampleAcc, RollupAcc> = {
  samples: windowsCodec<SampleAcc>('samples'),
  rollup: windowsCodec<RollupAcc>('rollup'),
};
