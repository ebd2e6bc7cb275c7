import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Forwarder } from './forwarder.js';

export interface CollectorMetrics {
  registry: Registry;
  requests: Counter<'endpoint' | 'status'>;
  samples: Counter<'outcome'>;
  duration: Histogram<'endpoint'>;
}

/** The collector's own Prometheus metrics, served at `/metrics`. */
export function collectorMetrics(forwarder: () => Forwarder | undefined): CollectorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'collector_process_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'collector_requests_total',
      help: 'HTTP requests by endpoint and status code',
      labelNames: ['endpoint', 'status'],
      registers,
    }),
    samples: new Counter({
      name: 'collector_samples_total',
      help: 'Samples received, by outcome (accepted: durable in Kafka or the write-ahead log; rejected: invalid or over a limit)',
      labelNames: ['outcome'],
      registers,
    }),
    duration: new Histogram({
      name: 'collector_request_duration_seconds',
      help: 'Time from request to answer, by endpoint',
      labelNames: ['endpoint'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    ...{
      wal: new Gauge({
        name: 'collector_wal_bytes',
        help: 'Bytes in the write-ahead log waiting for Kafka',
        registers,
        collect() {
          this.set(forwarder()?.walBytes ?? 0);
        },
      }),
      kafkaUp: new Gauge({
        name: 'collector_kafka_up',
        help: '1 while accepted samples go straight to Kafka, 0 while they go to the write-ahead log',
        registers,
        // With several workers: 1 only while every worker sends straight to Kafka.
        aggregator: 'min',
        collect() {
          this.set(forwarder()?.kafkaUp ? 1 : 0);
        },
      }),
    },
  };
}
