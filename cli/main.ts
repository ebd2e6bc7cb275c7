import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, PipelineError } from '../core/errors.js';
import { commandConfig, intOption, type GlobalOptions } from './context.js';
import type { ProduceFlags } from './produceCommand.js';

const program = new Command('metrics-pipeline')
  .description('Metrics pipeline: Avro metric samples from Kafka through a stream topology into ClickHouse')
  .option('-c, --config <file>', 'config file (YAML or JSON); also METRICS_PIPELINE_CONFIG')
  .showHelpAfterError()
  .exitOverride();

const global = () => program.opts<GlobalOptions>();
const int =
  (name: string, min = 0) =>
  (v: string) => {
    try {
      return intOption(name, min)(v);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };

const services = program
  .command('services')
  .description('local Kafka and schema registry, as plain processes on loopback');
services
  .command('up')
  .description('start Kafka and the schema registry in the background (fetching their jars on first use)')
  .option('--kafka-port <port>', 'Kafka port (default: a free port)', int('kafka-port', 1))
  .option('--registry-port <port>', 'registry port (default: a free port)', int('registry-port', 1))
  .action(async (o: { kafkaPort?: number; registryPort?: number }) => {
    const { servicesUp } = await import('../services/index.js');
    const endpoints = await servicesUp({ kafkaPort: o.kafkaPort, registryPort: o.registryPort });
    console.log(`KAFKA_BROKERS=${endpoints.brokers.join(',')}`);
    console.log(`SCHEMA_REGISTRY_URL=${endpoints.registryUrl}`);
  });
services
  .command('down')
  .description('stop the services started by `services up`')
  .action(async () => (await import('../services/index.js')).servicesDown());
services
  .command('status')
  .description('show the local services and whether they answer')
  .action(async () => {
    const statuses = await (await import('../services/index.js')).servicesStatus();
    if (statuses.length === 0)
      console.log('no services configured or running (start them with `metrics-pipeline services up`)');
    for (const s of statuses)
      console.log(`${s.name.padEnd(10)} ${s.up ? 'up  ' : 'DOWN'} ${s.url}${s.pid ? ` (pid ${s.pid})` : ''}`);
  });
services
  .command('fetch')
  .description('download the service jars with Maven (done by `up` when missing)')
  .action(async () => (await import('../services/index.js')).fetchServiceJars());

program
  .command('produce')
  .description('publish deterministic synthetic metrics (Avro batches, keyed by series)')
  .option('--series <n>', 'distinct series', int('series', 1), 1000)
  .option('--samples <n>', 'samples in all', int('samples', 0), 100_000)
  .option('--rate <n>', 'samples per second at most (0 = unlimited)', int('rate', 0), 0)
  .option('--batch <n>', 'samples per Kafka record', int('batch', 1), 10)
  .option('--seed <n>', 'random seed', int('seed', 0), 1)
  .option('--interval <ms>', 'event time between samples of a series', int('interval', 1), 10_000)
  .option(
    '--start <epochMs>',
    'event time of the first sample (default: so that the last is now)',
    int('start', 0),
  )
  .option('--topic <name>', 'topic (default: the configured metrics topic)')
  .addOption(
    new Option(
      '--keys <keys>',
      'series: records keyed by series id; round-robin: no key, every series spread over all partitions',
    )
      .choices(['series', 'round-robin'] as const)
      .default('series'),
  )
  .action(async (o: ProduceFlags) => {
    const { produceCommand } = await import('./produceCommand.js');
    await produceCommand(await commandConfig(global()), o);
  });

program
  .command('run')
  .description('run the topology until stopped (SIGINT/SIGTERM)')
  .option(
    '--exit-when-idle',
    'consume to the end of the input, close windows as at its end, flush, commit and exit 0',
  )
  .addOption(
    new Option(
      '--sink <where>',
      'clickhouse: store everything here; topics: window results to the tier topics only, for `load`',
    )
      .choices(['clickhouse', 'topics'] as const)
      .default('clickhouse'),
  )
  .option(
    '--admin-port <port>',
    'port of /healthz, /readyz, /metrics and the SQL endpoint (default: a free port)',
    int('admin-port', 0),
    0,
  )
  .action(async (o: { exitWhenIdle?: boolean; adminPort: number; sink: 'clickhouse' | 'topics' }) => {
    const { runCommand } = await import('./runCommand.js');
    await runCommand(await commandConfig(global()), { ...o, mode: o.sink === 'topics' ? 'windows' : 'all' });
  });

program
  .command('load')
  .description(
    'store raw samples (from the input) and window results (from the tier topics) of `run --sink topics` instances in ClickHouse',
  )
  .option('--exit-when-idle', 'load to the end of the topics, flush, commit and exit 0')
  .option(
    '--admin-port <port>',
    'port of /healthz, /readyz, /metrics and the SQL endpoint (default: a free port)',
    int('admin-port', 0),
    0,
  )
  .action(async (o: { exitWhenIdle?: boolean; adminPort: number }) => {
    const { runCommand } = await import('./runCommand.js');
    await runCommand(await commandConfig(global()), { ...o, mode: 'load' });
  });

program
  .command('collector')
  .description(
    'HTTP collector: JSON batches, Prometheus remote_write and OTLP metrics in, Avro batches to the metrics topic out',
  )
  .option(
    '--port <port>',
    'port to listen on (default: collector.port, 9091; 0 = a free port)',
    int('port', 0),
  )
  .option('--host <host>', 'address to listen on (default: collector.host, 127.0.0.1)')
  .option(
    '--workers <n>',
    'processes serving the port together, each with its own Kafka producer and write-ahead log (default: collector.workers, 1)',
    int('workers', 1),
  )
  .action(async (o: { port?: number; host?: string; workers?: number }) => {
    const { collectorCommand } = await import('./collectorCommand.js');
    await collectorCommand(
      await commandConfig(global(), { collector: { port: o.port, host: o.host, workers: o.workers } }),
    );
  });

program
  .command('query')
  .description(
    "Prometheus' HTTP API (PromQL, series, labels, remote read) over the ClickHouse tiers, with tier choice and a results cache",
  )
  .option('--port <port>', 'port to listen on (default: query.port, 9090; 0 = a free port)', int('port', 0))
  .option('--host <host>', 'address to listen on (default: query.host, 127.0.0.1)')
  .action(async (o: { port?: number; host?: string }) => {
    const { queryCommand } = await import('./queryCommand.js');
    await queryCommand(await commandConfig(global(), { query: { port: o.port, host: o.host } }));
  });

const rules = program
  .command('rules')
  .description('alerting rules (Prometheus rule files, a subset of PromQL)');
rules
  .command('test')
  .description("run rule unit tests written in promtool's `test rules` format; exit 1 when one fails")
  .argument('<files...>', 'rule test files (YAML)')
  .action(async (files: string[]) => {
    const { rulesTestCommand } = await import('../alerts/rulesTestCommand.js');
    const code = rulesTestCommand(files);
    if (code !== 0) process.exit(code);
  });

const notifier = program
  .command('notifier')
  .description(
    'deliver alert events (routing, grouping, silences, inhibition) to webhook, Slack, PagerDuty, email and Alertmanager receivers',
  )
  .option(
    '--admin-port <port>',
    'port of /healthz, /readyz and /metrics (default: a free port)',
    int('admin-port', 0),
    0,
  )
  .action(async (o: { adminPort: number }) => {
    const { notifierCommand } = await import('./notifierCommand.js');
    await notifierCommand(await commandConfig(global()), o);
  });
const silence = notifier
  .command('silence')
  .description('silences in the <appId>-silences topic, seen by every running notifier');
silence
  .command('add')
  .description('mute the alerts that match every matcher, for a while; prints the silence id')
  .requiredOption(
    '--matcher <matcher>',
    'label matcher, e.g. \'alertname="HighCPU"\' or \'severity=~"crit|page"\' (repeatable)',
    (value: string, previous: string[] = []) => [...previous, value],
  )
  .requiredOption('--duration <duration>', 'how long, e.g. 2h, 30m, 1d')
  .requiredOption('--comment <text>', 'why')
  .option('--author <name>', 'who (default: the user name)')
  .option('--start <time>', 'when it starts, RFC 3339 (default: now)')
  .action(async (o: import('./notifierCommand.js').SilenceAddFlags) => {
    const { silenceAddCommand } = await import('./notifierCommand.js');
    await silenceAddCommand(await commandConfig(global()), o);
  });
silence
  .command('list')
  .description('active and pending silences, from the topic and the config file')
  .option('--expired', 'include expired silences')
  .option('--json', 'one JSON object per line')
  .action(async (o: { expired?: boolean; json?: boolean }) => {
    const { silenceListCommand } = await import('./notifierCommand.js');
    await silenceListCommand(await commandConfig(global()), o);
  });
silence
  .command('expire')
  .description('end a silence now')
  .argument('<id>', 'the silence id (from `silence add` or `silence list`)')
  .action(async (id: string) => {
    const { silenceExpireCommand } = await import('./notifierCommand.js');
    await silenceExpireCommand(await commandConfig(global()), id);
  });

program
  .command('describe')
  .description(
    'print the topology: sub-topologies, stages, state stores and topics (as Kafka Streams describes one)',
  )
  .addOption(
    new Option('--format <format>', 'text (Kafka Streams style), mermaid (flowchart) or both')
      .choices(['text', 'mermaid', 'both'] as const)
      .default('text'),
  )
  .action(async (o: { format: 'text' | 'mermaid' | 'both' }) => {
    const { describeCommand } = await import('./describeCommand.js');
    describeCommand(await commandConfig(global()), o);
  });

program
  .command('sql')
  .description('query the configured ClickHouse (also while a topology holds the embedded data folder)')
  .argument('<query>', 'one SQL statement; tables are in the pipeline database')
  .option(
    '--format <format>',
    'TabSeparatedWithNames, CSVWithNames, JSONEachRow, JSONCompactEachRow or JSON',
    'TabSeparatedWithNames',
  )
  .action(async (query: string, o: { format: string }) => {
    const { sqlCommand } = await import('./sqlCommand.js');
    const file = global().config ?? process.env.METRICS_PIPELINE_CONFIG;
    await sqlCommand(await commandConfig(global()), query, o.format, file);
  });

program
  .command('demo')
  .description('start what is missing, produce synthetic metrics, run the topology, summarize, stop')
  .option('--duration <seconds>', 'seconds of live streaming', int('duration', 1), 20)
  .option('--history <hours>', 'hours of history replayed first', int('history', 0), 2)
  .option('--rate <n>', 'samples per second', int('rate', 1), 10_000)
  .option('--series <n>', 'distinct series', int('series', 1), 1000)
  .option('--json', 'print a JSON summary as the last line')
  .option(
    '--serve',
    'keep serving the query API (and `sql`) over the demo data after the summary, until Ctrl-C',
  )
  .action(async (o: import('./demo.js').DemoFlags) => {
    const { demoCommand } = await import('./demo.js');
    await demoCommand(global(), o);
  });

program
  .command('bench')
  .description('measure throughput, latency, memory and storage on a seeded workload (bench/README.md)')
  .option('--series <n>', 'distinct series', int('series', 1), 10_000)
  .option('--samples <n>', 'samples per throughput run', int('samples', 1), 2_000_000)
  .option('--seed <n>', 'random seed', int('seed', 0), 1)
  .option('--latency-rate <n>', 'latency run samples/s (default: batched / 2)', int('latency-rate', 1))
  .option('--latency-seconds <n>', 'duration of the latency run', int('latency-seconds', 1), 20)
  .option('--cpu-prof', "profile the batched run's topology process and list its hot spots")
  .option('--keep', "keep the runs' ClickHouse data and topics")
  .option('--no-floor', 'skip the floor: the fixed parts (consume, insert, window results) timed alone')
  .option('--collector-only', 'only the collector run (JSON batches through the collector into Kafka)')
  .option('--collector-seconds <n>', 'longest duration of the collector run', int('collector-seconds', 1), 20)
  .option(
    '--collector-workers <n>',
    'worker processes of the collector in the collector run (collector.workers)',
    int('collector-workers', 1),
    1,
  )
  .option('--query', 'also the query part: the query service against a real Prometheus on seeded data')
  .option('--query-only', 'only the query part (no Kafka, no topology)')
  .option('--query-series <n>', 'series of the query data set (at least 100)', int('query-series', 100), 1000)
  .option('--query-data <dir>', 'run the query part on a data set kept by an earlier --keep run (no seeding)')
  .option('--query-filter <text>', 'only the queries whose id contains this text (e.g. 90d, all.range)')
  .option('--query-reps <n>', 'runs of each query per side, cold and warm', int('query-reps', 1), 5)
  .option(
    '--kstreams',
    'only the comparison with the same job as a Kafka Streams application (bench/kstreams, built with Maven)',
  )
  .option(
    '--kstreams-rounds <n>',
    'runs of each side in that comparison, alternating',
    int('kstreams-rounds', 1),
    2,
  )
  .option('--json', 'print a JSON summary as the last line')
  .action(async (o: import('../bench/bench.js').BenchFlags) => {
    const { benchCommand } = await import('../bench/bench.js');
    await benchCommand(global(), o);
  });

try {
  await program.parseAsync(process.argv);
  process.exit(0);
} catch (error) {
  process.exit(report(error));
}

/** One clear line (and a hint) instead of a stack trace; the exit code says what kind of failure. */
function report(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof PipelineError) {
    process.stderr.write(`metrics-pipeline: ${error.message}\n`);
    if (error.hint) process.stderr.write(`  hint: ${error.hint}\n`);
    if (process.env.DEBUG) process.stderr.write(`${error.stack}\n`);
    return error instanceof ConfigError ? 2 : 1;
  }
  process.stderr.write(
    `metrics-pipeline: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return 1;
}
