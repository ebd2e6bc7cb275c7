// Entry of a stream thread (topology/streamThreads.ts): loads the TypeScript sources through
// tsx, as bin/metrics-pipeline.js does for the main thread.
import { register } from 'tsx/esm/api';

register();
await import('./streamWorker.ts');
