import {
  parseGoTemplate,
  renderGoTemplate,
  TemplateSyntaxError,
  TEXT_FUNCTIONS,
  type GoTemplate,
  type TemplateDialect,
  type TemplateField,
  type TemplateFunction,
} from '../alerts/goTemplate.js';
import type { Notification } from './notification.js';
import { alertListText, subjectLine } from './notification.js';

/**
 * The Go-template dialect of notification texts (Slack title and text, email headers and
 * body), on the project's one template engine (alerts/goTemplate.ts), over Alertmanager's
 * template data: `{{ .Status }}`, `{{ .Receiver }}`, `{{ .GroupKey }}`, `{{ .ExternalURL }}`,
 * `{{ .GroupLabels.name }}`, `{{ .CommonLabels.name }}`, `{{ .CommonAnnotations.name }}`,
 * `{{ .Alerts | len }}`, `{{ .Alerts.Firing | len }}`, `{{ .Alerts.Resolved | len }}`, string
 * literals; functions toUpper, toLower, title, len; and the built-in texts
 * `{{ template "__subject" . }}` (Alertmanager's subject line) and
 * `{{ template "__alert_list" . }}` (one entry per alert). Everything is checked when the
 * config loads: a template that parses renders.
 *
 * ```ts
 * const t = parseNotificationTemplate('[{{ .Status | toUpper }}] {{ .GroupLabels.alertname }}');
 * renderNotificationTemplate(t, notification); // "[FIRING] HighCPU"
 * ```
 */
export type NotificationTemplate = GoTemplate<Notification>;

const FUNCTIONS = {
  ...TEXT_FUNCTIONS,
  len: {
    arity: 1,
    accepts: ['list', 'map', 'string'],
    returns: 'number',
    call: ([v]) => (typeof v === 'string' || Array.isArray(v) ? v.length : Object.keys(v ?? {}).length),
  },
} satisfies Record<string, TemplateFunction>;

type MapField = 'groupLabels' | 'commonLabels' | 'commonAnnotations';
const MAPS: Record<string, MapField> = {
  GroupLabels: 'groupLabels',
  CommonLabels: 'commonLabels',
  CommonAnnotations: 'commonAnnotations',
};
const STRINGS: Record<string, 'status' | 'receiver' | 'groupKey' | 'externalURL'> = {
  Status: 'status',
  Receiver: 'receiver',
  GroupKey: 'groupKey',
  ExternalURL: 'externalURL',
};
const FIELD_NAMES = [...Object.keys(STRINGS), ...Object.keys(MAPS), 'Alerts'];

const DIALECT: TemplateDialect<Notification> = {
  functions: FUNCTIONS,
  templates: { __subject: subjectLine, __alert_list: alertListText },
  unprintable: { list: 'use a field of it or | len', map: 'use a field of it or | len' },
  resolve(word): TemplateField<Notification> | string {
    if (!word.startsWith('.') || word === '.')
      return `unknown value ${JSON.stringify(word)} (fields start with a dot, e.g. .Status)`;
    const [top, sub, ...rest] = word.slice(1).split('.') as [string, string | undefined, ...string[]];
    if (!FIELD_NAMES.includes(top)) return `unknown field .${top} (fields: ${FIELD_NAMES.join(', ')})`;
    const str = STRINGS[top];
    const map = MAPS[top];
    if (sub === undefined) {
      if (str) return { kind: 'string', get: (n) => n[str] };
      if (map) return { kind: 'map', get: (n) => n[map] };
      return { kind: 'list', get: (n) => n.alerts };
    }
    if (rest.length === 0 && map) return { kind: 'string', get: (n) => n[map][sub] ?? '' };
    if (rest.length === 0 && top === 'Alerts' && (sub === 'Firing' || sub === 'Resolved')) {
      const status = sub.toLowerCase();
      return { kind: 'list', get: (n) => n.alerts.filter((a) => a.status === status) };
    }
    return `${word} is not a field`;
  },
};

/** Parses a template; throws an Error naming the problem and where it is. */
export function parseNotificationTemplate(source: string): NotificationTemplate {
  try {
    return parseGoTemplate(source, DIALECT);
  } catch (error) {
    if (!(error instanceof TemplateSyntaxError)) throw error;
    // Config errors name the action, as the author wrote it, rather than an offset.
    const open = source.lastIndexOf('{{', error.offset);
    const close = source.indexOf('}}', error.offset);
    const action =
      close < 0
        ? source.slice(open)
        : `{{ ${source
            .slice(open + 2, close)
            .replace(/^-\s|\s-$/g, '')
            .trim()} }}`;
    throw new Error(`${action}: ${error.message}`, { cause: error });
  }
}

/** The template's text for one notification. */
export function renderNotificationTemplate(template: NotificationTemplate, n: Notification): string {
  return renderGoTemplate(template, n);
}
