/**
 * Label sets as the engine passes them around: frozen records, shared between steps, so their
 * keys and name-less copies are computed once per object and cached.
 */
export type Labels = Readonly<Record<string, string>>;

export const EMPTY_LABELS: Labels = Object.freeze({});

const keys = new WeakMap<Labels, string>();
const withoutName = new WeakMap<Labels, Labels>();

/** A string equal for equal label sets (names sorted; separators that cannot occur in UTF-8 text). */
export function labelsKey(labels: Labels): string {
  let key = keys.get(labels);
  if (key === undefined) {
    key = Object.keys(labels)
      .sort()
      .map((name) => `${name}\xff${labels[name]}`)
      .join('\xfe');
    keys.set(labels, key);
  }
  return key;
}

/** The labels without `__name__`, as functions and arithmetic return them. */
export function dropMetricName(labels: Labels): Labels {
  if (!('__name__' in labels)) return labels;
  let dropped = withoutName.get(labels);
  if (dropped === undefined) {
    const copy: Record<string, string> = { ...labels };
    delete copy.__name__;
    dropped = Object.freeze(copy);
    withoutName.set(labels, dropped);
  }
  return dropped;
}

/** The key of the labels that `on(names)` or `ignoring(names)` (which also ignores `__name__`) match on. */
export function matchingKey(labels: Labels, on: boolean, names: readonly string[]): string {
  const parts: string[] = [];
  if (on) {
    for (const name of [...names].sort()) {
      const value = labels[name];
      if (value !== undefined && value !== '') parts.push(`${name}\xff${value}`);
    }
  } else {
    for (const name of Object.keys(labels).sort()) {
      if (name === '__name__' || names.includes(name)) continue;
      parts.push(`${name}\xff${labels[name]}`);
    }
  }
  return parts.join('\xfe');
}

/** Identifies a grouping clause, for groupingLabels' cache. */
export function groupingSpec(without: boolean, names: readonly string[]): string {
  return `${without ? 'w' : 'b'}\xff${names.join('\xff')}`;
}

const groupings = new WeakMap<Labels, Map<string, { key: string; labels: Labels }>>();

/**
 * The labels kept by `by(names)` or left by `without(names)` (which also drops `__name__`), and
 * their key; cached per input label set, since the same series are grouped again at every step.
 */
export function groupingLabels(
  labels: Labels,
  without: boolean,
  names: readonly string[],
  spec = groupingSpec(without, names),
): { key: string; labels: Labels } {
  let bySpec = groupings.get(labels);
  if (!bySpec) {
    bySpec = new Map();
    groupings.set(labels, bySpec);
  }
  let group = bySpec.get(spec);
  if (!group) {
    const out: Record<string, string> = {};
    if (without) {
      for (const [name, value] of Object.entries(labels)) {
        if (name !== '__name__' && !names.includes(name)) out[name] = value;
      }
    } else {
      for (const name of names) {
        const value = labels[name];
        if (value !== undefined && value !== '') out[name] = value;
      }
    }
    const frozen = Object.freeze(out);
    group = { key: labelsKey(frozen), labels: frozen };
    bySpec.set(spec, group);
  }
  return group;
}

/** Labels with one label set, or removed when `value` is empty (an empty label is no label). */
export function withLabel(labels: Labels, name: string, value: string): Labels {
  const out: Record<string, string> = { ...labels };
  if (value === '') delete out[name];
  else out[name] = value;
  return Object.freeze(out);
}

/** `{a="1", b="2"}` with names sorted, as Prometheus prints label sets in messages. */
export function formatLabels(labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((name) => `${name}=${JSON.stringify(labels[name])}`);
  return `{${parts.join(', ')}}`;
}

/** Orders label sets as Prometheus orders series: by names and values, label by label. */
export function compareLabels(a: Labels, b: Labels): number {
  const an = Object.keys(a).sort();
  const bn = Object.keys(b).sort();
  for (let i = 0; i < Math.min(an.length, bn.length); i++) {
    const x = an[i] as string;
    const y = bn[i] as string;
    if (x !== y) return x < y ? -1 : 1;
    const xv = a[x] as string;
    const yv = b[y] as string;
    if (xv !== yv) return xv < yv ? -1 : 1;
  }
  return an.length - bn.length;
}
