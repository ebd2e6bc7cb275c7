import { ExpressionError } from './errors.js';

/** Prometheus duration units, largest first, in ms; a duration lists each at most once, in this order. */
const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['y', 365 * 24 * 3600_000],
  ['w', 7 * 24 * 3600_000],
  ['d', 24 * 3600_000],
  ['h', 3600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;

/**
 * Parses a Prometheus duration (`1h30m`, `5m`, `30s`, `1d`, `0`) into ms; throws an
 * ExpressionError (offset 0) when the text is not one.
 */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const match = text === '' ? null : DURATION.exec(text);
  if (!match) {
    throw new ExpressionError(
      `invalid duration ${JSON.stringify(text)} (expected e.g. 30s, 5m, 1h30m, 1d: units y w d h m s ms, largest first)`,
      0,
    );
  }
  let ms = 0;
  UNITS.forEach(([, size], i) => {
    const part = match[i + 1];
    if (part !== undefined) ms += Number(part) * size;
  });
  if (!Number.isSafeInteger(ms)) throw new ExpressionError(`duration ${JSON.stringify(text)} is too long`, 0);
  return ms;
}

/** A duration in ms as Prometheus prints it (`model.Duration.String`): `1h30m`, `90d`, `0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let left = ms;
  let out = '';
  for (const [unit, size] of UNITS) {
    // Years and weeks only when exact: 90d reads better than 12w6d.
    if ((unit === 'y' || unit === 'w') && left % size !== 0) continue;
    const n = Math.floor(left / size);
    if (n > 0) {
      out += `${n}${unit}`;
      left -= n * size;
    }
  }
  return out;
}
