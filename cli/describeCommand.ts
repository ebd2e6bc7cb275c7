import type { Config } from '../core/config.js';
import { describeTopology } from '../topology/graph.js';
import { renderMermaid, renderText } from '../streams/describe.js';

export const DESCRIBE_FORMATS = ['text', 'mermaid', 'both'] as const;
export type DescribeFormat = (typeof DESCRIBE_FORMATS)[number];

/**
 * `metrics-pipeline describe`: prints the topology that `run` builds from this configuration,
 * as Kafka Streams' `Topology#describe()` text, as a Mermaid flowchart (for `mmdc` or a
 * Markdown page), or both, the diagram then fenced as a Markdown code block.
 */
export function describeCommand(config: Config, flags: { format: DescribeFormat }): void {
  const description = describeTopology(config);
  const parts: string[] = [];
  if (flags.format !== 'mermaid') parts.push(renderText(description));
  if (flags.format === 'mermaid') parts.push(renderMermaid(description));
  if (flags.format === 'both') parts.push(`\`\`\`mermaid\n${renderMermaid(description)}\`\`\`\n`);
  process.stdout.write(parts.join('\n'));
}
