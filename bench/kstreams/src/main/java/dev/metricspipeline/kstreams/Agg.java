package dev.metricspipeline.kstreams;

import com.datadoghq.sketch.ddsketch.DDSketch;
import com.datadoghq.sketch.ddsketch.encoding.ByteArrayInput;
import com.datadoghq.sketch.ddsketch.encoding.GrowingByteArrayOutput;
import com.datadoghq.sketch.ddsketch.mapping.IndexMapping;
import com.datadoghq.sketch.ddsketch.mapping.LogarithmicMapping;
import com.datadoghq.sketch.ddsketch.store.SparseStore;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The aggregates of one series over a stretch of event time: a partial (consecutive samples of one
 * record inside one minute) or a window's accumulator. The same fields and rules as core/aggregate.ts:
 * first/last by event time, counter increase with reset detection, a DDSketch with the logarithmic
 * mapping at 1 % relative accuracy and sparse bins (core/sketch.ts).
 */
final class Agg {
  /** Logarithmic mapping, 1 % relative accuracy: core/sketch.ts' RELATIVE_ACCURACY. */
  static final IndexMapping MAPPING = new LogarithmicMapping(0.01);

  /** True only for the end-of-input marker (Explode): it advances stream time and carries no samples. */
  boolean marker;
  String seriesId = "";
  String name = "";
  Map<String, String> labels = new TreeMap<>();
  boolean counter;
  long count;
  // -0.0: the neutral element of IEEE addition, as in core/aggregate.ts.
  double sum = -0.0;
  double min = Double.POSITIVE_INFINITY;
  double max = Double.NEGATIVE_INFINITY;
  double first = Double.NaN;
  long firstTs = Long.MAX_VALUE;
  double last = Double.NaN;
  long lastTs = Long.MIN_VALUE;
  double increase;
  // stddev as core/aggregates.ts keeps it: mean and sum of squared deviations (Welford; Chan et al. to merge).
  double mean;
  double m2;
  DDSketch sketch = newSketch();

  static DDSketch newSketch() {
    return new DDSketch(MAPPING, SparseStore::new);
  }

  static Agg marker() {
    Agg agg = new Agg();
    agg.marker = true;
    return agg;
  }

  /** One sample, in arrival order (a record's samples of a series come in time order). */
  void add(double value, long ts, boolean isCounter) {
    if (isCounter) {
      counter = true;
      if (count > 0 && ts >= lastTs) increase += delta(last, value);
    }
    count++;
    double d = value - mean;
    mean += d / count;
    m2 += d * (value - mean);
    sum += value;
    min = Math.min(min, value);
    max = Math.max(max, value);
    if (ts < firstTs) {
      first = value;
      firstTs = ts;
    }
    if (ts >= lastTs) {
      last = value;
      lastTs = ts;
    }
    sketch.accept(value);
  }

  /** Adds a partial to this accumulator; the counter step between the two counts when they follow each other. */
  Agg merge(Agg p) {
    if (p.count == 0) return this;
    if (count == 0) {
      seriesId = p.seriesId;
      name = p.name;
      labels = p.labels;
    } else if (p.counter) {
      if (p.firstTs >= lastTs) increase += delta(last, p.first);
      else if (p.lastTs <= firstTs) increase += delta(p.last, first);
    }
    counter |= p.counter;
    increase += p.increase;
    long n = count + p.count;
    double d = p.mean - mean;
    m2 += p.m2 + d * d * ((double) count * p.count / n);
    mean += d * p.count / n;
    count = n;
    sum += p.sum;
    min = Math.min(min, p.min);
    max = Math.max(max, p.max);
    if (p.firstTs < firstTs) {
      first = p.first;
      firstTs = p.firstTs;
    }
    if (p.lastTs >= lastTs) {
      last = p.last;
      lastTs = p.lastTs;
    }
    sketch.mergeWith(p.sketch);
    return this;
  }

  /** The population standard deviation (stddev_over_time, stddevPopStable). */
  double stddev() {
    return count == 0 ? Double.NaN : Math.sqrt(Math.max(0, m2 / count));
  }

  /** The q-quantile kept within [min, max], as core/aggregate.ts' quantile. */
  double quantile(double q) {
    return Math.min(max, Math.max(min, sketch.getValueAtQuantile(q)));
  }

  private static double delta(double from, double to) {
    return to >= from ? to - from : to;
  }

  /** The state stores' and changelogs' encoding. */
  static Serde<Agg> serde() {
    Serializer<Agg> ser = (topic, agg) -> agg == null ? null : encode(agg);
    Deserializer<Agg> de = (topic, bytes) -> bytes == null ? null : decode(bytes);
    return Serdes.serdeFrom(ser, de);
  }

  static byte[] encode(Agg a) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
      DataOutputStream out = new DataOutputStream(bytes);
      out.writeBoolean(a.marker);
      out.writeUTF(a.seriesId);
      out.writeUTF(a.name);
      out.writeShort(a.labels.size());
      for (Map.Entry<String, String> e : a.labels.entrySet()) {
        out.writeUTF(e.getKey());
        out.writeUTF(e.getValue());
      }
      out.writeBoolean(a.counter);
      out.writeLong(a.count);
      out.writeDouble(a.sum);
      out.writeDouble(a.min);
      out.writeDouble(a.max);
      out.writeDouble(a.first);
      out.writeLong(a.firstTs);
      out.writeDouble(a.last);
      out.writeLong(a.lastTs);
      out.writeDouble(a.increase);
      out.writeDouble(a.mean);
      out.writeDouble(a.m2);
      GrowingByteArrayOutput sketch = GrowingByteArrayOutput.withInitialCapacity(64);
      a.sketch.encode(sketch, true);
      out.writeInt(sketch.numWrittenBytes());
      out.write(sketch.backingArray(), 0, sketch.numWrittenBytes());
      out.flush();
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Agg decode(byte[] bytes) {
    try {
      DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(bytes));
      Agg a = new Agg();
      a.marker = in.readBoolean();
      a.seriesId = in.readUTF();
      a.name = in.readUTF();
      int labels = in.readShort();
      for (int i = 0; i < labels; i++) a.labels.put(in.readUTF(), in.readUTF());
      a.counter = in.readBoolean();
      a.count = in.readLong();
      a.sum = in.readDouble();
      a.min = in.readDouble();
      a.max = in.readDouble();
      a.first = in.readDouble();
      a.firstTs = in.readLong();
      a.last = in.readDouble();
      a.lastTs = in.readLong();
      a.increase = in.readDouble();
      a.mean = in.readDouble();
      a.m2 = in.readDouble();
      int size = in.readInt();
      int at = bytes.length - in.available();
      a.sketch = DDSketch.decode(ByteArrayInput.wrap(bytes, at, size), SparseStore::new, MAPPING);
      return a;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
