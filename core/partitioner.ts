/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`, which kafkajs' DefaultPartitioner also
 * implements): a 32-bit signed hash of the key bytes.
 */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k =
      (data[i4] as number) |
      ((data[i4 + 1] as number) << 8) |
      ((data[i4 + 2] as number) << 16) |
      ((data[i4 + 3] as number) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The last 1 to 3 bytes.
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= (data[tail + 2] as number) << 16;
  if (rest >= 2) h ^= (data[tail + 1] as number) << 8;
  if (rest >= 1) h = Math.imul(h ^ (data[tail] as number), m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The partition that a producer using the default partitioner (the Java client's, kafkajs'
 * DefaultPartitioner) picks for a record with this key: murmur2 of the UTF-8 key bytes, made
 * positive, modulo the partition count.
 */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

/** The partition of a series' records when producers key them by the series id (as `produce` does). */
export function partitionForSeries(seriesId: bigint, partitions: number): number {
  return partitionForKey(seriesId.toString(), partitions);
}
