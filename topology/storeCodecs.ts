import { decodeAcc, encodeAcc, type RollupAcc, type SampleAcc } from '../core/aggregate.js';
import type { WindowState } from '../operators/tumblingWindow.js';
import type { StoreCodec } from './stateStore.js';
import type { StoreCodecs } from './tasks.js';

/** A window state as a changelog value: a JSON header (key, start, revision) and the encoded accumulator. */
function windowCodec<A extends SampleAcc | RollupAcc>(type: A['type']): StoreCodec<WindowState<A>> {
  return {
    encode(state) {
      const header = Buffer.from(JSON.stringify([state.key, state.start, state.revision]));
      const size = Buffer.allocUnsafe(4);
      size.writeUInt32BE(header.length);
      return Buffer.concat([size, header, encodeAcc(state.acc)]);
    },
    decode(bytes) {
      const size = bytes.readUInt32BE(0);
      const [key, start, revision] = JSON.parse(bytes.subarray(4, 4 + size).toString()) as [
        string,
        number,
        number,
      ];
      return { key, start, revision, acc: decodeAcc(bytes.subarray(4 + size), type as never) as A };
    },
  };
}

export const windowStoreCodecs: StoreCodecs<SampleAcc, RollupAcc> = {
  minute: windowCodec<SampleAcc>('samples'),
  hour: windowCodec<RollupAcc>('rollup'),
};
