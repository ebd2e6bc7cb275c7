import { lexString } from '../alerts/lexer.js';
import type { Notification } from './notification.js';
import { alertListText, subjectLine } from './notification.js';

/**
 * The Go-template subset of notification texts (Slack title and text, email headers and body),
 * over Alertmanager's template data: `{{ .Status }}`, `{{ .Receiver }}`, `{{ .GroupKey }}`,
 * `{{ .ExternalURL }}`, `{{ .GroupLabels.name }}`, `{{ .CommonLabels.name }}`,
 * `{{ .CommonAnnotations.name }}`, `{{ .Alerts | len }}`, `{{ .Alerts.Firing | len }}`,
 * `{{ .Alerts.Resolved | len }}`, string literals; stages `| toUpper`, `| toLower`, `| title`,
 * `| len`; and the built-in texts `{{ template "__subject" . }}` (Alertmanager's subject line)
 * and `{{ template "__alert_list" . }}` (one entry per alert). `{{-`/`-}}` trim spaces,
 * `{{/* … *\/}}` is a comment. Everything is checked when the config loads.
 *
 * ```ts
 * const t = parseNotificationTemplate('[{{ .Status | toUpper }}] {{ .GroupLabels.alertname }}');
 * renderNotificationTemplate(t, notification); // "[FIRING] HighCPU"
 * ```
 */
export interface NotificationTemplate {
  source: string;
  parts: Part[];
}

type Kind = 'string' | 'number' | 'map' | 'list';
type Fn = 'len' | 'toUpper' | 'toLower' | 'title';
type Operand =
  | { kind: 'field'; path: string[]; type: Kind }
  | { kind: 'literal'; value: string }
  | { kind: 'template'; name: BuiltIn };
type Part = { kind: 'text'; text: string } | { kind: 'action'; first: Operand; stages: Fn[] };

const BUILT_INS = ['__subject', '__alert_list'] as const;
type BuiltIn = (typeof BUILT_INS)[number];

const FIELDS: Record<string, Kind> = {
  Status: 'string',
  Receiver: 'string',
  GroupKey: 'string',
  ExternalURL: 'string',
  GroupLabels: 'map',
  CommonLabels: 'map',
  CommonAnnotations: 'map',
  Alerts: 'list',
};

const FUNCTIONS: Record<Fn, { from: Kind[]; to: Kind }> = {
  len: { from: ['list', 'map', 'string'], to: 'number' },
  toUpper: { from: ['string'], to: 'string' },
  toLower: { from: ['string'], to: 'string' },
  title: { from: ['string'], to: 'string' },
};

/** Parses a template; throws an Error naming the problem and the action it is in. */
export function parseNotificationTemplate(source: string): NotificationTemplate {
  const parts: Part[] = [];
  let at = 0;
  let trimNext = false;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    let text = source.slice(at, open < 0 ? source.length : open);
    if (trimNext) text = text.trimStart();
    if (open < 0) {
      if (text) parts.push({ kind: 'text', text });
      break;
    }
    const close = source.indexOf('}}', open + 2);
    if (close < 0) throw new Error(`unclosed action at offset ${open}`);
    let inner = source.slice(open + 2, close);
    if (inner.startsWith('-') && /\s/.test(inner[1] ?? '')) {
      text = text.trimEnd();
      inner = inner.slice(1);
    }
    trimNext = inner.endsWith('-') && /\s/.test(inner[inner.length - 2] ?? '');
    if (trimNext) inner = inner.slice(0, -1);
    if (text) parts.push({ kind: 'text', text });
    const action = inner.trim();
    if (!(action.startsWith('/*') && action.endsWith('*/'))) parts.push(parseAction(action));
    at = close + 2;
  }
  return { source, parts };
}

/** The template's text for one notification. */
export function renderNotificationTemplate(template: NotificationTemplate, n: Notification): string {
  let out = '';
  for (const part of template.parts) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    let value = operandValue(part.first, n);
    for (const fn of part.stages) value = apply(fn, value);
    out += typeof value === 'number' ? String(value) : (value as string);
  }
  return out;
}

function parseAction(action: string): Part {
  const where = `{{ ${action} }}`;
  const stages = splitPipes(action, where);
  const [head, ...rest] = stages;
  if (!head || head.length === 0) throw new Error(`${where}: empty action`);
  let first: Operand;
  const fns: Fn[] = [];
  if (head[0] === 'template') {
    const quoted = head[1] ?? '';
    const name = quoted.startsWith('"') ? lexString(quoted, 0).value : quoted;
    if (head.length !== 3 || head[2] !== '.' || !(BUILT_INS as readonly string[]).includes(name))
      throw new Error(
        `${where}: only {{ template "__subject" . }} and {{ template "__alert_list" . }} exist`,
      );
    first = { kind: 'template', name: name as BuiltIn };
  } else if (head[0] !== undefined && head[0] in FUNCTIONS && head.length === 2) {
    first = operand(head[1] as string, where);
    fns.push(head[0] as Fn);
  } else {
    if (head.length !== 1) throw new Error(`${where}: expected one value, got ${head.join(' ')}`);
    first = operand(head[0] as string, where);
  }
  for (const stage of rest) {
    const fn = stage[0] ?? '';
    if (stage.length !== 1 || !(fn in FUNCTIONS))
      throw new Error(
        `${where}: unknown function ${JSON.stringify(stage.join(' '))} (toUpper, toLower, title, len)`,
      );
    fns.push(fn as Fn);
  }
  let type: Kind = first.kind === 'field' ? first.type : 'string';
  for (const fn of fns) {
    const { from, to } = FUNCTIONS[fn];
    if (!from.includes(type)) throw new Error(`${where}: ${fn} takes ${from.join(' or ')}, not a ${type}`);
    type = to;
  }
  if (type === 'list' || type === 'map')
    throw new Error(`${where}: a ${type} cannot be printed; use a field of it or | len`);
  return { kind: 'action', first, stages: fns };
}

function operand(word: string, where: string): Operand {
  if (word.startsWith('"')) return { kind: 'literal', value: lexString(word, 0).value };
  if (!word.startsWith('.') || word === '.')
    throw new Error(
      `${where}: unknown value ${JSON.stringify(word)} (fields start with a dot, e.g. .Status)`,
    );
  const path = word.slice(1).split('.');
  const top = FIELDS[path[0] as string];
  if (top === undefined)
    throw new Error(`${where}: unknown field .${path[0]} (fields: ${Object.keys(FIELDS).join(', ')})`);
  if (path.length === 1) return { kind: 'field', path, type: top };
  if (path.length === 2 && top === 'map') return { kind: 'field', path, type: 'string' };
  if (path.length === 2 && top === 'list' && (path[1] === 'Firing' || path[1] === 'Resolved'))
    return { kind: 'field', path, type: 'list' };
  throw new Error(`${where}: ${word} is not a field`);
}

/** The words of each `|`-separated stage; quoted strings stay whole. */
function splitPipes(action: string, where: string): string[][] {
  const stages: string[][] = [[]];
  let at = 0;
  while (at < action.length) {
    const c = action[at] as string;
    if (/\s/.test(c)) at++;
    else if (c === '|') {
      stages.push([]);
      at++;
    } else if (c === '"') {
      let next: number;
      try {
        next = lexString(action, at).next;
      } catch (error) {
        throw new Error(`${where}: ${(error as Error).message}`);
      }
      stages[stages.length - 1]?.push(action.slice(at, next));
      at = next;
    } else {
      const end = action.slice(at).search(/[\s|]/);
      const word = end < 0 ? action.slice(at) : action.slice(at, at + end);
      stages[stages.length - 1]?.push(word);
      at += word.length;
    }
  }
  return stages;
}

type Value = string | number | Record<string, string> | readonly unknown[];

function operandValue(op: Operand, n: Notification): Value {
  if (op.kind === 'literal') return op.value;
  if (op.kind === 'template') return op.name === '__subject' ? subjectLine(n) : alertListText(n);
  const [top, sub] = op.path;
  switch (top) {
    case 'Status':
      return n.status;
    case 'Receiver':
      return n.receiver;
    case 'GroupKey':
      return n.groupKey;
    case 'ExternalURL':
      return n.externalURL;
    case 'Alerts':
      return sub === undefined ? n.alerts : n.alerts.filter((a) => a.status === sub.toLowerCase());
    default: {
      const map =
        top === 'GroupLabels' ? n.groupLabels : top === 'CommonLabels' ? n.commonLabels : n.commonAnnotations;
      return sub === undefined ? map : (map[sub] ?? '');
    }
  }
}

function apply(fn: Fn, value: Value): Value {
  const text = typeof value === 'string' ? value : '';
  switch (fn) {
    case 'len':
      return typeof value === 'string' || Array.isArray(value) ? value.length : Object.keys(value).length;
    case 'toUpper':
      return text.toUpperCase();
    case 'toLower':
      return text.toLowerCase();
    case 'title':
      return text.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_, b: string, c: string) => b + c.toUpperCase());
  }
}
