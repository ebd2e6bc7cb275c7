import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedFiles } from './generatedDocs.js';

/**
 * `npm run docs`: rewrites the generated parts of the docs (the configuration reference from
 * core/config.ts' schema, the `describe` output of the default topology) from the code.
 * test/unit/docs.test.ts fails while a committed file differs from what this writes.
 */
const root = new URL('..', import.meta.url).pathname;
for (const { file, current, expected } of await generatedFiles(root)) {
  if (current === expected) continue;
  writeFileSync(join(root, file), expected);
  console.log(`updated ${file}`);
}
