/**
 * Numbers formatted the way Go's fmt and Prometheus' template functions do, so that rule
 * annotations written for Prometheus render the same text here.
 */

/**
 * Go's `%g` (precision -1: `%v`, the shortest representation): exponent form when the
 * exponent is below -4 or at least the precision (6 for the shortest), trailing zeros dropped.
 */
export function formatG(x: number, precision = -1): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const prec = precision === 0 ? 1 : precision;
  const exponential = prec < 0 ? x.toExponential() : goRound(x, prec - 1, 'exponential');
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(exponential) as RegExpExecArray;
  const sign = match[1] as string;
  const digits = `${match[2]}${match[3] ?? ''}`.replace(/0+$/, '') || '0';
  const exp = Number(match[4]);
  const nd = digits.length;
  const dp = exp + 1;
  let eprec = prec < 0 ? 6 : prec;
  if (prec >= 0 && eprec > nd && nd >= dp) eprec = nd;
  if (exp < -4 || exp >= eprec) {
    const mantissa = nd > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (dp <= 0) return `${sign}0.${'0'.repeat(-dp)}${digits}`;
  if (dp >= nd) return `${sign}${digits}${'0'.repeat(dp - nd)}`;
  return `${sign}${digits.slice(0, dp)}.${digits.slice(dp)}`;
}

/** Go's `%e` with a precision (default 6): exponent of at least two digits. */
export function formatE(x: number, precision = 6): string {
  if (!Number.isFinite(x)) return formatG(x);
  return goRound(x, precision, 'exponential').replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Go's `%f` with a precision (default 6). */
export function formatF(x: number, precision = 6): string {
  if (!Number.isFinite(x)) return formatG(x);
  return goRound(x, precision, 'fixed');
}

/**
 * `toExponential` or `toFixed` with Go's rounding: JavaScript rounds a value exactly halfway
 * between two results away from zero, Go to the even digit (37.125 → 37.12, not 37.13).
 */
function goRound(x: number, digits: number, mode: 'exponential' | 'fixed'): string {
  const render = (d: number) => (mode === 'fixed' ? x.toFixed(d) : x.toExponential(d));
  const rounded = render(digits);
  // The exact decimal expansion shows a tie: the digits after the kept ones are 5 then zeros.
  const [mantissa = '', exponent] = render(Math.min(digits + 30, 100)).split('e');
  const point = mantissa.indexOf('.');
  const cut = digits === 0 ? point : point + 1 + digits;
  if (point < 0 || !/^50*$/.test(mantissa.slice(digits === 0 ? point + 1 : cut))) return rounded;
  const kept = mantissa.slice(0, cut);
  if (Number(kept[kept.length - 1]) % 2 === 1) return rounded;
  return exponent === undefined ? kept : `${kept}e${exponent}`;
}

function scaled(v: number, prefixes: readonly string[], step: number, up: boolean): [number, string] {
  let prefix = '';
  for (const p of prefixes) {
    if (up ? Math.abs(v) < step : Math.abs(v) >= 1) break;
    prefix = p;
    v = up ? v / step : v * step;
  }
  return [v, prefix];
}

/** Prometheus' `humanize`: SI prefixes, 4 significant digits (1234567 → 1.235M, 0.005 → 5m). */
export function humanize(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return formatG(v, 4);
  const [x, prefix] =
    Math.abs(v) >= 1
      ? scaled(v, ['k', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'], 1000, true)
      : scaled(v, ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y'], 1000, false);
  return `${formatG(x, 4)}${prefix}`;
}

/** Prometheus' `humanize1024`: binary prefixes (2048 → 2ki). */
export function humanize1024(v: number): string {
  if (Math.abs(v) <= 1 || !Number.isFinite(v)) return formatG(v, 4);
  const [x, prefix] = scaled(v, ['ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi', 'Yi'], 1024, true);
  return `${formatG(x, 4)}${prefix}`;
}

/** Prometheus' `humanizePercentage`: 0.1234 → 12.34%. */
export function humanizePercentage(v: number): string {
  return `${formatG(v * 100, 4)}%`;
}

/** Prometheus' `humanizeDuration` of seconds: 93784 → 1d 2h 3m 4s, 0.25 → 250ms. */
export function humanizeDuration(v: number): string {
  if (!Number.isFinite(v)) return formatG(v, 4);
  if (v === 0) return `${formatG(v, 4)}s`;
  if (Math.abs(v) >= 1) {
    const sign = v < 0 ? '-' : '';
    const abs = Math.abs(v);
    const whole = Math.trunc(abs);
    const seconds = whole % 60;
    const minutes = Math.trunc(whole / 60) % 60;
    const hours = Math.trunc(whole / 3600) % 24;
    const days = Math.trunc(whole / 86400);
    if (days !== 0) return `${sign}${days}d ${hours}h ${minutes}m ${seconds}s`;
    if (hours !== 0) return `${sign}${hours}h ${minutes}m ${seconds}s`;
    if (minutes !== 0) return `${sign}${minutes}m ${seconds}s`;
    return `${sign}${formatG(abs, 4)}s`;
  }
  const [x, prefix] = scaled(v, ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y'], 1000, false);
  return `${formatG(x, 4)}${prefix}s`;
}
