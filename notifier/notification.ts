/** One alert as a notification carries it. */
export interface NotifiedAlert {
  fingerprint: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Epoch ms. */
  startsAt: number;
  /** Epoch ms when resolved; null while firing. */
  endsAt: number | null;
}

/**
 * What a receiver is told about one aggregation group: Alertmanager's template data
 * (`receiver`, `status`, `alerts`, `groupLabels`, `commonLabels`, `commonAnnotations`,
 * `externalURL`, `groupKey`), plus what integrations need to build their requests.
 */
export interface Notification {
  receiver: string;
  /** `firing` when at least one alert fires. */
  status: 'firing' | 'resolved';
  alerts: NotifiedAlert[];
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  /** Alertmanager's group key: `<route key>:<group labels>`, e.g. `{}/{severity="page"}:{alertname="X"}`. */
  groupKey: string;
  /** The route's repeat interval, ms: a forwarding integration sizes its alerts' endsAt by it. */
  repeatIntervalMs: number;
  /** When the notification was made, epoch ms. */
  now: number;
}

/** Builds a notification; alerts in Alertmanager's order (job, instance, then all labels). */
export function makeNotification(
  fields: Omit<Notification, 'status' | 'commonLabels' | 'commonAnnotations'>,
): Notification {
  const alerts = [...fields.alerts].sort(compareAlerts);
  return {
    ...fields,
    alerts,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    commonLabels: common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map((a) => a.annotations)),
  };
}

/** The pairs every map has with the same value. */
function common(maps: ReadonlyArray<Record<string, string>>): Record<string, string> {
  const [first, ...rest] = maps;
  const out: Record<string, string> = {};
  if (!first) return out;
  for (const [k, v] of Object.entries(first)) if (rest.every((m) => m[k] === v)) out[k] = v;
  return sortKeys(out);
}

/** Alertmanager sorts a group's alerts by `job`, then `instance`, then their whole label sets. */
function compareAlerts(a: NotifiedAlert, b: NotifiedAlert): number {
  for (const key of ['job', 'instance']) {
    const x = a.labels[key];
    const y = b.labels[key];
    if (x !== undefined && y !== undefined && x !== y) return x < y ? -1 : 1;
    if ((x === undefined) !== (y === undefined)) return x === undefined ? 1 : -1;
  }
  const x = labelSetString(a.labels);
  const y = labelSetString(b.labels);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A label set as Alertmanager prints it (`model.LabelSet.String`): `{a="1", b="2"}`, sorted. */
export function labelSetString(labels: Readonly<Record<string, string>>): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `{${pairs.join(', ')}}`;
}

export function sortKeys(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k] as string;
  return out;
}

/** A time as Go marshals it in JSON (RFC 3339, UTC, no trailing zero fractions); epoch 0 of Go for null. */
export function goTime(ms: number | null): string {
  if (ms === null) return '0001-01-01T00:00:00Z';
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}

/**
 * Alertmanager's default subject and title (`__subject`): `[FIRING:2] <group label values>
 * (<other common label values>)`, values in label-name order.
 */
export function subjectLine(n: Notification): string {
  const firing = n.alerts.filter((a) => a.status === 'firing').length;
  const status = n.status === 'firing' ? `FIRING:${firing}` : 'RESOLVED';
  const groupValues = Object.keys(n.groupLabels)
    .sort()
    .map((k) => n.groupLabels[k]);
  const extra = Object.keys(n.commonLabels)
    .filter((k) => !(k in n.groupLabels))
    .sort()
    .map((k) => n.commonLabels[k]);
  const head = `[${status}] ${groupValues.join(' ')}`.trimEnd();
  return extra.length > 0 ? `${head} (${extra.join(' ')})` : head;
}

/** A plain-text list of the alerts, firing ones first: labels, summary, description, times. */
export function alertListText(n: Notification): string {
  const lines: string[] = [];
  for (const status of ['firing', 'resolved'] as const) {
    const alerts = n.alerts.filter((a) => a.status === status);
    if (alerts.length === 0) continue;
    if (lines.length > 0) lines.push('');
    lines.push(`${status === 'firing' ? 'Firing' : 'Resolved'} alerts (${alerts.length}):`);
    for (const a of alerts) {
      const labels = Object.keys(a.labels)
        .sort()
        .map((k) => `${k}=${a.labels[k]}`)
        .join(' ');
      lines.push(`- ${labels}`);
      if (a.annotations.summary) lines.push(`  summary: ${a.annotations.summary}`);
      if (a.annotations.description) lines.push(`  description: ${a.annotations.description}`);
      lines.push(`  since: ${goTime(a.startsAt)}${a.endsAt === null ? '' : `, until: ${goTime(a.endsAt)}`}`);
    }
  }
  return lines.join('\n');
}
