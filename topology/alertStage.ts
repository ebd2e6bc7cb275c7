import { randomUUID } from 'node:crypto';
import type { Kafka, Message, Producer } from 'kafkajs';
import { lastValueFrom, of } from 'rxjs';
import { AlertEngine } from '../alerts/engine.js';
import type { RuleSet } from '../alerts/rules.js';
import { engineEntryCodec, type AlertStore, type EngineEntry } from '../alerts/store.js';
import type { Config } from '../core/config.js';
import { isRetriable, messageOf, PipelineError } from '../core/errors.js';
import { committedToEnd, partitionCount, type TopicSpec } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { ProcessedBatch, Rejected } from '../core/records.js';
import { rowsOf, SampleColumnsBuilder, type BatchSeries } from '../core/sampleColumns.js';
import { decodeRecords } from '../operators/decodeRecords.js';
import { readRepartitioned } from '../operators/readRepartitioned.js';
import { alertSchema, alertType, frame, type AlertEvent } from '../schemas/index.js';
import type { Registry } from '../schemas/registry.js';
import { deadLetterMessages } from '../sinks/deadLetter.js';
import type { TopologyMetrics } from './metrics.js';
import { transactionalCommits } from '../streams/commitStrategy.js';
import { ConsumerRuntime } from '../streams/consumerRuntime.js';
import { offsetsOf } from '../streams/kafkaSource.js';
import { readChangelogs } from '../streams/readToEnd.js';
import { ChangelogStore, type ChangelogEntry } from '../streams/stateStore.js';
import { AlertTask } from './alertTask.js';
import { every, systemClock, type Clock } from '../streams/clock.js';
import type { Wiring } from '../streams/topologyBuilder.js';
import { NODE } from './graph.js';

/** The internal topic that carries the samples the rules select to the alert stage: one partition. */
export function alertInputTopic(appId: string): string {
  return `${appId}-alert-input`;
}

/** The compacted changelog of the alert engine's store. */
export function alertChangelogTopic(appId: string): string {
  return `${appId}-alerts-changelog`;
}

/** The topics of the alert stage: its input and changelog (one partition each), and the alerts topic. */
export function alertTopicSpecs(config: Config): TopicSpec[] {
  return [
    // Consumed within seconds; a day keeps a replay possible after a long outage of the stage.
    { topic: alertInputTopic(config.appId), partitions: 1, config: { 'retention.ms': String(86_400_000) } },
    {
      topic: alertChangelogTopic(config.appId),
      partitions: 1,
      config: {
        'cleanup.policy': 'compact',
        'min.compaction.lag.ms': String(3_600_000),
        'max.message.bytes': String(64 * 1024 * 1024),
      },
    },
    { topic: config.topics.alerts, partitions: config.topics.partitions },
  ];
}

/**
 * Which samples the rules need, so that the topology sends only those to the alert stage.
 * Decided once per series (a bounded cache).
 */
export class AlertSelection {
  private readonly engine: AlertEngine;
  private readonly cache = new Map<bigint, boolean>();

  constructor(rules: RuleSet) {
    this.engine = new AlertEngine(rules);
  }

  /** The batches with only the samples some rule selects; batches left empty are dropped. */
  select(batches: ReadonlyArray<ProcessedBatch>): ProcessedBatch[] {
    const out: ProcessedBatch[] = [];
    for (const batch of batches) {
      const { samples } = batch;
      // Decided per series of the batch, then the selected samples copied column by column.
      const selected = samples.series.map((s) => this.selects(s));
      if (!selected.includes(true)) continue;
      const kept = new SampleColumnsBuilder(samples.length);
      for (let i = 0; i < samples.length; i++) {
        const index = samples.seriesIndex[i] as number;
        if (!selected[index]) continue;
        const origin = samples.origin;
        kept.push(
          samples.series[index] as BatchSeries,
          samples.ts[i] as number,
          samples.value[i] as number,
          samples.counter[i] === 1,
          samples.offset[i] as number,
          origin && { partition: origin.partition[i] as number, offset: origin.offset[i] as number },
        );
      }
      out.push({ ...batch, samples: kept.finish(), rejects: [] });
    }
    return out;
  }

  private selects(series: BatchSeries): boolean {
    let selected = this.cache.get(series.id);
    if (selected === undefined) {
      selected = this.engine.selects(series.name, series.labels);
      if (this.cache.size >= 1_000_000) this.cache.clear();
      this.cache.set(series.id, selected);
    }
    return selected;
  }
}

/** The changelog-backed store of the engine: dirty keys go to the changelog with the next transaction. */
class EngineStore extends ChangelogStore<EngineEntry> implements AlertStore {
  constructor() {
    super('alerts', engineEntryCodec);
  }
}

/** What the stage wrote to its changelog with its state: the event time each input partition reached. */
interface Checkpoint {
  channels: Record<number, number>;
}

const CHECKPOINT_KEY = '__checkpoint';

/**
 * Retries of each request of the stage's transactional producer. kafkajs retries an idempotent
 * producer's requests forever by default, so a transaction the coordinator keeps refusing
 * (CONCURRENT_TRANSACTIONS) held the stage, and `run --exit-when-idle`, for good; a transaction
 * that fails is aborted and the stage starts over from its changelog instead.
 */
const TRANSACTION_RETRIES = 8;

/** The state of the stage while it owns its input partition. */
interface Owned {
  /** Transactional, with one id per appId: a new owner fences a previous one that still runs. */
  producer: Producer;
  task: AlertTask;
  store: EngineStore;
}

export interface AlertStageStats {
  samples: number;
  events: { pending: number; firing: number; resolved: number };
}

export interface RunningAlertStage {
  stats: AlertStageStats;
  /** Rejects when the stage cannot go on. */
  done: Promise<void>;
  /** Why its consumer is not consuming, or undefined while it is. */
  problem(): string | undefined;
  stop(): Promise<void>;
  /** True once the alert input is consumed to its end. */
  isIdle(): Promise<boolean>;
}

/**
 * The alert stage (sub-topology `alerts`): the samples the rules select arrive from every input
 * partition on `<appId>-alert-input` (one partition: absence and aggregation need every series
 * of a selector in one engine), with the input partition they came from. The engine evaluates
 * the rules on event time: each group at its interval, as the watermark (bounded
 * out-of-orderness, minimum across input partitions, idle ones skipped) passes its instants.
 * When the whole pipeline is caught up and no sample arrives any more, event time follows the
 * wall clock (minus the out-of-orderness bound), so that a source that stopped sending still
 * raises its absence alert.
 *
 * Exactly once, as Kafka Streams does it: the alert events (to the alerts topic, keyed by
 * fingerprint), the engine's changed state (to its compacted changelog) and the input offset
 * go in one Kafka transaction. A restart restores the state the last transaction left, so a
 * pending alert keeps its start and a firing one is not announced again. Only one instance
 * owns the input partition (consumer group `<appId>-alerts`); another takes over on failure.
 */
export async function startAlertStage(deps: {
  config: Config;
  kafka: Kafka;
  registry: Registry;
  rules: RuleSet;
  metrics: TopologyMetrics;
  log: Logger;
  /** Wall-clock time: the evaluation ticks, idleness, and event time when nothing arrives (default: the system's). */
  clock?: Clock;
  /** Records the alert sub-topology's nodes and edges as built. */
  wiring?: Wiring;
}): Promise<RunningAlertStage> {
  const { config, kafka, registry, rules, metrics, log } = deps;
  const clock = deps.clock ?? systemClock;
  deps.wiring?.connect(NODE.alertInputSource, NODE.alertRules);
  deps.wiring?.connect(NODE.alertRules, NODE.sinkAlerts);
  const input = alertInputTopic(config.appId);
  const changelog = alertChangelogTopic(config.appId);
  const groupId = `${config.appId}-alerts`;
  const schemaId = await registry.register(`${config.topics.alerts}-value`, alertSchema);
  const stats: AlertStageStats = { samples: 0, events: { pending: 0, firing: 0, resolved: 0 } };

  const admin = kafka.admin();
  await admin.connect();
  const inputPartitions = await partitionCount(admin, config.topics.metrics);

  let owned: Owned | undefined;
  let restoring: Promise<Owned> | undefined;
  /** The next input offset to read, as far as this process applied it. */
  let position = -1;
  /** Whether the last evaluation saw every input partition idle: the watermark went as far as it can. */
  let settled = false;
  /** Whether the last evaluation went by the wall clock (logged when it starts). */
  let followingClock = false;
  let failure: ((error: unknown) => void) | undefined;
  let stopped: () => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    failure = reject;
    stopped = resolve;
  });
  // Records and ticks take turns: one transaction at a time.
  let queue: Promise<void> = Promise.resolve();
  const serial = (work: () => Promise<void>): Promise<void> => {
    const next = queue.then(work);
    queue = next.catch(() => undefined);
    return next;
  };

  const restore = async (): Promise<Owned> => {
    const started = clock.now();
    const producer = kafka.producer({
      transactionalId: `${config.appId}-alerts`,
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: TRANSACTION_RETRIES },
    });
    await producer.connect();
    let entries: ChangelogEntry[];
    try {
      // Fences a previous owner's producer and aborts its open transaction before the changelog
      // is read (kafkajs registers the transactional id with the first transaction, not on
      // connect): else that transaction stays open, holding every read_committed reader of the
      // changelog and alerts topic at its start, until this owner's first commit or its timeout.
      await (await producer.transaction()).abort();
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      throw new PipelineError(`cannot fence the previous owner of the alert stage: ${messageOf(error)}`, {
        cause: error,
        retriable: true,
      });
    }
    try {
      const read = await readChangelogs(kafka, `${config.appId}-alerts-restore-${randomUUID()}`, [changelog]);
      entries = read.get(`${changelog}:0`) ?? [];
    } catch (error) {
      throw new PipelineError(`cannot restore the alert state from ${changelog}: ${messageOf(error)}`, {
        cause: error,
        retriable: true,
      });
    }
    const store = new EngineStore();
    const last = entries.findLastIndex((e) => e.key === CHECKPOINT_KEY && e.value !== null);
    store.restore(entries.filter((e) => e.key !== CHECKPOINT_KEY));
    store.changes(); // restored, not changed
    const checkpoint = entries[last]?.value
      ? (JSON.parse(entries[last].value.toString()) as Checkpoint)
      : undefined;
    const task = new AlertTask({
      rules,
      store,
      clock,
      inputPartitions,
      outOfOrdernessMs: config.windows.outOfOrdernessMs,
      idleTimeoutMs: config.windows.idleTimeoutMs,
      restored: checkpoint?.channels,
      // As in Prometheus: the rule's alerts stay as they were; the next evaluation tries again.
      onRuleError: (rule, error) =>
        log.warn(
          { rule: rule.name, group: rule.group, error: error.message },
          'alert rule evaluation failed',
        ),
    });
    log.info(
      { entries: store.size, ...task.engine.activeCounts(), ms: clock.now() - started },
      'alert state restored',
    );
    return { producer, task, store };
  };

  /** The state, restored first if needed; undefined while this instance does not own the input. */
  const state = async (): Promise<Owned | undefined> => {
    if (owned) return owned;
    if (!restoring) return undefined;
    owned = await restoring;
    return owned;
  };

  /**
   * Writes events, changed state and (with `offset`) the input position in one transaction of
   * the owner's producer, unless the group rebalanced since `generation` (the state is then
   * restored again from the changelog by whoever owns the input).
   */
  const commit = async (
    own: Owned,
    generation: number,
    events: AlertEvent[],
    offset?: number,
    rejects: ReadonlyArray<Rejected> = [],
  ): Promise<void> => {
    const changes = own.store.changes();
    if (events.length === 0 && changes.length === 0 && offset === undefined) return;
    const checkpoint: Checkpoint = { channels: own.task.channels() };
    changes.push({ key: CHECKPOINT_KEY, value: Buffer.from(JSON.stringify(checkpoint)) });
    const alertMessages: Message[] = events.map((e) => ({
      key: e.fingerprint,
      value: frame(schemaId, alertType.toBuffer(e)),
    }));
    try {
      await runtime.commit(
        offset === undefined ? [] : [{ topic: input, partition: 0, offset: String(offset) }],
        generation,
        async (transaction) => {
          if (alertMessages.length > 0)
            await transaction.send({ topic: config.topics.alerts, messages: alertMessages, acks: -1 });
          // Records of this internal topic that do not decode: kept in the DLQ with their reason.
          if (rejects.length > 0)
            await transaction.send({
              topic: config.topics.dlq,
              acks: -1,
              messages: deadLetterMessages(rejects),
            });
          await transaction.send({
            topic: changelog,
            acks: -1,
            messages: changes.map((c) => ({ key: c.key, value: c.value, partition: 0 })),
          });
        },
      );
    } catch (error) {
      throw new PipelineError(`cannot write alert events and state: ${messageOf(error)}`, {
        cause: error,
        retriable: true,
      });
    }
    for (const e of events) {
      stats.events[e.state] += 1;
      metrics.alertEvents.inc({ state: e.state });
      log.info(
        {
          alert: e.rule,
          state: e.state,
          labels: e.labels,
          value: e.value,
          at: new Date(e.timestamp).toISOString(),
        },
        'alert',
      );
    }
    const active = own.task.engine.activeCounts();
    metrics.alertsActive.set({ state: 'pending' }, active.pending);
    metrics.alertsActive.set({ state: 'firing' }, active.firing);
  };

  /**
   * After a failed transaction the state in memory is ahead of the changelog: start over from it
   * and read the input again from the committed offset. Only while this instance owns the input:
   * a failure because another owner fenced this one's producer must not fence that owner in turn.
   */
  const recover = async (error: unknown) => {
    log.warn({ error: messageOf(error) }, 'alert stage starts over from its last transaction');
    await release();
    if (!runtime.owns(input, 0)) return;
    restoring = restore();
    restoring.catch((e: unknown) => failure?.(e));
    const [committed] = await admin.fetchOffsets({ groupId, topics: [input] });
    const offset = committed?.partitions.find((p) => p.partition === 0)?.offset ?? '-1';
    runtime.consumer.seek({ topic: input, partition: 0, offset: Number(offset) < 0 ? '0' : offset });
  };

  /** Drops the state and the producer (revoked, or after a failed transaction). */
  const release = async () => {
    const previous = owned ?? (await restoring?.catch(() => undefined));
    owned = undefined;
    restoring = undefined;
    await previous?.producer.disconnect().catch(() => undefined);
  };

  const runtime = new ConsumerRuntime({
    kafka,
    name: 'alert stage',
    groupId,
    topics: [input],
    consumer: {
      sessionTimeout: config.kafka.sessionTimeoutMs,
      heartbeatInterval: Math.floor(config.kafka.sessionTimeoutMs / 5),
    },
    // Events, state and input position in one transaction of the owner's producer.
    commits: transactionalCommits(() => owned?.producer),
    onAssign: (assignment) => {
      const mine = (assignment[input] ?? []).includes(0);
      if (mine && !owned && !restoring) {
        restoring = restore();
        restoring.catch((error: unknown) => failure?.(error));
      } else if (!mine) void serial(release);
      log.info({ input, owner: mine }, 'alert stage assigned');
    },
    log,
  });
  runtime.done.catch((error: unknown) => failure?.(error));

  const decode = decodeRecords((id) => registry.writerType(id));
  await runtime.start((batch, { isCurrent }) =>
    serial(async () => {
      if (!isCurrent()) return;
      const own = await state();
      if (!own) return;
      const processed = await lastValueFrom(
        of({
          topic: batch.topic,
          partition: batch.partition,
          records: batch.messages,
          offsets: offsetsOf(batch.messages),
          lastOffset: batch.lastOffset,
          generation: batch.generation,
        }).pipe(decode, readRepartitioned()),
      );
      // Instant by instant as the watermark passes them, not once at the end of the batch: the
      // first evaluation of a group is the first instant the watermark reaches.
      let events: AlertEvent[] = [];
      own.task.beginBatch();
      try {
        const rows = rowsOf(processed.samples);
        for (let i = 0; i < rows.length; i++) {
          const row = rows[i] as (typeof rows)[number];
          events.push(...own.task.process(row));
          // Events go out as they happen, not with the rest of the batch (a replay of history
          // would hand the notifier a firing and its resolution at once). The position stays at
          // this record, unless it is done: a restart reads it again, and its samples change nothing.
          if (events.length > 0) {
            await commit(
              own,
              batch.generation,
              events,
              rows[i + 1]?.offset !== row.offset ? row.offset + 1 : row.offset,
            );
            events = [];
          }
        }
        log.debug({ samples: rows.length }, 'alert stage applied');
        await commit(own, batch.generation, events, processed.lastOffset + 1, processed.rejects);
      } catch (error) {
        if (!isRetriable(error)) {
          await release();
          throw error;
        }
        // Nothing else restores the state: the consumer stays in the group, and kafkajs hands
        // the next batches to a stage without state, which skipped them and never got idle.
        await recover(error);
        return;
      }
      position = processed.lastOffset + 1;
      settled = false;
      stats.samples += processed.samples.length;
      metrics.recordsIn.inc({ stage: 'alerts' }, processed.samples.length);
    }),
  );

  /**
   * The input partitions whose samples may still come: all of them while this stage has records
   * to read, else those the topology has not committed to their end. Undefined while a topic's
   * metadata is not known.
   */
  const pending = async (): Promise<number[] | undefined> => {
    if (!(await atEnd(input, groupId, position))) return Array.from({ length: inputPartitions }, (_, p) => p);
    const [ends, offsets] = await Promise.all([
      admin.fetchTopicOffsets(config.topics.metrics),
      admin.fetchOffsets({ groupId: config.appId, topics: [config.topics.metrics] }),
    ]);
    if (ends.length === 0) return undefined;
    const committed = new Map(offsets[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
    return ends
      .filter((p) => Math.max(committed.get(p.partition) ?? -1, Number(p.low)) < Number(p.high))
      .map((p) => p.partition);
  };
  /** Whether a group (or this process, at `local`) consumed `topic` to its end; false while its metadata is not known. */
  const atEnd = async (topic: string, group: string, local?: number): Promise<boolean> => {
    if ((await partitionCount(admin, topic)) === 0) return false;
    return committedToEnd(admin, group, topic, local === undefined ? undefined : new Map([[0, local]]));
  };

  // Evaluation without new records: the watermark moves as partitions turn idle, and when nothing
  // arrives at all, event time follows the wall clock.
  const tick = () =>
    serial(async () => {
      const own = await state();
      if (!own) return;
      // An input partition with samples still on their way is not idle, however long they take.
      const evaluation = own.task.punctuate(await pending());
      // Revoked meanwhile (the release waits behind this tick): the new owner evaluates, and a
      // transaction here would only meet its fence.
      if (!runtime.owns(input, 0)) return;
      if (evaluation.followsClock && !followingClock)
        log.info(
          { watermark: evaluation.watermark, clock: clock.now() - config.windows.outOfOrdernessMs },
          'no samples arrive: alert evaluation follows the wall clock',
        );
      followingClock = evaluation.followsClock;
      try {
        await commit(own, runtime.generation, evaluation.events);
        settled = evaluation.settled;
      } catch (error) {
        await recover(error);
      }
    }).catch((error: unknown) => log.warn({ error: messageOf(error) }, 'alert evaluation failed'));
  const timer = every(clock, config.alerts.tickMs, () => void tick());

  let stopping: Promise<void> | undefined;
  return {
    stats,
    done,
    problem: () => runtime.problem(),
    stop() {
      stopping ??= (async () => {
        timer.cancel();
        await runtime.stop();
        await queue;
        await release();
        await runtime.close();
        await admin.disconnect().catch(() => undefined);
        stopped();
      })();
      return stopping;
    },
    /** Consumed to the end and, if this instance owns the input, evaluated as far as the watermark can go. */
    async isIdle() {
      const owner = owned !== undefined || restoring !== undefined;
      return (!owner || settled) && (await atEnd(input, groupId, position));
    },
  };
}
