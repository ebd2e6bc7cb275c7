import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheCounters } from './resultsCache.js';

export interface QueryMetrics {
  registry: Registry;
  requests: Counter<'endpoint' | 'status'>;
  duration: Histogram<'endpoint'>;
  sources: Counter<'source'>;
  cache: CacheCounters;
}

/** The query service's own Prometheus metrics, served at `/metrics`. */
export function queryMetrics(): QueryMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'query_process_' });
  const registers = [registry];
  const hits = new Counter({
    name: 'query_cache_hits_total',
    help: 'Range-query chunks answered from the results cache',
    registers,
  });
  const misses = new Counter({
    name: 'query_cache_misses_total',
    help: 'Range-query chunks not in the results cache (computed)',
    registers,
  });
  const evictions = new Counter({
    name: 'query_cache_evictions_total',
    help: 'Chunks dropped from the results cache, by reason (size: LRU over the byte bound; expired: TTL; correction: a window in their range was corrected)',
    labelNames: ['reason'],
    registers,
  });
  const bytes = new Gauge({ name: 'query_cache_bytes', help: 'Bytes held by the results cache', registers });
  return {
    registry,
    requests: new Counter({
      name: 'query_requests_total',
      help: 'API requests by endpoint and status code',
      labelNames: ['endpoint', 'status'],
      registers,
    }),
    duration: new Histogram({
      name: 'query_request_duration_seconds',
      help: 'Time from request to answer, by endpoint',
      labelNames: ['endpoint'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    sources: new Counter({
      name: 'query_source_answers_total',
      help: 'Queries (or range chunks) answered by each source: raw samples, the 1m or the 1h tier',
      labelNames: ['source'],
      registers,
    }),
    cache: {
      hit: () => hits.inc(),
      miss: () => misses.inc(),
      evicted: (reason) => evictions.inc({ reason }),
      bytes: (n) => bytes.set(n),
    },
  };
}
