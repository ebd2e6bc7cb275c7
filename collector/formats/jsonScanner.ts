import { ClientSeries } from '../series.js';
import { hashKey, SeriesCache } from '../seriesCache.js';
import { cachedString } from './stringCache.js';
import { emptyColumns, type SampleColumns } from './types.js';

/**
 * The fast path of the collector's JSON batches (see json.ts). It takes exactly this shape,
 * with any JSON whitespace between tokens:
 *
 *     {"samples": [sample, ...]}  or  [sample, ...]
 *     sample = {"name": string, "value": number, and optionally "timestamp": number,
 *               "labels": {string: string, ...}, "kind": "gauge" | "counter"}, keys in any order
 *
 * where the name has no escape sequence. Anything else (another key, a duplicate key, an escape
 * in a name, null, a byte that is not JSON, ...) is left to the general path, which gives the
 * same result or the same error. Labels are kept as their raw bytes: a series is looked up by
 * its name and labels bytes (`SeriesCache`), and only bytes seen for the first time are
 * decoded, with JSON.parse, which also checks them.
 */
export function scanBatch(body: Buffer, now: number): SampleColumns | undefined {
  const scanner = new Scanner(body, now);
  try {
    return scanner.batch();
  } catch (error) {
    if (error === UNUSUAL) return undefined;
    throw error;
  }
}

/** True when every value of the object is a string. */
export function allStrings(labels: Record<string, unknown>): boolean {
  for (const key in labels) if (typeof labels[key] !== 'string') return false;
  return true;
}

/** Thrown inside the scanner when the body is not of the usual shape. */
class Unusual {}
const UNUSUAL = new Unusual();

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

const NAME = 1;
const LABELS = 2;
const TIMESTAMP = 4;
const VALUE = 8;
const KIND = 16;
const NAME_KEY = Buffer.from('name');
const LABELS_KEY = Buffer.from('labels');
const TIMESTAMP_KEY = Buffer.from('timestamp');
const VALUE_KEY = Buffer.from('value');
const KIND_KEY = Buffer.from('kind');
const SAMPLES = Buffer.from('"samples"');
const GAUGE = Buffer.from('gauge"');
const COUNTER = Buffer.from('counter"');
const NO_LABELS = Buffer.from('{}');
/** Powers of ten that doubles hold exactly. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/** Series by their name and labels bytes. */
const seriesCache = new SeriesCache<ClientSeries>(100_000);

/** A pass over one body; throws UNUSUAL where it leaves the usual shape. */
class Scanner {
  private pos = 0;
  private readonly end: number;
  private readonly out = emptyColumns();

  constructor(
    private readonly buf: Buffer,
    private readonly now: number,
  ) {
    this.end = buf.length;
  }

  batch(): SampleColumns | undefined {
    this.space();
    if (this.buf[this.pos] === OPEN_BRACE) {
      this.pos++;
      this.space();
      this.literal(SAMPLES);
      this.space();
      this.expect(COLON);
      this.space();
      this.samples();
      this.space();
      this.expect(CLOSE_BRACE);
    } else this.samples();
    this.space();
    return this.pos === this.end ? this.out : undefined;
  }

  private samples(): void {
    this.expect(OPEN_BRACKET);
    this.space();
    if (this.buf[this.pos] === CLOSE_BRACKET) {
      this.pos++;
      return;
    }
    for (;;) {
      this.space();
      this.sample();
      this.space();
      const c = this.buf[this.pos++];
      if (c === CLOSE_BRACKET) return;
      if (c !== COMMA) throw UNUSUAL;
    }
  }

  private sample(): void {
    this.expect(OPEN_BRACE);
    let seen = 0;
    let nameStart = 0;
    let nameEnd = 0;
    let labelsStart = -1;
    let labelsEnd = -1;
    let timestamp = this.now;
    let value = 0;
    let counter = false;
    for (;;) {
      this.space();
      const field = this.fieldName();
      if ((seen & field) !== 0) throw UNUSUAL;
      seen |= field;
      this.space();
      this.expect(COLON);
      this.space();
      if (field === NAME) {
        this.expect(QUOTE);
        nameStart = this.pos;
        this.plainString();
        nameEnd = this.pos - 1;
      } else if (field === LABELS) {
        labelsStart = this.pos;
        this.labelsObject();
        labelsEnd = this.pos;
      } else if (field === TIMESTAMP) timestamp = this.number();
      else if (field === VALUE) value = this.number();
      else {
        this.expect(QUOTE);
        if (this.same(GAUGE)) this.pos += GAUGE.length;
        else if (this.same(COUNTER)) {
          this.pos += COUNTER.length;
          counter = true;
        } else throw UNUSUAL;
      }
      this.space();
      const c = this.buf[this.pos++];
      if (c === CLOSE_BRACE) break;
      if (c !== COMMA) throw UNUSUAL;
    }
    if ((seen & (NAME | VALUE)) !== (NAME | VALUE)) throw UNUSUAL;
    const out = this.out;
    out.series.push(this.series(nameStart, nameEnd, labelsStart, labelsEnd));
    out.timestamps.push(timestamp);
    out.values.push(value);
    out.counters.push(counter);
  }

  /** The series of the name and labels at these positions: from the cache, or decoded and cached. */
  private series(nameStart: number, nameEnd: number, labelsStart: number, labelsEnd: number): ClientSeries {
    const buf = this.buf;
    const labels = labelsStart < 0 ? NO_LABELS : buf;
    const from = labelsStart < 0 ? 0 : labelsStart;
    const to = labelsStart < 0 ? NO_LABELS.length : labelsEnd;
    const hash = hashKey(buf, nameStart, nameEnd, labels, from, to);
    const known = seriesCache.get(hash, buf, nameStart, nameEnd, labels, from, to);
    if (known !== undefined) return known;
    const name = cachedString(buf, nameStart, nameEnd - nameStart);
    let parsed: unknown = {};
    if (labelsStart >= 0) {
      try {
        parsed = JSON.parse(buf.toString('utf8', labelsStart, labelsEnd));
      } catch {
        throw UNUSUAL;
      }
      if (!allStrings(parsed as Record<string, unknown>)) throw UNUSUAL;
    }
    const created = new ClientSeries(name, parsed as Record<string, string>);
    seriesCache.set(hash, buf, nameStart, nameEnd, labels, from, to, created);
    return created;
  }

  /** One of the five keys of a sample, as its bit; anything else is unusual. */
  private fieldName(): number {
    this.expect(QUOTE);
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    while (pos < this.end && buf[pos] !== QUOTE) pos++;
    this.pos = pos + 1;
    // The five keys differ in length but for name and kind.
    switch (pos - start) {
      case 4:
        return this.keyIs(start, NAME_KEY) ? NAME : this.keyIs(start, KIND_KEY) ? KIND : unusual();
      case 5:
        return this.keyIs(start, VALUE_KEY) ? VALUE : unusual();
      case 6:
        return this.keyIs(start, LABELS_KEY) ? LABELS : unusual();
      case 9:
        return this.keyIs(start, TIMESTAMP_KEY) ? TIMESTAMP : unusual();
      default:
        throw UNUSUAL;
    }
  }

  private keyIs(start: number, key: Buffer): boolean {
    const buf = this.buf;
    for (let i = 0; i < key.length; i++) if (buf[start + i] !== key[i]) return false;
    return true;
  }

  /** Skips a string (after its opening quote) without escapes or control characters. */
  private plainString(): void {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    while (pos < end) {
      const c = buf[pos++] as number;
      if (c === QUOTE) {
        this.pos = pos;
        return;
      }
      if (c === BACKSLASH || c < 0x20) throw UNUSUAL;
    }
    throw UNUSUAL;
  }

  /**
   * Skips a flat object: up to the first closing brace outside a string. A nested object or
   * array (not labels then) is unusual; everything else is checked by JSON.parse when the
   * bytes are new.
   */
  private labelsObject(): void {
    this.expect(OPEN_BRACE);
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    while (pos < end) {
      const c = buf[pos++] as number;
      if (c === QUOTE) {
        for (;;) {
          if (pos >= end) throw UNUSUAL;
          const d = buf[pos++] as number;
          if (d === QUOTE) break;
          if (d === BACKSLASH) pos++;
          else if (d < 0x20) throw UNUSUAL;
        }
      } else if (c === CLOSE_BRACE) {
        this.pos = pos;
        return;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) throw UNUSUAL;
    }
    throw UNUSUAL;
  }

  /**
   * A JSON number, exactly as JSON.parse reads it: up to 15 significant digits and a power of
   * ten up to 22 are exact doubles, so one multiplication or division rounds correctly
   * (Clinger's fast path); anything longer is left to `Number`, which reads JSON numbers the
   * same way.
   */
  private number(): number {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    let c = buf[pos] as number;
    const negative = c === MINUS;
    if (negative) c = buf[++pos] as number;
    let mantissa = 0;
    let digits = 0;
    if (c === ZERO) c = buf[++pos] as number;
    else if (c > ZERO && c <= NINE) {
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        c = buf[++pos] as number;
      } while (c >= ZERO && c <= NINE);
    } else throw UNUSUAL;
    let exponent = 0;
    if (c === DOT) {
      c = buf[++pos] as number;
      if (!(c >= ZERO && c <= NINE)) throw UNUSUAL;
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        digits++;
        exponent--;
        c = buf[++pos] as number;
      } while (c >= ZERO && c <= NINE);
    }
    if (c === 0x65 || c === 0x45) {
      c = buf[++pos] as number;
      const sign = c === MINUS ? -1 : 1;
      if (c === MINUS || c === PLUS) c = buf[++pos] as number;
      if (!(c >= ZERO && c <= NINE)) throw UNUSUAL;
      let e = 0;
      do {
        e = e * 10 + (c - ZERO);
        c = buf[++pos] as number;
      } while (c >= ZERO && c <= NINE);
      exponent += sign * e;
    }
    // A number runs to the end of the body only when the body is not the usual shape.
    if (pos >= this.end) throw UNUSUAL;
    this.pos = pos;
    if (digits <= 15 && exponent >= -22 && exponent <= 22) {
      const magnitude =
        exponent < 0 ? mantissa / (POW10[-exponent] as number) : mantissa * (POW10[exponent] as number);
      return negative ? -magnitude : magnitude;
    }
    return Number(buf.toString('latin1', start, pos));
  }

  private space(): void {
    const buf = this.buf;
    let pos = this.pos;
    for (;;) {
      const c = buf[pos];
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      pos++;
    }
    this.pos = pos;
  }

  private expect(c: number): void {
    if (this.pos >= this.end || this.buf[this.pos] !== c) throw UNUSUAL;
    this.pos++;
  }

  private literal(bytes: Buffer): void {
    if (!this.same(bytes)) throw UNUSUAL;
    this.pos += bytes.length;
  }

  private same(bytes: Buffer): boolean {
    if (this.pos + bytes.length > this.end) return false;
    return this.keyIs(this.pos, bytes);
  }
}

function unusual(): never {
  throw UNUSUAL;
}
