/**
 * Steps a chart may use, seconds: the round intervals Grafana rounds `$__interval` to, so that
 * points fall on minute and hour boundaries and successive refreshes reuse cached chunks.
 */
const ROUND_STEPS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];

/**
 * The step of a range query drawn `widthPx` wide, as Grafana's `$__interval`: the range divided by
 * the points the chart can show (one a pixel), rounded up to a round interval and never below
 * `minStep`. Rounding up keeps the points at most one a pixel, and far below Prometheus' 11,000.
 */
export function chooseStep(rangeSeconds: number, widthPx: number, minStep = 1): number {
  const raw = rangeSeconds / Math.max(1, Math.floor(widthPx));
  const round = ROUND_STEPS.find((step) => step >= raw) ?? Math.ceil(raw / 86400) * 86400;
  return Math.max(minStep, round);
}

const UNITS: Array<[suffix: string, seconds: number]> = [
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

/** Seconds as a Prometheus duration: 90 → "1m30s", 86400 → "1d". */
export function formatDuration(seconds: number): string {
  let left = Math.round(seconds);
  if (left <= 0) return '0s';
  let text = '';
  for (const [suffix, size] of UNITS) {
    const n = Math.floor(left / size);
    if (n > 0) text += `${n}${suffix}`;
    left -= n * size;
  }
  return text;
}
