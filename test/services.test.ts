import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServiceError } from '../core/errors.js';
import { startServices } from '../services/index.js';
import { endpoints } from './setup/endpoints.js';

/** Pids of live processes whose working directory is inside `dir`: every service runs in its own folder there. */
function processesUnder(dir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/cwd`).startsWith(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** An environment that makes startServices start its own services (no KAFKA_BROKERS / SCHEMA_REGISTRY_URL). */
function ownServicesEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.KAFKA_BROKERS;
  delete env.SCHEMA_REGISTRY_URL;
  return env;
}

describe('local services', () => {
  it('gives test files a Kafka that lists topics and a Confluent-compatible registry', async () => {
    const { brokers, registryUrl } = endpoints();
    expect(process.env.KAFKA_BROKERS).toBe(brokers.join(','));
    expect(process.env.SCHEMA_REGISTRY_URL).toBe(registryUrl);

    const admin = new Kafka({ clientId: 'services-test', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic: 'services-test', numPartitions: 2 }],
        waitForLeaders: true,
      });
      expect(await admin.listTopics()).toContain('services-test');
    } finally {
      await admin.disconnect();
    }

    const schema = JSON.stringify({
      type: 'record',
      name: 'Probe',
      fields: [{ name: 'ok', type: 'boolean' }],
    });
    const registered = await fetch(`${registryUrl}/subjects/services-test-value/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema }),
    });
    expect(registered.status).toBe(200);
    const { id } = (await registered.json()) as { id: number };
    const fetched = await fetch(`${registryUrl}/schemas/ids/${id}`);
    expect(((await fetched.json()) as { schema: string }).schema).toContain('Probe');
  });

  describe('a start that cannot complete', () => {
    let runDir = '';
    let blocker: Server | undefined;
    beforeEach(async () => {
      runDir = await mkdtemp(join(tmpdir(), 'services-test-'));
    });
    afterEach(async () => {
      blocker?.close();
      blocker = undefined;
      await rm(runDir, { recursive: true, force: true });
    });

    it('fails on a port in use, naming it, and leaves no process behind', async () => {
      blocker = createServer();
      const port = await new Promise<number>((resolve) => {
        blocker?.listen(0, '127.0.0.1', () => {
          const address = blocker?.address();
          resolve(typeof address === 'object' && address ? address.port : 0);
        });
      });
      const start = startServices({ runDir, kafkaPort: port, env: ownServicesEnv(), onProgress: () => {} });
      await expect(start).rejects.toBeInstanceOf(ServiceError);
      await expect(start).rejects.toThrow(`port ${port} is in use; choose another with --kafka-port`);
      expect(processesUnder(runDir)).toEqual([]);
      expect(await readdir(runDir)).toEqual([]);
    });

    it('stops Kafka again when the registry fails to come up', async () => {
      // An unknown storage kind makes the registry exit during startup while Kafka is starting.
      const env = ownServicesEnv({ APICURIO_STORAGE_KIND: 'no-such-storage' });
      const start = startServices({ runDir, env, onProgress: () => {} });
      await expect(start).rejects.toBeInstanceOf(ServiceError);
      await expect(start).rejects.toThrow(/Apicurio Registry .* stopped before it was ready/);
      expect(processesUnder(runDir)).toEqual([]);
      expect(await readdir(runDir)).toEqual([]);
    });
  });
});
