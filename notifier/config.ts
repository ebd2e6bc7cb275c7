import { z } from 'zod';
import { parseDuration } from '../alerts/duration.js';
import { problems, type Config } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { LABEL_NAME, matchesEmpty, parseMatchers } from './matchers.js';
import { parseNotificationTemplate } from './template.js';

/**
 * The `notifier:` section of the config file, in Alertmanager's words and layout (route tree,
 * receivers with their `*_configs`, inhibit_rules) plus silences and delivery settings. It stays
 * as written (durations and matchers as text, validated here) so that a loaded config can be
 * written back and loaded again; `compileNotifier` turns it into the runtime structures.
 */

const duration = z.string().superRefine((text, ctx) => {
  try {
    parseDuration(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

const positiveDuration = duration.refine((text) => safeDuration(text) > 0, 'must be longer than 0');

function safeDuration(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    return 0;
  }
}

const matcherList = z.array(
  z.string().superRefine((text, ctx) => {
    try {
      parseMatchers(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `invalid matcher ${(error as Error).message}` });
    }
  }),
);

const labelName = z
  .string()
  .regex(LABEL_NAME, 'a label name: letters, digits and "_", not starting with a digit');

const template = z.string().superRefine((text, ctx) => {
  try {
    parseNotificationTemplate(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `invalid template: ${(error as Error).message}` });
  }
});

const httpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });

export interface RouteInput {
  receiver?: string;
  group_by?: string[];
  continue?: boolean;
  matchers?: string[];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes?: RouteInput[];
}

/** A node of the routing tree; unset options are inherited from the parent route. */
const route: z.ZodType<RouteInput> = z
  .object(
    {
      receiver: z.string().min(1).optional(),
      /** Labels that make a group; `['...']` = every label (one group per alert). */
      group_by: z
        .array(z.union([z.literal('...'), labelName]))
        .refine((g) => !g.includes('...') || g.length === 1, '"..." groups by every label and stands alone')
        .refine((g) => new Set(g).size === g.length, 'a label appears twice')
        .optional(),
      /** Keep matching the following sibling routes after this one matched. */
      continue: z.boolean().optional(),
      matchers: matcherList.optional(),
      /** How long a new group waits for more alerts before its first notification (root default 30s). */
      group_wait: duration.optional(),
      /** Least time between two notifications of a group whose alerts changed (root default 5m). */
      group_interval: positiveDuration.optional(),
      /** Time after which an unchanged firing group is notified again (root default 5m). */
      repeat_interval: positiveDuration.optional(),
      get routes() {
        return z.array(route).optional();
      },
    },
    {
      error: (issue) =>
        issue.input === undefined
          ? 'required: the routing tree (at least a receiver)'
          : 'a route: a mapping of receiver, group_by, matchers, routes, …',
    },
  )
  .strict();

const webhookConfig = z
  .object({
    url: httpUrl,
    send_resolved: z.boolean().default(true),
    /** Alerts per payload at most (0 = all); the rest are counted in `truncatedAlerts`. */
    max_alerts: z.number().int().nonnegative().default(0),
  })
  .strict();

const slackConfig = z
  .object({
    /** The incoming webhook URL. */
    api_url: httpUrl,
    channel: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    title: template.default('{{ template "__subject" . }}'),
    text: template.default('{{ template "__alert_list" . }}'),
    send_resolved: z.boolean().default(true),
  })
  .strict();

const PAGERDUTY_SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;

const pagerdutyConfig = z
  .object({
    /** The integration key of an Events API v2 service. */
    routing_key: z.string().min(1),
    url: httpUrl.default('https://events.pagerduty.com/v2/enqueue'),
    /** Fixed severity; without it, the alert's `severity` label when it is one of these, else `error`. */
    severity: z.enum(PAGERDUTY_SEVERITIES).optional(),
    /** Fixed source; without it, the alert's `instance` label, else `job`, else `metrics-pipeline`. */
    source: z.string().min(1).optional(),
    send_resolved: z.boolean().default(true),
  })
  .strict();

const address = z.string().regex(/^[^\s@,]+@[^\s@,]+$/, 'an email address');

const emailConfig = z
  .object({
    /** Recipients, comma-separated. */
    to: z
      .string()
      .min(1)
      .refine(
        (to) => to.split(',').every((a) => /^[^\s@,]+@[^\s@,]+$/.test(a.trim())),
        'comma-separated email addresses',
      ),
    from: address,
    /** SMTP server as host:port. */
    smarthost: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port'),
    /** Name sent in EHLO. */
    hello: z.string().min(1).default('localhost'),
    auth_username: z.string().min(1).optional(),
    auth_password: z.string().optional(),
    /** Refuse to send unless the server offers STARTTLS (Alertmanager's default: true). */
    require_tls: z.boolean().default(true),
    /** Extra headers, templated; `Subject` replaces the default subject. */
    headers: z.record(z.string().min(1), template).default({}),
    text: template.default('{{ template "__subject" . }}\n\n{{ template "__alert_list" . }}\n'),
    send_resolved: z.boolean().default(false),
  })
  .strict()
  .refine((c) => (c.auth_password === undefined) === (c.auth_username === undefined), {
    message: 'auth_username and auth_password go together',
    path: ['auth_password'],
  });

const alertmanagerConfig = z
  .object({
    /** Base URL of a Prometheus Alertmanager; alerts go to `<url>/api/v2/alerts`. */
    url: httpUrl,
    send_resolved: z.boolean().default(true),
  })
  .strict();

const receiver = z
  .object({
    name: z.string().min(1),
    webhook_configs: z.array(webhookConfig).default([]),
    slack_configs: z.array(slackConfig).default([]),
    pagerduty_configs: z.array(pagerdutyConfig).default([]),
    email_configs: z.array(emailConfig).default([]),
    alertmanager_configs: z.array(alertmanagerConfig).default([]),
  })
  .strict();

const nonEmptyMatchers = matcherList
  .min(1, 'at least one matcher')
  .refine(
    (list) => !list.every((text) => safeMatchers(text).every(matchesEmpty)),
    'at least one matcher must not match the empty string (otherwise it matches every alert)',
  );

function safeMatchers(text: string) {
  try {
    return parseMatchers(text);
  } catch {
    return [];
  }
}

const inhibitRule = z
  .object({
    /** Alerts that mute others while they fire. */
    source_matchers: matcherList.min(1, 'at least one matcher'),
    /** Alerts that are muted. */
    target_matchers: matcherList.min(1, 'at least one matcher'),
    /** Labels whose values must be equal in source and target. */
    equal: z.array(labelName).default([]),
  })
  .strict();

const instant = z.iso.datetime({ offset: true, error: 'an RFC 3339 time, e.g. 2025-01-31T18:00:00Z' });

/** A silence written in the config file (Alertmanager's silence fields). */
const configSilence = z
  .object({
    matchers: nonEmptyMatchers,
    /** Default: always. */
    startsAt: instant.optional(),
    /** Default: never ends. */
    endsAt: instant.optional(),
    comment: z.string().default(''),
    createdBy: z.string().min(1).default('config'),
  })
  .strict()
  .refine((s) => !s.startsAt || !s.endsAt || Date.parse(s.startsAt) < Date.parse(s.endsAt), {
    message: 'endsAt must be after startsAt',
    path: ['endsAt'],
  });

const deliveryDefaults = { attempts: 5, initial_backoff: '200ms', max_backoff: '10s', timeout: '10s' };

export const notifierSection = z
  .object({
    /** The topic alert events are read from; by default the topology's `topics.alerts`. */
    alerts_topic: z
      .string()
      .regex(/^[a-zA-Z0-9._-]{1,200}$/, 'letters, digits, ".", "_" and "-" only')
      .optional(),
    /** Where people see the alerts, put in every notification (`externalURL`). */
    external_url: z.union([httpUrl, z.literal('')]).default(''),
    /** Retries of one notification (core/retry.ts: exponential backoff, full jitter). */
    delivery: z
      .object({
        /** Attempts in all; a notification still failing waits for its group's next interval. */
        attempts: z.number().int().min(1).max(100).default(deliveryDefaults.attempts),
        initial_backoff: positiveDuration.default(deliveryDefaults.initial_backoff),
        max_backoff: positiveDuration.default(deliveryDefaults.max_backoff),
        /** One request (HTTP or SMTP) taking longer fails (and is retried). */
        timeout: positiveDuration.default(deliveryDefaults.timeout),
      })
      .strict()
      .default(deliveryDefaults),
    route,
    receivers: z.array(receiver).min(1, 'at least one receiver'),
    inhibit_rules: z.array(inhibitRule).default([]),
    silences: z.array(configSilence).default([]),
  })
  .strict()
  .superRefine((n, ctx) => {
    const names = new Map<string, number>();
    n.receivers.forEach((r, i) => {
      const first = names.get(r.name);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          message: `receiver name "${r.name}" is already used by receivers.${first}`,
          path: ['receivers', i, 'name'],
        });
      else names.set(r.name, i);
    });
    if (n.route.receiver === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'the root route needs a receiver',
        path: ['route', 'receiver'],
      });
    if ((n.route.matchers ?? []).length > 0)
      ctx.addIssue({
        code: 'custom',
        message: 'the root route matches every alert: it takes no matchers',
        path: ['route', 'matchers'],
      });
    if (n.route.continue)
      ctx.addIssue({
        code: 'custom',
        message: 'the root route has no siblings to continue to',
        path: ['route', 'continue'],
      });
    const walk = (r: RouteInput, path: Array<string | number>) => {
      if (r.receiver !== undefined && !names.has(r.receiver))
        ctx.addIssue({
          code: 'custom',
          message: `unknown receiver "${r.receiver}" (${names.size > 0 ? `receivers: ${[...names.keys()].join(', ')}` : 'no receivers'})`,
          path: [...path, 'receiver'],
        });
      r.routes?.forEach((child, i) => walk(child, [...path, 'routes', i]));
    };
    walk(n.route, ['route']);
  });

export type NotifierConfig = z.infer<typeof notifierSection>;
export type NotifierConfigInput = z.input<typeof notifierSection>;
export type ReceiverConfig = NotifierConfig['receivers'][number];
export type WebhookConfig = z.infer<typeof webhookConfig>;
export type SlackConfig = z.infer<typeof slackConfig>;
export type PagerdutyConfig = z.infer<typeof pagerdutyConfig>;
export type EmailConfig = z.infer<typeof emailConfig>;
export type AlertmanagerConfig = z.infer<typeof alertmanagerConfig>;
export type InhibitRuleConfig = NotifierConfig['inhibit_rules'][number];
export type ConfigSilence = NotifierConfig['silences'][number];
export { PAGERDUTY_SEVERITIES };

/**
 * The configuration's `notifier` section, validated (undefined when there is none). Core keeps
 * the section as written; its rules are the notifier's, checked here, once per command at start
 * (cli/context.ts) and again where it is used.
 */
export function notifierConfig(config: Config): NotifierConfig | undefined {
  if (config.notifier === undefined) return undefined;
  const result = notifierSection.safeParse(config.notifier);
  if (!result.success)
    throw new ConfigError(`configuration is invalid: ${problems(result.error.issues, ['notifier'])}`);
  return result.data;
}
