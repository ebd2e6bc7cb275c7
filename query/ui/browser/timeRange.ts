/** The time range of the chart: a preset ending now, or absolute from/to. */

export const PRESETS: Record<string, number> = {
  '15m': 900,
  '1h': 3600,
  '6h': 21600,
  '24h': 86400,
  '7d': 7 * 86400,
  '30d': 30 * 86400,
};

export type RangeChoice = { preset: string } | { from: number; to: number };

/** Start and end, unix seconds, of a choice at `now` (unix seconds). */
export function resolveRange(choice: RangeChoice, now: number): { start: number; end: number } {
  if ('preset' in choice) {
    const length = PRESETS[choice.preset] ?? 3600;
    const end = Math.floor(now);
    return { start: end - length, end };
  }
  return { start: choice.from, end: choice.to };
}

/**
 * Reads a time the way Prometheus' API does (unix seconds or RFC 3339) or as a
 * `datetime-local` value (local time); `undefined` when it is neither.
 */
export function parseTime(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const ms = Date.parse(trimmed);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** Unix seconds as a `datetime-local` input value, in local time to the minute. */
export function toLocalInput(seconds: number): string {
  const d = new Date(seconds * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The choice a page URL carries (`range=1h`, or `from` and `to`), defaulting to the last hour. */
export function choiceFromParams(params: URLSearchParams): RangeChoice {
  const from = parseTime(params.get('from') ?? '');
  const to = parseTime(params.get('to') ?? '');
  if (from !== undefined && to !== undefined && from < to) return { from, to };
  const preset = params.get('range') ?? '';
  return { preset: preset in PRESETS ? preset : '1h' };
}

/** Writes a choice into URL parameters, dropping the other form. */
export function choiceToParams(choice: RangeChoice, params: URLSearchParams): void {
  params.delete('range');
  params.delete('from');
  params.delete('to');
  if ('preset' in choice) params.set('range', choice.preset);
  else {
    params.set('from', String(choice.from));
    params.set('to', String(choice.to));
  }
}
