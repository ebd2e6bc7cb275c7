import { compileRegex } from './promql/regex.js';
import type { LabelMatcher, SeriesData } from './promql/storage.js';
import { jsonRows, type SqlReader } from './reader.js';

/** One state change of an alert instance, as the `alerts` table holds it. */
export interface AlertTransition {
  rule: string;
  fingerprint: string;
  state: 'pending' | 'firing' | 'resolved';
  severity: string;
  labels: Record<string, string>;
  value: number;
  /** Unix ms. */
  ts: number;
}

/** ALERTS samples are synthesized this far apart while an alert is pending or firing (well within the 5 m lookback). */
const ALERTS_RESOLUTION_MS = 30_000;

/**
 * Transitions in [fromMs, toMs], preceded (when `withOpen`) by the last transition before
 * `fromMs` of every alert still pending or firing then, so that its state at `fromMs` is known.
 * A tenant sees the alerts of its own series only (their `tenant` label).
 */
export async function alertTransitions(
  reader: SqlReader,
  range: { fromMs: number; toMs: number; withOpen: boolean; tenant?: string; limit: number },
  signal?: AbortSignal,
): Promise<AlertTransition[]> {
  const db = `\`${reader.database}\``;
  const tenant = range.tenant === undefined ? '' : `AND labels['tenant'] = {tenant:String}`;
  const columns = `rule, fingerprint, toString(state), severity, labels, value, toUnixTimestamp64Milli(ts)`;
  const open = range.withOpen
    ? `UNION ALL
       SELECT rule, fingerprint, toString(argMax(state, ts)) AS s, argMax(severity, ts), argMax(labels, ts),
              argMax(value, ts), toUnixTimestamp64Milli(max(ts))
       FROM ${db}.alerts FINAL
       WHERE ts < fromUnixTimestamp64Milli({from:Int64}, 'UTC') ${tenant}
       GROUP BY rule, fingerprint HAVING s != 'resolved'`
    : '';
  const text = await reader.read(
    `SELECT * FROM (
       SELECT ${columns} FROM ${db}.alerts FINAL
       WHERE ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC') ${tenant}
       ${open})
     ORDER BY 7, 2 LIMIT {limit:UInt64}`,
    {
      from: Math.max(0, range.fromMs),
      to: Math.max(0, Math.min(8.64e12, range.toMs)),
      tenant: range.tenant ?? '',
      limit: range.limit,
    },
    'JSONCompactEachRow',
    signal,
  );
  return jsonRows<
    [string, string, AlertTransition['state'], string, Record<string, string>, number | string | null, string]
  >(text).map(([rule, fingerprint, state, severity, labels, value, ts]) => ({
    rule,
    fingerprint,
    state,
    severity,
    labels,
    value: value === null ? Number.NaN : Number(value),
    ts: Number(ts),
  }));
}

/** True for a selector of Prometheus' `ALERTS` series. */
export function selectsAlerts(matchers: readonly LabelMatcher[]): boolean {
  return matchers.some((m) => m.name === '__name__' && m.type === '=' && m.value === 'ALERTS');
}

/**
 * `ALERTS{alertname, alertstate, …labels}` as Prometheus exposes it: value 1 while an alert is
 * pending or firing, one series per state, samples every 30 s (and at each transition) in
 * [fromMs, toMs], from the transitions of the `alerts` table.
 */
export function alertsSeries(
  transitions: readonly AlertTransition[],
  matchers: readonly LabelMatcher[],
  fromMs: number,
  toMs: number,
): SeriesData[] {
  const byAlert = new Map<string, AlertTransition[]>();
  for (const t of transitions) {
    const key = `${t.rule}\u0000${t.fingerprint}`;
    const list = byAlert.get(key);
    if (list) list.push(t);
    else byAlert.set(key, [t]);
  }
  const series = new Map<string, { labels: Record<string, string>; timestamps: number[] }>();
  for (const list of byAlert.values()) {
    list.sort((a, b) => a.ts - b.ts);
    list.forEach((t, i) => {
      if (t.state === 'resolved') return;
      const labels: Record<string, string> = {
        ...t.labels,
        __name__: 'ALERTS',
        alertname: t.rule,
        alertstate: t.state,
      };
      if (!matchers.every((m) => matches(m, labels[m.name] ?? ''))) return;
      const key = JSON.stringify(Object.entries(labels).sort());
      let s = series.get(key);
      if (!s) series.set(key, (s = { labels, timestamps: [] }));
      const end = Math.min(toMs, (list[i + 1]?.ts ?? Number.POSITIVE_INFINITY) - 1);
      const start = Math.max(fromMs, t.ts);
      if (start > end) return;
      s.timestamps.push(start);
      for (
        let at = Math.ceil((start + 1) / ALERTS_RESOLUTION_MS) * ALERTS_RESOLUTION_MS;
        at <= end;
        at += ALERTS_RESOLUTION_MS
      )
        s.timestamps.push(at);
    });
  }
  return [...series.values()].map((s) => {
    const timestamps = Float64Array.from(s.timestamps.sort((a, b) => a - b));
    return { labels: s.labels, timestamps, values: new Float64Array(timestamps.length).fill(1) };
  });
}

function matches(m: LabelMatcher, value: string): boolean {
  switch (m.type) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return compileRegex(m.value).test(value);
    case '!~':
      return !compileRegex(m.value).test(value);
  }
}
