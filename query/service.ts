import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { openClickHouse, type ClickHouse } from '../sinks/clickhouse.js';
import { ensureTables } from '../sinks/tables.js';
import { readOwner } from '../sql/owner.js';
import { startAdminServer } from '../streams/adminServer.js';
import { QueryApi, type Cached } from './api.js';
import type { PromqlEvaluator } from './evaluator.js';
import { queryMetrics, type QueryMetrics } from './metrics.js';
import { startCorrectionFeed, type CorrectionFeed } from './corrections.js';
import { ClickHouseQuerier } from './querier.js';
import { clientReader, ownerReader, type SqlReader } from './reader.js';
import { ResultsCache } from './resultsCache.js';
import { startQueryServer, type RequestHandler } from './server.js';
import { SeriesStore } from './store.js';
import { clickhouseEndpoints } from '../sql/adminSql.js';

export interface QueryService {
  url: string;
  store: SeriesStore;
  cache: ResultsCache<Cached>;
  metrics: QueryMetrics;
  /** Serves non-API paths (the chart page) with `handler`. */
  mount(handler: RequestHandler): void;
  /** Reads through `clickhouse` from now on (the one given at start is closing); drops the cache. */
  attach(clickhouse: ClickHouse): void;
  close(): Promise<void>;
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * The query service: Prometheus' HTTP API over the ClickHouse tables. Its ClickHouse is, in
 * order: the one given (a process that already holds the embedded folder: `run`, the demo);
 * the process that holds the configured embedded folder, through its admin `/sql` endpoint;
 * or its own client (a ClickHouse server, or the embedded folder when nobody holds it, which
 * this process then holds until it stops, answering `metrics-pipeline sql` for it meanwhile;
 * a topology cannot start on that folder then).
 */
export async function startQueryService(options: {
  config: Config;
  log: Logger;
  evaluator: PromqlEvaluator;
  clickhouse?: ClickHouse;
  /** The clock (tests move it). */
  now?: () => number;
  ui?: RequestHandler;
  /** Follow the tier topics for corrected windows (default: when Kafka is configured). */
  corrections?: boolean;
}): Promise<QueryService> {
  const { config, log } = options;
  let own: ClickHouse | undefined;
  let reader: SqlReader;
  const owner =
    options.clickhouse || config.clickhouse.url ? undefined : readOwner(resolve(config.clickhouse.path));
  if (options.clickhouse) reader = clientReader(options.clickhouse);
  else if (owner) {
    log.info({ owner: owner.url }, 'the embedded ClickHouse is held by another process: querying through it');
    reader = ownerReader(resolve(config.clickhouse.path), config.clickhouse.database);
  } else {
    own = await openClickHouse(config.clickhouse);
    await ensureTables(own, config, log);
    reader = clientReader(own);
  }
  // Holding the embedded folder, this process answers `metrics-pipeline sql` (and other query
  // services) for it, as the topology does: through the admin server's /sql endpoint.
  const admin = own?.embeddedPath
    ? await startAdminServer({ port: 0, ready: () => true, log, extensions: [clickhouseEndpoints(own)] })
    : undefined;
  const now = options.now ?? Date.now;
  const metrics = queryMetrics();
  const store = new SeriesStore(reader);
  const cache = new ResultsCache<Cached>(config.query.cache, metrics.cache);
  const api = new QueryApi({
    config,
    store,
    evaluator: options.evaluator,
    cache,
    metrics,
    now,
    version: VERSION,
  });
  const server = await startQueryServer({
    config,
    api,
    metrics,
    log,
    ready: () => true,
    ui: options.ui,
    remoteQuerier: (caller, signal) => {
      const t = now();
      return new ClickHouseQuerier(store, {
        limits: { maxSeries: config.query.maxSeries, maxSamples: config.query.maxSamples },
        tier: { ...api.tierPolicy(t, 'raw') },
        tenant: caller.tenant,
        signal,
      });
    },
  });
  let feed: CorrectionFeed | undefined;
  if (options.corrections ?? config.kafka.brokers !== undefined) {
    try {
      feed = await startCorrectionFeed({
        config,
        log,
        onCorrection: (c) => {
          const dropped = cache.invalidate(c.startMs, c.endMs);
          if (dropped > 0) log.debug({ ...c, dropped }, 'corrected window: cached chunks dropped');
        },
      });
    } catch (error) {
      // Queries do not need Kafka: without the feed, cached chunks live until their TTL.
      log.warn(
        { error: messageOf(error) },
        'not following window corrections; cached chunks expire by TTL only',
      );
    }
  }
  log.info({ url: server.url }, 'query service listening');
  return {
    url: server.url,
    store,
    cache,
    metrics,
    mount: server.mount,
    attach: (clickhouse) => {
      store.reader = clientReader(clickhouse);
      cache.invalidate(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY);
    },
    close: async () => {
      await feed?.stop();
      await server.close();
      await admin?.close();
      await own?.close();
    },
  };
}
