/**
 * An entry of the notification log: what one integration of one group was last told, and when
 * (Alertmanager's nflog entry). Kept in the notifier's changelog, so a restart does not repeat it.
 */
export interface LogEntry {
  /** When the notification was delivered (or, with nothing to send, recorded), epoch ms. */
  at: number;
  /** Fingerprints of the firing alerts it carried, sorted. */
  firing: string[];
  /** Fingerprints of the resolved alerts it carried, sorted. */
  resolved: string[];
  /**
   * Firing alerts of a notification being delivered (written before it is sent, cleared once the
   * receiver acknowledged it): after a crash the receiver may or may not have them, so their
   * resolution is still sent and, while they fire, the notification is sent again.
   */
  inDoubt?: string[];
}

/** The entry of an integration never notified (behaves as no entry at all). */
export const NEVER_NOTIFIED: LogEntry = { at: 0, firing: [], resolved: [] };

/**
 * Whether a group's current alerts need a notification, given the last one (Alertmanager's
 * `DedupStage.needsUpdate`): never notified → only if something fires; a firing alert not in
 * the last notification → yes; all resolved → yes if the last one had firing alerts (or one in
 * doubt); a newly
 * resolved alert → yes when resolutions are sent; otherwise only once `repeatMs` has passed.
 */
export function needsUpdate(
  last: LogEntry | undefined,
  firing: readonly string[],
  resolved: readonly string[],
  sendResolved: boolean,
  repeatMs: number,
  now: number,
): boolean {
  if (!last) return firing.length > 0;
  if (!isSubset(firing, last.firing)) return true;
  // Sent whatever send_resolved says, so that the log forgets the firing alerts (no repeat of them).
  if (firing.length === 0) return last.firing.length > 0 || (last.inDoubt?.length ?? 0) > 0;
  if (sendResolved && !isSubset(resolved, last.resolved)) return true;
  return last.at <= now - repeatMs;
}

function isSubset(items: readonly string[], of: readonly string[]): boolean {
  const set = new Set(of);
  return items.every((i) => set.has(i));
}
