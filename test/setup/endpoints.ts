import { inject } from 'vitest';
import type { ServiceEndpoints } from '../../services/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Kafka and registry for this test run, provided by test/setup/services.ts. */
    serviceEndpoints: ServiceEndpoints;
  }
}

/** The Kafka brokers and schema registry every integration test of this run talks to. */
export function endpoints(): ServiceEndpoints {
  return inject('serviceEndpoints');
}
