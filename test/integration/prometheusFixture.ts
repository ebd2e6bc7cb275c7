/** A real Prometheus (Debian's) holding the demo records, fed by remote_write: the reference the page was built against. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { freePort } from '../../services/ports.js';
import type { SyntheticRecord } from '../../producer/synthetic.js';
import { tempDir } from './helpers.js';

const { root } = protobuf.parse(`syntax = "proto3"; package prometheus;
  message WriteRequest { repeated TimeSeries timeseries = 1; }
  message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
  message Label { string name = 1; string value = 2; }
  message Sample { double value = 1; int64 timestamp = 2; }`);
const WriteRequest = root.lookupType('prometheus.WriteRequest');

export async function startPrometheus(records: SyntheticRecord[]) {
  const dir = tempDir('prom');
  writeFileSync(join(dir, 'p.yml'), 'global: {}\nstorage:\n  tsdb:\n    out_of_order_time_window: 30d\n');
  const port = await freePort();
  const prom = spawn(
    '/usr/bin/prometheus',
    [
      `--config.file=${join(dir, 'p.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
      '--log.level=warn',
    ],
    { stdio: 'inherit' },
  );
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const ts = new Map<
    string,
    { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }
  >();
  for (const rec of records)
    for (const s of rec.samples) {
      let t = ts.get(rec.key);
      if (!t) {
        t = {
          labels: [
            { name: '__name__', value: s.name },
            ...Object.entries(s.labels)
              .map(([name, value]) => ({ name, value }))
              .sort((a, b) => (a.name < b.name ? -1 : 1)),
          ],
          samples: [],
        };
        ts.set(rec.key, t);
      }
      t.samples.push({ value: s.value, timestamp: s.timestamp });
    }
  const body = Buffer.from(
    snappy.compress(
      Buffer.from(WriteRequest.encode(WriteRequest.fromObject({ timeseries: [...ts.values()] })).finish()),
    ),
  );
  const w = await fetch(`${url}/api/v1/write`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
      'x-prometheus-remote-write-version': '0.1.0',
    },
  });
  if (!w.ok) throw new Error(await w.text());
  return {
    url,
    stop: () => {
      prom.kill();
    },
  };
}
