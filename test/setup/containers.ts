import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { serviceVersions } from '../../services/paths.js';
import { freePort } from '../../services/ports.js';
import type { RunningServices } from '../../services/index.js';

/**
 * Kafka and Apicurio Registry as containers (TEST_SERVICES=docker, on a machine with a
 * Docker engine), the same versions as the local runner fetches. Not exercised where there
 * is no Docker engine; the local runner is the default.
 */
export async function startContainers(): Promise<RunningServices> {
  const { kafka: kafkaVersion, apicurio: registryVersion } = serviceVersions();
  // The broker advertises the address clients use, so its host port is fixed before it starts.
  const kafkaPort = await freePort();
  const kafka = new GenericContainer(`apache/kafka:${kafkaVersion}`)
    .withExposedPorts({ container: 9092, host: kafkaPort })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://localhost:${kafkaPort}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_NUM_PARTITIONS: '4',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .withStartupTimeout(120_000);
  const registry = new GenericContainer(`apicurio/apicurio-registry:${registryVersion}`)
    .withExposedPorts(8080)
    .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080))
    .withStartupTimeout(120_000);

  const results = await Promise.allSettled([kafka.start(), registry.start()]);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await Promise.all(started.map((c) => c.stop()));
    throw failure.reason;
  }
  const [kafkaContainer, registryContainer] = started as [StartedTestContainer, StartedTestContainer];
  let stopping: Promise<void> | undefined;
  return {
    brokers: [`localhost:${kafkaPort}`],
    registryUrl: `http://${registryContainer.getHost()}:${registryContainer.getMappedPort(8080)}/apis/ccompat/v7`,
    started: ['kafka', 'registry'],
    stop: () => {
      stopping ??= Promise.all([kafkaContainer.stop(), registryContainer.stop()]).then(() => undefined);
      return stopping;
    },
  };
}
