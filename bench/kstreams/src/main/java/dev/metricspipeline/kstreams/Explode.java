package dev.metricspipeline.kstreams;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import net.jpountz.xxhash.XXHash64;
import net.jpountz.xxhash.XXHashFactory;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * Decodes a record (a `SampleBatch` in the Confluent wire format) and forwards, per series and
 * minute, one partial aggregate of its consecutive samples, timestamped with their event time, so
 * that the windows downstream run on event time. The key stays the record's (the series id, as our
 * producer and collector key records): no repartition, like the topology's `input.coPartitioned`.
 *
 * After the last record of its partition that existed at start (the end of the input) it forwards
 * an end-of-input marker far ahead in event time, which closes every window as the topology's
 * `--exit-when-idle` does, and asks for a commit.
 */
final class Explode implements FixedKeyProcessor<String, byte[], Agg> {
  /** Event time of the end-of-input marker: 2100-01-01, past every window of the input. */
  static final long MARKER_TS = 4_102_444_800_000L;
  private static final XXHash64 XXH64 = XXHashFactory.fastestJavaInstance().hash64();

  static final AtomicLong FIRST_RECORD_AT = new AtomicLong();
  static final AtomicLong RECORDS = new AtomicLong();
  static final AtomicLong SAMPLES = new AtomicLong();
  /** Samples whose series id is not their record's key (they would break co-partitioning). */
  static final AtomicLong MISKEYED = new AtomicLong();
  /** Partitions whose end-of-input marker went out. */
  static final Map<Integer, Long> DONE = new ConcurrentHashMap<>();

  private final Registry registry;
  /** The end offset of every input partition when the job started. */
  private final Map<Integer, Long> endOffsets;
  private final long minuteMs;
  private FixedKeyProcessorContext<String, Agg> context;
  private final Map<Integer, GenericDatumReader<GenericRecord>> readers = new TreeMap<>();
  private BinaryDecoder decoder;
  private GenericRecord reuse;
  private byte[] scratch = new byte[1024];

  Explode(Registry registry, Map<Integer, Long> endOffsets, long minuteMs) {
    this.registry = registry;
    this.endOffsets = endOffsets;
    this.minuteMs = minuteMs;
  }

  @Override
  public void init(FixedKeyProcessorContext<String, Agg> context) {
    this.context = context;
  }

  @Override
  public void process(FixedKeyRecord<String, byte[]> record) {
    FIRST_RECORD_AT.compareAndSet(0, System.currentTimeMillis());
    RECORDS.incrementAndGet();
    byte[] bytes = record.value();
    if (bytes != null && bytes.length >= 5 && bytes[0] == 0) explode(record, bytes);
    RecordMetadata meta = context.recordMetadata().orElseThrow();
    Long end = endOffsets.get(meta.partition());
    if (end != null && meta.offset() == end - 1) {
      context.forward(record.withValue(Agg.marker()).withTimestamp(MARKER_TS));
      DONE.put(meta.partition(), System.currentTimeMillis());
      context.commit();
    }
  }

  private void explode(FixedKeyRecord<String, byte[]> record, byte[] bytes) {
    int schemaId = ((bytes[1] & 0xff) << 24) | ((bytes[2] & 0xff) << 16) | ((bytes[3] & 0xff) << 8) | (bytes[4] & 0xff);
    GenericDatumReader<GenericRecord> reader =
        readers.computeIfAbsent(schemaId, id -> new GenericDatumReader<>(registry.writer(id)));
    decoder = DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, decoder);
    try {
      reuse = reader.read(reuse, decoder);
    } catch (IOException e) {
      throw new IllegalStateException("undecodable record at " + context.recordMetadata().orElseThrow(), e);
    }
    @SuppressWarnings("unchecked")
    Iterable<GenericRecord> samples = (Iterable<GenericRecord>) reuse.get("samples");
    Object lastName = null;
    Object lastLabels = null;
    String series = null;
    boolean keyed = false;
    Agg partial = null;
    long partialWindow = Long.MIN_VALUE;
    long count = 0;
    for (GenericRecord s : samples) {
      count++;
      Object name = s.get("name");
      Object labels = s.get("labels");
      if (series == null || !name.equals(lastName) || !labels.equals(lastLabels)) {
        series = seriesId(name.toString(), labels);
        keyed = series.equals(record.key());
        lastName = name;
        lastLabels = labels;
        partial = forward(record, partial);
      }
      if (!keyed) {
        MISKEYED.incrementAndGet();
        continue;
      }
      long ts = (Long) s.get("timestamp");
      long window = Math.floorDiv(ts, minuteMs);
      if (partial == null || window != partialWindow) {
        partial = forward(record, partial);
        partial = new Agg();
        partial.seriesId = series;
        partial.name = name.toString();
        partial.labels = labelMap(labels);
        partialWindow = window;
      }
      partial.add((Double) s.get("value"), ts, "counter".equals(s.get("kind").toString()));
    }
    forward(record, partial);
    SAMPLES.addAndGet(count);
  }

  /** Forwards a partial with the time of its last sample (inside its minute); returns null. */
  private Agg forward(FixedKeyRecord<String, byte[]> record, Agg partial) {
    if (partial != null && partial.count > 0) context.forward(record.withValue(partial).withTimestamp(partial.lastTs));
    return null;
  }

  private static Map<String, String> labelMap(Object labels) {
    Map<String, String> out = new TreeMap<>();
    for (Map.Entry<?, ?> e : ((Map<?, ?>) labels).entrySet()) out.put(e.getKey().toString(), e.getValue().toString());
    return out;
  }

  /** core/series.ts: XXH64 (seed 0) of the name and the labels sorted by name, parts separated by 0xff, as unsigned decimal. */
  private String seriesId(String name, Object labels) {
    int at = put(name, 0);
    for (Map.Entry<String, String> e : labelMap(labels).entrySet()) {
      at = put(e.getKey(), sep(at));
      at = put(e.getValue(), sep(at));
    }
    return Long.toUnsignedString(XXH64.hash(scratch, 0, at, 0));
  }

  private int sep(int at) {
    grow(at + 1);
    scratch[at] = (byte) 0xff;
    return at + 1;
  }

  private int put(String text, int at) {
    byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
    grow(at + utf8.length);
    System.arraycopy(utf8, 0, scratch, at, utf8.length);
    return at + utf8.length;
  }

  private void grow(int size) {
    if (size > scratch.length) scratch = java.util.Arrays.copyOf(scratch, Math.max(size, scratch.length * 2));
  }
}
