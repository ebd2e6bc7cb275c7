import { timingSafeEqual } from 'node:crypto';
import type { Config } from '../core/config.js';
import { HttpError } from './errors.js';

export type TenantConfig = Config['collector']['tenants'][number];

/** A series as the series limit knows it: its metric name and series id. */
export interface SeriesKey {
  readonly name: string;
  readonly id: bigint;
}

/**
 * A tenant as a request sees it: its `tenant` label, and its limits, kept by this process
 * (`Tenant`) or, with several workers, by the primary process (see cluster.ts).
 */
export interface TenantLimits {
  /** The `tenant` label value; undefined for the open collector (no tenants configured). */
  readonly name: string | undefined;
  /** Takes `samples` from the tenant's rate, or throws 429 (413 beyond its burst); nothing is taken then. */
  take(samples: number, now: number): void | Promise<void>;
  /** Admits `series` in order under the series limit: per series undefined, or why not. */
  admit(series: ReadonlyArray<SeriesKey>): Array<string | undefined> | Promise<Array<string | undefined>>;
}

/** A tenant as the collector enforces it: its label, its token bucket, and its series per metric. */
export class Tenant implements TenantLimits {
  private tokens: number;
  private refilledAt: number;
  private readonly burst: number;
  /** Series ids seen per metric name, up to the limit. */
  private readonly series = new Map<string, Set<bigint>>();

  constructor(
    /** The `tenant` label value; undefined for the open collector (no tenants configured). */
    readonly name: string | undefined,
    private readonly rate: number,
    burst: number | undefined,
    readonly maxSeriesPerMetric: number,
    now: number,
  ) {
    this.burst = burst ?? rate;
    this.tokens = this.burst;
    this.refilledAt = now;
  }

  /**
   * Takes `samples` tokens from the bucket, or throws 429 with the seconds until they are
   * there (413 when a request could never fit the bucket). Nothing is taken on refusal.
   */
  take(samples: number, now: number): void {
    if (samples > this.burst) {
      throw new HttpError(
        413,
        `${samples} samples in one request exceed the burst of ${this.burst} samples of tenant ${this.name ?? '(default)'}; send smaller batches`,
      );
    }
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
    if (this.tokens < samples) {
      const wait = Math.max(1, Math.ceil((samples - this.tokens) / this.rate));
      throw new HttpError(
        429,
        `tenant ${this.name ?? '(default)'} is over its rate of ${this.rate} samples/s; retry in ${wait} s`,
        wait,
      );
    }
    this.tokens -= samples;
  }

  admit(series: ReadonlyArray<SeriesKey>): Array<string | undefined> {
    return series.map((s) => this.admitSeries(s.name, s.id));
  }

  /** Admits series `id` of `metric`, or returns why not (the metric has its limit of series). */
  admitSeries(metric: string, id: bigint): string | undefined {
    let known = this.series.get(metric);
    if (!known) this.series.set(metric, (known = new Set()));
    if (known.has(id)) return undefined;
    if (known.size >= this.maxSeriesPerMetric)
      return `metric ${metric} has reached its limit of ${this.maxSeriesPerMetric} series`;
    known.add(id);
    return undefined;
  }
}

/** A configured tenant with its limits kept in this process. */
export function localTenant(c: TenantConfig, now: number): Tenant {
  return new Tenant(c.name, c.samplesPerSecond, c.burst, c.maxSeriesPerMetric, now);
}

/**
 * The tenants of the collector, by bearer token. Without configured tenants the collector is
 * open: requests need no token and samples get no `tenant` label (and no limits apply, so that
 * its state need not be shared between workers). `limitsOf` gives each configured tenant its
 * limits: kept here by default.
 */
export class Tenants {
  private readonly byToken: Array<{ token: Buffer; tenant: TenantLimits }>;
  private readonly open: TenantLimits | undefined;

  constructor(
    configs: TenantConfig[],
    now = Date.now(),
    limitsOf: (c: TenantConfig) => TenantLimits = (c) => localTenant(c, now),
  ) {
    this.byToken = configs.map((c) => ({ token: Buffer.from(c.token), tenant: limitsOf(c) }));
    this.open = configs.length === 0 ? new Tenant(undefined, 1e12, 1e12, 1e9, now) : undefined;
  }

  get required(): boolean {
    return this.open === undefined;
  }

  /** The tenant of a request's `Authorization` header, or a 401. */
  authenticate(authorization: string | undefined): TenantLimits {
    if (this.open) return this.open;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)');
    const given = Buffer.from(match[1] as string);
    for (const { token, tenant } of this.byToken) {
      if (token.length === given.length && timingSafeEqual(token, given)) return tenant;
    }
    throw new HttpError(401, 'invalid bearer token');
  }
}
