import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/setup/services.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two test files at a time: most of an integration test's time is spent waiting (Kafka
    // sessions, timers, the embedded engine), and every test has its own topics, tables, group
    // and ports. A fresh clone's CI took 19 min one file at a time, 10 min two at a time.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
