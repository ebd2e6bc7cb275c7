import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../core/config.js';
import { parseRuleFiles } from '../../alerts/rules.js';
import type { Sample } from '../../schemas/index.js';
import { TopologyTestDriver } from '../../topology/testDriver.js';
import { buildTopology } from '../../topology/graph.js';
import { namedTierTopic } from '../../core/tiers.js';

/**
 * The whole topology on virtual time, without Kafka: windows, the buffer's age, idle ticks,
 * the commit interval and the watermark's idleness all run on the driver's clock, so these
 * tests wait for nothing real.
 */

const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const SECOND = 1000;
const MINUTE = 60_000;
const config = loadConfig(undefined, {}, { topics: { metrics: 'in' } });

function sample(at: number, value = 1, host = 'a'): Sample {
  return { name: 'up', labels: { host }, timestamp: T0 + at, value, kind: 'gauge' };
}

function driver(c: Config = config, partitions = 1): TopologyTestDriver {
  // The wall clock stands a little after the samples' event time, as for live data.
  return new TopologyTestDriver(c, { partitions, startTime: T0 + 2 * MINUTE });
}

describe('TopologyTestDriver: the wiring run is the graph described', () => {
  it.each([
    ['co-partitioned', config],
    [
      'repartitioned',
      loadConfig(undefined, {}, { topics: { metrics: 'in' }, input: { coPartitioned: false } }),
    ],
  ])('%s: every node and edge of describe is built, and nothing else', async (_, c) => {
    const d = driver(c);
    const topology = buildTopology(c);
    expect(d.wiring.nodes()).toEqual(topology.nodes.map((n) => n.name));
    expect(d.wiring.edges()).toEqual(topology.edges());
    await d.close();
  });

  it('with rules: the alert input and the alert stage’s sub-topology too', async () => {
    const rules = parseRuleFiles([
      {
        file: 'rules.yaml',
        text: 'groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n',
      },
    ]);
    const c = { ...config, alerts: { rules: ['rules.yaml'], tickMs: 1000 } };
    const d = new TopologyTestDriver(c, { startTime: T0 + 2 * MINUTE, rules });
    const topology = buildTopology(c);
    expect(d.wiring.nodes()).toEqual(topology.nodes.map((n) => n.name));
    expect(d.wiring.edges()).toEqual(topology.edges());
    expect(d.wiring.edges()).toEqual(
      expect.arrayContaining(['validate->alert-input-sink', 'alert-rules->sink-alerts']),
    );
    d.pipeInput(0, [sample(0, 0)]);
    await d.advance(config.sink.maxMs);
    expect(d.readOutput(`${c.appId}-alert-input`)).toHaveLength(1);
    await d.close();
  });
});

describe('TopologyTestDriver: timing on virtual time', () => {
  it('writes the raw rows after the buffer’s age, and a 1m result once the watermark passes the grace', async () => {
    const d = driver();
    d.pipeInput(0, [sample(0), sample(10 * SECOND), sample(59 * SECOND)]);
    await d.advance(config.sink.maxMs - 1);
    expect(d.stats.stored).toBe(0);
    await d.advance(1);
    expect(d.stats.stored).toBe(3);
    // Window [0, 1m) closes when the watermark (largest event time - 5 s) passes 1m + 10 s grace.
    d.pipeInput(0, [sample(MINUTE + 14 * SECOND)]);
    await d.advance(config.sink.maxMs);
    expect(d.readRollups(namedTierTopic(config, '1m'))).toEqual([]);
    d.pipeInput(0, [sample(MINUTE + 15 * SECOND)]);
    await d.advance(config.sink.maxMs);
    const [result] = d.readRollups(namedTierTopic(config, '1m'));
    expect(result).toMatchObject({ windowStart: T0, count: 3, tier: '1m' });
    await d.close();
  });

  it('commits the offsets every commit interval while records come, and at once when the input goes quiet', async () => {
    const d = driver();
    const { maxMs, commitIntervalMs } = config.sink;
    d.pipeInput(0, [sample(0)]);
    await d.advance(maxMs);
    expect(d.committed('in', 0)).toBeUndefined();
    // Records keep coming every maxMs: only the commit interval commits.
    let at = 1;
    for (let t = maxMs; t < commitIntervalMs - maxMs; t += maxMs) {
      d.pipeInput(0, [sample(at++ * SECOND)]);
      await d.advance(maxMs);
      expect(d.committed('in', 0)).toBeUndefined();
    }
    // The interval passes: what was flushed by then is committed, the rest waits.
    d.pipeInput(0, [sample(at++ * SECOND)]);
    await d.advance(2 * maxMs);
    expect(d.committed('in', 0)).toBeGreaterThanOrEqual(at - 2);
    // Then quiet: two ticks without records commit everything flushed.
    await d.advance(3 * maxMs);
    expect(d.committed('in', 0)).toBe(at);
    // The changelog carries the state with the offsets.
    expect(d.readOutput(`${config.appId}-window-1m-changelog`).length).toBeGreaterThan(0);
    await d.close();
  });

  it('a silent partition stops holding the watermark back after idleTimeoutMs of wall clock', async () => {
    const d = driver(config, 2);
    const { maxMs } = config.sink;
    d.pipeInput(1, [sample(0, 1, 'b')]);
    d.pipeInput(0, [sample(0), sample(MINUTE + 20 * SECOND)]);
    await d.advance(maxMs);
    // Partition 0 goes on, partition 1 (at event time 0) shows nothing: the watermark waits for it...
    let second = 21;
    for (let t = maxMs; t < config.windows.idleTimeoutMs; t += maxMs) {
      expect(d.readRollups(namedTierTopic(config, '1m'))).toEqual([]);
      d.pipeInput(0, [sample(MINUTE + second++ * SECOND)]);
      await d.advance(maxMs);
    }
    // ...until it has been silent for idleTimeoutMs: idle, and the minute closes in both partitions.
    d.pipeInput(0, [sample(MINUTE + second++ * SECOND)]);
    await d.advance(2 * maxMs);
    const results = d.readRollups(namedTierTopic(config, '1m'));
    expect(results.map((r) => [r.labels.host, r.windowStart, r.count]).sort()).toEqual([
      ['a', T0, 1],
      ['b', T0, 1],
    ]);
    await d.close();
  });

  it('wakes for the wall-clock punctuation due when a partition turns idle, between ticks, and writes what it closes', async () => {
    // Ticks of 1 s: partition 0's records below span 8 of them, well inside the idle timeout.
    const c = loadConfig(undefined, {}, { topics: { metrics: 'in' }, sink: { maxMs: 1000 } });
    const d = driver(c, 2);
    const { maxMs } = c.sink;
    const { idleTimeoutMs } = c.windows;
    // Half a tick in: the records are processed at 1.5 ticks, so partition 1's idleness falls between two ticks.
    await d.advance(maxMs / 2);
    d.pipeInput(1, [sample(0, 1, 'b')]);
    d.pipeInput(0, [sample(0), sample(MINUTE + 20 * SECOND)]);
    await d.advance(maxMs);
    // Partition 0 goes on for a while (so the input is not quiet), then stops too.
    for (let second = 21; second < 29; second++) {
      d.pipeInput(0, [sample(MINUTE + second * SECOND)]);
      await d.advance(maxMs);
    }
    const idleAt = maxMs / 2 + maxMs + idleTimeoutMs;
    await d.advance(idleAt - 1 - (maxMs / 2 + 9 * maxMs));
    expect(d.readRollups(namedTierTopic(c, '1m'))).toEqual([]);
    // Partition 1 turns idle: the minute closes and is written then, not at the next tick.
    await d.advance(1);
    const results = d.readRollups(namedTierTopic(c, '1m'));
    expect(results.map((r) => [r.labels.host, r.windowStart, r.count]).sort()).toEqual([
      ['a', T0, 1],
      ['b', T0, 1],
    ]);
    await d.close();
  });

  it('sends a sample later than grace and allowed lateness to the late topic, with its reason, and dead-letters what does not decode', async () => {
    const d = driver();
    d.pipeInput(0, [sample(0), sample(5 * MINUTE)]);
    await d.advance(config.sink.maxMs);
    d.pipeInput(0, [sample(10 * SECOND, 7)]);
    d.pipeRaw(0, Buffer.from('not avro'));
    await d.advance(config.sink.maxMs);
    const late = d.readLate();
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ timestamp: T0 + 10 * SECOND, value: 7 });
    expect(late[0]?.reason).not.toBe('');
    expect(d.readOutput(config.topics.dlq)).toHaveLength(1);
    // The raw record is the third of partition 0: its offset comes from the fetched batch's offsets.
    expect(d.readOutput(config.topics.dlq)[0]?.headers).toMatchObject({
      'dlq.source.offset': '2',
      'dlq.source.partition': '0',
      'dlq.stage': 'decode',
    });
    await d.close();
  });

  it('closes every window at the end of input, as `run --exit-when-idle` does, into both tiers', async () => {
    const d = driver();
    d.pipeInput(0, [sample(0), sample(30 * SECOND), sample(MINUTE)]);
    await d.advance(config.sink.maxMs);
    await d.close({ closeWindows: true });
    expect(d.readRollups(namedTierTopic(config, '1m')).map((r) => [r.windowStart, r.count])).toEqual([
      [T0, 2],
      [T0 + MINUTE, 1],
    ]);
    expect(d.readRollups(namedTierTopic(config, '1h')).map((r) => [r.windowStart, r.count])).toEqual([
      [T0, 3],
    ]);
    expect(d.committed('in', 0)).toBe(1);
  });
});

describe('TopologyTestDriver: closing a backlog of open windows at the end of input', () => {
  it('closes them a step of event time at a time, each step written before the next, each window once', async () => {
    // Out-of-orderness of an hour: nothing closes while the input comes, 40 minutes stay open.
    const c = loadConfig(
      undefined,
      {},
      { topics: { metrics: 'in' }, windows: { outOfOrdernessMs: 3_600_000 } },
    );
    const d = new TopologyTestDriver(c, { partitions: 1, startTime: T0 + 41 * MINUTE });
    for (let m = 0; m < 40; m++) d.pipeInput(0, [sample(m * MINUTE, m, 'a'), sample(m * MINUTE, m, 'b')]);
    await d.advance(c.sink.maxMs);
    expect(d.readRollups(namedTierTopic(c, '1m'))).toEqual([]);
    await d.close({ closeWindows: true });
    const records = d
      .readOutput(namedTierTopic(c, '1m'))
      .map((r) => d.readRollupRecord(r).map((x) => x.windowStart));
    // One record per step: several steps, in event-time order, every minute of both series once.
    expect(records.length).toBeGreaterThan(2);
    const starts = records.flat();
    expect(starts).toHaveLength(80);
    expect(new Set(starts.map((t) => t)).size).toBe(40);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(d.readRollups(namedTierTopic(c, '1h')).map((r) => r.count)).toEqual([40, 40]);
  });
});

describe('TopologyTestDriver: alert evaluation on virtual time', () => {
  const alerting = { ...config, alerts: { rules: ['rules.yaml'], tickMs: 1000 } };
  const rules = (text: string) => parseRuleFiles([{ file: 'rules.yaml', text }]);

  it('fires on event time once the condition held for `for`, and resolves', async () => {
    const d = new TopologyTestDriver(alerting, {
      startTime: T0 + 2 * MINUTE,
      rules: rules(
        'groups:\n  - name: g\n    interval: 10s\n    rules:\n      - alert: High\n        expr: up > 90\n        for: 30s\n',
      ),
    });
    // One sample every 10 s: above 90 from 0 s to 60 s, then back down.
    for (let s = 0; s <= 120; s += 10) {
      d.pipeInput(0, [sample(s * SECOND, s <= 60 ? 95 : 50)]);
      await d.advance(config.sink.maxMs);
    }
    await d.advance(20 * config.sink.maxMs);
    expect(d.readAlerts().map((e) => [e.state, e.timestamp - T0])).toEqual([
      ['pending', 0],
      ['firing', 30 * SECOND],
      ['resolved', 70 * SECOND],
    ]);
    await d.close();
  });

  it('a source that stops sending raises the absence alert as the wall clock moves on, no sample arriving', async () => {
    const d = new TopologyTestDriver(
      { ...alerting, windows: { ...config.windows, outOfOrdernessMs: 1000, idleTimeoutMs: 1000 } },
      {
        startTime: T0 + 10 * SECOND,
        rules: rules(
          'groups:\n  - name: g\n    interval: 5s\n    rules:\n      - alert: Silent\n        expr: absent_over_time(up{host="b"}[20s])\n',
        ),
      },
    );
    d.pipeInput(0, [sample(0, 1, 'b')]);
    await d.advance(5 * SECOND);
    expect(d.readAlerts()).toEqual([]);
    // Nothing else is ever sent: 20 s of wall clock later, b is absent.
    await d.advance(30 * SECOND);
    const [event] = d.readAlerts();
    expect(event).toMatchObject({ rule: 'Silent', state: 'firing' });
    expect(event?.timestamp).toBeGreaterThanOrEqual(T0 + 20 * SECOND);
    expect(event?.timestamp).toBeLessThanOrEqual(T0 + 40 * SECOND);
    await d.close();
  });
});

describe('TopologyTestDriver: kills and restarts on virtual time', () => {
  /**
   * 12 minutes of three series, a record every 10 s (a flush each); with `kills`, the instance
   * is killed after those records (mid-interval: flushed, not committed) and restarted from the
   * changelogs and committed offsets. Returns the last revision of every window, per tier.
   */
  async function run(
    c: Config,
    kills: number[],
  ): Promise<{ windows: Map<string, number>; late: number; records: number }> {
    const d = new TopologyTestDriver(c, { startTime: T0 + 30 * MINUTE });
    for (let i = 0; i < 72; i++) {
      d.pipeInput(
        0,
        ['a', 'b', 'c'].map((host) => sample(i * 10 * SECOND, i, host)),
      );
      await d.advance(c.sink.maxMs);
      if (kills.includes(i)) await d.restart();
    }
    await d.close({ closeWindows: true });
    const windows = new Map<string, number>();
    for (const topic of [namedTierTopic(c, '1m'), namedTierTopic(c, '1h')]) {
      const last = new Map<string, { revision: number; count: number }>();
      for (const r of d.readRollups(topic)) {
        const key = `${r.tier} ${r.labels.host} ${(r.windowStart - T0) / MINUTE}`;
        const before = last.get(key);
        if (!before || r.revision >= before.revision) last.set(key, { revision: r.revision, count: r.count });
      }
      for (const [key, { count }] of last) windows.set(key, count);
    }
    return { windows, late: d.readLate().length, records: d.stats.records };
  }

  it.each([
    ['co-partitioned', config],
    [
      'repartitioned',
      loadConfig(undefined, {}, { topics: { metrics: 'in' }, input: { coPartitioned: false } }),
    ],
  ])('%s: killed twice mid-interval, every window ends as in a run without kills', async (_, c) => {
    const clean = await run(c, []);
    expect(clean.late).toBe(0);
    expect(clean.windows.get('1m a 0')).toBe(6);
    expect(clean.windows.get('1h a 0')).toBe(72);
    expect([...clean.windows.keys()].filter((k) => k.startsWith('1m'))).toHaveLength(36);
    const killed = await run(c, [23, 47]);
    // The records after the last commit before each kill were read again.
    expect(killed.records).toBeGreaterThan(clean.records);
    expect(killed.windows).toEqual(clean.windows);
    expect(killed.late).toBe(0);
  });
});
