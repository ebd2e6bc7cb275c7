import type { Sample } from '../../schemas/index.js';

/**
 * What a body decoder returns: the samples in it, and the samples it could not map (for
 * instance a delta-temporality sum) counted by reason. Samples are not validated yet: the
 * collector validates and normalizes them with the topology's rules afterwards.
 */
export interface Decoded {
  samples: Sample[];
  rejected: Map<string, number>;
}

/** Counts one more rejected sample (or `n`) under `reason`. */
export function reject(decoded: Decoded, reason: string, n = 1): void {
  decoded.rejected.set(reason, (decoded.rejected.get(reason) ?? 0) + n);
}
