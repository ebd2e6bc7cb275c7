import type { ConfigSilence } from './config.js';
import { matchesEmpty, matchesLabels, parseMatchers, type Matcher } from './matchers.js';

/** A silence as Alertmanager has it: matchers and a time range, with who made it and why. */
export interface Silence {
  id: string;
  /** Matchers as written, e.g. `alertname="HighCPU"`. */
  matchers: string[];
  /** Epoch ms. */
  startsAt: number;
  /** Epoch ms; `NEVER` for a config silence without an end. */
  endsAt: number;
  createdBy: string;
  comment: string;
  /** When it was created or last changed (expired), epoch ms. */
  updatedAt: number;
}

export type SilenceState = 'pending' | 'active' | 'expired';

/** The end of a silence that has none. */
export const NEVER = 8.64e15;

export function silenceState(silence: Silence, now: number): SilenceState {
  if (now >= silence.endsAt) return 'expired';
  return now < silence.startsAt ? 'pending' : 'active';
}

/**
 * Checks a silence's matchers: each parses, and not all of them match the empty string (such a
 * silence would mute every alert). Returns them parsed; throws an Error saying which is wrong.
 */
export function silenceMatchers(texts: readonly string[]): Matcher[] {
  if (texts.length === 0) throw new Error('a silence needs at least one matcher');
  const matchers = texts.flatMap((text) => parseMatchers(text));
  if (matchers.every(matchesEmpty))
    throw new Error(
      'at least one matcher must not match the empty string (otherwise it matches every alert)',
    );
  return matchers;
}

/** The config file's silences; ids `config:<index>`. */
export function configSilences(list: readonly ConfigSilence[], loadedAt: number): Silence[] {
  return list.map((s, i) => ({
    id: `config:${i}`,
    matchers: s.matchers,
    startsAt: s.startsAt ? Date.parse(s.startsAt) : 0,
    endsAt: s.endsAt ? Date.parse(s.endsAt) : NEVER,
    createdBy: s.createdBy,
    comment: s.comment,
    updatedAt: loadedAt,
  }));
}

/** The silences a notifier knows (from its config and from the silences topic), matchers compiled once. */
export class SilenceSet {
  private readonly silences = new Map<string, { silence: Silence; matchers: Matcher[] }>();

  /** Adds or replaces a silence (a later version of the same id replaces it). */
  set(silence: Silence): void {
    this.silences.set(silence.id, { silence, matchers: silenceMatchers(silence.matchers) });
  }

  delete(id: string): void {
    this.silences.delete(id);
  }

  all(): Silence[] {
    return [...this.silences.values()].map((s) => s.silence);
  }

  /** The active silence that mutes these labels now, if any. */
  silencing(labels: Readonly<Record<string, string>>, now: number): Silence | undefined {
    for (const { silence, matchers } of this.silences.values()) {
      if (silenceState(silence, now) === 'active' && matchesLabels(matchers, labels)) return silence;
    }
    return undefined;
  }

  /** Silences by state now. */
  counts(now: number): Record<SilenceState, number> {
    const out: Record<SilenceState, number> = { pending: 0, active: 0, expired: 0 };
    for (const { silence } of this.silences.values()) out[silenceState(silence, now)]++;
    return out;
  }
}
