import type { Logger } from '../core/log.js';
import { messageOf } from '../core/errors.js';
import type { AlertEvent } from '../schemas/index.js';
import { ChangelogStore, type ChangelogEntry, type StoreCodec } from '../topology/stateStore.js';
import type { Clock, Timer } from '../streams/clock.js';
import { NEVER_NOTIFIED, needsUpdate, type LogEntry } from './dedup.js';
import { inhibitingRule, type InhibitCandidate, type InhibitRule } from './inhibit.js';
import {
  labelSetString,
  makeNotification,
  sortKeys,
  type Notification,
  type NotifiedAlert,
} from './notification.js';
import { groupKey, groupLabels, matchRoutes, routesById, type Route } from './routes.js';
import type { SilenceSet } from './silences.js';

/** An alert the notifier knows: the latest firing or resolved event of its fingerprint. */
export interface StoredAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: number;
  /** Set once resolved. */
  endsAt: number | null;
  /** Event time of the event it comes from: older events of the fingerprint are ignored. */
  updatedAt: number;
}

/** An aggregation group: the alerts of one route with the same group labels, and its timing. */
export interface StoredGroup {
  route: string;
  labels: Record<string, string>;
  /** Fingerprints, in arrival order. */
  members: string[];
  /** When the group is next flushed (group_wait after creation, then every group_interval), epoch ms. */
  nextFlushAt: number;
}

/** One integration of a receiver: where a notification goes (`team-a/webhook/0`). */
export interface Target {
  id: string;
  receiver: string;
  /** Integration type: webhook, slack, pagerduty, email, alertmanager. */
  integration: string;
  sendResolved: boolean;
}

/** Delivers one notification (retrying as it sees fit); rejects when it could not. */
export type Deliver = (target: Target, notification: Notification, signal: AbortSignal) => Promise<void>;

export type MuteReason = 'silenced' | 'inhibited';

export interface DispatcherOptions {
  root: Route;
  /** Integrations of each receiver, by receiver name. */
  targets: ReadonlyMap<string, readonly Target[]>;
  inhibitRules: readonly InhibitRule[];
  silences: SilenceSet;
  clock: Clock;
  deliver: Deliver;
  externalURL: string;
  log: Logger;
  /** State changed (an event applied, a group flushed, a notification logged): persist it soon. */
  onChange?: () => void;
  /** Makes the state durable now; awaited before each delivery (the in-doubt mark must be logged first). */
  persist?: () => Promise<void>;
  onNotified?: (target: Target, notification: Notification) => void;
  onFailed?: (target: Target, error: unknown) => void;
  /** An alert of a group became muted (counted once until it is unmuted). */
  onMuted?: (reason: MuteReason) => void;
}

/** What a group holds in memory only: its timer, the integrations delivering, the alerts muted. */
interface GroupRuntime {
  timer: Timer | undefined;
  busy: Set<string>;
  muted: Map<string, MuteReason>;
}

const json = <V>(): StoreCodec<V> => ({
  encode: (v) => Buffer.from(JSON.stringify(v)),
  decode: (b) => JSON.parse(b.toString()) as V,
});

/** Changelog key prefixes of the three stores. */
const PREFIX = { alerts: 'a:', groups: 'g:', nflog: 'n:' } as const;

/**
 * Alertmanager's dispatcher on alert events: routes each alert to its aggregation groups; a new
 * group is flushed after group_wait, then every group_interval; a flush mutes silenced and
 * inhibited alerts and, per integration of the route's receiver, notifies when the notification
 * log says it must (`needsUpdate`). Integrations deliver independently: a slow or failing one
 * holds neither the others nor the next events. Resolved alerts leave a group once every
 * integration has been told; an empty group goes at its next flush, so an alert that fires again
 * meanwhile waits for that flush (flapping is notified at most once per group_interval).
 *
 * All its state is in three changelog stores (alerts, groups, notification log): `changes()`
 * hands what changed to be persisted, `restore()` resumes from it.
 */
export class Dispatcher {
  readonly alerts = new ChangelogStore<StoredAlert>('alerts', json());
  readonly groups = new ChangelogStore<StoredGroup>('groups', json());
  readonly nflog = new ChangelogStore<LogEntry>('nflog', json());
  private readonly routes: Map<string, Route>;
  private readonly runtime = new Map<string, GroupRuntime>();
  /** Deliveries in progress, awaited by `stop()`. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly aborter = new AbortController();
  /** Timers run only between `start()` and `stop()`: not while restoring or catching up. */
  private running = false;

  constructor(private readonly options: DispatcherOptions) {
    this.routes = routesById(options.root);
  }

  /** Applies one alert event; true when the notifier's state changed. */
  apply(event: AlertEvent): boolean {
    // Pending alerts are not notified; a resolution is only news for an alert seen firing.
    if (event.state === 'pending') return false;
    const old = this.alerts.get(event.fingerprint);
    if (old && event.timestamp < old.updatedAt) return false;
    if (event.state === 'resolved' && (!old || old.endsAt !== null)) return false;
    const next: StoredAlert = {
      labels: sortKeys(event.labels),
      annotations: sortKeys(event.annotations),
      startsAt: event.startsAt,
      endsAt: event.state === 'firing' ? null : (event.endsAt ?? event.timestamp),
      updatedAt: event.timestamp,
    };
    if (old && JSON.stringify(old) === JSON.stringify(next)) return false;
    this.alerts.put(event.fingerprint, next);
    this.place(event.fingerprint, next.labels);
    this.changed();
    return true;
  }

  /** Resumes from changelog entries (as `changes()` produced them), before `start()`. */
  restore(entries: Iterable<ChangelogEntry>): void {
    const split: Record<keyof typeof PREFIX, ChangelogEntry[]> = { alerts: [], groups: [], nflog: [] };
    for (const e of entries) {
      for (const [store, prefix] of Object.entries(PREFIX) as Array<[keyof typeof PREFIX, string]>) {
        if (e.key.startsWith(prefix)) split[store].push({ key: e.key.slice(prefix.length), value: e.value });
      }
    }
    this.alerts.restore(split.alerts);
    this.groups.restore(split.groups);
    this.nflog.restore(split.nflog);
  }

  /**
   * Starts the groups' timers (a group whose flush time passed while stopped flushes now). Groups
   * of routes no longer in the config are dropped and their alerts routed anew.
   */
  start(): void {
    this.running = true;
    for (const [id, group] of [...this.groups.entries()]) {
      if (!this.routes.has(group.route)) this.dropGroup(id);
    }
    const held = new Set([...this.groups.entries()].flatMap(([, g]) => g.members));
    for (const [fp, alert] of [...this.alerts.entries()]) if (!held.has(fp)) this.place(fp, alert.labels);
    for (const [id, group] of this.groups.entries()) this.schedule(id, group.nextFlushAt);
    this.changed();
  }

  /** Stops the timers, gives up retries and waits for the deliveries in progress. */
  async stop(): Promise<void> {
    this.running = false;
    for (const rt of this.runtime.values()) rt.timer?.cancel();
    this.aborter.abort();
    await this.idle();
  }

  /** Resolves when no delivery is in progress. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** The changes of all three stores since the last call, as changelog entries. */
  changes(): ChangelogEntry[] {
    const prefixed = (prefix: string, entries: ChangelogEntry[]) =>
      entries.map((e) => ({ key: prefix + e.key, value: e.value }));
    return [
      ...prefixed(PREFIX.alerts, this.alerts.changes()),
      ...prefixed(PREFIX.groups, this.groups.changes()),
      ...prefixed(PREFIX.nflog, this.nflog.changes()),
    ];
  }

  /** Alerts known by status, and groups: for gauges. */
  counts(): { firing: number; resolved: number; groups: number } {
    let firing = 0;
    for (const [, a] of this.alerts.entries()) if (a.endsAt === null) firing++;
    return { firing, resolved: this.alerts.size - firing, groups: this.groups.size };
  }

  /** Puts an alert in the group of every route it matches, creating groups as needed. */
  private place(fp: string, labels: Record<string, string>): void {
    const now = this.options.clock.now();
    for (const route of matchRoutes(this.options.root, labels)) {
      const gl = groupLabels(route, labels);
      const id = `${route.id}:${labelSetString(gl)}`;
      let group = this.groups.get(id);
      if (!group) {
        group = { route: route.id, labels: gl, members: [], nextFlushAt: now + route.groupWaitMs };
        this.schedule(id, group.nextFlushAt);
      }
      if (!group.members.includes(fp)) this.groups.put(id, { ...group, members: [...group.members, fp] });
    }
  }

  private schedule(id: string, at: number): void {
    const rt = this.runtimeOf(id);
    rt.timer?.cancel();
    rt.timer = undefined;
    if (!this.running) return;
    rt.timer = this.options.clock.schedule(at - this.options.clock.now(), () => this.flush(id));
  }

  private runtimeOf(id: string): GroupRuntime {
    let rt = this.runtime.get(id);
    if (!rt) {
      rt = { timer: undefined, busy: new Set(), muted: new Map() };
      this.runtime.set(id, rt);
    }
    return rt;
  }

  private flush(id: string): void {
    const group = this.groups.get(id);
    const route = group && this.routes.get(group.route);
    if (!group || !route) return;
    const now = this.options.clock.now();
    if (group.members.length === 0) {
      // Quiet for a whole interval: the group and its notification log go.
      this.dropGroup(id);
      this.changed();
      return;
    }
    const next = now + route.groupIntervalMs;
    this.groups.put(id, { ...group, nextFlushAt: next });
    this.schedule(id, next);
    // The alerts as they are now: after the deliveries, resolved ones still unchanged leave the group.
    const snapshot = group.members.flatMap((fp) => {
      const alert = this.alerts.get(fp);
      return alert ? [{ fp, alert }] : [];
    });
    const unmuted = this.unmuted(id, snapshot, now);
    const targets = this.options.targets.get(route.receiver) ?? [];
    const work = Promise.all(targets.map((t) => this.notify(id, group, route, t, unmuted, now))).then(
      (ok) => {
        if (ok.every(Boolean)) this.removeResolved(id, snapshot);
      },
    );
    this.track(work);
    this.changed();
  }

  /** Drops silenced and inhibited alerts, counting each alert when it becomes muted. */
  private unmuted(
    id: string,
    snapshot: Array<{ fp: string; alert: StoredAlert }>,
    now: number,
  ): Array<{ fp: string; alert: StoredAlert }> {
    const { silences, inhibitRules } = this.options;
    const rt = this.runtimeOf(id);
    const muted = new Map<string, MuteReason>();
    let sources: InhibitCandidate[] | undefined;
    const kept = snapshot.filter(({ fp, alert }) => {
      let reason: MuteReason | undefined;
      if (silences.silencing(alert.labels, now)) reason = 'silenced';
      else if (inhibitRules.length > 0) {
        sources ??= [...this.alerts.entries()].map(([f, a]) => ({
          fingerprint: f,
          labels: a.labels,
          firing: a.endsAt === null,
        }));
        const target = { fingerprint: fp, labels: alert.labels, firing: alert.endsAt === null };
        if (inhibitingRule(inhibitRules, target, sources)) reason = 'inhibited';
      }
      if (!reason) return true;
      muted.set(fp, reason);
      if (rt.muted.get(fp) !== reason) this.options.onMuted?.(reason);
      return false;
    });
    rt.muted = muted;
    return kept;
  }

  /** Notifies one integration if its log says so; resolves true when it is up to date. */
  private async notify(
    id: string,
    group: StoredGroup,
    route: Route,
    target: Target,
    alerts: Array<{ fp: string; alert: StoredAlert }>,
    now: number,
  ): Promise<boolean> {
    const rt = this.runtimeOf(id);
    // Still delivering the previous notification: this flush leaves it alone, the next one looks again.
    if (rt.busy.has(target.id)) return false;
    const logKey = `${id}|${target.id}`;
    const last = this.nflog.get(logKey);
    const told = new Set([...(last?.firing ?? []), ...(last?.resolved ?? []), ...(last?.inDoubt ?? [])]);
    const firing = alerts.filter((a) => a.alert.endsAt === null);
    // A resolution is news only to an integration that was told the alert fired.
    const resolved = alerts.filter((a) => a.alert.endsAt !== null && told.has(a.fp));
    const entry: LogEntry = {
      at: now,
      firing: firing.map((a) => a.fp).sort(),
      resolved: resolved.map((a) => a.fp).sort(),
    };
    if (!needsUpdate(last, entry.firing, entry.resolved, target.sendResolved, route.repeatIntervalMs, now))
      return true;
    const sent = target.sendResolved ? [...firing, ...resolved] : firing;
    if (sent.length > 0) {
      const notification = makeNotification({
        receiver: route.receiver,
        alerts: sent.map(({ fp, alert }) => notified(fp, alert)),
        groupLabels: group.labels,
        externalURL: this.options.externalURL,
        groupKey: groupKey(route, group.labels),
        repeatIntervalMs: route.repeatIntervalMs,
        now,
      });
      rt.busy.add(target.id);
      try {
        // Logged before sending: a crash after the receiver got it must not lose its resolution later.
        const inDoubt = [...new Set([...(last?.inDoubt ?? []), ...entry.firing])].sort();
        this.nflog.put(logKey, { ...(last ?? NEVER_NOTIFIED), inDoubt });
        await this.options.persist?.();
        await this.options.deliver(target, notification, this.aborter.signal);
      } catch (error) {
        this.options.log.warn(
          {
            receiver: target.receiver,
            integration: target.id,
            groupKey: notification.groupKey,
            error: messageOf(error),
          },
          'notification failed',
        );
        this.options.onFailed?.(target, error);
        return false;
      } finally {
        rt.busy.delete(target.id);
      }
      this.options.log.info(
        {
          receiver: target.receiver,
          integration: target.id,
          groupKey: notification.groupKey,
          firing: entry.firing.length,
          resolved: target.sendResolved ? entry.resolved.length : 0,
        },
        'notification sent',
      );
      this.options.onNotified?.(target, notification);
    }
    this.nflog.put(logKey, entry);
    this.changed();
    return true;
  }

  /** Removes the snapshot's resolved alerts that did not change since from the group (and the store). */
  private removeResolved(id: string, snapshot: Array<{ fp: string; alert: StoredAlert }>): void {
    const group = this.groups.get(id);
    if (!group) return;
    const gone = new Set(
      snapshot
        .filter(({ fp, alert }) => alert.endsAt !== null && this.alerts.get(fp) === alert)
        .map((a) => a.fp),
    );
    if (gone.size === 0) return;
    this.groups.put(id, { ...group, members: group.members.filter((fp) => !gone.has(fp)) });
    for (const fp of gone) {
      const alert = this.alerts.get(fp) as StoredAlert;
      const elsewhere = matchRoutes(this.options.root, alert.labels).some((route) => {
        const other = this.groups.get(`${route.id}:${labelSetString(groupLabels(route, alert.labels))}`);
        return other?.members.includes(fp) ?? false;
      });
      if (!elsewhere) this.alerts.delete(fp);
    }
    this.changed();
  }

  private dropGroup(id: string): void {
    this.groups.delete(id);
    this.runtime.get(id)?.timer?.cancel();
    this.runtime.delete(id);
    for (const [key] of [...this.nflog.entries()]) if (key.startsWith(`${id}|`)) this.nflog.delete(key);
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) =>
      this.options.log.error({ error: messageOf(error) }, 'notification bookkeeping failed'),
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private changed(): void {
    this.options.onChange?.();
  }
}

function notified(fp: string, alert: StoredAlert): NotifiedAlert {
  return {
    fingerprint: fp,
    status: alert.endsAt === null ? 'firing' : 'resolved',
    labels: alert.labels,
    annotations: alert.annotations,
    startsAt: alert.startsAt,
    endsAt: alert.endsAt,
  };
}
