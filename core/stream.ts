/**
 * What flows between the stateful stages: records with their event time and source position,
 * and watermarks ("no record with an earlier event time is expected any more").
 */
export type StreamEvent<T> =
  | {
      kind: 'data';
      partition: number;
      offset: number;
      timestamp: number;
      value: T;
      /**
       * The ordered stream whose event time the record follows, for the watermark, when it is not
       * `partition`: after a repartition, a partition interleaves streams of several upstream
       * partitions, each as out of order as its upstream partition only.
       */
      channel?: number;
    }
  | { kind: 'watermark'; watermark: number };
