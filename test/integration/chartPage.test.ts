import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueryService } from '../../query/service.js';
import { seedDemoData, type DemoData } from './demoData.js';
import { repoRoot, tempDir } from './helpers.js';
import { serveDemoData } from './queryService.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(repoRoot, 'test-artifacts');
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`chartPage.test: skipped, ${CHROMIUM} is absent (apt-get install chromium)`);

let base: string;
let data: DemoData;
let service: QueryService;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  if (!hasChromium) return;
  data = await seedDemoData('chartpage', { hosts: 3, hours: 6 });
  service = await serveDemoData(data);
  base = service.url;

  mkdirSync(ARTIFACTS, { recursive: true });
  context = await chromium.launchPersistentContext(tempDir('chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 1000 },
  });
  page = context.pages()[0] ?? (await context.newPage());
});

afterAll(async () => {
  await context?.close();
  await service?.close();
});

/** Waits for the page to settle after a query: `data-state` is ready or error. */
async function settled(state: 'ready' | 'error'): Promise<void> {
  await page.waitForSelector(`body[data-state="${state}"]`, { timeout: 30_000 });
}

/** Replaces the PromQL field's text and runs it with Enter. */
async function runQuery(expr: string): Promise<void> {
  await page.click('#editor .cm-content');
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(expr);
  await page.evaluate(() => (document.body.dataset.state = 'typed'));
  await page.keyboard.press('Escape');
  await page.keyboard.press('Enter');
}

const legendSeries = () => page.locator('#chart .u-legend .u-series').count();

describe.skipIf(!hasChromium)('the chart page in a real Chromium', () => {
  it('loads with the PromQL field, the range picker and nothing drawn', async () => {
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const response = await page.goto(`${base}/`);
    expect(response?.status()).toBe(200);
    await settled('ready');
    expect(await page.title()).toContain('metrics-pipeline');
    expect(await page.locator('#editor .cm-editor').count()).toBe(1);
    expect(await page.locator('#range option').allTextContents()).toContain('last 6 hours');
    expect(errors).toEqual([]);
  });

  it('draws one line a series with a legend of their labels and values under the cursor', async () => {
    await page.goto(`${base}/?expr=cpu_usage_percent&range=6h`);
    await settled('ready');
    // uPlot's legend has a row for the time axis, then one a series.
    expect(await legendSeries()).toBe(1 + 3);
    expect(await page.getAttribute('#chart', 'data-series')).toBe('3');
    const labels = await page.locator('#chart .u-legend .u-series .u-label').allTextContents();
    expect(labels.slice(1)).toEqual([
      'cpu_usage_percent{cpu="total", host="host-00000", region="eu-west-1"}',
      'cpu_usage_percent{cpu="total", host="host-00001", region="us-east-1"}',
      'cpu_usage_percent{cpu="total", host="host-00002", region="ap-south-1"}',
    ]);
    expect(await page.textContent('[data-field="step"]')).toBe('30s');
    expect(await page.textContent('[data-field="tier"]')).toBe('raw');

    const plot = await page.locator('#chart .u-over').boundingBox();
    expect(plot).not.toBeNull();
    if (plot) await page.mouse.move(plot.x + plot.width * 0.6, plot.y + plot.height / 2);
    const values = await page.locator('#chart .u-legend .u-series .u-value').allTextContents();
    expect(values.slice(1).every((v) => /^\d+(\.\d+)?$/.test(v))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'chart-page.png') });
    expect(statSync(join(ARTIFACTS, 'chart-page.png')).size).toBeGreaterThan(10_000);
  });

  it('marks the alert transitions of the range and lists them', async () => {
    const answer = (await (
      await fetch(`${base}/api/v1/alert_events?start=${data.start / 1000}&end=${data.end / 1000}`)
    ).json()) as { data: Array<{ rule: string; state: string }> };
    expect(answer.data.map((e) => `${e.rule} ${e.state}`)).toEqual(
      expect.arrayContaining(['HighCpu firing', 'HighCpu resolved']),
    );
    const rows = page.locator('#alert-rows tr');
    expect(await rows.count()).toBe(Math.min(50, answer.data.length));
    const firing = await page.locator('#alert-rows tr', { hasText: 'HighCpu' }).filter({ hasText: 'firing' });
    expect(await firing.count()).toBe(1);
    expect(await firing.locator('td').nth(3).textContent()).toContain('host="host-00001"');
  });

  it('answers a week of averages from a tier', async () => {
    await page.goto(`${base}/?expr=${encodeURIComponent('avg_over_time(cpu_usage_percent[10m])')}&range=7d`);
    await settled('ready');
    expect(await legendSeries()).toBe(1 + 3);
    expect(await page.textContent('[data-field="step"]')).toBe('10m');
    // The newest minutes, not rolled up yet, come from raw samples.
    expect(await page.textContent('[data-field="tier"]')).toMatch(/^(raw,)?1m$/);
  });

  it('runs what is typed, completing metric names from the API', async () => {
    await page.click('#editor .cm-content');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('http_req');
    const options = page.locator('.cm-tooltip-autocomplete li .cm-completionLabel');
    await options.first().waitFor({ timeout: 10_000 });
    expect(await options.allTextContents()).toEqual(
      expect.arrayContaining(['http_requests_total', 'http_request_errors_total']),
    );
    await runQuery('sum by (region) (rate(http_requests_total[5m]))');
    await settled('ready');
    expect(await legendSeries()).toBe(1 + 3);
    expect(new URL(page.url()).searchParams.get('expr')).toBe(
      'sum by (region) (rate(http_requests_total[5m]))',
    );
  });

  it('queries an absolute range', async () => {
    await page.selectOption('#range', 'custom');
    // Only the spike's 20 minutes: host-00001 at about 95 %.
    const local = (ms: number) => {
      const d = new Date(ms);
      const pad = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    };
    await page.fill('#from', local(data.spike.from + 60_000));
    await page.fill('#to', local(data.spike.to - 60_000));
    await runQuery('max_over_time(cpu_usage_percent{host="host-00001"}[1m]) > 90');
    await settled('ready');
    expect(await legendSeries()).toBe(1 + 1);
    expect(await page.textContent('[data-field="step"]')).toBe('1s');
  });

  it('shows the API error in place for bad PromQL', async () => {
    await page.goto(`${base}/?expr=${encodeURIComponent('sum(rate(cpu_usage_percent[5m])')}&range=1h`);
    await settled('error');
    const error = await page.textContent('#error');
    expect(error).toMatch(/^bad_data: .*parse error/);
    expect(await page.isVisible('#error')).toBe(true);
    expect(await legendSeries()).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'chart-page-error.png') });
  });
});
