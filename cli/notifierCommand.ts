import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Kafka } from 'kafkajs';
import { formatDuration, parseDuration } from '../alerts/duration.js';
import type { Config } from '../core/config.js';
import { ConfigError, PipelineError } from '../core/errors.js';
import { createKafka, ensureTopics } from '../core/kafka.js';
import { createLogger, type Logger } from '../core/log.js';
import { notifierNames, startNotifier } from '../notifier/notifier.js';
import { SilenceTopic } from '../notifier/silenceTopic.js';
import { notifierConfig } from '../notifier/config.js';
import { configSilences, NEVER, silenceMatchers, silenceState, type Silence } from '../notifier/silences.js';

/** Runs the notifier until SIGINT/SIGTERM (exit 0) or until it fails (exit 1). */
export async function notifierCommand(config: Config, flags: { adminPort: number }): Promise<void> {
  const log = createLogger('notifier');
  const notifier = await startNotifier({ config, log, adminPort: flags.adminPort });
  let failure: { error: unknown } | undefined;
  await Promise.race([
    new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    }),
    notifier.done.catch((error: unknown) => {
      failure = { error };
    }),
  ]);
  await notifier.stop();
  if (failure) throw failure.error;
}

export interface SilenceAddFlags {
  matcher: string[];
  duration: string;
  comment: string;
  author?: string;
  start?: string;
}

/** `notifier silence add`: validates, writes the silence to `<appId>-silences`, prints its id. */
export async function silenceAddCommand(config: Config, flags: SilenceAddFlags): Promise<void> {
  try {
    silenceMatchers(flags.matcher);
  } catch (error) {
    throw new ConfigError(`--matcher: ${(error as Error).message}`, {
      hint: `e.g. --matcher 'alertname="HighCPU"' --matcher 'severity=~"crit|page"'`,
    });
  }
  let ms: number;
  try {
    ms = parseDuration(flags.duration);
  } catch (error) {
    throw new ConfigError(`--duration: ${(error as Error).message}`);
  }
  if (ms <= 0) throw new ConfigError('--duration must be longer than 0');
  if (flags.comment.trim() === '') throw new ConfigError('--comment must say why the alerts are silenced');
  const now = Date.now();
  const startsAt = flags.start === undefined ? now : Date.parse(flags.start);
  if (Number.isNaN(startsAt))
    throw new ConfigError(`--start: "${flags.start}" is not a time (RFC 3339, e.g. 2025-01-31T18:00:00Z)`);
  const silence: Silence = {
    id: randomUUID(),
    matchers: flags.matcher,
    startsAt,
    endsAt: startsAt + ms,
    createdBy: flags.author ?? userInfo().username,
    comment: flags.comment,
    updatedAt: now,
  };
  await withSilenceTopic(config, (topic, kafka) => put(kafka, topic, silence));
  console.log(silence.id);
}

/** `notifier silence list`: the silences of the topic and of the config file, active and pending (all with --expired). */
export async function silenceListCommand(
  config: Config,
  flags: { expired?: boolean; json?: boolean },
): Promise<void> {
  const now = Date.now();
  const stored = await withSilenceTopic(config, (topic) => topic.list());
  const all = [...configSilences(notifierConfig(config)?.silences ?? [], now), ...stored]
    .filter((s) => flags.expired || silenceState(s, now) !== 'expired')
    .sort((a, b) => a.endsAt - b.endsAt || a.id.localeCompare(b.id));
  if (flags.json) {
    for (const s of all) console.log(JSON.stringify({ ...s, state: silenceState(s, now) }));
    return;
  }
  const rows = all.map((s) => [
    s.id,
    silenceState(s, now),
    s.matchers.join(' '),
    iso(s.startsAt),
    s.endsAt >= NEVER ? 'never' : iso(s.endsAt),
    s.createdBy,
    s.comment,
  ]);
  const header = ['ID', 'STATE', 'MATCHERS', 'STARTS', 'ENDS', 'CREATED BY', 'COMMENT'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  for (const row of [header, ...rows])
    console.log(
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] as number)))
        .join('  ')
        .trimEnd(),
    );
}

/** `notifier silence expire <id>`: ends a silence now (a pending one never starts). */
export async function silenceExpireCommand(config: Config, id: string): Promise<void> {
  if (id.startsWith('config:'))
    throw new ConfigError(`silence ${id} comes from the config file`, {
      hint: 'remove it from notifier.silences',
    });
  await withSilenceTopic(config, async (topic, kafka) => {
    const silence = (await topic.list()).find((s) => s.id === id);
    if (!silence)
      throw new PipelineError(`no silence with id ${id}`, { hint: 'see `notifier silence list --expired`' });
    const now = Date.now();
    if (silenceState(silence, now) === 'expired')
      throw new PipelineError(`silence ${id} already expired at ${iso(silence.endsAt)}`);
    await put(kafka, topic, {
      ...silence,
      startsAt: Math.min(silence.startsAt, now),
      endsAt: now,
      updatedAt: now,
    });
    console.log(`expired ${id} (was active for ${formatDuration(Math.max(0, now - silence.startsAt))})`);
  });
}

async function withSilenceTopic<T>(
  config: Config,
  use: (topic: SilenceTopic, kafka: Kafka) => Promise<T>,
): Promise<T> {
  const log: Logger = createLogger('notifier');
  // Few retries: a user at a terminal wants to hear soon that Kafka is unreachable.
  const kafka = createKafka(config.kafka.brokers, config.kafka.clientId, log, 3);
  const name = notifierNames(config).silences;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [SilenceTopic.spec(name)]);
  } finally {
    await admin.disconnect();
  }
  return use(new SilenceTopic(kafka, name, `${config.appId}-silence-cli`), kafka);
}

async function put(kafka: Kafka, topic: SilenceTopic, silence: Silence): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await topic.put(producer, silence);
  } finally {
    await producer.disconnect();
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}
