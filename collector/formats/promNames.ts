/**
 * OpenTelemetry names to Prometheus names, after OpenTelemetry's "Prometheus and OpenMetrics
 * compatibility" specification (metric points to Prometheus): invalid characters become `_`
 * and runs of `_` collapse into one; the unit becomes a word suffix unless the name already
 * has it; monotonic sums get `_total`, gauges with unit `1` get `_ratio`.
 *
 * Units (UCUM, as OpenTelemetry semantic conventions write them) and their suffixes, the
 * common ones the OpenTelemetry Collector's Prometheus translator knows:
 *
 * | unit                   | suffix                                                          |
 * | ---------------------- | --------------------------------------------------------------- |
 * | d h min s ms us ns     | days hours minutes seconds milliseconds microseconds nanoseconds |
 * | By KiBy MiBy GiBy TiBy | bytes kibibytes mebibytes gibibytes tibibytes                   |
 * | KBy MBy GBy TBy        | kilobytes megabytes gigabytes terabytes                         |
 * | m V A J W g            | meters volts amperes joules watts grams                         |
 * | Cel Hz %               | celsius hertz percent                                           |
 * | 1                      | ratio on a gauge, nothing otherwise                             |
 * | {packet} (annotation)  | nothing: a count of things is unitless in Prometheus            |
 * | x/y                    | x_per_y (y: s m h d w mo y are second … year)                   |
 * | anything else          | itself, characters other than letters and digits made `_`       |
 */

const UNITS = new Map<string, string>(
  Object.entries({
    d: 'days',
    h: 'hours',
    min: 'minutes',
    s: 'seconds',
    ms: 'milliseconds',
    us: 'microseconds',
    ns: 'nanoseconds',
    By: 'bytes',
    KiBy: 'kibibytes',
    MiBy: 'mebibytes',
    GiBy: 'gibibytes',
    TiBy: 'tibibytes',
    KBy: 'kilobytes',
    MBy: 'megabytes',
    GBy: 'gigabytes',
    TBy: 'terabytes',
    m: 'meters',
    V: 'volts',
    A: 'amperes',
    J: 'joules',
    W: 'watts',
    g: 'grams',
    Cel: 'celsius',
    Hz: 'hertz',
    '%': 'percent',
    // Dimensionless: "1/s" is "per_second".
    '1': '',
  }),
);

const PER_UNITS = new Map<string, string>(
  Object.entries({
    s: 'second',
    m: 'minute',
    h: 'hour',
    d: 'day',
    w: 'week',
    mo: 'month',
    y: 'year',
  }),
);

/** How a metric's samples are typed in Prometheus, as far as its name is concerned. */
export type NameType = 'counter' | 'gauge' | 'other';

/**
 * The Prometheus name of an OpenTelemetry metric: `counter` (monotonic cumulative sum) adds
 * `_total`, `gauge` (a Gauge, not a non-monotonic sum) turns unit `1` into `_ratio`; histogram
 * and summary parts (`_bucket`, `_sum`, `_count`) go after this name.
 */
export function metricName(name: string, unit: string, type: NameType): string {
  let out = name.replace(/[^a-zA-Z0-9_:]+/g, '_').replace(/_{2,}/g, '_');
  // `_total` goes last, after the unit: take it off to put it back in its place.
  if (type === 'counter' && out.endsWith('_total')) out = out.slice(0, -'_total'.length);
  const suffix = type === 'gauge' && unit === '1' ? 'ratio' : unitSuffix(unit);
  if (suffix !== '' && !`_${out}_`.includes(`_${suffix}_`)) out = join(out, suffix);
  if (type === 'counter') out = join(out, 'total');
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

/** The name suffix for a UCUM unit (see the table above); empty for none. */
function unitSuffix(unit: string): string {
  // Annotations in braces are dropped: `{request}/s` is `/s`.
  const bare = unit.replace(/\{[^}]*\}/g, '').trim();
  if (bare === '') return '';
  const slash = bare.indexOf('/');
  if (slash === -1) return word(bare, UNITS);
  const main = word(bare.slice(0, slash), UNITS);
  const per = word(bare.slice(slash + 1), PER_UNITS);
  if (per === '') return main;
  return main === '' ? `per_${per}` : `${main}_per_${per}`;
}

/**
 * A Prometheus label name for an attribute key: invalid characters become `_` (runs collapsed),
 * a leading digit gets `key_` before it.
 */
export function labelName(key: string): string {
  if (VALID_LABEL.test(key) && !key.includes('__')) return key;
  const out = key.replace(/[^a-zA-Z0-9_]+/g, '_').replace(/_{2,}/g, '_');
  return /^[0-9]/.test(out) ? `key_${out}` : out;
}

const VALID_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A float as Prometheus writes it in `le` and `quantile` labels. */
export function formatFloat(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function word(unit: string, table: Map<string, string>): string {
  const known = table.get(unit);
  if (known !== undefined) return known;
  return unit.replace(/[^a-zA-Z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}

function join(name: string, suffix: string): string {
  return name === '' || name.endsWith('_') ? `${name}${suffix}` : `${name}_${suffix}`;
}
