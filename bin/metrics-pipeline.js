#!/usr/bin/env -S node --max-semi-space-size=32
// The flag is core/runtime.ts' NODE_FLAGS (a larger young generation: less garbage-collection time).
// Entry point of the `metrics-pipeline` command: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
