import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // one PostgreSQL cluster for the run (its store tests each make a fresh database in it)
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // integration suites start real servers; two cores, so keep files to two at a time
    maxWorkers: 2,
    minWorkers: 1,
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
