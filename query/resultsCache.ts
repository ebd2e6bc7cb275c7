import type { Config } from '../core/config.js';

/** A cached chunk: its value, size, expiry and the time span of its data (for corrections). */
interface Entry<V> {
  value: V;
  bytes: number;
  expiresAt: number;
  startMs: number;
  endMs: number;
}

export interface CacheCounters {
  hit(): void;
  miss(): void;
  evicted(reason: 'size' | 'expired' | 'correction'): void;
  bytes(n: number): void;
}

/**
 * The query service's results cache: chunks of range results by key, least recently used out
 * first beyond `maxBytes`, each with a TTL that follows the age of its data (settings
 * `query.cache.ttl*`: data under 1 h old is likely to be corrected or extended soon, older data
 * rarely), and dropped at once when a window in its time span is corrected.
 */
export class ResultsCache<V> {
  /** Map order is recency: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry<V>>();
  private size = 0;

  constructor(
    private readonly settings: Config['query']['cache'],
    private readonly counters: CacheCounters,
  ) {}

  get enabled(): boolean {
    return this.settings.maxBytes > 0;
  }

  get bytes(): number {
    return this.size;
  }

  /** TTL of a chunk whose newest data is at `dataEndMs`. */
  ttlFor(dataEndMs: number, nowMs: number): number {
    const age = nowMs - dataEndMs;
    if (age < 3_600_000) return this.settings.ttlRecentMs;
    if (age < 86_400_000) return this.settings.ttlDayMs;
    return this.settings.ttlOlderMs;
  }

  get(key: string, nowMs: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      this.counters.miss();
      return undefined;
    }
    if (entry.expiresAt <= nowMs) {
      this.remove(key, entry, 'expired');
      this.counters.miss();
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.counters.hit();
    return entry.value;
  }

  /** Stores a chunk of data spanning [startMs, endMs], measured at `bytes`. */
  set(key: string, value: V, span: { startMs: number; endMs: number }, bytes: number, nowMs: number): void {
    if (!this.enabled || bytes > this.settings.maxBytes) return;
    const old = this.entries.get(key);
    if (old) this.remove(key, old, undefined);
    this.entries.set(key, {
      value,
      bytes,
      expiresAt: nowMs + this.ttlFor(span.endMs, nowMs),
      startMs: span.startMs,
      endMs: span.endMs,
    });
    this.size += bytes;
    for (const [k, e] of this.entries) {
      if (this.size <= this.settings.maxBytes) break;
      this.remove(k, e, 'size');
    }
    this.counters.bytes(this.size);
  }

  /** Drops every chunk whose data span meets [startMs, endMs): a window there was corrected. */
  invalidate(startMs: number, endMs: number): number {
    let dropped = 0;
    for (const [k, e] of this.entries) {
      if (e.startMs < endMs && e.endMs >= startMs) {
        this.remove(k, e, 'correction');
        dropped += 1;
      }
    }
    this.counters.bytes(this.size);
    return dropped;
  }

  private remove(key: string, entry: Entry<V>, reason: 'size' | 'expired' | 'correction' | undefined): void {
    this.entries.delete(key);
    this.size -= entry.bytes;
    if (reason) this.counters.evicted(reason);
  }
}
