import { parseDuration } from '../alerts/duration.js';
import type { RouteInput } from './config.js';
import { compareMatchers, formatMatchers, matchesLabels, parseMatchers, type Matcher } from './matchers.js';
import { labelSetString } from './notification.js';

/** A node of the routing tree with every option resolved (inherited from its parent when unset). */
export interface Route {
  /** Unique in the tree and stable across restarts: the route key, plus `#n` for a repeated sibling. */
  id: string;
  /** Alertmanager's route key: the matchers of the path from the root, `{}/{severity="page"}`. */
  key: string;
  receiver: string;
  /** Labels that make a group, or `all` for `group_by: ['...']`. */
  groupBy: readonly string[] | 'all';
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  matchers: readonly Matcher[];
  continue: boolean;
  routes: readonly Route[];
}

/** Alertmanager's defaults of the root route, but for repeat_interval (5 minutes, not 4 hours). */
export const ROOT_DEFAULTS = { groupWait: '30s', groupInterval: '5m', repeatInterval: '5m' };

/** Resolves the (validated) route tree: inheritance, defaults, parsed matchers and durations. */
export function compileRoutes(root: RouteInput): Route {
  return compile(root, undefined, new Set());
}

function compile(input: RouteInput, parent: Route | undefined, siblings: Set<string>): Route {
  const matchers = (input.matchers ?? []).flatMap(parseMatchers).sort(compareMatchers);
  const own = formatMatchers(matchers);
  const key = parent ? `${parent.key}/${own}` : own;
  const base = parent ? `${parent.id}/${own}` : own;
  let id = base;
  for (let n = 2; siblings.has(id); n++) id = `${base}#${n}`;
  siblings.add(id);
  const ms = (own: string | undefined, inherited: number | undefined, fallback: string) =>
    own !== undefined ? parseDuration(own) : (inherited ?? parseDuration(fallback));
  const route: Route = {
    id,
    key,
    receiver: input.receiver ?? parent?.receiver ?? '',
    groupBy: input.group_by
      ? input.group_by.includes('...')
        ? 'all'
        : [...input.group_by].sort()
      : (parent?.groupBy ?? []),
    groupWaitMs: ms(input.group_wait, parent?.groupWaitMs, ROOT_DEFAULTS.groupWait),
    groupIntervalMs: ms(input.group_interval, parent?.groupIntervalMs, ROOT_DEFAULTS.groupInterval),
    repeatIntervalMs: ms(input.repeat_interval, parent?.repeatIntervalMs, ROOT_DEFAULTS.repeatInterval),
    matchers,
    continue: input.continue ?? false,
    routes: [],
  };
  const children = new Set<string>();
  route.routes = (input.routes ?? []).map((child) => compile(child, route, children));
  return route;
}

/**
 * The routes an alert goes to, as Alertmanager's `Route.Match`: depth first, a matching child
 * stops the search among its siblings unless it has `continue`; a route none of whose children
 * matched is itself the match.
 */
export function matchRoutes(route: Route, labels: Readonly<Record<string, string>>): Route[] {
  if (!matchesLabels(route.matchers, labels)) return [];
  const all: Route[] = [];
  for (const child of route.routes) {
    const matches = matchRoutes(child, labels);
    all.push(...matches);
    if (matches.length > 0 && !child.continue) break;
  }
  return all.length > 0 ? all : [route];
}

/** Every route of the tree, by id. */
export function routesById(root: Route): Map<string, Route> {
  const out = new Map<string, Route>();
  const walk = (r: Route) => {
    out.set(r.id, r);
    r.routes.forEach(walk);
  };
  walk(root);
  return out;
}

/** The labels of an alert that make its group on a route (labels it lacks are left out). */
export function groupLabels(route: Route, labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  const names = route.groupBy === 'all' ? Object.keys(labels).sort() : route.groupBy;
  for (const name of names) {
    const value = labels[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Alertmanager's group key: `<route key>:<group labels>`. */
export function groupKey(route: Route, labels: Readonly<Record<string, string>>): string {
  return `${route.key}:${labelSetString(labels)}`;
}
