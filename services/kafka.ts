import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ServiceError } from '../core/errors.js';
import { runCaptured, spawnJava, waitForReady, type SpawnedService } from './child.js';
import { kafkaLibsDir, repoRoot, serviceVersions } from './paths.js';
import { HOST } from './ports.js';

export interface KafkaStartOptions {
  java: string;
  port: number;
  controllerPort: number;
  /** Fresh folder for this broker: config, data and log. */
  dir: string;
  env: NodeJS.ProcessEnv;
  detached: boolean;
  timeoutMs: number;
  /** Aborted when a sibling service failed: stop waiting and stop this one. */
  signal?: AbortSignal;
}

/** Log4j2 config for the broker; it logs nothing without one. */
const LOG_CONFIG = join(repoRoot, 'docker', 'kafka-log4j2.yaml');

/**
 * Starts a single-node KRaft broker (broker and controller in one JVM) on loopback, with a
 * fresh cluster id and data dir unless `dir` holds a broker's data already (a restart), and
 * resolves once a client can list topics.
 */
export async function startKafka(options: KafkaStartOptions): Promise<SpawnedService> {
  const config = join(options.dir, 'server.properties');
  await writeFile(config, serverProperties(options));
  const classpath = join(kafkaLibsDir(), '*');
  const logFile = join(options.dir, 'kafka.log');
  // A folder that already holds a formatted log (a restarted broker) keeps its cluster id and data.
  if (!existsSync(join(options.dir, 'data', 'meta.properties')))
    await formatStorage(options.java, classpath, config, options.env);
  options.signal?.throwIfAborted();
  const broker = spawnJava({
    name: 'kafka',
    java: options.java,
    args: [
      '-Xmx768m',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${LOG_CONFIG}`,
      '-cp',
      classpath,
      'kafka.Kafka',
      config,
    ],
    dir: options.dir,
    logFile,
    env: options.env,
    detached: options.detached,
  });
  const address = `${HOST}:${options.port}`;
  await waitForReady(
    broker,
    `Kafka ${serviceVersions().kafka} on ${address}`,
    () => canListTopics(address),
    options.timeoutMs,
    options.signal,
  );
  return broker;
}

function serverProperties(options: KafkaStartOptions): string {
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@${HOST}:${options.controllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${options.port},CONTROLLER://${HOST}:${options.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${options.port}`,
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(options.dir, 'data'),
    // One broker: every internal topic must make do with one replica.
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Tests and the demo join groups constantly; the default 3 s delay would slow every one.
    'group.initial.rebalance.delay.ms': 0,
    'num.partitions': 4,
    'auto.create.topics.enable': true,
    // Changelog topics are compacted, so the cleaner stays on, with a buffer sized for a laptop.
    'log.cleaner.enable': true,
    'log.cleaner.dedupe.buffer.size': 33_554_432,
    'log.segment.bytes': 16_777_216,
    'log.retention.hours': 24,
  };
  return `${Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')}\n`;
}

/** A random Kafka Uuid; like Kafka's own, never starting with '-', which the tool's parser takes for an option. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** KRaft refuses to start on an unformatted log dir; each start gets a new cluster id. */
async function formatStorage(
  java: string,
  classpath: string,
  config: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const clusterId = newClusterId();
  const args = [
    // A one-shot tool: the quick JIT tier and the serial GC save most of a second per start.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    `-Dlog4j2.configurationFile=${LOG_CONFIG}`,
    '-cp',
    classpath,
    'kafka.tools.StorageTool',
    'format',
    '-t',
    clusterId,
    '-c',
    config,
  ];
  const result = await runCaptured(java, args, env);
  if (result.code !== 0) {
    throw new ServiceError(
      `formatting the Kafka storage failed (${result.error?.message ?? `exit code ${result.code}`}): ${result.output.trim().slice(-2_000)}`,
      {
        hint: `delete ${kafkaLibsDir()} and run metrics-pipeline services fetch`,
      },
    );
  }
}

/** True when a metadata round trip succeeds: the broker is up and has a controller. */
export async function canListTopics(address: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'metrics-pipeline-services',
    brokers: [address],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
