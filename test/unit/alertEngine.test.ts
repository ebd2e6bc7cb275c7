import { describe, expect, it } from 'vitest';
import { AlertEngine } from '../../alerts/engine.js';
import { hashParts } from '../../alerts/hash.js';
import { parseRuleFiles, type RuleSet } from '../../alerts/rules.js';
import {
  engineEntryCodec,
  MemoryAlertStore,
  type AlertStore,
  type EngineEntry,
  type EngineSnapshot,
} from '../../alerts/store.js';
import type { NormalizedSample } from '../../core/validate.js';
import { prng } from '../../producer/synthetic.js';
import type { AlertEvent } from '../../schemas/index.js';

const M = 60_000;

function load(yaml: string): RuleSet {
  return parseRuleFiles([{ file: 'rules.yaml', text: yaml }]);
}

function sample(
  name: string,
  labels: Record<string, string>,
  timestamp: number,
  value: number,
): NormalizedSample {
  const sorted = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
  return { name, labels: sorted, timestamp, value, kind: 'gauge' };
}

/** Feeds one value a minute (null: none) to the engine and advances the watermark to each minute. */
function runMinutes(
  engine: AlertEngine,
  name: string,
  labels: Record<string, string>,
  values: Array<number | null>,
  from = 0,
): Array<[number, AlertEvent[]]> {
  return values.map((value, i) => {
    const t = (from + i) * M;
    if (value !== null) engine.add(sample(name, labels, t, value));
    return [from + i, engine.advance(t)];
  });
}

/** The events of a run as [minute, state, value], for compact expectations. */
function states(run: Array<[number, AlertEvent[]]>): Array<[number, string, number]> {
  return run.flatMap(([minute, events]) =>
    events.map((e): [number, string, number] => [minute, e.state, e.value]),
  );
}

describe('AlertEngine state machine', () => {
  const cpuRules = load(`
groups:
  - name: hosts
    rules:
      - alert: HighCpu
        expr: avg_over_time(cpu{job="node"}[2m]) > 90
        for: 2m
        labels: { severity: critical, team: '{{ $labels.host }}-ops' }
        annotations: { summary: '{{ $labels.host }} at {{ $value | humanize }}%' }
`);

  it('goes pending, firing after `for`, resolved, with exact events', () => {
    const engine = new AlertEngine(cpuRules);
    const run = runMinutes(engine, 'cpu', { job: 'node', host: 'a' }, [95, 95, 95, 95, 95, 95, 50, 50]);
    const labels = { alertname: 'HighCpu', host: 'a', job: 'node', severity: 'critical', team: 'a-ops' };
    const fingerprint = '915507754540db9e';
    expect(fingerprint).toBe(hashParts(['hosts', 'HighCpu', ...Object.entries(labels).flat()]));
    const base = {
      fingerprint,
      rule: 'HighCpu',
      severity: 'critical',
      labels,
      annotations: { summary: 'a at 95%' },
    };
    expect(run.filter(([, events]) => events.length > 0)).toEqual([
      [0, [{ ...base, state: 'pending', value: 95, startsAt: 0, endsAt: null, timestamp: 0 }]],
      [2, [{ ...base, state: 'firing', value: 95, startsAt: 2 * M, endsAt: null, timestamp: 2 * M }]],
      [6, [{ ...base, state: 'resolved', value: 95, startsAt: 2 * M, endsAt: 6 * M, timestamp: 6 * M }]],
    ]);
    expect(engine.alerts()).toEqual([]);
  });

  it('fires at once without a pending event when `for` is 0, and resolves a pending alert that clears', () => {
    const rules = load(`
groups:
  - name: g
    rules:
      - alert: Now
        expr: last_over_time(x[1m]) > 1
      - alert: Later
        expr: last_over_time(x[1m]) > 1
        for: 5m
`);
    const run = runMinutes(new AlertEngine(rules), 'x', {}, [5, 5, 0]);
    expect(
      run.map(([m, events]) => [
        m,
        events.map((e) => `${e.rule} ${e.state} ${e.startsAt / M}-${e.endsAt === null ? '' : e.endsAt / M}`),
      ]),
    ).toEqual([
      [0, ['Now firing 0-', 'Later pending 0-']],
      [1, []],
      [2, ['Now resolved 0-2', 'Later resolved 0-2']],
    ]);
  });

  const flapRules = load(`
groups:
  - name: g
    rules:
      - alert: Flap
        expr: max_over_time(flag[30s]) > 0
        for: 2m
        keep_firing_for: 3m
`);

  it('honours `for` and keep_firing_for on a flapping input: one firing, one resolution', () => {
    const input = [1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0];
    const run = runMinutes(new AlertEngine(flapRules), 'flag', {}, input);
    expect(states(run)).toEqual([
      [0, 'pending', 1],
      [1, 'resolved', 1],
      [2, 'pending', 1],
      [4, 'resolved', 1],
      [5, 'pending', 1],
      [7, 'firing', 1],
      [16, 'resolved', 1],
    ]);
  });

  it('never fires before the condition held for `for`, never resolves before keep_firing_for passed', () => {
    const random = prng(7);
    const input = Array.from({ length: 400 }, () => (random() < 0.5 ? 1 : 0));
    const run = runMinutes(new AlertEngine(flapRules), 'flag', {}, input);
    const held = (from: number, to: number, value: number) =>
      input.slice(from, to + 1).every((v) => v === value);
    let current = 'inactive';
    const counts = { pending: 0, firing: 0, resolved: 0 };
    for (const [minute, state] of states(run)) {
      counts[state as keyof typeof counts]++;
      // inactive → pending → (firing →) resolved → inactive, never skipping or repeating a state
      expect([current, state]).toContainEqual(
        { inactive: 'pending', pending: state === 'firing' ? 'firing' : 'resolved', firing: 'resolved' }[
          current
        ],
      );
      if (state === 'firing') expect(held(minute - 2, minute, 1)).toBe(true);
      if (state === 'resolved' && current === 'firing') expect(held(minute - 3, minute, 0)).toBe(true);
      current = state === 'resolved' ? 'inactive' : state;
    }
    expect(counts).toEqual({ pending: 46, firing: 12, resolved: 46 });
  });

  it('raises absence without any data, resolves it when a sample arrives, raises it again', () => {
    const rules = load(`
groups:
  - name: g
    rules:
      - alert: Silent
        expr: absent_over_time(heartbeat{job="api", instance=~"a.*"}[3m])
        labels: { severity: page }
        annotations: { summary: 'no heartbeat from {{ $labels.job }}' }
`);
    const engine = new AlertEngine(rules);
    const first = engine.advance(10 * M);
    expect(first).toEqual([
      {
        fingerprint: hashParts(['g', 'Silent', 'alertname', 'Silent', 'job', 'api', 'severity', 'page']),
        rule: 'Silent',
        state: 'firing',
        severity: 'page',
        labels: { alertname: 'Silent', job: 'api', severity: 'page' },
        annotations: { summary: 'no heartbeat from api' },
        value: 1,
        startsAt: 10 * M,
        endsAt: null,
        timestamp: 10 * M,
      },
    ]);
    expect(engine.add(sample('heartbeat', { job: 'api', instance: 'a1' }, 10.5 * M, 1))).toBe(true);
    expect(engine.add(sample('heartbeat', { job: 'api', instance: 'b1' }, 10.5 * M, 1))).toBe(false);
    expect(engine.activeCounts()).toEqual({ pending: 0, firing: 1 });
    const later = [11, 12, 13, 14, 15].map((m) => engine.advance(m * M).map((e) => `${m} ${e.state}`));
    expect(later).toEqual([['11 resolved'], [], [], ['14 firing'], []]);
  });

  it('evaluates each instant once: replays and repeated samples change nothing', () => {
    const engine = new AlertEngine(cpuRules);
    runMinutes(engine, 'cpu', { job: 'node', host: 'a' }, [95, 95, 95]);
    const before = engine.snapshot();
    expect(engine.evaluate(2 * M)).toEqual([]);
    expect(engine.advance(2 * M)).toEqual([]);
    engine.add(sample('cpu', { job: 'node', host: 'a' }, 2 * M, 95));
    expect(engine.snapshot()).toEqual(before);
  });
});

describe('AlertEngine anomaly', () => {
  it('fires outside mean ± k·σ of the normal values, learns a level shift after half a baseline', () => {
    const rules = load(`
groups:
  - name: g
    rules:
      - alert: Odd
        expr: anomaly(last_over_time(x[1m]), 10m, 3)
`);
    const engine = new AlertEngine(rules);
    const values = [10, 12, 10, 12, 10, 12, 10, 12, 10, 12, 20, 12, ...Array<number>(11).fill(30)];
    expect(states(runMinutes(engine, 'x', {}, values))).toEqual([
      [10, 'firing', 20],
      [11, 'resolved', 20],
      [12, 'firing', 30],
      [17, 'resolved', 30],
    ]);
    const history = Object.entries(engine.snapshot()).filter(([key]) => key.startsWith('h:'));
    expect(history.map(([, entry]) => entry)).toEqual([
      { k: 'h', labels: [], t: [17, 18, 19, 20, 21, 22].map((m) => m * M), v: [30, 30, 30, 30, 30, 30] },
    ]);
  });

  it('gives no verdict before half the baseline has values', () => {
    const rules = load(`
groups:
  - name: g
    rules:
      - alert: Odd
        expr: anomaly(last_over_time(x[1m]), 10m, 3)
`);
    expect(states(runMinutes(new AlertEngine(rules), 'x', {}, [10, 10, 10, 10, 500]))).toEqual([]);
    expect(states(runMinutes(new AlertEngine(rules), 'x', {}, [10, 10, 10, 10, 10, 500]))).toEqual([
      [5, 'firing', 500],
    ]);
  });
});

describe('AlertEngine evaluation instants and state', () => {
  const twoGroups = load(`
groups:
  - name: slow
    interval: 1m
    rules:
      - alert: S
        expr: absent_over_time(nothing[1m])
  - name: fast
    interval: 30s
    rules:
      - alert: F
        expr: last_over_time(up[5m]) > 0
`);

  it('advances every group instant by instant in time order, from the first sample on', () => {
    const engine = new AlertEngine(twoGroups);
    expect(engine.advance(-Infinity)).toEqual([]);
    engine.add(sample('up', {}, 100_000, 1));
    // Never evaluated: both groups start at their first instant after the first sample (120 s),
    // not at the watermark (150 s).
    expect(engine.advance(150_000).map((e) => [e.rule, e.timestamp])).toEqual([
      ['S', 120_000],
      ['F', 120_000],
    ]);
    engine.add(sample('up', {}, 150_000, 1));
    expect(engine.advance(200_000)).toEqual([]);
    const groups = Object.entries(engine.snapshot()).filter(([key]) => key.startsWith('g:'));
    expect(groups).toEqual([
      ['g:fast', { k: 'g', t: 180_000 }],
      ['g:slow', { k: 'g', t: 180_000 }],
    ]);
    expect(engine.advance(210_000).map((e) => [e.rule, e.state, e.timestamp])).toEqual([]);
    expect(Object.entries(engine.snapshot()).filter(([key]) => key.startsWith('g:'))).toEqual([
      ['g:fast', { k: 'g', t: 210_000 }],
      ['g:slow', { k: 'g', t: 180_000 }],
    ]);
  });

  it('keeps only the samples a future evaluation needs', () => {
    const rules = load(`
groups:
  - name: g
    rules:
      - alert: A
        expr: max_over_time(x[2m]) > 100
      - alert: B
        expr: min_over_time(x[3m]) < 0
`);
    const engine = new AlertEngine(rules);
    for (let m = 0; m <= 10; m++) engine.add(sample('x', { a: '1' }, m * M, m));
    engine.advance(10 * M);
    engine.advance(11 * M);
    const series = Object.values(engine.snapshot()).filter(
      (e): e is Extract<EngineEntry, { k: 's' }> => e.k === 's',
    );
    expect(series).toEqual([
      { k: 's', name: 'x', labels: [['a', '1']], t: [8, 9, 10].map((m) => m * M), v: [8, 9, 10] },
    ]);
    expect(engine.add(sample('x', { a: '1' }, 7 * M, 7))).toBe(false);
    expect(engine.add(sample('y', { a: '1' }, 11 * M, 7))).toBe(false);
    expect(engine.add(sample('x', { a: '1' }, 8 * M, 8))).toBe(false);
    expect([engine.selects('x', [['a', '1']]), engine.selects('y', [['a', '1']])]).toEqual([true, false]);
    expect(engine.add(sample('x', { a: '1' }, 8.5 * M, 8))).toBe(true);
  });

  it('writes an alert entry only when it changes', () => {
    let alertWrites = 0;
    const inner = new MemoryAlertStore();
    const counting: AlertStore = {
      get: (key) => inner.get(key),
      put: (key, value) => {
        if (key.startsWith('a:')) alertWrites++;
        inner.put(key, value);
      },
      delete: (key) => inner.delete(key),
      entries: () => inner.entries(),
    };
    const rules = load(`
groups:
  - name: g
    rules:
      - alert: A
        expr: last_over_time(x[1m]) > 0
        for: 1m
`);
    runMinutes(new AlertEngine(rules, { store: counting }), 'x', {}, [1, 1, 1, 1, 1, 2, 2, 2]);
    // pending, firing, the value changing to 2
    expect(alertWrites).toBe(3);
  });

  it('resolves the alerts of a rule that is gone after a restart', () => {
    const before = load(`
groups:
  - name: g
    rules:
      - alert: Old
        expr: last_over_time(x[1m]) > 0
`);
    const after = load(`
groups:
  - name: g
    rules:
      - alert: New
        expr: last_over_time(x[1m]) > 100
`);
    const engine = new AlertEngine(before);
    runMinutes(engine, 'x', {}, [1]);
    const restored = AlertEngine.restore(after, engine.snapshot());
    expect(restored.advance(M).map((e) => [e.rule, e.state, e.startsAt, e.endsAt])).toEqual([
      ['Old', 'resolved', 0, M],
    ]);
    expect(restored.alerts()).toEqual([]);
  });
});

describe('AlertEngine snapshot and restore', () => {
  const rules = load(`
groups:
  - name: hosts
    interval: 1m
    rules:
      - alert: HighCpu
        expr: avg_over_time(cpu[2m]) > 80
        for: 5m
        keep_firing_for: 2m
        labels: { severity: critical }
        annotations: { summary: '{{ $labels.host }}: {{ $value | humanize }}' }
      - alert: Silent
        expr: absent_over_time(cpu{host="c"}[2m])
        for: 1m
      - alert: Errors
        expr: sum by (region) (rate(errors[5m])) > 0.5
        for: 2m
  - name: anomalies
    interval: 30s
    rules:
      - alert: Odd
        expr: anomaly(avg_over_time(cpu[1m]), 10m, 3)
`);

  /** 60 minutes of samples every 15s: b's CPU is high from minute 27, c stops at 20 and resumes at 45. */
  function samples(): NormalizedSample[] {
    const random = prng(42);
    const out: NormalizedSample[] = [];
    const errors: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let t = 0; t < 60 * M; t += 15_000) {
      for (const host of ['a', 'b', 'c']) {
        if (host === 'c' && t >= 20 * M && t < 45 * M) continue;
        const region = host === 'a' ? 'eu' : 'us';
        const high = host === 'b' && t >= 27 * M && t < 40 * M;
        out.push(sample('cpu', { host, region }, t, Math.round((high ? 90 : 40) + random() * 10)));
        errors[host] =
          (errors[host] as number) + (t > 30 * M && region === 'us' ? 15 : Math.floor(random() * 3));
        out.push(sample('errors', { host, region }, t, errors[host] as number));
      }
    }
    return out;
  }

  /** Feeds the samples, advancing the watermark to each 15s tick; `at` is called at the start of each tick. */
  function run(engine: AlertEngine, input: NormalizedSample[], from: number, to: number): AlertEvent[] {
    const events: AlertEvent[] = [];
    for (let t = from; t < to; t += 15_000) {
      for (const s of input) if (s.timestamp === t) engine.add(s);
      events.push(...engine.advance(t));
    }
    return events;
  }

  /** A store that keeps every entry as changelog bytes: nothing survives but what the codec carries. */
  class BytesStore implements AlertStore {
    readonly bytes = new Map<string, Buffer>();
    get(key: string): EngineEntry | undefined {
      const value = this.bytes.get(key);
      return value === undefined ? undefined : engineEntryCodec.decode(value);
    }
    put(key: string, value: EngineEntry): void {
      this.bytes.set(key, engineEntryCodec.encode(value));
    }
    delete(key: string): void {
      this.bytes.delete(key);
    }
    *entries(): IterableIterator<[string, EngineEntry]> {
      for (const [key, value] of [...this.bytes]) yield [key, engineEntryCodec.decode(value)];
    }
  }

  it('continues after snapshot and restore exactly as without the interruption', () => {
    const input = samples();
    const uninterrupted = new AlertEngine(rules);
    const expected = run(uninterrupted, input, 0, 60 * M);

    const first = new AlertEngine(rules);
    const half = run(first, input, 0, 30 * M);
    expect(first.alerts().map((a) => `${a.group} ${a.rule} ${a.state} ${a.labels.host ?? ''}`)).toEqual([
      'anomalies Odd firing b',
      'hosts HighCpu pending b',
      'hosts Silent firing c',
    ]);
    // Through JSON, as a changelog would carry it.
    const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as EngineSnapshot;
    const second = AlertEngine.restore(rules, snapshot);
    const rest = run(second, input, 30 * M, 60 * M);

    expect([...half, ...rest]).toEqual(expected);
    expect(second.snapshot()).toEqual(uninterrupted.snapshot());
    const count = (state: string) => expected.filter((e) => e.state === state).length;
    expect([count('pending'), count('firing'), count('resolved')]).toEqual([3, 9, 8]);
  });

  it('behaves the same when every entry goes through the changelog codec', () => {
    const input = samples();
    const memory = run(new AlertEngine(rules), input, 0, 60 * M);
    const store = new BytesStore();
    const viaBytes = run(new AlertEngine(rules, { store }), input, 0, 60 * M);
    expect(viaBytes).toEqual(memory);
    expect([...store.bytes.keys()].sort().map((k) => k.slice(0, 2))).toEqual(
      Object.keys(new AlertEngine(rules, { store }).snapshot()).map((k) => k.slice(0, 2)),
    );
  });

  it('encodes NaN and infinities', () => {
    const entry: EngineEntry = {
      k: 's',
      name: 'x',
      labels: [['a', 'b']],
      t: [1, 2, 3],
      v: [NaN, Infinity, -Infinity],
    };
    expect(engineEntryCodec.decode(engineEntryCodec.encode(entry))).toEqual(entry);
  });
});
