import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers, lowest first (docs/architecture.md#layers). A folder imports from its own layer and
 * the ones below, never from one above: `query/promql` is the PromQL engine that alerts evaluate
 * with, so it sits with alerts.
 */
const LAYERS = [
  ['core', 'schemas'],
  ['streams'],
  ['operators', 'sinks', 'alerts', 'sql', 'producer', 'services', 'sdk', 'query/promql'],
  ['topology', 'notifier', 'query', 'collector'],
  ['cli', 'bin', 'bench', 'scripts', 'test'],
];

/** The no-restricted-imports rule of one layer: any relative import reaching a folder above it. */
function layerRule(layer) {
  const above = LAYERS.slice(layer + 1).flat();
  const folders = above.map((f) => (f === 'query' ? 'query/(?!promql/)' : `${f}(/|$)`));
  const names = above.join(', ');
  return {
    files: LAYERS[layer].map((f) => `${f}/**/*.{ts,js}`),
    // A lower layer nested in one of these folders (query/promql in query) keeps its own rule.
    ignores: LAYERS.slice(0, layer)
      .flat()
      .filter((f) => LAYERS[layer].some((own) => f.startsWith(`${own}/`)))
      .map((f) => `${f}/**`),
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${folders.join('|')})`,
              message: `imports run downwards only: ${LAYERS[layer].join(', ')} may not import from ${names} (docs/architecture.md#layers).`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/', '.services/', '.data/', '.bench/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  ...LAYERS.slice(0, -1).map((_, layer) => layerRule(layer)),
);
