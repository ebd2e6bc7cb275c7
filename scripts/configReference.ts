import { z } from 'zod';
import { ConfigSchema } from '../core/config.js';

/** The part of a JSON Schema (as zod's `toJSONSchema` writes it) that the reference shows. */
interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  minLength?: number;
  minItems?: number;
}

/** Sections documented elsewhere: one row here, a link in their description. */
const ELSEWHERE = new Set(['notifier']);

/**
 * The configuration reference: one row per setting of `ConfigSchema` (dotted path, type, default,
 * its `.describe()` text), walked from the schema's JSON Schema so that nothing is listed by hand.
 */
export function renderConfigReference(): string {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const rows = ['| setting | type | default | meaning |', '| --- | --- | --- | --- |'];
  walk(schema, '', undefined, rows);
  return `${rows.join('\n')}\n`;
}

function walk(schema: JsonSchema, path: string, inherited: unknown, rows: string[]): void {
  for (const [key, field] of Object.entries(schema.properties ?? {})) {
    const at = path === '' ? key : `${path}.${key}`;
    const fallback = isRecord(inherited) ? inherited[key] : undefined;
    const value = field.default ?? fallback;
    const required = schema.required?.includes(key) ?? false;
    if (field.type === 'object' && field.properties && !ELSEWHERE.has(at)) {
      rows.push(row(`**${at}**`, 'section', '', field.description));
      walk(field, at, value, rows);
    } else if (field.type === 'array' && field.items?.type === 'object' && field.items.properties) {
      rows.push(row(`\`${at}\``, 'list of objects', shown(value, required), field.description));
      walk(field.items, `${at}[]`, undefined, rows);
    } else {
      rows.push(row(`\`${at}\``, typeOf(field), shown(value, required), field.description));
    }
  }
}

function row(setting: string, type: string, value: string, description = ''): string {
  return `| ${[setting, type, value, description].map(cell).join(' | ')} |`;
}

/** Table cells cannot hold `|` or line breaks; a README named in a description becomes a link from docs/. */
function cell(text: string): string {
  return text
    .replaceAll('|', '\\|')
    .replaceAll('\n', ' ')
    .replace(/(?<![`/\w])(\w+\/README\.md)/g, '[$1](../$1)');
}

function shown(value: unknown, required: boolean): string {
  if (value === undefined) return required ? 'required' : 'unset';
  return `\`${JSON.stringify(value)}\``;
}

function typeOf(s: JsonSchema): string {
  if (s.anyOf) return s.anyOf.map(typeOf).join(' or ');
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  switch (s.type) {
    case 'integer':
    case 'number':
      return numberType(s);
    case 'string':
      if (s.format === 'uri') return 'URL';
      if (s.pattern) return `string \`${s.pattern}\``;
      if (s.minLength === 1) return 'non-empty string';
      return s.minLength ? `string of ≥ ${s.minLength} characters` : 'string';
    case 'array':
      return `list of ${s.items ? typeOf(s.items) : 'values'}${s.minItems ? ` (≥ ${s.minItems})` : ''}`;
    case 'object':
      return 'object';
    default:
      return s.type ?? 'any';
  }
}

function numberType(s: JsonSchema): string {
  const name = s.type === 'integer' ? 'integer' : 'number';
  const min = s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : s.minimum;
  const max = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
  if (min !== undefined && max !== undefined) return `${name} ${min}–${max}`;
  if (min !== undefined) return `${name} ≥ ${min}`;
  return max !== undefined ? `${name} ≤ ${max}` : name;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
