import type { InhibitRuleConfig } from './config.js';
import { matchesLabels, parseMatchers, type Matcher } from './matchers.js';

export interface InhibitRule {
  source: Matcher[];
  target: Matcher[];
  equal: string[];
}

/** An alert as the inhibitor sees it. */
export interface InhibitCandidate {
  fingerprint: string;
  labels: Readonly<Record<string, string>>;
  firing: boolean;
}

export function compileInhibitRules(rules: readonly InhibitRuleConfig[]): InhibitRule[] {
  return rules.map((r) => ({
    source: r.source_matchers.flatMap(parseMatchers),
    target: r.target_matchers.flatMap(parseMatchers),
    equal: r.equal,
  }));
}

/**
 * Alertmanager's inhibition: an alert matching a rule's target matchers is muted while a firing
 * alert matching its source matchers has the same values of the `equal` labels (a missing label
 * equals a missing one). An alert never inhibits itself, and when the target also matches the
 * source matchers, only sources that are not targets count (two such alerts do not mute each other).
 */
export function inhibitingRule(
  rules: readonly InhibitRule[],
  target: InhibitCandidate,
  alerts: Iterable<InhibitCandidate>,
): InhibitRule | undefined {
  const candidates = [...alerts].filter((a) => a.firing && a.fingerprint !== target.fingerprint);
  for (const rule of rules) {
    if (!matchesLabels(rule.target, target.labels)) continue;
    const twoSided = matchesLabels(rule.source, target.labels);
    const source = candidates.find(
      (a) =>
        matchesLabels(rule.source, a.labels) &&
        rule.equal.every((name) => (a.labels[name] ?? '') === (target.labels[name] ?? '')) &&
        !(twoSided && matchesLabels(rule.target, a.labels)),
    );
    if (source) return rule;
  }
  return undefined;
}
