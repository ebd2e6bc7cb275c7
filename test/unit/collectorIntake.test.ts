import { describe, expect, it } from 'vitest';
import { toRecords } from '../../collector/batch.js';
import { columnsOf } from '../../collector/formats/types.js';
import { intake, type Outcome } from '../../collector/intake.js';
import { Tenant } from '../../collector/tenants.js';
import { partitionForSeries } from '../../core/partitioner.js';
import { seriesId } from '../../core/series.js';
import { defaultLimits, normalizeSample, type ValidationLimits } from '../../core/validate.js';
import { batchType, WIRE_HEADER_BYTES, type Sample, type SampleBatch } from '../../schemas/index.js';

const NOW = Date.UTC(2026, 10, 25, 12);
const PARTITIONS = 3;
const limits: ValidationLimits = { ...defaultLimits, maxLabels: 3, maxLabelValueLength: 20 };

/** What the collector should make of `samples`: `normalizeSample` with the tenant label, then the series limit. */
function reference(samples: Sample[], tenant: Tenant) {
  const outcome: Outcome = { accepted: 0, rejected: 0, reasons: {} };
  const byPartition = new Map<number, Sample[]>();
  for (const s of samples) {
    const labels = tenant.name === undefined ? s.labels : { ...s.labels, tenant: tenant.name };
    const normalized = normalizeSample({ ...s, labels }, limits, NOW);
    let reason = typeof normalized === 'string' ? normalized : undefined;
    if (typeof normalized !== 'string') {
      const id = seriesId(normalized.name, normalized.labels);
      reason = tenant.admitSeries(normalized.name, id);
      if (reason === undefined) {
        const p = partitionForSeries(id, PARTITIONS);
        const list = byPartition.get(p) ?? [];
        list.push({ ...normalized, labels: Object.fromEntries(normalized.labels) });
        byPartition.set(p, list);
        outcome.accepted++;
      }
    }
    if (reason !== undefined) {
      outcome.rejected++;
      outcome.reasons[reason] = (outcome.reasons[reason] ?? 0) + 1;
    }
  }
  return { outcome, byPartition };
}

/** What `intake` made of them: the outcome, and the samples of its Kafka records by partition. */
async function ours(samples: Sample[], tenant: Tenant) {
  const { batch, outcome } = await intake(
    columnsOf({ samples, rejected: new Map() }),
    tenant,
    limits,
    NOW,
    PARTITIONS,
  );
  const byPartition = new Map<number, Sample[]>();
  for (const record of toRecords([batch], 1)) {
    const { samples: inRecord } = batchType.fromBuffer(
      (record.value as Buffer).subarray(WIRE_HEADER_BYTES),
    ) as SampleBatch;
    const p = record.partition as number;
    byPartition.set(p, [...(byPartition.get(p) ?? []), ...inRecord]);
  }
  return { outcome, byPartition };
}

function randomSamples(seed: number, count: number): Sample[] {
  let state = seed;
  const rand = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  // Mostly valid, with every kind of problem now and then.
  const sometimes = <T>(usual: readonly T[], rare: readonly T[]): T =>
    rand() < 0.9 ? pick(usual) : pick(rare);
  const name = () =>
    sometimes(['up', 'http_requests_total', 'a:b', 'temp_celsius'], ['1bad', '', 'm'.repeat(1100)]);
  const labelName = () =>
    sometimes(['host', 'job', 'le', 'tenant', 'path', 'zone'], ['__reserved', 'bad-name']);
  const labelValue = () => sometimes(['h1', 'h2', '', 'Zürich', 'a b', 'h3', 'h4', 'h5'], ['x'.repeat(21)]);
  // A pool of series, so that series repeat (and share their labels objects, as decoders make them).
  const pool = Array.from({ length: 60 }, () => ({
    name: name(),
    labels: Object.fromEntries(
      Array.from({ length: Math.floor(rand() * 5) }, () => [labelName(), labelValue()]),
    ),
  }));
  return Array.from({ length: count }, () => {
    const series = pick(pool);
    return {
      name: series.name,
      labels: series.labels,
      timestamp: sometimes([NOW, NOW - 1000], [NOW - 30 * 24 * 3600_000, NOW + 3600_000, NOW + 0.5]),
      value: sometimes([0, 1.5, -2, 1e300], [NaN, Infinity]),
      kind: rand() < 0.5 ? 'counter' : 'gauge',
    };
  });
}

describe('intake', () => {
  it('accepts and refuses exactly as normalizeSample and the series limit do, and encodes per partition', async () => {
    let accepted = 0;
    let limited = false;
    const reasons = new Set<string>();
    for (const tenantName of [undefined, 'team-a']) {
      // Ours and the reference each get their own tenant: the series limit has state.
      const [mine, theirs] = [0, 1].map(() => new Tenant(tenantName, 1e9, 1e9, 4, NOW));
      for (let round = 0; round < 20; round++) {
        const samples = randomSamples(round + 1, 300);
        const expected = reference(samples, theirs as Tenant);
        expect(await ours(samples, mine as Tenant)).toEqual(expected);
        accepted += expected.outcome.accepted;
        for (const reason of Object.keys(expected.outcome.reasons)) reasons.add(reason.replace(/ .*/, ''));
        if (expected.outcome.reasons['metric up has reached its limit of 4 series']) limited = true;
      }
    }
    // The samples were varied enough: many accepted, and every kind of refusal seen.
    expect(accepted).toBeGreaterThan(2000);
    expect(limited).toBe(true);
    expect([...reasons].sort()).toEqual(
      ['4', '5', 'empty', 'invalid', 'label', 'metric', 'timestamp', 'value'].sort(),
    );
  });

  it('works a series out again for another tenant: its own label, its own series limit', async () => {
    const a = new Tenant('team-a', 1e9, 1e9, 1, NOW);
    const b = new Tenant('team-b', 1e9, 1e9, 1, NOW);
    const samples: Sample[] = [
      { name: 'up', labels: { job: 'x' }, timestamp: NOW, value: 1, kind: 'gauge' },
      { name: 'up', labels: { job: 'y' }, timestamp: NOW, value: 1, kind: 'gauge' },
    ];
    const columns = columnsOf({ samples, rejected: new Map() });
    const tenantsOf = (batch: Awaited<ReturnType<typeof intake>>) =>
      toRecords([batch.batch], 1).flatMap(
        (r) => (batchType.fromBuffer((r.value as Buffer).subarray(WIRE_HEADER_BYTES)) as SampleBatch).samples,
      );
    for (let round = 0; round < 2; round++) {
      for (const [tenant, name] of [
        [a, 'team-a'],
        [b, 'team-b'],
      ] as const) {
        const result = await intake(columns, tenant, limits, NOW, PARTITIONS);
        expect(result.outcome).toEqual({
          accepted: 1,
          rejected: 1,
          reasons: { 'metric up has reached its limit of 1 series': 1 },
        });
        expect(tenantsOf(result)).toEqual([{ ...samples[0], labels: { job: 'x', tenant: name } }]);
      }
    }
  });

  it("counts the decoder's rejections in the outcome", async () => {
    const tenant = new Tenant(undefined, 1e9, 1e9, 100, NOW);
    const samples: Sample[] = [{ name: 'up', labels: {}, timestamp: NOW, value: 1, kind: 'gauge' }];
    const { outcome } = await intake(
      columnsOf({ samples, rejected: new Map([['staleness marker', 2]]) }),
      tenant,
      limits,
      NOW,
      PARTITIONS,
    );
    expect(outcome).toEqual({ accepted: 1, rejected: 2, reasons: { 'staleness marker': 2 } });
  });
});
