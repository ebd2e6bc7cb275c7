import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKafka, ensureTopics } from '../../core/kafka.js';
import { seriesId } from '../../core/series.js';
import type { Config } from '../../core/config.js';
import {
  alertType,
  batchSchema,
  batchType,
  frame,
  type AlertEvent,
  type Sample,
} from '../../schemas/index.js';
import { Registry } from '../../schemas/registry.js';
import type { KafkaMessage } from 'kafkajs';
import { cli, configFile, query, quietLog, readTopic, tempDir, testKafka, unique } from './helpers.js';

const RULES = `
groups:
  - name: hosts
    interval: 30s
    rules:
      - alert: HighCpu
        expr: avg_over_time(cpu{job="node"}[1m]) > 90
        for: 1m
        labels: { severity: critical }
        annotations: { summary: 'CPU of {{ $labels.host }} at {{ $value }}%' }
      - alert: HostSilent
        expr: absent_over_time(cpu{job="node", host="b"}[1m])
        for: 30s
        labels: { severity: warning }
`;

/** Event time of the test's samples: whole minutes, ending about now. */
const MINUTE = 60_000;

/** Publishes samples, `perRecord` of one series per record (a minute by default), keyed by series, in time order. */
async function publish(config: Config, samples: Sample[], perRecord = 6): Promise<void> {
  const kafka = createKafka(config.kafka.brokers, 'test', quietLog);
  const registry = new Registry(config.schemaRegistry.url as string);
  const schemaId = await registry.register(`${config.topics.metrics}-value`, batchSchema);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic: config.topics.metrics, partitions: config.topics.partitions }]);
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const bySeries = new Map<string, Sample[]>();
    for (const s of samples) {
      const key = seriesId(s.name, Object.entries(s.labels).sort()).toString();
      bySeries.set(key, [...(bySeries.get(key) ?? []), s]);
    }
    // In event-time order across series, as agents would send them.
    const chunks = [...bySeries].flatMap(([key, list]) => {
      const out: Array<{ key: string; samples: Sample[] }> = [];
      for (let i = 0; i < list.length; i += perRecord)
        out.push({ key, samples: list.slice(i, i + perRecord) });
      return out;
    });
    chunks.sort((a, b) => (a.samples[0]?.timestamp ?? 0) - (b.samples[0]?.timestamp ?? 0));
    const messages = chunks.map(({ key, samples }) => ({
      key,
      value: frame(schemaId, batchType.toBuffer({ samples })),
    }));
    await producer.send({ topic: config.topics.metrics, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

/** `cpu` of hosts a and b from minute `from` to minute `to` (exclusive), 10 s apart; `value(host, t)` or nothing. */
function cpu(
  t0: number,
  from: number,
  to: number,
  value: (host: string, t: number) => number | undefined,
): Sample[] {
  const out: Sample[] = [];
  for (let t = t0 + from * MINUTE; t < t0 + to * MINUTE; t += 10_000) {
    for (const host of ['a', 'b']) {
      const v = value(host, t);
      if (v !== undefined)
        out.push({ name: 'cpu', labels: { job: 'node', host }, timestamp: t, value: v, kind: 'gauge' });
    }
  }
  return out;
}

/**
 * The alert events on the alerts topic: with `count`, waits until there are that many; without,
 * those committed so far (read to the end, transaction markers included).
 */
async function alertEvents(config: Config, count?: number): Promise<Array<AlertEvent & { key: string }>> {
  const messages =
    count === undefined
      ? await readToEnd(config.topics.alerts)
      : await readTopic(config.topics.alerts, count);
  return messages
    .map((m) => ({
      ...(alertType.fromBuffer((m.value as Buffer).subarray(5)) as AlertEvent),
      key: String(m.key),
    }))
    .sort((a, b) => a.timestamp - b.timestamp || a.rule.localeCompare(b.rule));
}

async function readToEnd(topic: string): Promise<KafkaMessage[]> {
  const kafka = testKafka();
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  await admin.disconnect();
  for (const [p, end] of ends) if (end === 0) ends.delete(p);
  const messages: KafkaMessage[] = [];
  if (ends.size === 0) return messages;
  const consumer = kafka.consumer({ groupId: unique('reader') });
  await consumer.connect();
  await new Promise<void>((resolve, reject) => {
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (Number(payload.lastOffset) >= (ends.get(payload.partition) ?? 0) - 1)
        ends.delete(payload.partition);
      if (ends.size === 0) resolve();
    });
    consumer
      .subscribe({ topic, fromBeginning: true })
      .then(() => consumer.run({ eachBatch: async ({ batch }) => void messages.push(...batch.messages) }))
      .catch(reject);
  });
  await consumer.disconnect();
  return messages;
}

const transitions = (events: AlertEvent[]) => events.map((e) => `${e.rule}:${e.state}`);

function setup(name: string, overrides: Parameters<typeof configFile>[1] = {}, text = RULES) {
  const dir = tempDir(name);
  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, text);
  // A record holds a minute of samples: event time runs up to 50 s out of order.
  return {
    dir,
    ...configFile(dir, {
      alerts: { rules: [rules], tickMs: 200 },
      sink: { maxMs: 100 },
      windows: { outOfOrdernessMs: 60_000, idleTimeoutMs: 1000 },
      ...overrides,
    }),
  };
}

/**
 * HighCpu with `for: 2m` over host a's samples, one per record (event time in order, the
 * watermark 5 s behind the data). `T` is now on the 30 s grid: event time ends about now at each
 * run, so that evaluation by the wall clock (every partition idle) adds nothing the data does not say.
 */
function pendingFixture(name: string) {
  const rules = `
groups:
  - name: hosts
    interval: 30s
    rules:
      - alert: HighCpu
        expr: avg_over_time(cpu{job="node"}[1m]) > 90
        for: 2m
`;
  const fixture = setup(name, { windows: { outOfOrdernessMs: 5000, idleTimeoutMs: 1000 } }, rules);
  const T = Math.floor(Date.now() / 30_000) * 30_000;
  const hostA = (from: number, to: number, value: (t: number) => number) =>
    cpu(T, from, to, (host, t) => (host === 'a' ? value(t) : undefined));
  return { ...fixture, T, hostA };
}

/** 20 minutes up to about now: host a's CPU at 95 from minute 5 to 10, host b silent from 12 to 16. */
async function publishIncident(config: Config): Promise<number> {
  const t0 = Math.floor(Date.now() / MINUTE) * MINUTE - 20 * MINUTE;
  await publish(
    config,
    cpu(t0, 0, 20, (host, t) => {
      const minute = (t - t0) / MINUTE;
      if (host === 'b') return minute >= 12 && minute < 16 ? undefined : 40;
      return minute >= 5 && minute < 10 ? 95 : 50;
    }),
  );
  return t0;
}

/** The incident's alerts table: each transition once. */
async function expectIncidentRows(config: Config): Promise<void> {
  const rows = await query<{ rule: string; state: string; n: string }>(
    config,
    `SELECT rule, state, count() AS n FROM \`${config.clickhouse.database}\`.alerts FINAL GROUP BY rule, state ORDER BY rule, state`,
  );
  expect(rows.map((r) => `${r.rule}:${r.state}:${r.n}`)).toEqual([
    'HighCpu:pending:1',
    'HighCpu:firing:1',
    'HighCpu:resolved:1',
    'HostSilent:pending:1',
    'HostSilent:firing:1',
    'HostSilent:resolved:1',
  ]);
}

const INCIDENT_TRANSITIONS = [
  'HighCpu:pending',
  'HighCpu:firing',
  'HighCpu:resolved',
  'HostSilent:pending',
  'HostSilent:firing',
  'HostSilent:resolved',
];

describe('alert stage', () => {
  it('fires and resolves on event time: a CPU spike and a host that goes silent, to the alerts topic and table', async () => {
    const { config, file } = setup('alerts-e2e');
    const t0 = await publishIncident(config);
    const run = cli(['--config', file, 'run', '--exit-when-idle']);
    expect(await run.exit, run.stderr().slice(-3000)).toBe(0);

    const events = await alertEvents(config);
    expect(transitions(events)).toEqual(INCIDENT_TRANSITIONS);
    const at = (i: number) => ((events[i] as AlertEvent).timestamp - t0) / 1000;
    // Evaluated every 30 s over (t - 1m, t] (Prometheus 3's left-open range): the average is 95
    // from 6:00 (pending), firing 1m later, and 87.5 at 10:00 (the sample at 10:00 is 50 again).
    expect([at(0), at(1), at(2)]).toEqual([360, 420, 600]);
    // b's last sample before the gap is at 11:50: absent from 12:50 (> 1m), firing 30 s later,
    // back with the sample at 16:00.
    expect([at(3), at(4), at(5)]).toEqual([780, 810, 960]);
    const firing = events[1] as AlertEvent & { key: string };
    expect(firing).toMatchObject({
      labels: { alertname: 'HighCpu', host: 'a', job: 'node', severity: 'critical' },
      severity: 'critical',
      startsAt: t0 + 420_000,
      endsAt: null,
    });
    expect(firing.annotations.summary).toBe('CPU of a at 95%');
    expect(firing.key).toBe(firing.fingerprint);
    expect(events[2]?.fingerprint).toBe(firing.fingerprint);
    expect(events[2]).toMatchObject({ state: 'resolved', endsAt: t0 + 600_000 });
    await expectIncidentRows(config);
  });

  it('two instances with `--sink topics`: one evaluates, each transition is published once, `load` stores them', async () => {
    const { config, file } = setup('alerts-topics');
    await publishIncident(config);
    // Both in one group: the alert input has one partition, so one instance owns the alert stage.
    const instances = [0, 1].map(() =>
      cli(['--config', file, 'run', '--sink', 'topics', '--exit-when-idle']),
    );
    for (const run of instances) expect(await run.exit, run.stderr().slice(-3000)).toBe(0);
    const owners = instances.filter((run) => /"msg":"alert state restored"/.test(run.stderr()));
    expect(owners.length).toBeGreaterThanOrEqual(1);
    expect(transitions(await alertEvents(config))).toEqual(INCIDENT_TRANSITIONS);

    // No instance holds ClickHouse: the loader stores the raw samples, the window results and the alerts.
    const load = cli(['--config', file, 'load', '--exit-when-idle']);
    expect(await load.exit, load.stderr().slice(-3000)).toBe(0);
    await expectIncidentRows(config);
  });

  it('a restart in the pending state keeps its timing, a restart while firing announces nothing again', async () => {
    const { config, file, T, hostA } = pendingFixture('alerts-restart');
    const runToIdle = async () => {
      const run = cli(['--config', file, 'run', '--exit-when-idle']);
      expect(await run.exit, run.stderr().slice(-3000)).toBe(0);
      return run;
    };

    // Up to T: 95 from T-1m30s: pending at T-30s, due to fire 2m later.
    await publish(
      config,
      hostA(-5, 1 / 6, (t) => (t >= T - 90_000 ? 95 : 50)),
      1,
    );
    await runToIdle();
    expect(transitions(await alertEvents(config))).toEqual(['HighCpu:pending']);

    // Restarted in the pending state: fires at T+1m30s, 2m after it became pending.
    await publish(
      config,
      hostA(1 / 6, 11 / 6, () => 95),
      1,
    );
    const second = await runToIdle();
    expect(second.stderr()).toMatch(/"msg":"alert state restored"/);
    let events = await alertEvents(config);
    expect(events.map((e) => [e.state, e.timestamp - T])).toEqual([
      ['pending', -30_000],
      ['firing', 90_000],
    ]);
    expect(events[1]?.startsAt).toBe(T + 90_000);

    // Restarted while firing: nothing announced again; resolved at T+2m, when the 1m average drops.
    await publish(
      config,
      hostA(2, 4, () => 50),
      1,
    );
    await runToIdle();
    events = await alertEvents(config);
    expect(events.map((e) => [e.state, e.timestamp - T])).toEqual([
      ['pending', -30_000],
      ['firing', 90_000],
      ['resolved', 120_000],
    ]);
    expect(new Set(events.map((e) => e.fingerprint)).size).toBe(1);
  }, 300_000);

  it('killed (SIGKILL) while an alert is pending: the restarted stage fires it on time, once', async () => {
    const { config, file, T, hostA } = pendingFixture('alerts-kill');
    await publish(
      config,
      hostA(-5, 1 / 6, (t) => (t >= T - 90_000 ? 95 : 50)),
      1,
    );
    const first = cli(['--config', file, 'run']);
    // The log line comes after the transaction that wrote the event and the state committed.
    await first.waitFor(/"alert":"HighCpu","state":"pending"/);
    first.child.kill('SIGKILL');
    expect(await first.exit).toBe('SIGKILL');

    await publish(
      config,
      hostA(1 / 6, 11 / 6, () => 95),
      1,
    );
    const second = cli(['--config', file, 'run', '--exit-when-idle']);
    expect(await second.exit, second.stderr().slice(-3000)).toBe(0);
    const events = await alertEvents(config);
    expect(events.map((e) => [e.state, e.timestamp - T])).toEqual([
      ['pending', -30_000],
      ['firing', 90_000],
    ]);
  }, 240_000);

  it('a source that stops sending, with no sample arriving at all, raises the absence alert', async () => {
    const rules = `
groups:
  - name: hosts
    interval: 5s
    rules:
      - alert: HostSilent
        expr: absent_over_time(cpu{job="node", host="b"}[20s])
        labels: { severity: warning }
`;
    const { config, file } = setup(
      'alerts-dead',
      { windows: { outOfOrdernessMs: 1000, idleTimeoutMs: 1000 } },
      rules,
    );
    const T = Math.floor(Date.now() / 5000) * 5000;
    await publish(
      config,
      cpu(T, -1, 0, (host) => (host === 'b' ? 40 : undefined)),
      1,
    );
    const run = cli(['--config', file, 'run']);
    try {
      await run.waitFor(/"msg":"alert state restored"/);
      // Nothing else is ever sent: the wall clock moves evaluation on until b is absent 20 s.
      const [event] = await alertEvents(config, 1);
      expect(event).toMatchObject({
        rule: 'HostSilent',
        state: 'firing',
        labels: { host: 'b', job: 'node' },
      });
      const lastSample = T - 10_000;
      expect(event?.timestamp).toBeGreaterThanOrEqual(lastSample + 20_000);
      await run.waitFor(/alert evaluation follows the wall clock/);
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exit).toBe(0);
  });
});
