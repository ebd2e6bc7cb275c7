import { seriesId } from '../core/series.js';
import type { NormalizedSample } from '../core/validate.js';
import type { AlertEvent, AlertState } from '../schemas/index.js';
import {
  evaluate,
  PromQLError,
  type SeriesData,
  type Value,
  type VectorSelector,
} from '../query/promql/index.js';
import {
  firstAfter,
  labelsKey,
  meanAndStddev,
  type Element,
  type Labels,
  type SeriesSamples,
} from './functions.js';
import { hashParts } from './hash.js';
import { formatSelector, matchesSeries, type AlertExpr } from './promql.js';
import type { LabelMatcher } from '../query/promql/index.js';
import type { AlertRule, RuleGroup, RuleSet } from './rules.js';
import {
  MemoryAlertStore,
  type AlertEntry,
  type AlertStore,
  type EngineSnapshot,
  type HistoryEntry,
  type SeriesEntry,
} from './store.js';
import { parseTemplate, renderTemplate, type Template } from './template.js';

/** A pending or firing alert, as `alerts()` lists them. */
export interface ActiveAlert {
  fingerprint: string;
  group: string;
  rule: string;
  state: 'pending' | 'firing';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number;
  activeAt: number;
  firedAt: number | null;
}

/** A selector several rules may share, with the samples it must keep. */
interface SelectorInfo {
  id: string;
  matchers: LabelMatcher[];
  /** The longest look-back of the rules using it (ranges, offsets, lookback delta): older samples are pruned. */
  retentionMs: number;
}

interface CompiledRule {
  rule: AlertRule;
  group: RuleGroup;
  /** The expression's selectors and the shared sample buffers they read. */
  selectors: Map<VectorSelector, SelectorInfo>;
  labels: Array<[string, Template]>;
  annotations: Array<[string, Template]>;
  /** The identity of an anomaly rule's value history: the rule and its expression. */
  anomalyId: string | undefined;
}

/** One alert instance of a rule at an evaluation: its labels and the expression's element. */
interface Instance {
  labels: Record<string, string>;
  series: Labels;
  value: number;
}

/** What an evaluation reads from the store, gathered in one pass. */
interface Gathered {
  series: Map<string, SeriesSamples[]>;
  /** The same series as the PromQL engine reads them, made on first use. */
  data: Map<string, SeriesData[]>;
  histories: Map<string, HistoryEntry>;
  alerts: Map<string, Array<[string, AlertEntry]>>;
  orphans: Array<[string, AlertEntry]>;
}

const ID_LENGTH = 16;

/**
 * Evaluates alerting rules on event time. Samples come in through `add` in roughly time order;
 * `advance(watermark)` (or `evaluate(t)` for one instant) evaluates every rule at its group's
 * evaluation instants and returns the alert state changes: pending, firing, resolved. All state
 * lives in the store, one JSON-able entry per key, so a changelog-backed store resumes exactly.
 *
 * ```ts
 * const engine = new AlertEngine(loadRuleFiles(['rules.yaml']), { store });
 * for (const sample of samples) engine.add(sample);
 * for (const event of engine.advance(watermark)) produce(alertsTopic, event.fingerprint, event);
 * ```
 */
export class AlertEngine {
  private readonly store: AlertStore;
  private readonly compiled: CompiledRule[] = [];
  private readonly groups: readonly RuleGroup[];
  private readonly selectors = new Map<string, SelectorInfo>();
  /** Selectors by the metric name they require; those requiring none are under ''. */
  private readonly byMetric = new Map<string, SelectorInfo[]>();
  private readonly ruleIds = new Map<string, CompiledRule>();
  private readonly anomalyIds = new Map<string, CompiledRule>();

  private readonly onError: (rule: AlertRule, error: Error) => void;

  /**
   * `onError` hears of a rule whose expression cannot be evaluated at an instant (e.g. a
   * many-to-many match); as in Prometheus, that evaluation changes none of the rule's alerts.
   */
  constructor(
    rules: RuleSet,
    options: { store?: AlertStore; onError?: (rule: AlertRule, error: Error) => void } = {},
  ) {
    this.store = options.store ?? new MemoryAlertStore();
    this.onError = options.onError ?? (() => undefined);
    this.groups = rules.groups;
    for (const group of rules.groups) {
      for (const rule of group.rules) this.compile(group, rule);
    }
  }

  /** An engine that continues from a snapshot exactly as the engine that took it would. */
  static restore(rules: RuleSet, snapshot: EngineSnapshot): AlertEngine {
    const store = new MemoryAlertStore();
    for (const [key, entry] of Object.entries(snapshot)) store.put(key, structuredClone(entry));
    return new AlertEngine(rules, { store });
  }

  /** The whole state, entries by key, deep-copied. */
  snapshot(): EngineSnapshot {
    const entries = [...this.store.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([key, entry]) => [key, structuredClone(entry)]));
  }

  /**
   * Whether any rule selects the series: the samples a stage must route to this engine (rules
   * that aggregate across series or test absence need all the series of their selector).
   */
  selects(name: string, labels: ReadonlyArray<readonly [string, string]>): boolean {
    return this.candidates(name).some((info) => matchesSeries(info.matchers, name, labels));
  }

  /**
   * Keeps a sample for the rules that select its series; false when none needs it (no rule
   * selects it, or it is older than any future evaluation will look at). A sample at the time of
   * one already kept replaces it, so a replay after a restart changes nothing.
   */
  add(sample: NormalizedSample): boolean {
    const floor = this.evaluatedFloor();
    let kept = false;
    let series: string | undefined;
    for (const info of this.candidates(sample.name)) {
      if (sample.timestamp <= floor - info.retentionMs) continue;
      if (!matchesSeries(info.matchers, sample.name, sample.labels)) continue;
      series ??= seriesId(sample.name, sample.labels).toString(16).padStart(ID_LENGTH, '0');
      const key = `s:${info.id}:${series}`;
      const entry = (this.store.get(key) as SeriesEntry | undefined) ?? {
        k: 's',
        name: sample.name,
        labels: sample.labels.map(([k, v]) => [k, v]),
        t: [],
        v: [],
      };
      insert(entry, sample.timestamp, sample.value);
      this.store.put(key, entry);
      kept = true;
    }
    return kept;
  }

  /**
   * Evaluates every group whose evaluation instants the watermark passed since its last one,
   * instant by instant in time order. A group never evaluated starts at its first instant at or
   * after the earliest sample kept (the stream's start, however far the watermark jumped since),
   * or with no sample at the last instant at or before the watermark. Returns the alert events of
   * all those evaluations.
   */
  advance(watermark: number): AlertEvent[] {
    const events: AlertEvent[] = [];
    // A watermark tracker starts at -Infinity: no instant has been reached yet.
    if (!Number.isFinite(watermark)) return events;
    const earliest = this.groups.some((g) => this.lastEvaluated(g) === undefined)
      ? this.earliestSample()
      : undefined;
    for (;;) {
      let next = Infinity;
      for (const group of this.groups)
        next = Math.min(next, this.nextInstant(group, watermark, earliest) ?? Infinity);
      if (next === Infinity) return events;
      events.push(
        ...this.evaluateGroups(
          next,
          this.groups.filter((g) => this.nextInstant(g, watermark, earliest) === next),
        ),
      );
    }
  }

  /**
   * Evaluates every group at `t` whatever its interval (promtool's way); groups already
   * evaluated at or after `t` are skipped, so evaluating an instant again changes nothing.
   */
  evaluate(t: number): AlertEvent[] {
    return this.evaluateGroups(
      t,
      this.groups.filter((g) => (this.lastEvaluated(g) ?? -Infinity) < t),
    );
  }

  /** How many alerts are pending and firing (without rendering them, as `alerts()` does). */
  activeCounts(): { pending: number; firing: number } {
    const counts = { pending: 0, firing: 0 };
    for (const [, entry] of this.store.entries()) if (entry.k === 'a') counts[entry.state] += 1;
    return counts;
  }

  /** The pending and firing alerts, by group, rule and fingerprint. */
  alerts(): ActiveAlert[] {
    const out: ActiveAlert[] = [];
    for (const [key, entry] of this.store.entries()) {
      if (entry.k !== 'a') continue;
      const compiled = this.ruleIds.get(key.slice(2, 2 + ID_LENGTH));
      out.push({
        fingerprint: key.slice(3 + ID_LENGTH),
        group: compiled?.group.name ?? '',
        rule: entry.alert,
        state: entry.state,
        labels: { ...entry.labels },
        annotations: annotations(compiled, entry),
        value: entry.value,
        activeAt: entry.activeAt,
        firedAt: entry.firedAt,
      });
    }
    return out.sort(
      (a, b) =>
        compareText(a.group, b.group) ||
        compareText(a.rule, b.rule) ||
        compareText(a.fingerprint, b.fingerprint),
    );
  }

  /** The selectors that may select a series of this metric. */
  private candidates(name: string): SelectorInfo[] {
    return [...(this.byMetric.get(name) ?? []), ...(this.byMetric.get('') ?? [])];
  }

  private compile(group: RuleGroup, rule: AlertRule): void {
    const selectors = new Map<VectorSelector, SelectorInfo>();
    for (const { node, matchers, lookbackMs } of rule.expr.selectors) {
      const id = hashParts([formatSelector(matchers)]);
      let info = this.selectors.get(id);
      if (!info) {
        info = { id, matchers, retentionMs: 0 };
        this.selectors.set(id, info);
        const metric = matchers.find((m) => m.name === '__name__' && m.type === '=')?.value ?? '';
        this.byMetric.set(metric, [...(this.byMetric.get(metric) ?? []), info]);
      }
      info.retentionMs = Math.max(info.retentionMs, lookbackMs);
      selectors.set(node, info);
    }
    const anomalyId = rule.expr.anomaly ? hashParts([rule.id, rule.exprText]) : undefined;
    const compiled: CompiledRule = {
      rule,
      group,
      selectors,
      labels: Object.entries(rule.labels).map(([k, v]) => [k, parseTemplate(v)]),
      annotations: Object.entries(rule.annotations).map(([k, v]) => [k, parseTemplate(v)]),
      anomalyId,
    };
    this.compiled.push(compiled);
    this.ruleIds.set(rule.id, compiled);
    if (anomalyId) this.anomalyIds.set(anomalyId, compiled);
  }

  private lastEvaluated(group: RuleGroup): number | undefined {
    const entry = this.store.get(`g:${group.name}`);
    return entry?.k === 'g' ? entry.t : undefined;
  }

  /** Every group evaluated after this instant: samples at or before it minus a range are no longer needed. */
  private evaluatedFloor(): number {
    let floor = Infinity;
    for (const group of this.groups) floor = Math.min(floor, this.lastEvaluated(group) ?? -Infinity);
    return floor;
  }

  private nextInstant(group: RuleGroup, watermark: number, earliest?: number): number | undefined {
    const last = this.lastEvaluated(group);
    const interval = group.intervalMs;
    let next: number;
    if (last !== undefined) next = (Math.floor(last / interval) + 1) * interval;
    else if (earliest !== undefined) next = Math.ceil(earliest / interval) * interval;
    else next = Math.floor(watermark / interval) * interval;
    return next <= watermark ? next : undefined;
  }

  /** The time of the earliest sample kept, if any. */
  private earliestSample(): number | undefined {
    let earliest: number | undefined;
    for (const [, entry] of this.store.entries()) {
      const t = entry.k === 's' ? entry.t[0] : undefined;
      if (t !== undefined && (earliest === undefined || t < earliest)) earliest = t;
    }
    return earliest;
  }

  private evaluateGroups(t: number, due: readonly RuleGroup[]): AlertEvent[] {
    if (due.length === 0) return [];
    const gathered = this.gather();
    const events: AlertEvent[] = [];
    for (const compiled of this.compiled) {
      if (due.includes(compiled.group)) events.push(...this.evaluateRule(compiled, t, gathered));
    }
    for (const group of due) this.store.put(`g:${group.name}`, { k: 'g', t });
    // Alerts of rules removed or renamed since the state was written: resolved, never left firing.
    for (const [key, entry] of gathered.orphans) {
      this.store.delete(key);
      events.push(event(undefined, key.slice(3 + ID_LENGTH), entry, 'resolved', t));
    }
    return events;
  }

  /** One pass over the store: series by selector, histories and alerts by rule; prunes what no evaluation needs. */
  private gather(): Gathered {
    const floor = this.evaluatedFloor();
    const gathered: Gathered = {
      series: new Map(),
      data: new Map(),
      histories: new Map(),
      alerts: new Map(),
      orphans: [],
    };
    const seriesKeys = new Map<string, Array<[string, SeriesEntry]>>();
    for (const [key, entry] of [...this.store.entries()]) {
      const id = key.slice(2, 2 + ID_LENGTH);
      if (entry.k === 's') {
        const info = this.selectors.get(id);
        if (!info || !this.pruned(key, entry, floor - info.retentionMs)) continue;
        seriesKeys.set(id, [...(seriesKeys.get(id) ?? []), [key, entry]]);
      } else if (entry.k === 'h') {
        // Values older than the baseline of the rule's next evaluation; all of them once the rule is gone.
        const compiled = this.anomalyIds.get(id);
        const anomaly = compiled?.rule.expr.anomaly;
        if (!compiled || !anomaly) this.store.delete(key);
        else if (
          this.pruned(key, entry, (this.lastEvaluated(compiled.group) ?? -Infinity) - anomaly.baselineMs)
        ) {
          gathered.histories.set(key, entry);
        }
      } else if (entry.k === 'a') {
        if (this.ruleIds.has(id)) gathered.alerts.set(id, [...(gathered.alerts.get(id) ?? []), [key, entry]]);
        else gathered.orphans.push([key, entry]);
      } else if (!this.groups.some((g) => key === `g:${g.name}`)) this.store.delete(key);
    }
    // A stable order whatever the store's: aggregation sums in it, and the first of equal label sets wins.
    for (const [id, list] of seriesKeys) {
      list.sort(([a], [b]) => compareText(a, b));
      gathered.series.set(
        id,
        list.map(([, entry]) => entry),
      );
    }
    gathered.orphans.sort(([a], [b]) => compareText(a, b));
    return gathered;
  }

  /** Drops an entry's points at or before `cutoff`, writing it back only when it changed; false when none is left. */
  private pruned(key: string, entry: SeriesEntry | HistoryEntry, cutoff: number): boolean {
    const keep = firstAfter(entry.t, cutoff);
    if (keep === entry.t.length) {
      this.store.delete(key);
      return false;
    }
    if (keep > 0) {
      entry.t = entry.t.slice(keep);
      entry.v = entry.v.slice(keep);
      this.store.put(key, entry);
    }
    return true;
  }

  /** The elements of the rule's expression at `t` (its alerts), or undefined when it cannot be evaluated. */
  private vector(compiled: CompiledRule, t: number, gathered: Gathered): Element[] | undefined {
    const expr = compiled.rule.expr;
    const data = (node: VectorSelector): readonly SeriesData[] => {
      const info = compiled.selectors.get(node);
      return info ? seriesData(gathered, info.id) : [];
    };
    let elements: Element[];
    try {
      elements = toElements(evaluate(expr.expr, data, { startMs: t, endMs: t, stepMs: 0 }).value);
    } catch (error) {
      if (!(error instanceof PromQLError)) throw error;
      this.onError(compiled.rule, error);
      return undefined;
    }
    const anomaly = expr.anomaly;
    if (!anomaly) return elements;
    return elements.filter((e) => this.anomalous(compiled, anomaly, e, t, gathered));
  }

  /**
   * Whether the element lies outside mean ± k·σ of its baseline: its values at this rule's
   * evaluations in [t - baseline, t) that were not anomalous, when there are enough of them (half
   * the instants of the baseline). A value not judged anomalous joins the baseline, so a spike
   * never widens its own band, and a lasting level shift is learnt once the normal values left
   * in the baseline are too few for a verdict.
   */
  private anomalous(
    compiled: CompiledRule,
    expr: NonNullable<AlertExpr['anomaly']>,
    element: Element,
    t: number,
    gathered: Gathered,
  ): boolean {
    const key = `h:${compiled.anomalyId}:${hashParts(element.labels.flat())}`;
    const entry = gathered.histories.get(key) ?? { k: 'h', labels: element.labels, t: [], v: [] };
    const from = firstAfter(entry.t, t - expr.baselineMs - 1);
    const baseline = entry.v.slice(from, firstAfter(entry.t, t - 1));
    const instants = Math.floor(expr.baselineMs / compiled.group.intervalMs);
    let outside = false;
    if (baseline.length >= Math.max(2, Math.ceil(instants / 2))) {
      const { mean, stddev } = meanAndStddev(baseline);
      outside = Math.abs(element.value - mean) > expr.k * stddev;
    }
    if (from > 0 || !outside) {
      entry.t = entry.t.slice(from);
      entry.v = entry.v.slice(from);
      if (!outside) insert(entry, t, element.value);
      if (entry.t.length > 0) {
        this.store.put(key, entry);
        gathered.histories.set(key, entry);
      } else this.store.delete(key);
    }
    return outside;
  }

  /** Evaluates one rule at `t` and moves its alerts through inactive → pending → firing → resolved. */
  private evaluateRule(compiled: CompiledRule, t: number, gathered: Gathered): AlertEvent[] {
    const { rule } = compiled;
    const active = new Map<string, Instance>();
    const elements = this.vector(compiled, t, gathered);
    if (elements === undefined) return [];
    for (const element of elements) {
      const series = Object.fromEntries(element.labels);
      const labels: Record<string, string> = { ...series };
      for (const [name, template] of compiled.labels) {
        const value = renderTemplate(template, { labels: series, value: element.value });
        // An empty label is no label, as in Prometheus.
        if (value === '') delete labels[name];
        else labels[name] = value;
      }
      labels.alertname = rule.name;
      const sorted = Object.entries(labels).sort(([a], [b]) => compareText(a, b));
      const fingerprint = hashParts([rule.group, rule.name, ...sorted.flat()]);
      if (!active.has(fingerprint)) {
        active.set(fingerprint, {
          labels: Object.fromEntries(sorted),
          series: element.labels,
          value: element.value,
        });
      }
    }
    const existing = new Map<string, AlertEntry>();
    for (const [key, entry] of gathered.alerts.get(rule.id) ?? [])
      existing.set(key.slice(3 + ID_LENGTH), entry);
    const events: AlertEvent[] = [];
    for (const fingerprint of [...new Set([...active.keys(), ...existing.keys()])].sort(compareText)) {
      const key = `a:${rule.id}:${fingerprint}`;
      const now = active.get(fingerprint);
      const entry = existing.get(fingerprint);
      if (now && !entry) {
        // `for: 0` fires at the first evaluation, as in Prometheus, without a pending event.
        const firing = rule.forMs === 0;
        const created: AlertEntry = {
          k: 'a',
          alert: rule.name,
          state: firing ? 'firing' : 'pending',
          ...now,
          activeAt: t,
          firedAt: firing ? t : null,
          keepFiringSince: null,
        };
        this.store.put(key, created);
        events.push(event(compiled, fingerprint, created, created.state, t));
      } else if (now && entry) {
        // Written back only when it changed: a steady alert costs no changelog records.
        let changed = !Object.is(entry.value, now.value) || entry.keepFiringSince !== null;
        if (!changed && labelsKey(entry.series) !== labelsKey(now.series)) changed = true;
        Object.assign(entry, now, { keepFiringSince: null });
        if (entry.state === 'pending' && t - entry.activeAt >= rule.forMs) {
          entry.state = 'firing';
          entry.firedAt = t;
          changed = true;
          events.push(event(compiled, fingerprint, entry, 'firing', t));
        }
        if (changed) this.store.put(key, entry);
      } else if (entry) {
        if (entry.state === 'firing' && rule.keepFiringForMs > 0) {
          entry.keepFiringSince ??= t;
          if (t - entry.keepFiringSince < rule.keepFiringForMs) {
            if (entry.keepFiringSince === t) this.store.put(key, entry);
            continue;
          }
        }
        this.store.delete(key);
        events.push(event(compiled, fingerprint, entry, 'resolved', t));
      }
    }
    return events;
  }
}

/** The series a selector keeps, as the PromQL engine reads them (made once per evaluation pass). */
function seriesData(gathered: Gathered, id: string): SeriesData[] {
  let data = gathered.data.get(id);
  if (!data) {
    data = (gathered.series.get(id) ?? []).map((s) => ({
      labels: { ...Object.fromEntries(s.labels), __name__: s.name },
      timestamps: Float64Array.from(s.t),
      values: Float64Array.from(s.v),
    }));
    gathered.data.set(id, data);
  }
  return data;
}

/** An instant vector (or a scalar, as one element without labels) as alert elements, without `__name__` as Prometheus' alerts. */
function toElements(value: Value): Element[] {
  if (value.type === 'scalar') return [{ labels: [], value: value.value }];
  if (value.type !== 'vector') return [];
  return value.samples.map((s) => ({
    labels: Object.entries(s.metric)
      .filter(([k]) => k !== '__name__')
      .sort(([a], [b]) => compareText(a, b)),
    value: s.value,
  }));
}

/** Inserts a point in time order; a point at an existing time replaces its value. */
function insert(entry: { t: number[]; v: number[] }, t: number, v: number): void {
  const last = entry.t[entry.t.length - 1];
  if (last === undefined || t > last) {
    entry.t.push(t);
    entry.v.push(v);
    return;
  }
  const at = firstAfter(entry.t, t - 1);
  if (entry.t[at] === t) entry.v[at] = v;
  else {
    entry.t.splice(at, 0, t);
    entry.v.splice(at, 0, v);
  }
}

function annotations(compiled: CompiledRule | undefined, entry: AlertEntry): Record<string, string> {
  const data = { labels: Object.fromEntries(entry.series), value: entry.value };
  return Object.fromEntries(
    (compiled?.annotations ?? []).map(([name, template]) => [name, renderTemplate(template, data)]),
  );
}

/**
 * The event of a transition. startsAt is when the alert became pending for a pending event, and
 * when it fired for firing and resolved events (what Prometheus sends Alertmanager as startsAt);
 * a pending alert that never fired resolves with startsAt = when it became pending.
 */
function event(
  compiled: CompiledRule | undefined,
  fingerprint: string,
  entry: AlertEntry,
  state: AlertState,
  t: number,
): AlertEvent {
  return {
    fingerprint,
    rule: entry.alert,
    state,
    severity: entry.labels.severity ?? 'none',
    labels: { ...entry.labels },
    annotations: annotations(compiled, entry),
    value: entry.value,
    startsAt: state === 'pending' ? entry.activeAt : (entry.firedAt ?? entry.activeAt),
    endsAt: state === 'resolved' ? t : null,
    timestamp: t,
  };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
