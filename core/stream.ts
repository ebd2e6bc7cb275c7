/**
 * What flows between the stateful stages: records with their event time and source position,
 * and watermarks ("no record with an earlier event time is expected any more").
 */
export type StreamEvent<T> =
  | { kind: 'data'; partition: number; offset: number; timestamp: number; value: T }
  | { kind: 'watermark'; watermark: number };
