package dev.metricspipeline.kstreams;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The topology's windows as a Kafka Streams application, for bench/README.md "Against Kafka
 * Streams": 1m and 1h tumbling windows on event time with grace, count/sum/min/max/avg/first/last,
 * counter increase and rate, and a DDSketch; RocksDB window stores with changelogs, results
 * suppressed until the window closes, at-least-once, commit interval 5 s.
 *
 * It consumes the input topic from the start, stops at the end offsets the input had when it
 * started (the end-of-input marker, Explode), waits until the group's committed offsets reach them
 * (every result produced and committed), and prints one JSON line with its timings and counts.
 */
public final class Main {
  private Main() {}

  public static void main(String[] argv) throws Exception {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
    Map<String, String> a = args(argv);
    String brokers = need(a, "brokers");
    String input = need(a, "input");
    String appId = need(a, "app-id");
    String out1m = need(a, "out-1m");
    String out1h = need(a, "out-1h");
    Registry registry = new Registry(need(a, "registry"));
    long grace1m = Long.parseLong(a.getOrDefault("grace-1m-ms", "10000"));
    long grace1h = Long.parseLong(a.getOrDefault("grace-1h-ms", "60000"));
    int threads = Integer.parseInt(a.getOrDefault("threads", String.valueOf(Runtime.getRuntime().availableProcessors())));
    long stallMs = Long.parseLong(a.getOrDefault("stall-ms", "300000"));
    // The record cache in front of the stores (default 10 MB): 10,000 series keep ~18 windows each
    // open under the input's out-of-orderness, which 10 MB cannot hold, so every update would go
    // to RocksDB, its changelog and the suppress buffer. A throughput-minded user raises it.
    long cacheBytes = Long.parseLong(a.getOrDefault("cache-mb", "128")) * 1024 * 1024;

    Properties adminProps = new Properties();
    adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    Map<Integer, Long> ends;
    try (Admin admin = Admin.create(adminProps)) {
      ends = endOffsets(admin, input);
      createTopics(admin, List.of(out1m, out1h), ends.size());
    }
    int id1m = registry.register(out1m + "-value", RollupEncoder.SCHEMA);
    int id1h = registry.register(out1h + "-value", RollupEncoder.SCHEMA);

    StreamsBuilder builder = new StreamsBuilder();
    KGroupedStream<String, Agg> partials =
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
            .processValues(() -> new Explode(registry, ends, 60_000))
            .groupByKey(Grouped.with(Serdes.String(), Agg.serde()));
    AtomicLong results1m = new AtomicLong();
    AtomicLong results1h = new AtomicLong();
    tier(partials, "1m", 60_000, grace1m, out1m, new RollupEncoder("1m", 60_000, id1m), results1m);
    tier(partials, "1h", 3_600_000, grace1h, out1h, new RollupEncoder("1h", 3_600_000, id1h), results1h);

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 5000);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, cacheBytes);
    props.put(StreamsConfig.STATE_DIR_CONFIG, need(a, "state-dir"));
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    // The end-of-input marker's window reaches the changelogs with its far-future time, which the
    // broker refuses by default (more than an hour ahead of its clock).
    props.put(StreamsConfig.topicPrefix("message.timestamp.after.max.ms"), String.valueOf(Long.MAX_VALUE));

    long started = System.currentTimeMillis();
    AtomicLong runningAt = new AtomicLong();
    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) runningAt.compareAndSet(0, System.currentTimeMillis());
    });
    streams.setUncaughtExceptionHandler(e -> {
      e.printStackTrace();
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });
    streams.start();

    Map<Integer, Long> waiting = ends.entrySet().stream().filter(e -> e.getValue() > 0)
        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
    long committedAt;
    try (Admin admin = Admin.create(adminProps)) {
      long lastProgress = System.currentTimeMillis();
      long lastRecords = -1;
      while (true) {
        if (streams.state() == KafkaStreams.State.ERROR || streams.state() == KafkaStreams.State.NOT_RUNNING) {
          System.err.println("kstreams: the application stopped (" + streams.state() + ")");
          System.exit(2);
        }
        if (Explode.DONE.keySet().containsAll(waiting.keySet()) && committed(admin, appId, input, waiting)) {
          committedAt = System.currentTimeMillis();
          break;
        }
        long records = Explode.RECORDS.get();
        if (records != lastRecords) {
          lastRecords = records;
          lastProgress = System.currentTimeMillis();
          System.err.println("kstreams: consumed " + records + " records, " + Explode.SAMPLES.get() + " samples");
        } else if (System.currentTimeMillis() - lastProgress > stallMs) {
          System.err.println("kstreams: no progress for " + stallMs + " ms");
          System.exit(3);
        }
        Thread.sleep(100);
      }
    }
    long lastMarkerAt = Explode.DONE.values().stream().mapToLong(Long::longValue).max().orElse(committedAt);
    System.out.println(
        "{\"startedAt\":" + started
            + ",\"runningAt\":" + runningAt.get()
            + ",\"firstRecordAt\":" + Explode.FIRST_RECORD_AT.get()
            + ",\"endOfInputAt\":" + lastMarkerAt
            + ",\"committedAt\":" + committedAt
            + ",\"records\":" + Explode.RECORDS.get()
            + ",\"samples\":" + Explode.SAMPLES.get()
            + ",\"miskeyed\":" + Explode.MISKEYED.get()
            + ",\"results1m\":" + results1m.get()
            + ",\"results1h\":" + results1h.get()
            + ",\"threads\":" + threads
            + ",\"cacheMB\":" + cacheBytes / 1024 / 1024 + "}");
    System.out.flush();
    streams.close(Duration.ofSeconds(30));
    System.exit(0);
  }

  /** One tier: a windowed aggregate of the partials into a RocksDB window store, suppressed until close, to its topic. */
  private static void tier(KGroupedStream<String, Agg> partials, String name, long sizeMs, long graceMs,
      String topic, RollupEncoder encoder, AtomicLong results) {
    partials
        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(sizeMs), Duration.ofMillis(graceMs)))
        .aggregate(Agg::new, (key, partial, acc) -> acc.merge(partial),
            Materialized.<String, Agg, WindowStore<Bytes, byte[]>>as("window-" + name)
                .withKeySerde(Serdes.String()).withValueSerde(Agg.serde()))
        .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()).withName("suppress-" + name))
        .toStream()
        .filter((window, agg) -> agg.count > 0)
        .map((window, agg) -> {
          results.incrementAndGet();
          return KeyValue.pair(window.key(), encoder.encode(agg, window.window().start()));
        })
        .to(topic, Produced.with(Serdes.String(), Serdes.ByteArray()));
  }

  private static Map<Integer, Long> endOffsets(Admin admin, String topic) throws Exception {
    var description = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
    Map<TopicPartition, OffsetSpec> request = new HashMap<>();
    for (var p : description.partitions()) request.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest());
    Map<Integer, Long> ends = new HashMap<>();
    admin.listOffsets(request).all().get().forEach((tp, info) -> ends.put(tp.partition(), info.offset()));
    return ends;
  }

  private static void createTopics(Admin admin, List<String> topics, int partitions) throws Exception {
    for (String topic : topics) {
      try {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) -1))).all().get();
      } catch (java.util.concurrent.ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) throw e;
      }
    }
  }

  private static boolean committed(Admin admin, String group, String topic, Map<Integer, Long> ends) throws Exception {
    Map<TopicPartition, OffsetAndMetadata> offsets =
        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
    for (Map.Entry<Integer, Long> e : ends.entrySet()) {
      OffsetAndMetadata o = offsets.get(new TopicPartition(topic, e.getKey()));
      if (o == null || o.offset() < e.getValue()) return false;
    }
    return true;
  }

  private static Map<String, String> args(String[] argv) {
    Map<String, String> out = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      if (!argv[i].startsWith("--")) throw new IllegalArgumentException("expected --name value pairs, got " + argv[i]);
      out.put(argv[i].substring(2), argv[i + 1]);
    }
    return out;
  }

  private static String need(Map<String, String> a, String name) {
    String value = a.get(name);
    if (value == null) {
      System.err.println("kstreams: missing --" + name);
      System.exit(64);
    }
    return value;
  }
}
