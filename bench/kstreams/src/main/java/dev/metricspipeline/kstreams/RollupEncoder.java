package dev.metricspipeline.kstreams;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

/** A window result as one `io.metricspipeline.Rollup` (schemas/rollup.avsc) in the Confluent wire format. */
final class RollupEncoder {
  static final Schema SCHEMA = load();
  private static final Schema KIND = SCHEMA.getField("kind").schema();
  private static final GenericData.EnumSymbol GAUGE = new GenericData.EnumSymbol(KIND, "gauge");
  private static final GenericData.EnumSymbol COUNTER = new GenericData.EnumSymbol(KIND, "counter");

  private static final GenericDatumWriter<GenericRecord> WRITER = new GenericDatumWriter<>(SCHEMA);
  private final String tier;
  private final long sizeMs;
  private final int schemaId;

  RollupEncoder(String tier, long sizeMs, int schemaId) {
    this.tier = tier;
    this.sizeMs = sizeMs;
    this.schemaId = schemaId;
  }

  private static Schema load() {
    try (InputStream in = RollupEncoder.class.getResourceAsStream("/rollup.avsc")) {
      return new Schema.Parser().parse(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Called from several stream threads at once: nothing is shared between calls. */
  byte[] encode(Agg a, long windowStart) {
    GenericRecord r = new GenericData.Record(SCHEMA);
    r.put("tier", tier);
    r.put("seriesId", a.seriesId);
    r.put("name", a.name);
    r.put("labels", a.labels);
    r.put("kind", a.counter ? COUNTER : GAUGE);
    r.put("windowStart", windowStart);
    r.put("windowEnd", windowStart + sizeMs);
    r.put("count", a.count);
    r.put("sum", a.sum);
    r.put("min", a.min);
    r.put("max", a.max);
    r.put("avg", a.sum / a.count);
    r.put("first", a.first);
    r.put("last", a.last);
    r.put("p50", a.quantile(0.5));
    r.put("p90", a.quantile(0.9));
    r.put("p99", a.quantile(0.99));
    double increase = a.counter ? a.increase : 0;
    r.put("increase", increase);
    r.put("rate", increase / (sizeMs / 1000.0));
    r.put("stddev", a.stddev());
    r.put("revision", 1);
    r.put("sketch", a.sketch.serialize());
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream(512);
      out.write(0);
      out.write(ByteBuffer.allocate(4).putInt(schemaId).array());
      BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
      WRITER.write(r, encoder);
      encoder.flush();
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
