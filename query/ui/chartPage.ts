import { gzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../core/log.js';
import { messageOf } from '../../core/errors.js';
import type { RequestHandler } from '../server.js';
import { bundleChartPage, type ChartPageAssets } from './bundle.js';

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

const ROUTES: Record<string, { file: keyof ChartPageAssets; type: string }> = {
  '/': { file: 'html', type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: 'js', type: 'text/javascript; charset=utf-8' },
  '/ui/app.css': { file: 'css', type: 'text/css; charset=utf-8' },
};

/**
 * The chart page (`/`, `/ui/app.js`, `/ui/app.css`) as the query service's handler of non-API
 * paths (`QueryService.mount`); any other path is a 404. The bundle is built at the first
 * request and kept in memory, gzipped once; a build that fails answers 500 with its reason and
 * is tried again at the next request.
 */
export function chartPageHandler(log: Logger): RequestHandler {
  let assets: Promise<Record<string, Asset>> | undefined;
  const load = (): Promise<Record<string, Asset>> => {
    assets ??= bundleChartPage().then((files) => {
      const served: Record<string, Asset> = {};
      for (const [path, { file, type }] of Object.entries(ROUTES)) {
        served[path] = { type, body: files[file], gzip: gzipSync(files[file]) };
      }
      log.info({ bytes: files.js.length + files.css.length }, 'chart page bundled');
      return served;
    });
    assets.catch(() => (assets = undefined));
    return assets;
  };

  return async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!(path in ROUTES)) {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end(`no page ${path}: the chart page is /, the API /api/v1/\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    let asset: Asset;
    try {
      // Every route is bundled: `path` is one of them.
      asset = (await load())[path] as Asset;
    } catch (error) {
      const cause = error instanceof Error ? error.cause : undefined;
      const reason = cause === undefined ? messageOf(error) : `${messageOf(error)}: ${messageOf(cause)}`;
      log.error({ error: reason }, 'chart page unavailable');
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${reason}\n`);
      return;
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip : asset.body;
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': body.length,
      // The bundle changes only with the package: a browser revalidates on reload.
      'cache-control': 'no-cache',
      vary: 'accept-encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
