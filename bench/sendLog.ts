import type { Kafka, Producer, ProducerRecord } from 'kafkajs';

/** One acknowledged `producer.send`: when it was called and how many records it carried. */
export interface Send {
  /** Epoch ms at which `send` was called (the records were built just before). */
  at: number;
  records: number;
}

/**
 * The same Kafka client, except that its producers report every acknowledged send, so that the
 * latency run knows when each record left the producer without changing the producer's code.
 */
export function recordingSends(kafka: Kafka, onSend: (send: Send) => void): Kafka {
  const wrapProducer = (producer: Producer): Producer =>
    new Proxy(producer, {
      get(target, key) {
        if (key === 'send') {
          return async (record: ProducerRecord) => {
            const at = Date.now();
            const result = await target.send(record);
            onSend({ at, records: record.messages.length });
            return result;
          };
        }
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return new Proxy(kafka, {
    get(target, key) {
      if (key === 'producer')
        return (...args: Parameters<Kafka['producer']>) => wrapProducer(target.producer(...args));
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
