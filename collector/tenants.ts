import { timingSafeEqual } from 'node:crypto';
import type { Config } from '../core/config.js';
import { HttpError } from './errors.js';

type TenantConfig = Config['collector']['tenants'][number];

/** A tenant as the collector enforces it: its label, its token bucket, and its series per metric. */
export class Tenant {
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

  /** Admits a sample of series `id` of `metric`, or returns why not (the metric has its limit of series). */
  admit(metric: string, id: bigint): string | undefined {
    let known = this.series.get(metric);
    if (!known) this.series.set(metric, (known = new Set()));
    if (known.has(id)) return undefined;
    if (known.size >= this.maxSeriesPerMetric)
      return `metric ${metric} has reached its limit of ${this.maxSeriesPerMetric} series`;
    known.add(id);
    return undefined;
  }
}

/**
 * The tenants of the collector, by bearer token. Without configured tenants the collector is
 * open: requests need no token and samples get no `tenant` label.
 */
export class Tenants {
  private readonly byToken: Array<{ token: Buffer; tenant: Tenant }>;
  private readonly open: Tenant | undefined;

  constructor(configs: TenantConfig[], now = Date.now()) {
    this.byToken = configs.map((c) => ({
      token: Buffer.from(c.token),
      tenant: new Tenant(c.name, c.samplesPerSecond, c.burst, c.maxSeriesPerMetric, now),
    }));
    this.open = configs.length === 0 ? new Tenant(undefined, 1e12, 1e12, 1e9, now) : undefined;
  }

  get required(): boolean {
    return this.open === undefined;
  }

  /** The tenant of a request's `Authorization` header, or a 401. */
  authenticate(authorization: string | undefined): Tenant {
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
