import type { Labels } from './functions.js';

/**
 * The state of the alert engine, one JSON-able entry per key, so that a changelog-backed
 * store can keep it (one changelog record per key) and a restart resumes exactly:
 *
 * - `g:<group>`: the group's last evaluated instant;
 * - `s:<selector id>:<series id>`: the samples of one series one selector needs;
 * - `h:<anomaly id>:<labels hash>`: an anomaly rule's recent values of one output series;
 * - `a:<rule id>:<fingerprint>`: a pending or firing alert.
 */
export type EngineEntry = GroupEntry | SeriesEntry | HistoryEntry | AlertEntry;

export interface GroupEntry {
  k: 'g';
  /** Last evaluated instant, epoch ms: instants at or before it are not evaluated again. */
  t: number;
}

export interface SeriesEntry {
  k: 's';
  name: string;
  labels: Labels;
  /** Event times, ms, strictly increasing; samples older than the selector's longest range are pruned. */
  t: number[];
  v: number[];
}

export interface HistoryEntry {
  k: 'h';
  labels: Labels;
  /** Evaluation instants within the baseline, increasing, and the inner expression's values then. */
  t: number[];
  v: number[];
}

export interface AlertEntry {
  k: 'a';
  /** Alert name, for events of a rule that no longer exists. */
  alert: string;
  state: 'pending' | 'firing';
  /** The alert's labels: the expression's, the rule's and alertname. */
  labels: Record<string, string>;
  /** The expression's labels, `$labels` of the annotations. */
  series: Labels;
  /** Value at the last evaluation where the condition held. */
  value: number;
  /** When the condition started to hold (Prometheus' activeAt). */
  activeAt: number;
  firedAt: number | null;
  /** First evaluation at which the condition no longer held while firing (keep_firing_for). */
  keepFiringSince: number | null;
}

/** The store the engine keeps its state in: the shape of the topology's changelog stores. */
export interface AlertStore {
  get(key: string): EngineEntry | undefined;
  put(key: string, value: EngineEntry): void;
  delete(key: string): void;
  entries(): Iterable<[string, EngineEntry]>;
}

/** The whole engine state: entries by key. */
export type EngineSnapshot = Record<string, EngineEntry>;

/** An alert store in a Map, for tests, rule tests and state that need not survive a restart. */
export class MemoryAlertStore implements AlertStore {
  private readonly map = new Map<string, EngineEntry>();

  get(key: string): EngineEntry | undefined {
    return this.map.get(key);
  }

  put(key: string, value: EngineEntry): void {
    this.map.set(key, value);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  entries(): IterableIterator<[string, EngineEntry]> {
    return this.map.entries();
  }
}

/** An entry as changelog bytes: JSON, with NaN and ±Infinity kept as `{"$f": "NaN"}`. */
export const engineEntryCodec = {
  encode(entry: EngineEntry): Buffer {
    return Buffer.from(
      JSON.stringify(entry, (_key, value: unknown) =>
        typeof value === 'number' && !Number.isFinite(value) ? { $f: String(value) } : value,
      ),
    );
  },
  decode(bytes: Buffer): EngineEntry {
    return JSON.parse(bytes.toString('utf8'), (_key, value: unknown) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
      const f = (value as { $f?: unknown }).$f;
      return typeof f === 'string' && Object.keys(value).length === 1 ? Number(f) : value;
    }) as EngineEntry;
  },
};
