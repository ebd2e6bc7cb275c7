/** How Go writes NaN, the infinities and negative zero; undefined for every other value. */
function goSpecial(v: number): string | undefined {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Object.is(v, -0)) return '-0';
  return undefined;
}

/** Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest digits that round-trip, never an exponent. */
export function formatFloatPlain(v: number): string {
  const special = goSpecial(v);
  if (special !== undefined) return special;
  const s = String(v);
  const e = s.indexOf('e');
  if (e === -1) return s;
  const negative = s.startsWith('-');
  const mantissa = s.slice(negative ? 1 : 0, e);
  const exponent = Number(s.slice(e + 1));
  const point = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  const intDigits = (point === -1 ? mantissa.length : point) + exponent;
  let out: string;
  if (intDigits <= 0) out = `0.${'0'.repeat(-intDigits)}${digits}`;
  else if (intDigits >= digits.length) out = digits + '0'.repeat(intDigits - digits.length);
  else out = `${digits.slice(0, intDigits)}.${digits.slice(intDigits)}`;
  return negative ? `-${out}` : out;
}

/** A float as Prometheus' API writes sample values (util/jsonutil): Go's shortest form, `e` outside [1e-6, 1e21). */
export function formatSampleValue(v: number): string {
  const special = goSpecial(v);
  if (special !== undefined) return special;
  const s = String(v);
  const e = s.indexOf('e');
  if (e === -1) return s;
  // JavaScript writes `1e-7` where Go writes `1e-07`: at least two exponent digits, always a sign.
  const exponent = s.slice(e + 1);
  const sign = exponent.startsWith('-') ? '-' : '+';
  const digits = exponent.replace(/^[+-]/, '');
  return `${s.slice(0, e)}e${sign}${digits.padStart(2, '0')}`;
}

/** Go's strconv.ParseFloat for label values such as `le`: undefined when Go would refuse it. */
export function parseGoFloat(text: string): number | undefined {
  const t = text.toLowerCase();
  const unsigned = t.replace(/^[+-]/, '');
  if (unsigned === 'inf' || unsigned === 'infinity') return t.startsWith('-') ? -Infinity : Infinity;
  if (unsigned === 'nan') return NaN;
  if (!/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?$/.test(t)) return undefined;
  return Number(t);
}
