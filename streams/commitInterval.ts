/**
 * Kafka Streams' commit.interval.ms for a loop that commits after batches of work: a commit is
 * due every `intervalMs`, and as soon as the input goes quiet (no records for `quietMs`), so
 * that the last records of a burst do not wait a whole interval. Time is the caller's clock.
 */
export class CommitInterval {
  private committedAt: number;
  /** When the last work with records ended. */
  private busyAt: number;

  constructor(
    private readonly intervalMs: number,
    private readonly quietMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.committedAt = this.busyAt = now();
  }

  /** After a piece of work (with records or not): whether to commit now. */
  due(hadRecords: boolean): boolean {
    const now = this.now();
    if (hadRecords) this.busyAt = now;
    const quiet = !hadRecords && now - this.busyAt >= this.quietMs;
    return quiet || now - this.committedAt >= this.intervalMs;
  }

  committed(): void {
    this.committedAt = this.now();
  }
}
