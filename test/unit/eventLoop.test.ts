import { describe, expect, it } from 'vitest';
import type { Logger } from '../../core/log.js';
import { watchEventLoop } from '../../streams/eventLoop.js';

describe('watchEventLoop', () => {
  it('warns once the event loop was blocked for the threshold, and not for shorter blocks', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const log = { warn: (fields: Record<string, unknown>) => warnings.push(fields) } as unknown as Logger;
    const stop = watchEventLoop(log, 1500);
    const block = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const ticks = (n: number) =>
      new Promise<void>((resolve) => {
        let left = n;
        const timer = setInterval(() => {
          if (--left === 0) {
            clearInterval(timer);
            resolve();
          }
        }, 250);
      });
    try {
      await ticks(2);
      block(100);
      await ticks(2);
      expect(warnings).toEqual([]);
      block(2500);
      await ticks(2);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.blockedMs).toBeGreaterThanOrEqual(1500);
      expect(warnings[0]?.blockedMs).toBeLessThanOrEqual(4000);
    } finally {
      stop();
    }
  });
});
