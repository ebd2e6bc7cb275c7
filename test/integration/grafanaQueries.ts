/**
 * What Grafana sends to a Prometheus data source for a dashboard, done here without a Grafana:
 * the queries of every panel and annotation, with Grafana's variables substituted the way its
 * Prometheus data source does for a time range (pkg/promlib: $__interval from the range over
 * the panel's data points rounded by rangeutil's roundInterval, floored at the data source's
 * scrape interval; $__rate_interval = max($__interval + scrape interval, 4 × scrape interval);
 * $__range in whole seconds; template variables multi-valued as an escaped regex alternation).
 */

export interface Target {
  refId: string;
  expr: string;
  instant?: boolean;
  range?: boolean;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { w: number };
  targets?: Target[];
  panels?: Panel[];
}

export interface Variable {
  name: string;
  type: string;
  query: string;
  includeAll?: boolean;
  multi?: boolean;
  current?: { value: string | string[] };
}

export interface Dashboard {
  panels: Panel[];
  templating: { list: Variable[] };
  annotations: {
    list: Array<{ name: string; expr?: string; step?: string; datasource?: { type?: string } }>;
  };
}

/** One request Grafana would make: a range query (with its step) or an instant query. */
export interface DashboardQuery {
  /** Panel title and refId, or the annotation's name. */
  source: string;
  expr: string;
  instant: boolean;
  /** Seconds between points of a range query. */
  step: number;
  /** Panel width in dashboard columns (of 24), or 24 for annotations. */
  width: number;
}

/** Width of the dashboard in pixels: a panel `w` columns wide asks for about w/24 of it in points. */
const DASHBOARD_PX = 1900;
/** Prometheus refuses more than 11,000 points a series; Grafana widens the step to stay below. */
const SAFE_RESOLUTION = 11_000;

/** Grafana's rangeutil.roundInterval: the round interval (ms) a raw one is shown as. */
export function roundInterval(ms: number): number {
  const table: Array<[below: number, round: number]> = [
    [10, 1],
    [15, 10],
    [35, 20],
    [75, 50],
    [150, 100],
    [350, 200],
    [750, 500],
    [1500, 1000],
    [3500, 2000],
    [7500, 5000],
    [12500, 10000],
    [17500, 15000],
    [25000, 20000],
    [45000, 30000],
    [90000, 60000],
    [210000, 120000],
    [450000, 300000],
    [750000, 600000],
    [1050000, 900000],
    [1500000, 1200000],
    [2700000, 1800000],
    [5400000, 3600000],
    [9000000, 7200000],
    [16200000, 10800000],
    [32400000, 21600000],
    [86400000, 43200000],
    [604800000, 86400000],
    [1814400000, 604800000],
    [3628800000, 2592000000],
  ];
  return table.find(([below]) => ms < below)?.[1] ?? 31536000000;
}

/** Grafana's gtime.FormatInterval: the largest whole unit only (5m10s prints as "5m"). */
export function formatInterval(ms: number): string {
  const units: Array<[string, number]> = [
    ['y', 31536000000],
    ['d', 86400000],
    ['h', 3600000],
    ['m', 60000],
    ['s', 1000],
    ['ms', 1],
  ];
  for (const [suffix, size] of units) if (ms >= size) return `${Math.floor(ms / size)}${suffix}`;
  return '1ms';
}

/** `$__interval` in ms for a panel `width` columns wide over `rangeMs`, at least `scrapeMs`. */
export function panelInterval(rangeMs: number, width: number, scrapeMs: number): number {
  const maxDataPoints = Math.round((DASHBOARD_PX * width) / 24);
  const calculated = Math.max(scrapeMs, roundInterval(rangeMs / maxDataPoints));
  return Math.max(calculated, roundInterval(rangeMs / SAFE_RESOLUTION));
}

/** Parses a Grafana duration ("10s", "1m", "2h") to ms. */
export function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(text);
  if (!match) throw new Error(`not a Grafana duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000, y: 31536000000 }[
    match[2] as string
  ];
  return Number(match[1]) * (unit as number);
}

/** A value inside a PromQL regex string: regex metacharacters escaped, as Grafana's prometheusSpecialRegexEscape. */
function regexEscape(value: string): string {
  return value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
}

/** A template variable's value in an expression: one value as is, several as `(a|b)`. */
export function variableText(values: string[]): string {
  if (values.length === 1) return regexEscape(values[0] as string);
  return `(${values.map(regexEscape).join('|')})`;
}

/** Substitutes `$name`, `${name}` and `[[name]]` of template variables, then Grafana's own. */
export function interpolate(
  expr: string,
  vars: { values: Map<string, string>; intervalMs: number; rateIntervalMs: number; rangeMs: number },
): string {
  let text = expr.replace(
    /\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)/g,
    (whole, a?: string, b?: string, c?: string) => {
      const name = (a ?? b ?? c) as string;
      return vars.values.get(name) ?? whole;
    },
  );
  const rangeS = Math.round(vars.rangeMs / 1000);
  text = text
    .replaceAll('$__interval_ms', String(vars.intervalMs))
    .replaceAll('$__interval', formatInterval(vars.intervalMs))
    .replaceAll('$__rate_interval', formatInterval(vars.rateIntervalMs))
    .replaceAll('$__range_ms', String(rangeS * 1000))
    .replaceAll('$__range_s', String(rangeS))
    .replaceAll('$__range', `${rangeS}s`);
  return text;
}

/** Every panel (rows' too) and Prometheus annotation of the dashboard, before substitution. */
export function dashboardTargets(
  dashboard: Dashboard,
): Array<{ source: string; expr: string; instant: boolean; width: number; step?: string }> {
  const out: Array<{ source: string; expr: string; instant: boolean; width: number; step?: string }> = [];
  const walk = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        out.push({
          source: `${panel.title} (${target.refId})`,
          expr: target.expr,
          instant: target.instant === true && target.range !== true,
          width: panel.gridPos.w,
        });
      }
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const annotation of dashboard.annotations.list) {
    if (annotation.datasource?.type !== 'prometheus' || annotation.expr === undefined) continue;
    out.push({
      source: `annotation ${annotation.name}`,
      expr: annotation.expr,
      instant: false,
      width: 24,
      ...(annotation.step ? { step: annotation.step } : {}),
    });
  }
  return out;
}

/**
 * The queries Grafana sends for the dashboard over [fromMs, toMs] with the variables at
 * `values` (name → substituted text), the data source's scrape interval `scrapeMs`.
 */
export function dashboardQueries(
  dashboard: Dashboard,
  range: { fromMs: number; toMs: number },
  values: Map<string, string>,
  scrapeMs: number,
): DashboardQuery[] {
  const rangeMs = range.toMs - range.fromMs;
  return dashboardTargets(dashboard).map((target) => {
    const intervalMs =
      target.step !== undefined
        ? Math.max(durationMs(target.step), roundInterval(rangeMs / SAFE_RESOLUTION))
        : panelInterval(rangeMs, target.width, scrapeMs);
    const rateIntervalMs = Math.max(intervalMs + scrapeMs, 4 * scrapeMs);
    return {
      source: target.source,
      expr: interpolate(target.expr, { values, intervalMs, rateIntervalMs, rangeMs }),
      instant: target.instant,
      step: intervalMs / 1000,
      width: target.width,
    };
  });
}
