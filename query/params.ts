import { parseDuration as parsePromDuration } from '../alerts/duration.js';
import { badData } from './errors.js';

/** Prometheus' smallest and largest times (`minTime`/`maxTime` of its API), as clients send them. */
const MIN_TIME = Date.parse('-292273086-05-16T16:47:06Z');
const MAX_TIME = Date.parse('+292277025-08-18T07:12:54Z');
const MIN_TIME_TEXT = '-292273086-05-16T16:47:06Z';
const MAX_TIME_TEXT = '292277025-08-18T07:12:54.999999999Z';
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A time parameter as Prometheus' API takes it: Unix seconds (with decimals) or RFC 3339;
 * Unix ms out. Throws `bad_data` naming the parameter.
 */
export function parseTime(name: string, text: string): number {
  if (FLOAT.test(text)) {
    const seconds = Number(text);
    if (Number.isFinite(seconds)) return clampTime(Math.round(seconds * 1000));
  }
  if (text === MIN_TIME_TEXT) return Number.isNaN(MIN_TIME) ? -8.64e15 : MIN_TIME;
  if (text === MAX_TIME_TEXT) return Number.isNaN(MAX_TIME) ? 8.64e15 : MAX_TIME;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms;
  }
  throw badData(`invalid parameter "${name}": cannot parse "${text}" to a valid timestamp`);
}

/** Times beyond what a JavaScript Date holds are clamped to it (Prometheus clients send its min/max times). */
function clampTime(ms: number): number {
  return Math.max(-8.64e15, Math.min(8.64e15, ms));
}

/** A duration parameter: float seconds (`15`, `0.5`) or a Prometheus duration (`1m30s`); ms out. */
export function parseDurationParam(name: string, text: string): number {
  if (FLOAT.test(text)) {
    const seconds = Number(text);
    if (!Number.isFinite(seconds))
      throw badData(
        `invalid parameter "${name}": cannot parse "${text}" to a valid duration. It overflows int64`,
      );
    return Math.round(seconds * 1000);
  }
  try {
    return parsePromDuration(text);
  } catch {
    throw badData(`invalid parameter "${name}": cannot parse "${text}" to a valid duration`);
  }
}

/** A non-negative integer parameter (`limit`); 0 or absent = no limit. */
export function parseLimit(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw badData(`invalid parameter "limit": cannot parse "${text}" to a valid limit`);
  return n;
}

/** The request's parameters: the query string, and for a form POST its body too (as Prometheus' `r.Form`). */
export class Params {
  constructor(private readonly form: URLSearchParams) {}

  get(name: string): string | undefined {
    return this.form.get(name) ?? undefined;
  }

  all(name: string): string[] {
    return this.form.getAll(name);
  }

  required(name: string): string {
    const v = this.form.get(name);
    if (v === null || v === '') throw badData(`invalid parameter "${name}": missing`);
    return v;
  }

  time(name: string, fallback: number): number {
    const v = this.get(name);
    return v === undefined || v === '' ? fallback : parseTime(name, v);
  }

  /** `timeout` as Prometheus reads it, capped by the server's own. */
  timeout(serverMs: number): number {
    const v = this.get('timeout');
    if (v === undefined || v === '') return serverMs;
    const ms = parseDurationParam('timeout', v);
    if (ms <= 0) throw badData('invalid parameter "timeout": must be positive');
    return Math.min(ms, serverMs);
  }
}
