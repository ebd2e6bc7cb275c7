import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type Scalar,
} from 'yaml';
import { parseDuration } from './duration.js';
import { ExpressionError, type RuleProblem } from './errors.js';

/** A field of a YAML mapping: its key (for positions) and its value node (null when empty). */
export interface Field {
  key: Node;
  value: Node | null;
}

/**
 * A YAML file being checked: its document, and the problems found so far, each at the line
 * and column of the node (or of the character inside a scalar) it concerns.
 */
export class YamlSource {
  readonly problems: RuleProblem[] = [];
  readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    for (const error of this.doc.errors) this.at(error.pos[0], error.message);
  }

  get ok(): boolean {
    return this.problems.length === 0;
  }

  /** The problems in the order of their positions in the file. */
  sortedProblems(): RuleProblem[] {
    return [...this.problems].sort((a, b) => a.line - b.line || a.col - b.col);
  }

  /** The 1-based line a node starts on. */
  lineOf(node: Node): number {
    return this.lines.linePos(node.range?.[0] ?? 0).line;
  }

  /** Records a problem at a character offset of the file. */
  at(offset: number, reason: string): void {
    const { line, col } = this.lines.linePos(offset);
    this.problems.push({ file: this.file, line, col, reason });
  }

  /** Records a problem at a node (or at the file's start). */
  problem(node: Node | null | undefined, reason: string): void {
    this.at(node?.range?.[0] ?? 0, reason);
  }

  /** Records an expression or template error at the character it points to inside a scalar. */
  inScalar(node: Node, error: unknown, prefix = ''): void {
    if (!(error instanceof ExpressionError) || !isScalar(node)) {
      this.problem(node, `${prefix}${(error as Error).message}`);
      return;
    }
    this.at(this.sourceOffset(node, error.offset), `${prefix}${error.message}`);
  }

  /**
   * The file offset of a character of a scalar's value: the value's characters are matched in
   * order against the source (skipping quotes, escapes, indentation and folded line breaks).
   */
  private sourceOffset(node: Scalar, valueOffset: number): number {
    const value = String(node.value ?? '');
    const [start, end] = node.range as [number, number, number];
    // The end of the expression: just after its last character, not after a block's line break.
    const last = value.trimEnd().length;
    if (valueOffset >= last && last > 0) return this.sourceOffset(node, last - 1) + 1;
    let at = start;
    if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED')
      at = this.text.indexOf('\n', start) + 1;
    else if (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') at = start + 1;
    const target = Math.min(valueOffset, value.length);
    for (let i = 0; i < value.length; i++) {
      const c = value[i] as string;
      const found = /\s/.test(c) ? this.nextWhitespace(at, end) : this.text.indexOf(c, at);
      if (found < 0 || found >= end) return start;
      if (i === target) return found;
      at = found + 1;
    }
    return at;
  }

  private nextWhitespace(from: number, end: number): number {
    for (let i = from; i < end; i++) if (/\s/.test(this.text[i] as string)) return i;
    return -1;
  }

  /** The fields of a mapping node; reports a non-mapping and every key not in `allowed`. */
  fields(
    node: Node | null,
    what: string,
    allowed: Record<string, string | null>,
  ): Map<string, Field> | undefined {
    if (!isMap(node)) {
      this.problem(node, `${what} must be a mapping`);
      return undefined;
    }
    const fields = new Map<string, Field>();
    for (const pair of node.items) {
      const key = pair.key as Node;
      const name = isScalar(key) ? String(key.value) : undefined;
      if (name === undefined) {
        this.problem(key, `${what}: keys must be plain names`);
        continue;
      }
      if (!(name in allowed)) {
        this.problem(
          key,
          `${what}: unknown field ${JSON.stringify(name)} (allowed: ${Object.keys(allowed).join(', ')})`,
        );
        continue;
      }
      const unsupported = allowed[name];
      if (unsupported) {
        this.problem(key, unsupported);
        continue;
      }
      fields.set(name, { key, value: (pair.value as Node | null) ?? null });
    }
    return fields;
  }

  /** The items of a sequence node; null or empty counts as no items. */
  items(node: Node | null, what: string): Node[] {
    if (node === null || (isScalar(node) && node.value === null)) return [];
    if (!isSeq(node)) {
      this.problem(node, `${what} must be a list`);
      return [];
    }
    return node.items as Node[];
  }

  /**
   * A scalar as text (numbers and booleans as written); undefined (reported, at the field or
   * else at `owner`, the mapping that lacks it) otherwise.
   */
  string(field: Field | undefined, what: string, required = true, owner?: Node): string | undefined {
    const node = field?.value;
    if (!isScalar(node) || node.value === null || node.value === undefined) {
      if (required || (field && !isScalar(node))) {
        this.problem(node ?? field?.key ?? owner, `${what} ${field ? 'must be a string' : 'is required'}`);
      }
      return undefined;
    }
    return typeof node.value === 'string' ? node.value : (node.source ?? String(node.value));
  }

  /** A Prometheus duration in ms; `fallback` when absent. */
  duration(field: Field | undefined, what: string, fallback: number): number {
    if (!field) return fallback;
    const text = this.string(field, what);
    if (text === undefined) return fallback;
    try {
      return parseDuration(text);
    } catch (error) {
      this.problem(field.value, `${what}: ${(error as Error).message}`);
      return fallback;
    }
  }

  /** A mapping of label names to scalar texts. */
  stringMap(
    field: Field | undefined,
    what: string,
  ): Array<{ name: string; value: string; key: Node; node: Node }> {
    if (!field || field.value === null || (isScalar(field.value) && field.value.value === null)) return [];
    if (!isMap(field.value)) {
      this.problem(field.value, `${what} must be a mapping`);
      return [];
    }
    const out: Array<{ name: string; value: string; key: Node; node: Node }> = [];
    for (const pair of field.value.items) {
      const key = pair.key as Node;
      const name = isScalar(key) ? String(key.value) : undefined;
      if (name === undefined) {
        this.problem(key, `${what}: keys must be plain names`);
        continue;
      }
      const value = this.string({ key, value: (pair.value as Node | null) ?? null }, `${what}.${name}`);
      if (value !== undefined) out.push({ name, value, key, node: pair.value as Node });
    }
    return out;
  }
}
