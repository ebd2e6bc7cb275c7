import type { Config } from './config.js';

/** One window tier of the configuration (`tiers[]`). */
export type TierConfig = Config['tiers'][number];

/** The names every part derives from a tier's name, so that existing data keeps its names. */
export function tierTable(tier: string): `samples_${string}` {
  return `samples_${tier}`;
}

/** The window store of a tier; its changelog is `<appId>-window-<name>-changelog`. */
export function tierStore(tier: string): string {
  return `window-${tier}`;
}

/** The topic of a tier's results: its own `topic`, else `<topics.metrics>-<name>` (metrics-1m, metrics-1h, …). */
export function tierTopic(config: { topics: { metrics: string } }, tier: TierConfig): string {
  return tier.topic ?? `${config.topics.metrics}-${tier.name}`;
}

/** The tier whose results `tier` folds; undefined for the tier over the raw samples. */
export function sourceTier(tiers: ReadonlyArray<TierConfig>, tier: TierConfig): TierConfig | undefined {
  return tier.from === 'raw' ? undefined : tiers.find((t) => t.name === tier.from);
}

/**
 * How long after a window of `tier` starts a result of it can still change: its size, grace and
 * allowed lateness. The tier above keeps that tier's windows apart until then, and folds them after.
 */
export function correctableMs(tier: TierConfig): number {
  return tier.sizeMs + tier.graceMs + tier.allowedLatenessMs;
}

/** The configured tier named `name`; an error when there is none. */
export function namedTier(config: Pick<Config, 'tiers'>, name: string): TierConfig {
  const tier = config.tiers.find((t) => t.name === name);
  if (!tier)
    throw new Error(`tier ${name} is not configured (tiers: ${config.tiers.map((t) => t.name).join(', ')})`);
  return tier;
}

/** The topic of the configured tier named `name`. */
export function namedTierTopic(config: Pick<Config, 'tiers' | 'topics'>, name: string): string {
  return tierTopic(config, namedTier(config, name));
}
