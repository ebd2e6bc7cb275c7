import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { loadConfig } from '../core/config.js';
import { avscText, rollupBatchRecordSchema, rollupRecordSchema } from '../schemas/rollupSchema.js';
import { describeTopology } from '../topology/graph.js';
import { renderMermaid, renderText } from '../streams/describe.js';
import { renderConfigReference } from './configReference.js';

/** The command that rewrites the generated parts; failures name it. */
export const DOCS_COMMAND = 'npm run docs';

/** A part of a Markdown file that is generated: it lies between `<!-- generated:<id> -->` and `<!-- /generated:<id> -->`. */
interface GeneratedPart {
  file: string;
  id: string;
  render: () => string;
}

const defaults = () => loadConfig(undefined, {});

export const GENERATED_PARTS: GeneratedPart[] = [
  { file: 'docs/configuration.md', id: 'config-reference', render: renderConfigReference },
  {
    file: 'docs/architecture.md',
    id: 'describe-text',
    render: () => fenced('text', renderText(describeTopology(defaults()))),
  },
  {
    file: 'docs/architecture.md',
    id: 'describe-mermaid',
    render: () => fenced('mermaid', renderMermaid(describeTopology(defaults()))),
  },
  {
    file: 'docs/architecture.md',
    id: 'describe-repartition',
    render: () =>
      fenced(
        'text',
        renderText(describeTopology(loadConfig(undefined, {}, { input: { coPartitioned: false } }))),
      ),
  },
];

/** Files generated whole: the rollup schemas, from the aggregate registry (core/aggregates.ts). */
export const GENERATED_WHOLE: Array<{ file: string; render: () => string }> = [
  { file: 'schemas/rollup.avsc', render: () => avscText(rollupRecordSchema()) },
  { file: 'schemas/rollupBatch.avsc', render: () => avscText(rollupBatchRecordSchema()) },
];

export interface GeneratedFile {
  file: string;
  /** The file as committed. */
  current: string;
  /** The file with every generated part as the generator writes it now. */
  expected: string;
}

/** Every file with generated parts, as it is and as it should be (`root`: the repository). */
export async function generatedFiles(root: string): Promise<GeneratedFile[]> {
  const files = [...new Set(GENERATED_PARTS.map((p) => p.file))];
  const parts = await Promise.all(
    files.map(async (file) => {
      const current = readFileSync(join(root, file), 'utf8');
      let expected = current;
      for (const part of GENERATED_PARTS.filter((p) => p.file === file))
        expected = replacePart(expected, file, part.id, await formatted(join(root, file), part.render()));
      return { file, current, expected };
    }),
  );
  const whole = await Promise.all(
    GENERATED_WHOLE.map(async ({ file, render }) => {
      const options = (await resolveConfig(join(root, file))) ?? {};
      return {
        file,
        current: readFileSync(join(root, file), 'utf8'),
        expected: await format(render(), { ...options, parser: 'json' }),
      };
    }),
  );
  return [...parts, ...whole];
}

/** As `npm run format` would leave it, so that formatting the docs never makes them stale. */
async function formatted(path: string, markdown: string): Promise<string> {
  const options = (await resolveConfig(path)) ?? {};
  return format(markdown, { ...options, parser: 'markdown' });
}

function replacePart(text: string, file: string, id: string, content: string): string {
  const begin = `<!-- generated:${id} (${DOCS_COMMAND}) -->\n`;
  const end = `<!-- /generated:${id} -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end, from);
  if (from < 0 || to < 0)
    throw new Error(
      `${file}: the markers of the generated part "${id}" are missing: ${begin.trim()} … ${end}`,
    );
  // Blank lines around the part, as prettier leaves them.
  return `${text.slice(0, from + begin.length)}\n${content}\n${text.slice(to)}`;
}

function fenced(language: string, body: string): string {
  return `\`\`\`${language}\n${body.endsWith('\n') ? body : `${body}\n`}\`\`\`\n`;
}
