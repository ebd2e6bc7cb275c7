/** How a window folds its values into an accumulator. */
export interface Aggregator<V, A> {
  create(): A;
  /** May mutate `acc` and return it. */
  add(acc: A, value: V, timestamp: number): A;
}
