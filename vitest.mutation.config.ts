import { defineConfig } from 'vitest/config';

/**
 * The suite mutation testing runs (`npm run test:mutation`): the unit tests only. Each mutant of
 * the safety core must be killed by pure, fast tests; the e2e suite proves the I/O around it.
 */
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 30_000,
    pool: 'forks',
  },
});
